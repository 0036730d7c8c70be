"""Following a run that another process writes: what was appended since the last poll, as the trainer's events."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from vg_studio.history import History
from vg_studio.train import rundir
from vg_studio.train.history_file import read_h5
from vg_studio.train.run_files import FINISHED, read_report
from vg_studio.train.run_reader import present, read_description
from vg_studio.train.rundir import RunStoreError
from vg_studio.train.step_loss import BatchCursor


class RunFollower:
    """Turns what was appended to a run directory since the last `poll()` into the events the trainer emits:
    RunStarted once, then ProbeRecord and EpochEnd in order, and RunFinished when report.json says the run
    ended. Works for a run written by any process (`vg-studio train`, a user's script with the monitor, a
    reproduction cell) and for a finished run (everything at the first poll). Qt-free; poll it from a timer."""

    def __init__(self, run_dir: str | os.PathLike):
        self.dir = Path(run_dir)
        self.history: History | None = None
        self.finished = False
        self.notes: list[str] = []  # lines a viewer must show: damage skipped in history.log, an incomplete end
        self._reader = None
        self._h5_signature = None
        self._log_position = (b"", 0)
        self._started = False
        self._records = self._epochs = 0
        self._batches = None  # BatchCursor: the batch losses handed out with the records and epochs

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def poll(self) -> list:
        """New events since the last poll. Raises RunStoreError (one line) if a file is not a usable run file."""
        from vg_studio.train import events

        if self.finished:
            return []
        report = read_report(self.dir / "report.json") if present(self.dir / "report.json") else None
        self._refresh()  # after the report: everything the report follows is already in the files
        out = []
        if self.history is None:
            if report is not None and report.get("status") in FINISHED:  # ended before its first record
                self.finished = True
                out.append(events.RunFinished(report["status"], report.get("message", ""), report, str(self.dir)))
            return out
        if not self._started:
            out.append(self._run_started(report))
            self._started = True
        out.extend(self._new_events())
        if report is None and not rundir.writer_alive(self.dir) and not (self.dir / "report.json").exists():
            # the writer is gone without a report (killed): nothing more will come
            report = {"status": "failed", "message": "the run's process ended without a report (killed?); its "
                      f"{self.history.num_epochs} completed epoch(s) are kept"}
        if report is not None and report.get("status") in FINISHED:
            self.finished = True
            self.history.status = report["status"]
            out.append(events.RunFinished(report["status"], report.get("message", ""), report, str(self.dir)))
            self.close()
        return out

    def _refresh(self) -> None:
        from vg_studio.limits import LIMITS
        from vg_studio.train.history_file import LogReplay
        from vg_studio.train.history_log import LogError, LogReader

        h5, log = self.dir / "history.h5", self.dir / "history.log"
        try:
            if self._reader is None:
                reader = None
                try:
                    reader = LogReader(log, LIMITS.history_bytes)  # before the h5: see read_history
                except FileNotFoundError:
                    pass
                log_id, log_bytes = self._read_h5_if_changed(h5)
                if reader is not None:
                    if not reader.header() or (self.history is not None and reader.log_id != log_id):
                        reader.close()  # not written yet, or the h5 we hold is not its run's: next poll
                        return
                    reader.skip_to(log_bytes if self.history is not None else 0)
                    self._reader = reader
            if self._reader is not None:
                replay = LogReplay(self.history, str(log))
                for meta, arrays in self._reader.frames():
                    replay.apply(meta, arrays)
                self.history = replay.history
                self.notes = self._reader.notes(end=False)  # the end of a log being written is not damage
        except LogError as exc:
            raise RunStoreError(str(exc)) from None
        except OSError as exc:
            raise RunStoreError(f"{self.dir}: cannot read ({exc.strerror or exc})") from None

    def _read_h5_if_changed(self, h5: Path) -> tuple[bytes, int]:
        from vg_studio.limits import LIMITS

        try:
            info = os.stat(h5)
        except FileNotFoundError:
            return b"", 0
        signature = (info.st_ino, info.st_mtime_ns, info.st_size)
        if signature == self._h5_signature:
            return self._log_position
        history, log_id, log_bytes = read_h5(h5, LIMITS.history_bytes, LIMITS.history_layers)
        self._h5_signature, self._log_position = signature, (log_id, log_bytes)
        if self.history is None or history.num_records >= self.history.num_records:
            self.history = history  # append-only: a newer h5 holds at least what we had
        return log_id, log_bytes

    def _run_started(self, report: dict | None):
        from vg_studio.train import events

        spec, summary = read_description(self.dir)
        h, attrs = self.history, self.history.attrs
        known = {"run_dir": str(self.dir), "spec": spec, "model_summary": summary, "layer_names": h.layer_names,
                 "activations": h.activations, "epochs": spec.training.epochs if spec is not None else 0,
                 "steps_per_epoch": 0, "param_count": 0, "device": "", "sample_count": 0, "num_classes": 0,
                 "layer_kinds": h.layer_kinds, "layer_units": h.layer_units}
        for key in ("epochs", "steps_per_epoch", "param_count", "device", "sample_count", "num_classes"):
            if key in attrs:  # h5 gives one-element arrays back: the event carries plain scalars
                value = attrs[key]
                known[key] = value.reshape(-1)[0].item() if getattr(value, "size", 0) == 1 else value
        return _event(events.RunStarted, known)

    def _new_events(self) -> list:
        from vg_studio.train import events

        h, out = self.history, []
        epochs = h.epochs.get("epoch", [])
        stats = h.stats
        batches = self._batches = BatchCursor(h, self._batches.at if self._batches is not None else 0)
        while self._records < h.num_records:
            r = self._records
            while self._epochs < h.num_epochs and epochs[self._epochs] < h.record_epochs[r]:
                out.append(self._epoch_end(self._epochs))
                self._epochs += 1
            out.append(_event(events.ProbeRecord, {
                "step": h.steps[r], "epoch": h.record_epochs[r], "loss": h.record_loss[r],
                "stats": {name: column[r] for name, column in stats.items()},
                "optimizer": {k: v[r] for k, v in h.optimizer.items()},
                "time_grad": h.time_grad[r] if r < len(h.time_grad) else None,
                "metrics": {k: v[r] for k, v in h.record_metrics.items()},
                "batch_losses": batches.pairs(batches.for_record(r)),
                "probe_loss": h.record_probe_loss[r] if r < len(h.record_probe_loss) else float("nan")}))
            self._records += 1
        while self._epochs < h.num_epochs:
            out.append(self._epoch_end(self._epochs))
            self._epochs += 1
        return out

    def _epoch_end(self, i: int):
        from vg_studio.train import events

        h = self.history
        return _event(events.EpochEnd, {"epoch": h.epochs["epoch"][i],
                                        "logs": {k: v[i] for k, v in h.epochs.items() if k != "epoch"},
                                        "batch_losses": self._batches.pairs(self._batches.for_epoch(i))})


def _event(cls, values: dict):
    """An event with the fields its class has (the event classes grow; a follower fills what it knows)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})
