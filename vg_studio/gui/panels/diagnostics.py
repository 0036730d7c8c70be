"""Diagnostics panel: the findings of the run being shown, coloured by severity, each with its fixes.

Every finding line is shown in full (wrapped, never cut), the selected finding's evidence and the selected fix's
explanation sit below the list, layers are named as the builder shows them (h1 … hL), and a finished run without
a problem says so. Findings are `vg_studio.diagnose` Finding values; a run opened from disk gives report.json
dicts, rebuilt into Findings (with working fixes) by `as_findings`.
"""

from __future__ import annotations

import html
import math
import re

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QTextDocument
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QGridLayout, QHeaderView, QLabel, QPushButton,
                               QScrollArea, QSplitter, QStyledItemDelegate, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

SEVERITY_COLORS = {"info": QColor(70, 130, 200, 70), "warning": QColor(255, 165, 0, 90),
                   "error": QColor(220, 50, 50, 100), "critical": QColor(220, 50, 50, 130)}
FIX_ROLE = Qt.UserRole + 1
FINISHED = ("completed", "cancelled", "diverged", "failed")


def field(value, name: str, default=None):
    return value.get(name, default) if isinstance(value, dict) else getattr(value, name, default)


def as_findings(findings: list) -> list:
    """Findings as values with working fixes: report.json dicts are rebuilt (contract 3: fixes by id)."""
    out = []
    for finding in findings or []:
        if isinstance(finding, dict):
            finding = _from_dict(finding)
        out.append(finding)
    return out


def _from_dict(data: dict):
    if any(not isinstance(fix, dict) for fix in data.get("fixes", []) or []):
        return data  # it already holds Fix values (not a report's plain data): nothing to rebuild
    try:
        from vg_studio.diagnose.findings import Finding

        return Finding.from_dict(data)
    except (ImportError, AttributeError):  # an engine without from_dict: rebuild the fixes by id ourselves
        from vg_studio.diagnose.fixes import FIXES

        fixes = [FIXES.get(field(f, "id"), f) if isinstance(f, dict) else f for f in data.get("fixes", [])]
        return {**data, "fixes": fixes}
    except (KeyError, TypeError, ValueError):  # a report from another version: show it, without fixes
        return {**data, "fixes": []}


def layer_label(name: str) -> str:
    """The builder's row label of a history column: hidden_3 → h3 (a user's own model keeps its layer names)."""
    match = re.fullmatch(r"hidden_(\d+)", str(name))
    return f"h{match.group(1)}" if match else str(name)


def user_text(text: str) -> str:
    """Layer references as the user sees them: `hidden_2` and `network.layers[1]` both become h2."""
    text = re.sub(r"\bhidden_(\d+)\b", r"h\1", str(text))
    return re.sub(r"network\.layers\[(\d+)\]", lambda m: f"h{int(m.group(1)) + 1}", text)


def layer_indices(finding, layer_names: list) -> set[int]:
    """Spec layer indices (0-based) a finding names: 'hidden_3' → 2; the output layer is not a spec layer."""
    out = set()
    for layer in field(finding, "layers", []) or []:
        name = layer_names[layer] if isinstance(layer, int) and 0 <= layer < len(layer_names) else str(layer)
        match = re.fullmatch(r"hidden_(\d+)", name)
        if match:
            out.add(int(match.group(1)) - 1)
    return out


def format_number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.3g}" if value == 0 or 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def finding_title(finding) -> str:
    kind = str(field(finding, "kind", "finding")).replace("_", " ")
    layers = list(field(finding, "labels", None) or [layer_label(n) for n in field(finding, "layers", []) or []])
    where = ""
    if layers:
        where = f" in {layers[0]}–{layers[-1]}" if len(layers) > 3 else f" in {', '.join(layers)}"
    step = field(finding, "step", None)
    return f"{str(field(finding, 'severity', 'info')).upper()} · {kind}{where}" + (f" · from step {step}" if step
                                                                                    else "")


def _same(a: list, b: list) -> bool:
    """The same findings (values crossing from the training process are new objects each time)."""
    try:
        return len(a) == len(b) and all(x is y or x == y for x, y in zip(a, b))
    except Exception:  # values that cannot be compared: redraw
        return False


class WrappingDelegate(QStyledItemDelegate):
    """Rows as tall as their wrapped text at the tree's current width (Qt's own size hint assumes one line, so
    a long finding was cut with "…")."""

    PADDING = 6

    def __init__(self, tree: QTreeWidget):
        super().__init__(tree)
        self.tree = tree

    def sizeHint(self, option, index) -> QSize:  # noqa: N802 (Qt's name)
        hint = super().sizeHint(option, index)
        depth, parent = 1, index.parent()
        while parent.isValid():
            depth, parent = depth + 1, parent.parent()
        width = max(self.tree.viewport().width() - self.tree.indentation() * depth - self.PADDING, 40)
        text = str(index.data() or "")
        needed = QFontMetrics(option.font).boundingRect(QRect(0, 0, width, 1_000_000), Qt.TextWordWrap, text)
        return QSize(min(hint.width(), width), max(hint.height(), needed.height() + self.PADDING))


class DiagnosticsPanel(QWidget):
    apply_fix = Signal(object)  # a Fix (contract 2: id, title, why, apply(spec))
    apply_fix_and_compare = Signal(object)
    try_fixes = Signal(object)  # the selected Finding
    layers_flagged = Signal(object)  # set of spec layer indices

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(1)
        self.tree.setWordWrap(True)  # with ElideNone and a stretched column: every line shown in full
        self.tree.setTextElideMode(Qt.ElideNone)
        self.tree.setUniformRowHeights(False)
        self.tree.header().setSectionResizeMode(0, QHeaderView.Stretch)
        self.tree.header().setStretchLastSection(True)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.tree.setVerticalScrollMode(QAbstractItemView.ScrollPerPixel)
        self.tree.setItemDelegate(WrappingDelegate(self.tree))
        self.tree.header().sectionResized.connect(lambda *_: self.tree.doItemsLayout())  # re-wrap at a new width
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.details = QLabel()
        self.details.setObjectName("finding-details")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.RichText)
        self.details.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.details.setContentsMargins(2, 2, 2, 2)
        details_area = QScrollArea()  # long evidence scrolls here; the buttons below stay in view
        details_area.setWidgetResizable(True)
        details_area.setFrameShape(QFrame.NoFrame)
        details_area.setWidget(self.details)
        self.split = QSplitter(Qt.Vertical)
        self.split.setChildrenCollapsible(False)
        self.split.addWidget(self.tree)
        self.split.addWidget(details_area)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.fix_button = QPushButton("Apply fix")
        self.compare_button = QPushButton("Apply fix and compare")
        self.trials_button = QPushButton("Try fixes…")
        self.fix_button.setToolTip("Put the fixed network in the editor (undoable)")
        self.compare_button.setToolTip("Train the fixed network and overlay it on the run it fixes")
        self.trials_button.setToolTip("Train a short trial of every fix of this finding and rank them by what they "
                                      "measurably change")
        self.fix_button.clicked.connect(lambda: self._emit(self.apply_fix))
        self.compare_button.clicked.connect(lambda: self._emit(self.apply_fix_and_compare))
        self.trials_button.clicked.connect(self._try_fixes)
        self.reason = QLabel()  # why the buttons are disabled, when they are
        self.reason.setWordWrap(True)
        self.reason.setObjectName("fix-disabled-reason")
        buttons = QGridLayout()  # two rows: the panel stays narrow enough for its dock
        buttons.addWidget(self.fix_button, 0, 0)
        buttons.addWidget(self.compare_button, 0, 1)
        buttons.addWidget(self.trials_button, 1, 0, 1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(self.empty)
        layout.addWidget(self.split, 1)
        layout.addWidget(self.reason)
        layout.addLayout(buttons)
        self.findings: list = []
        self.layer_names: list = []
        self.status = ""
        self.fixable_reason = ""  # "" when fixes can be applied to the run shown, else why not
        self._flagged: set = set()
        self._render_empty()
        self._selection_changed()

    def warm_up(self) -> None:
        """Qt's first rich-text layout in a process costs ~10 ms more than the next ones: paid here, while the
        window is idle after start-up, not when a training run's first finding arrives (issue 12)."""
        document = QTextDocument()
        document.setDefaultFont(self.details.font())
        document.setHtml("<b>Evidence</b><table><tr><td>ratio</td><td>&nbsp;1.0e-04</td></tr></table>"
                         "<p><b>Fix</b> text</p><ul><li>advice</li></ul>")
        document.setTextWidth(max(self.details.width(), 100))
        document.size()

    # ---- content ----------------------------------------------------------------------------------------------
    def show_findings(self, findings: list, layer_names: list, status: str = "", fixable_reason: str = "") -> None:
        """The findings of the run shown. `status` is that run's (an empty panel reads differently while it runs
        and once it ended); `fixable_reason` says why its fixes cannot be applied ("" when they can)."""
        findings = as_findings(findings)
        same = _same(findings, self.findings) and list(layer_names) == self.layer_names
        self.status, self.fixable_reason = status, fixable_reason
        if same:
            self._render_empty()
            self._selection_changed()
            return
        self.findings, self.layer_names = list(findings), list(layer_names)
        self._render_empty()
        self.tree.blockSignals(True)  # one selection update below, not one per removed item
        self.tree.clear()
        for finding in findings:
            item = self._finding_item(finding)
            self.tree.addTopLevelItem(item)
            item.setExpanded(True)  # its fixes in view (an item expands only once it is in the tree)
        self.tree.blockSignals(False)
        if findings:  # the first finding selected: its evidence and its layers shown at once
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        self._selection_changed()

    def _finding_item(self, finding) -> QTreeWidgetItem:
        message = user_text(field(finding, "message", "") or "")
        item = QTreeWidgetItem([f"{finding_title(finding)}\n{message}"])
        item.setData(0, Qt.UserRole, finding)
        color = SEVERITY_COLORS.get(str(field(finding, "severity", "info")).lower(), SEVERITY_COLORS["info"])
        item.setBackground(0, QBrush(color))
        for fix in field(finding, "fixes", []) or []:
            child = QTreeWidgetItem([f"Fix: {field(fix, 'title', str(fix))}"])
            child.setToolTip(0, user_text(field(fix, "why", "") or ""))
            child.setData(0, FIX_ROLE, fix)
            item.addChild(child)
        for advice in field(finding, "advice", []) or []:  # a user's own model: what to change in their code
            child = QTreeWidgetItem([f"In your code: {user_text(advice)}"])
            child.setToolTip(0, user_text(advice))
            item.addChild(child)
        return item

    def _render_empty(self) -> None:
        if self.findings:
            self.empty.hide()
            return
        if self.status in FINISHED:
            text = ("No problem found: the gradient reached every layer at a healthy size and no rule fired."
                    if self.status == "completed" else f"No problem was found before the run ended ({self.status}).")
        elif self.status:
            text = "No findings yet: they appear here as soon as a rule fires while the run trains."
        else:
            text = "Train a network or open a run: its findings and their fixes appear here."
        self.empty.setText(text)
        self.empty.show()

    # ---- selection and buttons --------------------------------------------------------------------------------
    def selected_finding(self):
        items = self.tree.selectedItems()
        if not items:
            return None
        item = items[0].parent() or items[0]
        return item.data(0, Qt.UserRole)

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
        finding, fix = self.selected_finding(), self.selected_fix()
        applicable = fix is not None and not self.fixable_reason
        self.fix_button.setEnabled(applicable)
        self.compare_button.setEnabled(applicable)
        self.trials_button.setEnabled(finding is not None and not self.fixable_reason
                                      and len(field(finding, "fixes", []) or []) > 0)
        self.reason.setText(self.fixable_reason if finding is not None and self.fixable_reason else "")
        self.reason.setVisible(bool(self.reason.text()))
        for button in (self.fix_button, self.compare_button, self.trials_button):  # a user's own model: each fix
            button.setVisible(not self.fixable_reason)  # is advice for their code, never a button that cannot work
        self.details.setText(self._details(finding, fix) if finding is not None else "")
        flagged = layer_indices(finding, self.layer_names) if finding is not None else set()
        if flagged != self._flagged:  # the builder re-renders its table for this: only when it changes
            self._flagged = flagged
            self.layers_flagged.emit(flagged)

    def _details(self, finding, fix) -> str:
        evidence = field(finding, "evidence", {}) or {}
        rows = "".join(f"<tr><td>{html.escape(str(k).replace('_', ' '))}</td><td>&nbsp;{format_number(v)}</td></tr>"
                       for k, v in evidence.items())
        text = f"<b>Evidence</b><table>{rows}</table>" if rows else ""
        advice = [user_text(a) for a in field(finding, "advice", []) or []]
        if advice:  # a run without a spec: the fixes are advice for the user's own code
            text += "<p><b>In your own code:</b></p><ul>" + "".join(
                f"<li>{html.escape(a)}</li>" for a in advice) + "</ul>"
        if fix is not None:
            why = user_text(field(fix, "why", "") or "")
            text += f"<p><b>Fix: {html.escape(str(field(fix, 'title', '')))}</b><br>{html.escape(why)}</p>"
            advice = self._advice(fix, finding)
            if advice:
                text += f"<p><b>In your own code:</b> {html.escape(advice)}</p>"
        return text

    def _advice(self, fix, finding) -> str:
        """For a run without a spec (a user's own model) the fix is advice for their code (contract 2)."""
        advise = getattr(fix, "advice", None)
        if not self.fixable_reason or not callable(advise):
            return ""
        try:
            return user_text(advise([layer_label(n) for n in field(finding, "layers", []) or []]))
        except Exception:
            return ""

    def _emit(self, signal) -> None:
        fix = self.selected_fix()
        if fix is not None and not self.fixable_reason:
            signal.emit(fix)

    def _try_fixes(self) -> None:
        finding = self.selected_finding()
        if finding is not None and not self.fixable_reason:
            self.try_fixes.emit(finding)
