"""What the training engine tells its listeners: plain dataclasses, no Qt (the GUI's worker turns them into
signals). A listener is any callable taking one event."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RunStarted:
    run_dir: str | None
    spec: object  # ExperimentSpec
    layer_names: list
    activations: list
    epochs: int
    steps_per_epoch: int
    param_count: int
    device: str
    sample_count: int


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
    stats: dict  # stat name (probes.LAYER_STATS) -> np.ndarray, one value per layer group
    optimizer: dict = field(default_factory=dict)  # optimizer-reported scalars (e.g. SDAGD's mu, phase-I share)
    time_grad: np.ndarray | None = None  # recurrent networks: mean |dL/dx_t| per input time step

    def layer_values(self, name: str) -> np.ndarray:
        return self.stats[name]


@dataclass
class EpochEnd:
    epoch: int
    logs: dict  # loss, accuracy, val_loss, val_accuracy, epoch_time


@dataclass
class FindingsUpdated:
    findings: list  # every current finding (diagnose.Finding), newest last
    new: list  # the ones that appeared or got worse with this update


@dataclass
class RunFinished:
    status: str  # "completed" | "cancelled" | "diverged" | "failed"
    message: str
    report: dict
    run_dir: str | None
