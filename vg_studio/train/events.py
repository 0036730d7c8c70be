"""What the training engine tells its listeners: plain, picklable dataclasses — no Keras or Qt objects — because
they cross a process boundary to the app (the GUI's worker turns them into signals). A listener is any callable
taking one event; see `vg_studio.train.recorder.RunRecorder` for the optional `attach(emit)` /
`report_items()`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class RunStarted:
    run_dir: str | None
    spec: object  # the ExperimentSpec of a spec run; None for a user's own model (see model_summary)
    layer_names: list  # one probe column per layer: spec runs hidden_1 … hidden_L, output; else Keras layer names
    activations: list  # per column; "" where the activation is not known (its unit statistics are NaN)
    epochs: int
    steps_per_epoch: int
    param_count: int
    device: str
    sample_count: int
    num_classes: int | None = None
    model_summary: dict = field(default_factory=dict)  # model.json's content: the model, its optimizer, loss, layers
    layer_kinds: list = field(default_factory=list)  # per column: "dense", "conv2d", "lstm", "batch_normalization" …
    layer_units: list = field(default_factory=list)  # per column: output width (units / filters / features)
    record_every: int = 1  # steps between probe records (the first step is always recorded)
    layer_groups: list = field(default_factory=list)  # per column: the top-level layer it belongs to (for grouping)


@dataclass
class ModelSummaryUpdated:
    """The run's model summary corrected once the first step ran (model.json is rewritten with it): which optimizer
    steps each layer is known only then (optimizers build their variables lazily), and a custom train_step may step
    the layers with one of its own (`self.opt`) and leave the compiled one unused. The whole summary, as
    RunStarted.model_summary holds it; a spec run's never changes."""
    model_summary: dict


@dataclass
class BatchEnd:
    step: int  # global training step, 1-based
    epoch: int  # 0-based
    logs: dict  # loss, accuracy of this batch (running mean over the epoch, as Keras reports it)


@dataclass
class ProbeRecord:
    step: int
    epoch: int
    loss: float
    stats: dict  # stat name -> np.ndarray of shape (L,) or (L, k) (histograms), one row per layer column
    optimizer: dict = field(default_factory=dict)  # optimizer-reported scalars (e.g. SDAGD's mu, phase-I share)
    time_grad: np.ndarray | None = None  # recurrent networks: mean |dL/dx_t| per input time step
    metrics: dict = field(default_factory=dict)  # Keras's logs at the record step (running epoch means)
    # ((step, loss), …): each batch's own loss since the previous record (vg_studio.train.step_loss); empty where
    # not known (a custom train_step, a run recorded before they were kept)
    batch_losses: tuple = ()
    # the loss on the probe batch in inference mode where the network computes otherwise in training (BatchNorm,
    # Dropout) and the probe rows' targets are known (vg_studio.train.probe_loss); NaN where not measured
    probe_loss: float = math.nan


@dataclass
class EpochEnd:
    epoch: int
    logs: dict  # loss, accuracy, val_loss, val_accuracy, epoch_time
    batch_losses: tuple = ()  # ((step, loss), …) of the epoch's batches after its last record, where known


@dataclass
class FindingsUpdated:
    findings: list  # every current finding (frozen, picklable diagnose.Finding values), newest last
    new: list  # the ones that appeared or got worse with this update


@dataclass
class RunFinished:
    status: str  # "completed" | "cancelled" | "diverged" | "failed"
    message: str
    report: dict
    run_dir: str | None
