"""Engine events of a made-up run, shaped as the trainer emits them (contracts 5, 6 and 8), for the plot tests and
benchmarks/bench_redraw.py: gradients that shrink towards the input, Keras-style running-mean metrics, per-layer
histograms of log10 |g| and |ΔW|, and optionally SDAGD's per-layer μ and h."""

from __future__ import annotations

import numpy as np

from vg_studio.train import events

EDGES = np.linspace(-12, 2, 29)


def histogram_rows(centres: np.ndarray, spread: float = 0.6) -> np.ndarray:
    """(L, 28) bin fractions of a normal in log10 space around each layer's centre; rows sum to 1."""
    mids = (EDGES[:-1] + EDGES[1:]) / 2
    rows = np.exp(-0.5 * ((mids[None, :] - centres[:, None]) / spread) ** 2)
    return rows / rows.sum(axis=1, keepdims=True)


def synthetic_events(layers: int = 4, records: int = 40, steps_per_epoch: int = 10, record_every: int = 1,
                     histograms: bool = True, sdagd: bool = False, seed: int = 0, name: str = "synthetic",
                     spec=None, metrics_in_records: bool = True, batch_events: bool = True, extreme: float = 0.0,
                     first_step: int = 1, own_losses: bool = False):
    """Yields RunStarted, then per step BatchEnd (+ ProbeRecord every `record_every` steps) and EpochEnd at each
    epoch's end, then RunFinished. `extreme` adds that many decades to every gradient (an exploding run);
    `first_step` > 1 continues a run built in bulk (`synthetic_history`); `own_losses`: the records and epoch ends
    carry each batch's own loss, as the recorder's do."""
    rng = np.random.default_rng(seed)
    names = [f"hidden_{i + 1}" for i in range(layers - 1)] + ["output"]
    steps = records * record_every
    epochs = -(-steps // steps_per_epoch)
    started = events.RunStarted(None, spec, names, ["sigmoid"] * (layers - 1) + ["softmax"], epochs,
                                steps_per_epoch, 1000, "CPU (synthetic)", 100)
    started.layer_kinds = ["dense"] * layers
    started.layer_units = [32] * (layers - 1) + [10]
    started.num_classes = 10
    started.hist_edges = EDGES
    yield started
    depth = np.arange(layers)
    totals = {"loss": 0.0, "accuracy": 0.0}
    pending = []  # (step, loss) of the batches since the last record
    for step in range(first_step, steps + 1):
        epoch = (step - 1) // steps_per_epoch
        k = step - epoch * steps_per_epoch
        progress = _progress(step, steps)
        batch = {"loss": 2.3 * (1 - 0.6 * progress) + 0.05 * rng.standard_normal(),
                 "accuracy": float(np.clip(0.1 + 0.8 * progress + 0.05 * rng.standard_normal(), 0, 1))}
        if k == 1:
            totals = {"loss": 0.0, "accuracy": 0.0}
        running = {}
        for key, value in batch.items():  # Keras's running mean over the epoch so far
            totals[key] += value
            running[key] = totals[key] / k
        pending.append((step, batch["loss"]))
        if batch_events:
            yield events.BatchEnd(step, epoch, dict(running))
        if step % record_every == 0:
            centre = _centres(depth, progress) + extreme
            grad = 10 ** (centre + 0.1 * rng.standard_normal(layers))
            stats = {"grad_mean_abs": grad, "grad_norm": grad * 30, "weight_norm": np.full(layers, 3.0),
                     "update_mean_abs": grad * 0.1, "update_ratio": grad * 0.01,
                     "saturated_fraction": np.full(layers, 0.2), "dead_fraction": np.zeros(layers)}
            if histograms:
                stats["grad_log10_hist"] = histogram_rows(centre)
                stats["update_log10_hist"] = histogram_rows(centre - 1)
            optimizer = {}
            if sdagd:  # per layer as the SDAGD optimizer reports them: scalars named "<quantity>[<layer>]"
                mu = 10 ** (-1 - 2 * progress + 0.2 * depth / layers)
                h = 10 ** (-2.5 + 0.5 * progress + 0.1 * depth)
                share = np.clip(1 - progress * (0.4 + 0.5 * depth / layers), 0, 1)
                for name, m, c, f in zip(names, mu, h, share):
                    optimizer.update({f"sdagd_mu[{name}]": m, f"sdagd_h[{name}]": c,
                                      f"sdagd_phase1_fraction[{name}]": f})
                optimizer.update(sdagd_mu=float(np.median(mu)), sdagd_phase1_fraction=float(share.mean()))
            record = events.ProbeRecord(step, epoch, running["loss"], stats, optimizer)
            if metrics_in_records:
                record.metrics = dict(running)
            if own_losses:
                record.batch_losses, pending = tuple(pending), []
            yield record
        if k == steps_per_epoch or step == steps:
            yield events.EpochEnd(epoch, {"loss": running["loss"], "accuracy": running["accuracy"],
                                          "val_loss": running["loss"] * 1.1,
                                          "val_accuracy": running["accuracy"] * 0.95},
                                  batch_losses=tuple(pending) if own_losses else ())
            pending = []
    yield events.RunFinished("completed", "training finished", {"device": "CPU (synthetic)"}, None)


def synthetic_run(name: str = "synthetic", **kwargs):
    """A RunData fed with `synthetic_events(**kwargs)`."""
    from vg_studio.gui.run_data import RunData

    run = RunData(name=name)
    for event in synthetic_events(name=name, **kwargs):
        run.apply_event(event)
    return run


def _progress(step, steps):
    return step / steps


def _centres(depth: np.ndarray, progress):
    """log10 of each layer's mean |g|: the input side ~3 decades below the output, all decaying over training."""
    return -6 + 3 * depth / max(depth.shape[-1] - 1, 1) - 1.0 * progress


def synthetic_history(layers: int, records: int, steps_per_epoch: int, histograms: bool = True, seed: int = 0):
    """The History the events above would build over `records` steps (a record every step), made in bulk with
    numpy: a long run for the benchmark without replaying every event. No SDAGD scalars, no time steps."""
    from vg_studio.history import History

    rng = np.random.default_rng(seed)
    names = [f"hidden_{i + 1}" for i in range(layers - 1)] + ["output"]
    history = History(names, ["sigmoid"] * (layers - 1) + ["softmax"], 1, layer_kinds=["dense"] * layers,
                      layer_units=[32] * (layers - 1) + [10],
                      attrs={"hist_edges": EDGES, "steps_per_epoch": steps_per_epoch,
                             "epochs": -(-records // steps_per_epoch)})
    steps = np.arange(1, records + 1)
    history.steps, history.record_epochs = steps.tolist(), ((steps - 1) // steps_per_epoch).tolist()
    progress = steps / records
    loss = 2.3 * (1 - 0.6 * progress)
    history.record_loss = loss.tolist()
    history.record_metrics = {"loss": loss.tolist(), "accuracy": (0.1 + 0.8 * progress).tolist()}
    centres = _centres(np.arange(layers)[None, :], progress[:, None])  # (records, layers)
    grad = 10 ** (centres + 0.1 * rng.standard_normal(centres.shape))
    for name, values in {"grad_mean_abs": grad, "grad_norm": grad * 30, "update_mean_abs": grad * 0.1,
                         "update_ratio": grad * 0.01, "weight_norm": np.full(grad.shape, 3.0),
                         "saturated_fraction": np.full(grad.shape, 0.2), "dead_fraction": np.zeros(grad.shape)}.items():
        history.set_stat(name, values)
    if histograms:
        mids = (EDGES[:-1] + EDGES[1:]) / 2
        for name, shift in (("grad_log10_hist", 0), ("update_log10_hist", -1)):
            rows = np.empty((records, layers, len(mids)), dtype=np.float32)
            for start in range(0, records, 2000):  # in slices: the float64 temporaries stay small
                c = centres[start:start + 2000, :, None] + shift
                part = np.exp(-0.5 * ((mids[None, None, :] - c) / 0.6) ** 2)
                rows[start:start + 2000] = part / part.sum(axis=2, keepdims=True)
            history.set_stat(name, rows)
    return history
