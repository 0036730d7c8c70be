"""The loss of guessing of a user's model whose loss is a weighted sum: several outputs, or loss weights (read from
model.json's compile config). Keras adds each output's loss times its weight, so guessing costs Σ wᵢ ln(kᵢ) — a digit
head (10 classes) weighted 10 beside a parity head (2) starts at 23.7, not at the last head's ln 2. Where one
output's loss has no known scale (a squared error, a focal loss) the sum has none either; a binary cross-entropy
head costs ln 2 at guessing whatever its width (the mean over its yes/no outputs). A single output without loss weights
is the usual case: its classes are the output layer's width (`RunFacts.build`).

Where the run measured the probe rows' targets (model.json's "guessing", `vg_studio.train.summary.guessing_levels`),
`measured_guessing` gives the loss of the best constant prediction instead: the entropy of a skewed label prior, the
variance of a regression's targets — what a network that learned only its output's bias reaches."""

from __future__ import annotations

import math

from vg_studio.diagnose.state import MeasuredGuess, is_binary, is_crossentropy
from vg_studio.train.loss_names import for_output, loss_name

WORDS = {"prior": "the label prior", "mean": "the targets' mean", "median": "the targets' median"}


def summed_guessing_loss(summary: dict | None, layer_names, layer_units) -> float | None:
    """Σ wᵢ ln(kᵢ) over the model's outputs, `math.nan` where it has no known scale, None for a single output
    without loss weights (or a summary that does not say)."""
    config = (summary or {}).get("config")
    config = config if isinstance(config, dict) else {}
    compiled = config.get("compile_config") if isinstance(config.get("compile_config"), dict) else {}
    outputs = _output_names(config)
    losses = compiled.get("loss", (summary or {}).get("loss"))
    weights = compiled.get("loss_weights")
    several = len(outputs) > 1 or (isinstance(losses, (list, tuple, dict)) and len(losses) > 1)
    if not several and weights is None:
        return None
    if not outputs:
        return math.nan  # several losses, but which layer each belongs to is not known
    units = dict(zip([str(n) for n in layer_names], layer_units or ()))
    total = 0.0
    for i, name in enumerate(outputs):
        loss, weight = for_output(losses, i, name), for_output(weights, i, name)
        weight = 1.0 if weight is None else weight
        width, loss = units.get(name), loss_name(loss)
        if not isinstance(weight, (int, float)) or not is_crossentropy(loss) or not width:
            return math.nan
        total += float(weight) * math.log(2 if is_binary(loss) else max(2, int(width)))
    return total


def measured_guessing(summary: dict | None) -> MeasuredGuess | None:
    """The loss of the best constant prediction from model.json's "guessing" rows: one output's, or Σ wᵢ levelᵢ over
    several with their loss weights. None where it was not measured for every output, or where every output's
    labels are within sampling noise of uniform (today's ln k stands, exactly)."""
    rows = ((summary or {}).get("guessing") or {}).get("outputs") if isinstance(summary, dict) else None
    rows = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    if not rows or not all(_finite(r.get("level")) and r["level"] >= 0 for r in rows) \
            or all(r.get("basis") == "uniform" for r in rows):
        return None
    config = summary.get("config") if isinstance(summary.get("config"), dict) else {}
    compiled = config.get("compile_config") if isinstance(config.get("compile_config"), dict) else {}
    weights = compiled.get("loss_weights")
    if len(rows) == 1 and weights is None:
        row = rows[0]
        words = WORDS.get(row.get("basis"), "a constant")
        if row.get("basis") == "prior" and is_binary(loss_name(row.get("loss"))):
            words = "each output's rate of yes"
        return MeasuredGuess(float(row["level"]), _se(row), words)
    level = variance = 0.0
    for i, row in enumerate(rows):
        weight = for_output(weights, i, str(row.get("output")))
        weight = 1.0 if weight is None else weight
        if not _finite(weight):
            return None
        level += float(weight) * float(row["level"])
        variance += (float(weight) * _se(row)) ** 2
    return MeasuredGuess(level, math.sqrt(variance), "each output's best constant, weighted as compiled")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _se(row: dict) -> float:
    return float(row["se"]) if _finite(row.get("se")) and row["se"] >= 0 else 0.0


def _output_names(config: dict) -> list[str]:
    layers = (config.get("config") or {}).get("output_layers") if isinstance(config.get("config"), dict) else None
    if isinstance(layers, dict):
        layers = list(layers.values())
    if not isinstance(layers, list) or (layers and not isinstance(layers[0], (list, tuple))):
        layers = [layers] if layers else []  # a single output is stored as one [name, node, tensor] triple
    return [str(entry[0]) for entry in layers if isinstance(entry, (list, tuple)) and entry]
