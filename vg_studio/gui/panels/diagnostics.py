"""Diagnostics panel: the findings of the running (or selected) run, coloured by severity, each with its fixes.

Findings come from vg_studio.diagnose (live `Finding` objects, or dicts from an opened run's report.json); the
panel only reads their fields, so it works with whatever rules exist.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

SEVERITY_COLORS = {"info": QColor(70, 130, 200, 70), "warning": QColor(255, 165, 0, 90),
                   "error": QColor(220, 50, 50, 100), "critical": QColor(220, 50, 50, 130)}
FIX_ROLE = Qt.UserRole + 1


def field(finding, name: str, default=None):
    return finding.get(name, default) if isinstance(finding, dict) else getattr(finding, name, default)


def layer_indices(finding, layer_names: list) -> set[int]:
    """Spec layer indices (0-based) a finding names: 'hidden_3' → 2; the output layer is not a spec layer."""
    out = set()
    for layer in field(finding, "layers", []) or []:
        if isinstance(layer, int):
            name = layer_names[layer] if 0 <= layer < len(layer_names) else ""
        else:
            name = str(layer)
        match = re.fullmatch(r"hidden_(\d+)", name)
        if match:
            out.add(int(match.group(1)) - 1)
    return out


class DiagnosticsPanel(QWidget):
    apply_fix = Signal(object)  # a Fix (title, apply(spec) -> spec)
    apply_fix_and_compare = Signal(object)
    layers_flagged = Signal(object)  # set of spec layer indices

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(1)
        self.tree.setWordWrap(True)
        self.tree.setUniformRowHeights(False)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.empty = QLabel("No findings yet: they appear here while a run trains.")
        self.empty.setWordWrap(True)
        self.fix_button = QPushButton("Apply fix")
        self.compare_button = QPushButton("Apply fix and compare")
        self.fix_button.setToolTip("Change the experiment as the fix suggests (undoable)")
        self.compare_button.setToolTip("Apply the fix, train the fixed network and overlay both runs")
        self.fix_button.clicked.connect(lambda: self._emit(self.apply_fix))
        self.compare_button.clicked.connect(lambda: self._emit(self.apply_fix_and_compare))
        buttons = QHBoxLayout()
        buttons.addWidget(self.fix_button)
        buttons.addWidget(self.compare_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.details)
        layout.addLayout(buttons)
        self.findings: list = []
        self.layer_names: list = []
        self._selection_changed()

    def show_findings(self, findings: list, layer_names: list) -> None:
        if [id(f) for f in findings] == [id(f) for f in self.findings] and layer_names == self.layer_names:
            return
        self.findings, self.layer_names = list(findings), list(layer_names)
        self.tree.clear()
        self.empty.setVisible(not findings)
        for finding in findings:
            severity = str(field(finding, "severity", "info"))
            message = str(field(finding, "message", field(finding, "kind", "finding")))
            step = field(finding, "step", None)
            item = QTreeWidgetItem([f"{severity.upper()}: {message}" + (f" (step {step})" if step else "")])
            item.setToolTip(0, f"{field(finding, 'kind', '')}: {message}\nevidence: {field(finding, 'evidence', '')}")
            item.setData(0, Qt.UserRole, finding)
            color = SEVERITY_COLORS.get(severity.lower(), SEVERITY_COLORS["info"])
            item.setBackground(0, QBrush(color))
            for fix in field(finding, "fixes", []) or []:
                title = field(fix, "title", str(fix))
                child = QTreeWidgetItem([f"Fix: {title}"])
                child.setToolTip(0, str(field(fix, "description", title) or title))
                child.setData(0, FIX_ROLE, fix)
                item.addChild(child)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)
        flagged = set()
        for finding in findings:
            flagged |= layer_indices(finding, layer_names)
        self.layers_flagged.emit(flagged)
        self._selection_changed()

    def selected_fix(self):
        items = self.tree.selectedItems()
        if not items:
            return None
        item = items[0]
        fix = item.data(0, FIX_ROLE)
        if fix is None and item.childCount():
            fix = item.child(0).data(0, FIX_ROLE)
        return fix if callable(field(fix, "apply")) else None

    def _selection_changed(self) -> None:
        enabled = self.selected_fix() is not None
        self.fix_button.setEnabled(enabled)
        self.compare_button.setEnabled(enabled)
        items = self.tree.selectedItems()
        self.details.setText("")
        if items:
            item = items[0].parent() or items[0]
            finding = item.data(0, Qt.UserRole)
            self.layers_flagged.emit(layer_indices(finding, self.layer_names))
            fix = items[0].data(0, FIX_ROLE)
            text = str(field(finding, "message", ""))
            if fix is not None:
                text += f"<br><b>Fix:</b> {field(fix, 'title', '')}"
            self.details.setText(text)

    def _emit(self, signal) -> None:
        fix = self.selected_fix()
        if fix is not None:
            signal.emit(fix)
