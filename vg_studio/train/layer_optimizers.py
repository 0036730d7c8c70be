"""Which optimizer steps each layer of a user's model, written into model.json once the step has run.

A custom train_step may step the layers with an optimizer of its own (`self.opt`) and leave the compiled one
unused; the diagnosis gives advice for the optimizer that steps the layers (model.json's layer table names it, and
`optimizers` holds each one's summary). Optimizers build their variables lazily, so which one updates which weights
is known only after the first step: model.json (written as the run starts) is then rewritten, atomically, with it.
"""

from __future__ import annotations

from vg_studio.train.run_files import read_model_summary
from vg_studio.train.summary import model_summary


def name_layer_optimizers(store, probes, columns, network) -> bool:
    """Name each column's optimizer in model.json's layer table, where another than the compiled `optimizer`
    steps layers; returns whether model.json was rewritten. `probes`: the step's optimizer probes (their
    variables known since the step ran)."""
    labels = {}
    for probe in probes:
        for variable in probe.variables or []:
            labels.setdefault(id(variable), probe.label)
    owners = [next((labels[id(v)] for v in c.variables if id(v) in labels), "") for c in columns]
    if not any(owner and owner != "optimizer" for owner in owners):
        return False  # the compiled optimizer steps every layer, as the summary already says
    path = store.model_summary_path
    summary = read_model_summary(path)
    rows = summary.get("layers") if isinstance(summary.get("layers"), list) else []
    if len(rows) != len(columns) or all(row.get("optimizer") == owner for row, owner in zip(rows, owners) if owner):
        return False
    optimizers = {probe.label: probe.optimizer for probe in probes}
    named = summary.setdefault("optimizers", {})
    for row, owner in zip(rows, owners):
        if owner:
            row["optimizer"] = owner
            if owner not in named and owner in optimizers:
                named[owner] = model_summary(network, [], optimizers[owner])["optimizer"]
    store.write_model_summary(summary)
    return True
