"""Fix trials ("Try fixes"): a short trial of every fix of a finding, trained in the background from the same data
and seed, ranked by what each one measurably did — the loss it took off and the first layer's gradient it brought
back — with the winner one click away. The work is `vg_studio.diagnose.trials` (Qt-free, trials in their own
processes); this panel starts it in a thread, shows its progress, cancels it, and fills the table."""

from __future__ import annotations

import dataclasses
import math
import threading

from PySide6.QtCore import QThread, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from vg_studio.gui.panels.diagnostics import field, finding_title

COLUMNS = ("Fix", "Loss drop", "1st-layer gradient ×", "Finding", "Test accuracy", "Status")
TIPS = ("The fix, best first (the unchanged network is the reference)",
        "Share of the unchanged network's starting loss gone after the same steps",
        "First layer's gradient relative to the output's, against the unchanged network's (1 = no change)",
        "Whether the finding is still there at the end of the trial",
        "Accuracy on the test set after the trial's steps",
        "How the trial ended")


def _pct(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.0%}"


def _times(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.3g}×" if value < 1e4 else f"{value:.1e}×"


class TrialsWorker(QThread):
    progress = Signal(float, str)
    done = Signal(list)  # TrialResult, ranked
    failed = Signal(str)

    def __init__(self, run_dir: str, finding, steps: int, parent=None):
        super().__init__(parent)
        self.run_dir, self.finding, self.steps = run_dir, finding, steps
        self.cancel_event = threading.Event()

    def run(self) -> None:
        try:
            from vg_studio.diagnose import trials

            plan = trials.plan_trials(self.run_dir)
            fixes = tuple(field(self.finding, "fixes", ()) or ())
            if fixes and field(self.finding, "kind") != plan.finding.kind:  # the finding the user chose
                plan = dataclasses.replace(plan, finding=self.finding, fixes=fixes)
            results = trials.run_trials(plan, self.steps, jobs=2, progress=self.progress.emit,
                                        cancel=self.cancel_event)
        except Exception as exc:  # a run that cannot be tried, a trial process that failed: one line
            self.failed.emit(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return
        self.done.emit(list(results))


class TrialsPanel(QWidget):
    apply_fix = Signal(object, object)  # Fix, the run it fixes
    compare_fix = Signal(object, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.heading = QLabel("Try fixes: pick a finding in Diagnostics and press “Try fixes…”.")
        self.heading.setWordWrap(True)
        self.steps = QSpinBox()
        self.steps.setRange(10, 100_000)
        self.steps.setValue(100)
        self.steps.setSuffix(" steps")
        self.steps.setToolTip("Training steps of each trial (all trials train the same steps from the same data)")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.stop)
        self.again_button = QPushButton("Run again")
        self.again_button.clicked.connect(self._again)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for i, tip in enumerate(TIPS):
            self.table.horizontalHeaderItem(i).setToolTip(tip)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.apply_button = QPushButton("Apply the winner")
        self.apply_button.clicked.connect(lambda: self._emit(self.apply_fix))
        self.compare_button = QPushButton("Apply and compare")
        self.compare_button.clicked.connect(lambda: self._emit(self.compare_fix))
        controls = QHBoxLayout()
        controls.addWidget(self.steps)
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.cancel_button)
        controls.addWidget(self.again_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.compare_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addLayout(controls)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.verdict)
        layout.addLayout(buttons)
        self.worker: TrialsWorker | None = None
        self.run = self.finding = None
        self.results: list = []
        self._update_buttons()

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def start(self, run, finding) -> None:
        """Try every fix of `finding` on `run` (a finished run with a spec)."""
        self.stop()
        self.run, self.finding, self.results = run, finding, []
        self.table.setRowCount(0)
        self.verdict.setText("")
        self.heading.setText(f"Trying the fixes of {finding_title(finding)} in {run.name}: each trains "
                             f"{self.steps.value()} steps from the same data and seed as the unchanged network.")
        self.worker = TrialsWorker(str(run.run_dir), finding, self.steps.value(), self)
        self.worker.progress.connect(self._progress)
        self.worker.done.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.worker.finished.connect(self._update_buttons)
        self.progress.setValue(0)
        self.progress.setFormat("starting the trials…")
        self.worker.start()
        self._update_buttons()

    def stop(self) -> None:
        """Cancel the trials (they stop after their current batch)."""
        if self.running:
            self.worker.cancel_event.set()
            self.progress.setFormat("cancelling…")

    def _again(self) -> None:
        if self.run is not None and self.finding is not None:
            self.start(self.run, self.finding)

    def _progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(1000 * max(0.0, min(1.0, fraction))))
        self.progress.setFormat(text.strip() or f"{fraction:.0%}")

    def _failed(self, message: str) -> None:
        self.progress.setFormat("stopped")
        self.verdict.setText(f"The fixes could not be tried: {message}")

    def _done(self, results: list) -> None:
        from vg_studio.diagnose.trials import BASELINE

        self.results = results
        cancelled = self.worker is not None and self.worker.cancel_event.is_set()
        self.progress.setValue(1000)
        self.progress.setFormat("cancelled" if cancelled else "done")
        self.table.setRowCount(len(results))
        for row, result in enumerate(results):
            title = result.title if result.key != BASELINE else "Unchanged network (reference)"
            cells = (f"{row + 1}. {title}", _pct(result.loss_drop),
                     "—" if result.key == BASELINE else _times(result.gradient_recovery),
                     "still there" if result.still_found else "gone", _pct(result.test_accuracy), result.status)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(result.message or text)
                self.table.setItem(row, column, item)
        winner = self.winner()
        if winner is not None:
            self.verdict.setText(f"Best over {self.steps.value()} steps: {winner.title} — the loss fell by "
                                 f"{_pct(winner.loss_drop)} of the unchanged network's start, the first layer's "
                                 f"gradient is {_times(winner.gradient_recovery)} the unchanged one's.")
            self.table.selectRow(0 if results[0] is winner else results.index(winner))
        elif results:
            self.verdict.setText(f"No fix beat the unchanged network over {self.steps.value()} steps: try more "
                                 "steps.")
        self._update_buttons()

    def winner(self):
        from vg_studio.diagnose.trials import BASELINE

        if not self.results or self.results[0].key == BASELINE or self.results[0].status != "completed":
            return None
        return self.results[0]

    def selected_result(self):
        from vg_studio.diagnose.trials import BASELINE

        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        result = self.results[rows[0].row()] if rows and rows[0].row() < len(self.results) else self.winner()
        return result if result is not None and result.key != BASELINE else None

    def _fix_of(self, result):
        for fix in field(self.finding, "fixes", ()) or ():
            if field(fix, "id") == result.key:
                return fix
        from vg_studio.diagnose.fixes import FIXES

        return FIXES.get(result.key)

    def _update_buttons(self) -> None:
        self.cancel_button.setEnabled(self.running)
        self.again_button.setEnabled(not self.running and self.run is not None)
        self.steps.setEnabled(not self.running)
        result = None if self.running else self.selected_result()
        self.apply_button.setEnabled(result is not None)
        self.compare_button.setEnabled(result is not None)
        winner = self.winner()
        self.apply_button.setText("Apply the winner" if result is not None and result is winner else "Apply this fix")

    def _emit(self, signal) -> None:
        result = self.selected_result()
        fix = self._fix_of(result) if result is not None else None
        if fix is not None:
            signal.emit(fix, self.run)
