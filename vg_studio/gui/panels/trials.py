"""Fix trials ("Try fixes"): a short trial of every fix of a finding, trained in the background from the same data
and seed, side by side with the unchanged network; the table ranks them by what a user cares about — the test
accuracy each reached, then the loss — and says why each stands where it does, with the winner one click away.

The work is `vg_studio.diagnose.trials` (Qt-free, trials in their own processes); this panel starts it in a thread,
shows its progress in a real progress bar, lists every trial from the start and fills in each one's numbers when
they are known, cancels, and lets any column sort the table (click its header)."""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import threading

from PySide6.QtCore import Qt, QThread, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from vg_studio.gui.findings_text import field, finding_title
from vg_studio.gui.panels.editors import IntEdit
from vg_studio.text import inert, inert_html

COLUMNS = ("Fix", "Test accuracy", "Loss at the end", "Loss drop", "1st-layer gradient ×", "Finding", "Status")
TIPS = ("The fix (the unchanged network is the reference)",
        "Accuracy on the test set after the trial's steps: what the ranking looks at first",
        "Median loss over the trial's last fifth: the ranking's second look",
        "Share of the unchanged network's starting loss gone after the same steps",
        "First layer's gradient relative to the output's, against the unchanged network's (1 = no change)",
        "Whether the finding is still there at the end of the trial",
        "How the trial ended")
ACCURACY_TIE = 0.005  # test accuracies closer than this are a tie: the lower loss ranks first
BASELINE_TITLE = "Unchanged network (reference)"


def _pct(value) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.0%}"


def _times(value) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.3g}×" if value < 1e4 else f"{value:.1e}×"


def _number(value) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3g}"


def _finite(value, default: float) -> float:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else default


def ranked(results: list) -> list:
    """Trials that ran first; then the higher test accuracy (ties within ACCURACY_TIE go by the lower loss at the
    end); a trial without a test accuracy after those with one."""
    def key(r):
        ran = r.status in ("completed", "cancelled") and r.steps > 0
        accuracy = _finite(r.test_accuracy, -1.0)
        return (not ran, -round(accuracy / ACCURACY_TIE), _finite(r.loss_end, math.inf))
    return sorted(results, key=key)


def reason(result, results: list) -> str:
    """Why a trial stands where it does, in a few words."""
    ran = [r for r in results if r.status in ("completed", "cancelled") and r.steps > 0]
    if result not in ran:
        return f"{result.status}: {inert(result.message)}" if result.message else result.status
    best = max((_finite(r.test_accuracy, -1.0) for r in ran), default=-1.0)
    accuracy = _finite(result.test_accuracy, -1.0)
    if accuracy < 0:
        return "no test accuracy measured"
    if best - accuracy < ACCURACY_TIE:
        tied = [r for r in ran if best - _finite(r.test_accuracy, -1.0) < ACCURACY_TIE]
        if len(tied) > 1:
            return f"best test accuracy ({accuracy:.1%}), tied: loss at the end {_number(result.loss_end)}"
        return f"best test accuracy ({accuracy:.1%})"
    return f"test accuracy {accuracy:.1%}, {best - accuracy:.1%} below the best"


def progress_text(text: str) -> str:
    """The trials' status line without its text-terminal bar ("[####....] cells 2/5 | …" → "cells 2/5 · …")."""
    return re.sub(r"^\[[#.]*\]\s*", "", text.strip()).replace(" | ", " · ")


class TrialsWorker(QThread):
    progress = Signal(float, str)
    result = Signal(object)  # one TrialResult, as its trial ends (where the trials report them one by one)
    done = Signal(list)  # every TrialResult
    failed = Signal(str)

    def __init__(self, run_dir: str, finding, steps: int, parent=None):
        super().__init__(parent)
        self.run_dir, self.finding, self.steps = run_dir, finding, steps
        self.cancel_event = threading.Event()
        self.plan = None

    def run(self) -> None:
        try:
            from vg_studio.diagnose import trials

            plan = trials.plan_trials(self.run_dir)
            fixes = tuple(field(self.finding, "fixes", ()) or ())
            if fixes and field(self.finding, "kind") != plan.finding.kind:  # the finding the user chose
                plan = dataclasses.replace(plan, finding=self.finding, fixes=fixes)
            self.plan = plan
            options = {"jobs": 2, "progress": self.progress.emit, "cancel": self.cancel_event}
            if "on_result" in inspect.signature(trials.run_trials).parameters:
                options["on_result"] = self.result.emit
            results = trials.run_trials(plan, self.steps, **options)
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
        self.heading.setTextFormat(Qt.PlainText)
        self.steps = IntEdit(10, 100_000, "Steps")
        self.steps.setValue(100)
        self.steps.setSuffix(" steps")
        self.steps.setToolTip("Training steps of each trial (all trials train the same steps from the same data)")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.clicked.connect(self.stop)
        self.again_button = QPushButton("Run a&gain")
        self.again_button.clicked.connect(self._again)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for i, tip in enumerate(TIPS):
            self.table.horizontalHeaderItem(i).setToolTip(tip)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setTabKeyNavigation(False)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)  # every column can be widened by its edge
        header.setStretchLastSection(True)
        header.setSectionsClickable(True)
        self.table.setColumnWidth(0, 260)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)  # wrapped names in full
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.PlainText)
        self.apply_button = QPushButton("&Apply the winner")
        self.apply_button.clicked.connect(lambda: self._emit(self.apply_fix))
        self.compare_button = QPushButton("Apply and co&mpare")
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
        self._shown: list = []  # (key, title) of each row, in table order
        self._update_buttons()

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def start(self, run, finding) -> None:
        """Try every fix of `finding` on `run` (a finished run with a spec)."""
        from vg_studio.diagnose.trials import BASELINE

        self.stop()
        self.run, self.finding, self.results = run, finding, []
        self.verdict.setText("")
        steps = self.steps.value()
        self.heading.setText(f"Trying the fixes of {finding_title(finding)} in {inert(run.name)}: each trains "
                             f"{steps} steps from the same data and seed as the unchanged network.")
        rows = [(BASELINE, BASELINE_TITLE)] + [(field(f, "id"), inert(field(f, "title", ""))) for f in
                                               field(finding, "fixes", ()) or ()]
        self._fill_waiting(rows)
        self.worker = TrialsWorker(str(run.run_dir), finding, steps, self)
        self.worker.progress.connect(self._progress)
        self.worker.result.connect(self._one_result)
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
        self.progress.setFormat(f"{fraction:.0%} · {progress_text(text)}" if text.strip() else f"{fraction:.0%}")

    def _failed(self, message: str) -> None:
        self.progress.setFormat("stopped")
        self.verdict.setText(f"Cannot try the fixes: {inert(message)}.")

    # ---- the table ----------------------------------------------------------------------------------------------
    def _fill_waiting(self, rows: list) -> None:
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(rows))
        self._shown = list(rows)
        for row, (key, title) in enumerate(rows):
            cells = [title] + ["…"] * (len(COLUMNS) - 2) + ["training…"]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.UserRole, key)
                item.setToolTip(inert_html(f"{title}: waiting for its trial to end") if column == 0 else "")
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()

    def _one_result(self, result) -> None:
        """A trial ended: its row gets its numbers now (the ranking comes when every trial has ended)."""
        self.results = [r for r in self.results if r.key != result.key] + [result]
        row = next((i for i, (key, _) in enumerate(self._shown) if key == result.key), None)
        if row is not None:
            self._fill_row(row, result, self.results)

    def _fill_row(self, row: int, result, results: list) -> None:
        from vg_studio.diagnose.trials import BASELINE

        title = BASELINE_TITLE if result.key == BASELINE else inert(result.title)
        why = reason(result, results)
        numbers = ((title, None), (_pct(result.test_accuracy), _finite(result.test_accuracy, -1.0)),
                   (_number(result.loss_end), _finite(result.loss_end, math.inf)),
                   (_pct(result.loss_drop), _finite(result.loss_drop, -math.inf)),
                   ("—" if result.key == BASELINE else _times(result.gradient_recovery),
                    _finite(result.gradient_recovery, 0.0)),
                   ("still there" if result.still_found else "gone", None), (result.status, None))
        tip = inert_html(f"{title} — {self._ending(result)}. Ranked on: {why}.")
        for column, (text, value) in enumerate(numbers):
            item = _SortItem(text, value)
            item.setData(Qt.UserRole, result.key)
            item.setToolTip(tip)
            self.table.setItem(row, column, item)

    def _ending(self, result) -> str:
        """This trial's own end: how many of the asked steps it trained, and how it stopped."""
        asked = self.steps.value()
        message = inert(result.message or "")
        if result.status in ("completed", "cancelled") and result.steps >= asked:
            return f"trained all its {asked} steps"
        if result.status in ("completed", "cancelled") and result.steps > 0:
            return f"trained {result.steps} of {asked} steps ({message or result.status})"
        return f"{result.status} after {result.steps} steps" + (f": {message}" if message else "")

    def _done(self, results: list) -> None:
        self.results = ranked(results)
        cancelled = self.worker is not None and self.worker.cancel_event.is_set()
        self.progress.setValue(1000)
        self.progress.setFormat("cancelled" if cancelled else "done: every trial has ended")
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.results))
        self._shown = [(r.key, r.title) for r in self.results]
        for row, result in enumerate(self.results):
            self._fill_row(row, result, self.results)
        self.table.resizeRowsToContents()
        self.table.setSortingEnabled(True)  # a click on a header sorts by that column
        self.table.horizontalHeader().setSortIndicatorShown(False)
        winner = self.winner()
        steps = self.steps.value()
        if winner is not None:
            self.verdict.setText(f"Best after {steps} steps: {inert(winner.title)} — {reason(winner, self.results)}, "
                                 f"loss at the end {_number(winner.loss_end)}; the first layer's gradient is "
                                 f"{_times(winner.gradient_recovery)} the unchanged network's.")
            self.table.selectRow(0)
        elif self.results:
            self.verdict.setText(f"No fix beat the unchanged network over {steps} steps: try more steps.")
        self._update_buttons()

    def winner(self):
        from vg_studio.diagnose.trials import BASELINE

        if not self.results or self.results[0].key == BASELINE or self.results[0].steps <= 0 or \
                self.results[0].status not in ("completed", "cancelled"):
            return None
        return self.results[0]

    def selected_result(self):
        from vg_studio.diagnose.trials import BASELINE

        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        key = self.table.item(rows[0].row(), 0).data(Qt.UserRole) if rows and self.table.item(rows[0].row(), 0) \
            else None
        result = next((r for r in self.results if r.key == key), None) if key is not None else self.winner()
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
        self.apply_button.setText("&Apply the winner" if result is not None and result is winner else
                                  "&Apply this fix")

    def _emit(self, signal) -> None:
        result = self.selected_result()
        fix = self._fix_of(result) if result is not None else None
        if fix is not None:
            signal.emit(fix, self.run)


class _SortItem(QTableWidgetItem):
    """A cell that sorts by its number (higher first in a descending sort), not by its text."""

    def __init__(self, text: str, value: float | None):
        super().__init__(text)
        self.value = value

    def __lt__(self, other) -> bool:
        if isinstance(other, _SortItem) and self.value is not None and other.value is not None:
            return self.value < other.value
        return self.text() < other.text()
