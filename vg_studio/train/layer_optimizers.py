"""Which optimizer steps each layer of a user's model, written into model.json once the step has run.

A custom train_step may step the layers with an optimizer of its own (`self.opt`) and leave the compiled one
unused; the diagnosis gives advice for the optimizer that steps the layers (model.json's layer table names it, and
`optimizers` holds each one's summary). Optimizers build their variables lazily, so which one updates which weights
is known only after the first step: the summary the run started with (model.json, RunStarted) is then corrected,
model.json rewritten atomically, and the recorder tells the listeners (events.ModelSummaryUpdated) so the live
diagnosis advises for that optimizer from then on.
"""

from __future__ import annotations

import copy
import logging

from vg_studio.train.summary import model_summary

log = logging.getLogger(__name__)


def name_layer_optimizers(summary: dict, probes, columns, network, store=None) -> dict | None:
    """`summary` (not changed) with each column's optimizer named in its layer table, where another than the
    compiled `optimizer` steps layers, written to `store`'s model.json where there is one; None where the summary
    already says which steps what (or cannot say it). `probes`: the step's optimizer probes (their variables known
    since the step ran)."""
    try:
        summary = _named(summary, probes, columns, network)
    except Exception:  # the summary as the run started stays; the advice then reads the compiled optimizer
        log.exception("naming each layer's optimizer failed")
        return None
    if summary is not None and store is not None:
        try:
            store.write_model_summary(summary)
        except OSError:  # a full disk: model.json as the run started stays; the live diagnosis is still told
            log.exception("rewriting model.json with each layer's optimizer failed")
    return summary


def _named(summary: dict, probes, columns, network) -> dict | None:
    labels = {}
    for probe in probes:  # the optimizer whose update a gradient reached: one built over the same variables (the
        for variable, stepped in zip(probe.variables or [], probe.measured):  # compiled one, on JAX) may step none
            if stepped:
                labels.setdefault(id(variable), probe.label)
    owners = [next((labels[id(v)] for v in c.variables if id(v) in labels), "") for c in columns]
    if not any(owner and owner != "optimizer" for owner in owners):
        return None  # the compiled optimizer steps every layer, as the summary already says
    rows = summary.get("layers") if isinstance(summary.get("layers"), list) else []
    if len(rows) != len(columns) or all(row.get("optimizer") == owner for row, owner in zip(rows, owners) if owner):
        return None
    summary = copy.deepcopy(summary)  # the listeners keep the summary the run started with
    optimizers = {probe.label: probe.optimizer for probe in probes}
    named = summary.setdefault("optimizers", {})
    for row, owner in zip(summary["layers"], owners):
        if owner:
            row["optimizer"] = owner
            if owner not in named and owner in optimizers:
                named[owner] = model_summary(network, [], optimizers[owner])["optimizer"]
    return summary
