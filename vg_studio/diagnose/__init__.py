"""Diagnostics: rules over the probe history that name vanishing/exploding gradients, loss plateaus, flat weights,
dead and saturated units, each with concrete spec-changing fixes. See docs/diagnostics.md."""
