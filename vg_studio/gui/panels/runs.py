"""Runs panel: every run of the session (and opened run folders); select one or more to show/overlay them."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

STATUS_MARK = {"running": "▶", "starting": "…", "completed": "✓", "cancelled": "■", "diverged": "✗",
               "failed": "✗"}


def swatch(color: str | None) -> QIcon:
    """The run's colour as drawn in every plot (the plots' palette gives it; a plain square otherwise)."""
    if not color:
        return QIcon()
    try:
        from vg_studio.gui.plots.palette import swatch_icon
    except ImportError:
        pixmap = QPixmap(14, 14)
        pixmap.fill(QColor(color))
        return QIcon(pixmap)
    return swatch_icon(color)


class RunsPanel(QWidget):
    selection_changed = Signal(list)  # [RunData]

    def __init__(self, parent=None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.list.itemSelectionChanged.connect(lambda: self.selection_changed.emit(self.selected_runs()))
        layout = QVBoxLayout(self)
        hint = QLabel("Select two or more runs (Ctrl/Shift-click) to overlay them.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addWidget(self.list, 1)
        self.runs: list = []

    def add_run(self, run, select: bool = True) -> None:
        self.runs.append(run)
        item = QListWidgetItem()
        item.setData(Qt.UserRole, len(self.runs) - 1)
        self.list.addItem(item)
        self.refresh(run)
        if select:
            self.select([run])

    def refresh(self, run) -> None:
        if run not in self.runs:
            return
        item = self.list.item(self.runs.index(run))
        accuracy = run.epoch_metric("val_accuracy")
        best = f"  val acc {accuracy[-1]:.3f}" if len(accuracy) else ""
        following = "  (following)" if getattr(run, "followed", False) and run.status in ("starting", "running") \
            else ""
        item.setText(f"{STATUS_MARK.get(run.status, '?')} {run.name}{best}{following}")
        item.setIcon(swatch(getattr(run, "color", None)))
        item.setToolTip(f"{run.status}: {run.message}\n{run.run_dir or ''}")

    def select(self, runs: list) -> None:
        self.list.blockSignals(True)
        self.list.clearSelection()
        for run in runs:
            if run in self.runs:
                self.list.item(self.runs.index(run)).setSelected(True)
        self.list.blockSignals(False)
        self.selection_changed.emit(self.selected_runs())

    def selected_runs(self) -> list:
        rows = sorted(self.list.row(item) for item in self.list.selectedItems())
        return [self.runs[row] for row in rows if 0 <= row < len(self.runs)]
