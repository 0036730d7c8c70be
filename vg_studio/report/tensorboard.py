"""TensorBoard event files of a run: per layer, scalars (mean |g|, ‖g‖, update ratio, dead and saturated
fractions where measured) and histograms of log10 |gradient| and log10 |update| over steps, the loss and metrics,
and the findings as text.

Written with TensorBoard's own protos, summary metadata and record writer (the `tensorboard` package, the optional
extra `vg-studio[tensorboard]`), never through TensorFlow: the same files on every Keras backend. Two ways in:
`export_tensorboard(run_dir, logdir)` for a run on disk, and `TensorBoardWriter(logdir)`, a listener of the engine's
events that writes them as the run trains (`GradientMonitor(..., listeners=[TensorBoardWriter(logdir)])`).

Tags: `loss`, `<metric>` (train, per record), `loss/batch` (each batch's own loss at its step, where the run kept
them: TensorBoard's smoothing slider works on them as on any scalar), `epoch/<metric>` (per epoch),
`<statistic>/<layer>`, `<histogram>/<layer>` (buckets of log10 |value|: TensorBoard's histogram and distribution
dashboards), `findings`.
"""

from __future__ import annotations

import math
import os
import socket
import time
from pathlib import Path

import numpy as np

from vg_studio.catalog import HIST_EDGES

EXTRA = "vg-studio[tensorboard]"
SCALAR_STATS = ("grad_mean_abs", "grad_norm", "update_ratio", "update_mean_abs", "weight_norm", "dead_fraction",
                "saturated_fraction")
HISTOGRAM_STATS = {"grad_log10_hist": "log10_abs_gradient", "update_log10_hist": "log10_abs_update"}
BATCH_LOSS_TAG = "loss/batch"  # next to `loss` (Keras's running mean at each record) in TensorBoard's "loss" group


class TensorBoardMissing(ImportError):
    pass


def _tensorboard():
    """The pieces of the tensorboard package used here; one line naming the extra when it is missing."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.histogram import metadata as histogram_metadata
        from tensorboard.plugins.scalar import metadata as scalar_metadata
        from tensorboard.plugins.text import metadata as text_metadata
        from tensorboard.summary.writer.record_writer import RecordWriter
        from tensorboard.util import tensor_util
    except ImportError:
        raise TensorBoardMissing(f"TensorBoard export needs the tensorboard package: pip install '{EXTRA}'") from None
    return event_pb2, summary_pb2, histogram_metadata, scalar_metadata, text_metadata, RecordWriter, tensor_util


class EventFile:
    """One TensorBoard event file in `logdir`, appended to as events come (flushed after each batch of them)."""

    def __init__(self, logdir):
        (self.event_pb2, self.summary_pb2, self.histogram_metadata, self.scalar_metadata, self.text_metadata,
         RecordWriter, self.tensor_util) = _tensorboard()
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.vg-studio"
        self.path = self.logdir / name
        self._file = open(self.path, "wb")
        self._writer = RecordWriter(self._file)
        self._described: set = set()  # tags whose metadata was written (TensorBoard reads it from the first)
        self._write(self.event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _write(self, event) -> None:
        self._writer.write(event.SerializeToString())

    def _metadata(self, tag: str, metadata):
        if tag in self._described:
            return None
        self._described.add(tag)
        return metadata

    def scalar(self, tag: str, value: float, step: int) -> None:
        if value is None or not math.isfinite(float(value)):
            return
        meta = self._metadata(tag, self.scalar_metadata.create_summary_metadata(display_name=tag, description=""))
        self._summary(tag, np.float32(value), step, meta)

    def histogram(self, tag: str, edges: np.ndarray, counts: np.ndarray, step: int) -> None:
        """Buckets [left, right) with their counts (TensorBoard's (k, 3) histogram tensor)."""
        counts = np.asarray(counts, dtype=np.float64)
        if not np.isfinite(counts).all() or counts.sum() <= 0:
            return
        tensor = np.column_stack([edges[:-1], edges[1:], counts]).astype(np.float64)
        meta = self._metadata(tag, self.histogram_metadata.create_summary_metadata(display_name=tag,
                                                                                   description=""))
        self._summary(tag, tensor, step, meta)

    def text(self, tag: str, text: str, step: int) -> None:
        meta = self._metadata(tag, self.text_metadata.create_summary_metadata(display_name=tag, description=""))
        self._summary(tag, np.array(text.encode("utf-8"), dtype=object), step, meta)

    def _summary(self, tag: str, value, step: int, metadata) -> None:
        summary = self.summary_pb2.Summary()
        entry = summary.value.add(tag=tag, tensor=self.tensor_util.make_tensor_proto(value))
        if metadata is not None:
            entry.metadata.CopyFrom(metadata)
        self._write(self.event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def flush(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class TensorBoardWriter:
    """A listener of the engine's events (RunStarted, ProbeRecord, EpochEnd, FindingsUpdated, RunFinished) that
    writes them to TensorBoard event files in `logdir` as the run trains. Usable on any Keras backend."""

    def __init__(self, logdir):
        _tensorboard()  # refuse at once, in one line, when the extra is missing
        self.logdir = Path(logdir)
        self.file: EventFile | None = None
        self.layer_names: list = []
        self.edges = HIST_EDGES.copy()  # until RunStarted's history says otherwise
        self._step = 0

    def __call__(self, event) -> None:
        from vg_studio.train import events

        if isinstance(event, events.RunStarted):
            self.start(event.layer_names, getattr(event, "hist_edges", None))
        elif self.file is None:
            return
        elif isinstance(event, events.ProbeRecord):
            self.batch_losses(getattr(event, "batch_losses", ()))
            self.record(event.step, event.loss, event.stats, getattr(event, "metrics", None) or {},
                        event.optimizer)
            self.file.flush()
        elif isinstance(event, events.EpochEnd):
            self.batch_losses(getattr(event, "batch_losses", ()))
            self.epoch(event.epoch, event.logs)
            self.file.flush()
        elif isinstance(event, events.FindingsUpdated):
            self.findings(event.findings, self._step)
            self.file.flush()
        elif isinstance(event, events.RunFinished):
            self.close()

    def start(self, layer_names, hist_edges=None) -> None:
        self.close()
        self.file = EventFile(self.logdir)
        self.layer_names = [str(n) for n in layer_names]
        if hist_edges is not None:
            self.edges = np.asarray(hist_edges, dtype=float)

    def record(self, step: int, loss: float, stats: dict, metrics: dict | None = None,
               optimizer: dict | None = None) -> None:
        self._step = int(step)
        self.file.scalar("loss", loss, step)
        for name, value in (metrics or {}).items():
            if name != "loss" and _is_number(value):
                self.file.scalar(str(name), value, step)
        for name, value in (optimizer or {}).items():
            if _is_number(value):
                self.file.scalar(f"optimizer/{name}", value, step)
        for name in SCALAR_STATS:
            values = stats.get(name)
            if values is None:
                continue
            for layer, value in zip(self.layer_names, np.asarray(values, dtype=float)):
                self.file.scalar(f"{name}/{layer}", value, step)
        for name, label in HISTOGRAM_STATS.items():
            rows = stats.get(name)
            if rows is None:
                continue
            for layer, row in zip(self.layer_names, np.asarray(rows, dtype=float)):
                self.file.histogram(f"{label}/{layer}", self.edges, row, step)

    def batch_losses(self, pairs) -> None:
        """Each batch's own loss, ((step, loss), …) in step order; a non-finite one is left out, as every scalar."""
        for step, loss in pairs:
            self.file.scalar(BATCH_LOSS_TAG, loss, int(step))

    def epoch(self, epoch: int, logs: dict) -> None:
        for name, value in logs.items():
            if _is_number(value):
                self.file.scalar(f"epoch/{name}", value, int(epoch) + 1)

    def findings(self, findings, step: int) -> None:
        if findings:
            self.file.text("findings", findings_markdown(findings), step)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def findings_markdown(findings) -> str:
    """The findings as TensorBoard's text dashboard shows them (Markdown), one paragraph each."""
    from vg_studio.text import inert

    parts = []
    for f in findings:
        state = getattr(f, "state", "active") or "active"
        where = f" in {', '.join(f.labels)}" if f.labels else ""
        head = f"**{f.severity.upper()}** {f.kind.replace('_', ' ')}{where}, from step {f.step}"
        if state == "resolved":
            head += " (resolved)"
        lines = [inert(head), inert(f.message)] + [f"- {inert(d)}" for d in f.details]
        lines += [f"- fix: {inert(x.title)}" for x in f.fixes] + [f"- advice: {inert(a)}" for a in f.advice]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def export_tensorboard(run_dir, logdir) -> Path:
    """Write a run directory's history (and findings) as TensorBoard event files in `logdir`; returns the file."""
    from vg_studio.report.run import RunView

    run = RunView.open(run_dir)
    history = run.history
    writer = TensorBoardWriter(logdir)
    writer.start(run.layer_names, run.hist_edges)
    stats = {name: history.stat(name) for name in history.stats}
    metrics = {name: run.record_metric(name) for name in history.record_metrics}
    optimizer = {name: run.optimizer_series(name) for name in history.optimizer}
    loss = np.asarray(history.record_loss, dtype=float)
    for i, step in enumerate(run.record_steps):
        writer.record(int(step), loss[i] if i < len(loss) else math.nan,
                      {name: values[i] for name, values in stats.items() if i < len(values)},
                      {name: values[i] for name, values in metrics.items() if i < len(values)},
                      {name: values[i] for name, values in optimizer.items() if i < len(values)})
    writer.batch_losses(zip(history.batch_steps, history.batch_loss))
    epochs = run.epoch_metric("epoch")
    for e in range(len(epochs)):
        writer.epoch(e, {name: run.epoch_metric(name)[e] for name in history.epochs if name != "epoch"})
    found = run.findings
    writer.findings(found, int(run.record_steps[-1]) if run.num_records else 0)
    path = writer.file.path
    writer.close()
    return path


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(float(value))
