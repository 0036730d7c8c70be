"""Runs panel: every run of the session (and opened run folders); select one or more to show/overlay them. F2
renames the selected run (in place), Delete removes it (asking whether its folder goes too); both are in the
context menu and the Run menu."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListWidget, QListWidgetItem, QMenu, QVBoxLayout, QWidget

from vg_studio.text import inert, inert_html

STATUS_MARK = {"running": "▶", "starting": "…", "completed": "✓", "cancelled": "■", "diverged": "✗",
               "failed": "✗"}
RUN_ROLE = Qt.UserRole


def swatch(color: str | None) -> QIcon:
    """The run's colour as drawn in every plot."""
    if not color:
        return QIcon()
    from vg_studio.gui.plots.palette import swatch_icon

    return swatch_icon(color)


class RunsPanel(QWidget):
    selection_changed = Signal(list)  # [RunData]
    rename_requested = Signal(object, str)  # RunData, the new name
    remove_requested = Signal(object)  # RunData

    def __init__(self, runs: list | None = None, parent=None):
        super().__init__(parent)
        self.runs: list = runs if runs is not None else []  # shared with the controller
        self._items: dict[int, QListWidgetItem] = {}
        self._filling = False
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.list.setEditTriggers(QAbstractItemView.NoEditTriggers)  # F2 edits the name alone (edit_name)
        self.list.itemSelectionChanged.connect(lambda: self.selection_changed.emit(self.selected_runs()))
        self.list.itemChanged.connect(self._item_changed)
        self.list.itemDelegate().closeEditor.connect(lambda *_: [self.refresh(r) for r in self.runs])  # Esc
        self.list.setContextMenuPolicy(Qt.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.remove_action = QAction("&Remove…", self.list)
        self.remove_action.setShortcut(QKeySequence.Delete)
        self.remove_action.setShortcutContext(Qt.WidgetShortcut)
        self.remove_action.triggered.connect(self._remove_selected)
        self.list.addAction(self.remove_action)
        self.rename_action = QAction("Re&name", self.list)
        self.rename_action.setShortcut(QKeySequence(Qt.Key_F2))
        self.rename_action.setShortcutContext(Qt.WidgetShortcut)
        self.rename_action.triggered.connect(self.edit_name)
        self.list.addAction(self.rename_action)
        layout = QVBoxLayout(self)
        hint = QLabel("Select two or more runs (Ctrl/Shift-click) to overlay them. F2 renames, Delete removes.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        layout.addWidget(self.list, 1)

    def add_run(self, run, select: bool = True) -> None:
        if run not in self.runs:
            self.runs.append(run)
        if id(run) not in self._items:
            item = QListWidgetItem()
            item.setFlags(item.flags() | Qt.ItemIsEditable)
            item.setData(RUN_ROLE, id(run))
            self._items[id(run)] = item
            self.list.addItem(item)
        self.refresh(run)
        if select:
            self.select([run])

    def remove_run(self, run) -> None:
        item = self._items.pop(id(run), None)
        if run in self.runs:
            self.runs.remove(run)
        if item is not None:
            self.list.takeItem(self.list.row(item))  # selection_changed follows from the list

    def refresh(self, run) -> None:
        item = self._items.get(id(run))
        if item is None:
            return
        accuracy = run.epoch_metric("val_accuracy")
        best = f"  val acc {accuracy[-1]:.3f}" if len(accuracy) else ""
        following = "  (following)" if run.followed and run.status in ("starting", "running") else ""
        self._filling = True
        item.setText(f"{STATUS_MARK.get(run.status, '?')} {inert(run.name)}{best}{following}")
        item.setIcon(swatch(getattr(run, "color", None)))
        lines = [f"{run.status}: {run.message}", str(run.run_dir or "")] + list(run.notes)
        item.setToolTip("<br>".join(inert_html(line) for line in lines if line))
        self._filling = False

    def select(self, runs: list) -> None:
        self.list.blockSignals(True)
        self.list.clearSelection()
        for run in runs:
            item = self._items.get(id(run))
            if item is not None:
                item.setSelected(True)
        self.list.blockSignals(False)
        self.selection_changed.emit(self.selected_runs())

    def selected_runs(self) -> list:
        by_key = {id(run): run for run in self.runs}
        items = sorted(self.list.selectedItems(), key=self.list.row)
        return [by_key[item.data(RUN_ROLE)] for item in items if item.data(RUN_ROLE) in by_key]

    def edit_name(self) -> None:
        """Rename the selected run in place: its name alone is edited (the status mark and figures come back)."""
        selected = self.selected_runs()
        if not selected:
            return
        item = self._items[id(selected[-1])]
        self._filling = True
        item.setText(selected[-1].name)
        self._filling = False
        self.list.setCurrentItem(item)
        self.list.editItem(item)

    def _item_changed(self, item: QListWidgetItem) -> None:
        if self._filling:
            return
        run = next((r for r in self.runs if id(r) == item.data(RUN_ROLE)), None)
        if run is None:
            return
        name = item.text().strip()
        if name and name != run.name:
            self.rename_requested.emit(run, name)
        else:
            self.refresh(run)

    def _remove_selected(self) -> None:
        selected = self.selected_runs()
        if selected:
            self.remove_requested.emit(selected[-1])

    def _context_menu(self, position) -> None:
        item = self.list.itemAt(position)
        if item is None:
            return
        if not item.isSelected():
            self.select([r for r in self.runs if id(r) == item.data(RUN_ROLE)])
        menu = QMenu(self)
        menu.addAction(self.rename_action)
        menu.addAction(self.remove_action)
        menu.popup(self.list.viewport().mapToGlobal(position))
