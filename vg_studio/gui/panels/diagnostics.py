"""Diagnostics panel: the findings of the run being shown — named at the top — coloured by severity, each with its
fixes; findings that no longer hold are listed after the active ones, greyed and marked resolved.

Every finding line is shown in full (wrapped, never cut), the selected finding's evidence and the selected fix's
explanation sit below the list (a pane that never collapses), layers are named as the builder shows them (h1 …
hL), a run read from disk shows what the run store noted about it (skipped or damaged parts), and a finished run
without a problem says so. Findings are `vg_studio.diagnose` Finding values; a run opened from disk gives
report.json dicts, rebuilt into Findings (with working fixes) by `findings_text.as_findings`. Layer names and
messages come from run files: rich text shows them through inert_html.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QTextDocument
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QGridLayout, QHeaderView, QLabel, QPushButton,
                               QScrollArea, QSplitter, QStyledItemDelegate, QTreeWidget, QTreeWidgetItem,
                               QVBoxLayout, QWidget)

from vg_studio.gui.findings_text import (as_findings, field, finding_title, format_number, layer_indices, layer_label,
                                         ordered, resolved_note, same_findings, state, user_text)
from vg_studio.text import inert, inert_html

SEVERITY_COLORS = {"info": QColor(70, 130, 200, 70), "warning": QColor(255, 165, 0, 90),
                   "error": QColor(220, 50, 50, 100), "critical": QColor(220, 50, 50, 130)}
RESOLVED_COLOR = QColor(128, 128, 128, 45)
FIX_ROLE = Qt.UserRole + 1
FINISHED = ("completed", "cancelled", "diverged", "failed")
DETAILS_MIN_HEIGHT = 96  # the evidence and the fix's explanation always keep a few lines


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
    apply_fix = Signal(object)  # a Fix (id, title, why, apply(spec))
    apply_fix_and_compare = Signal(object)
    try_fixes = Signal(object)  # the selected Finding
    layers_flagged = Signal(object)  # set of spec layer indices

    def __init__(self, parent=None):
        super().__init__(parent)
        self.heading = QLabel()  # which run the findings describe
        self.heading.setObjectName("diagnostics-run")
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.RichText)
        self.notes = QLabel()  # what the run store noted about a run read from disk
        self.notes.setObjectName("run-notes")
        self.notes.setWordWrap(True)
        self.notes.setTextFormat(Qt.PlainText)
        self.notes.hide()
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
        details_area.setMinimumHeight(DETAILS_MIN_HEIGHT)
        self.tree.setMinimumHeight(60)
        self.details_area = details_area
        self.split = QSplitter(Qt.Vertical)
        self.split.setChildrenCollapsible(False)
        self.split.addWidget(self.tree)
        self.split.addWidget(details_area)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        self.empty = QLabel()
        self.empty.setWordWrap(True)
        self.fix_button = QPushButton("Appl&y fix")
        self.compare_button = QPushButton("Apply fi&x and compare")
        self.trials_button = QPushButton("&Try fixes…")
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
        buttons = QGridLayout()  # one column: the panel stays narrow enough for a laptop's dock
        buttons.setSpacing(3)
        buttons.addWidget(self.fix_button, 0, 0)
        buttons.addWidget(self.compare_button, 1, 0)
        buttons.addWidget(self.trials_button, 2, 0)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.notes)
        layout.addWidget(self.empty)
        layout.addWidget(self.split, 1)
        layout.addWidget(self.reason)
        layout.addLayout(buttons)
        self.findings: list = []
        self.layer_names: list = []
        self.status = ""
        self.fixable_reason = ""  # "" when fixes can be applied to the run shown, else why not
        self.run_name = ""
        self._flagged: set = set()
        self._show_heading()
        self._render_empty()
        self._selection_changed()

    def warm_up(self) -> None:
        """Qt's first rich-text layout in a process costs ~10 ms more than the next ones: paid here, while the
        window is idle after start-up, not when a training run's first finding arrives."""
        document = QTextDocument()
        document.setDefaultFont(self.details.font())
        document.setHtml("<b>Evidence</b><table><tr><td>ratio</td><td>&nbsp;1.0e-04</td></tr></table>"
                         "<p><b>Fix</b> text</p><ul><li>advice</li></ul>")
        document.setTextWidth(max(self.details.width(), 100))
        document.size()

    # ---- content ----------------------------------------------------------------------------------------------
    def show_findings(self, findings: list, layer_names: list, status: str = "", fixable_reason: str = "",
                      run_name: str = "", notes: list | None = None) -> None:
        """The findings of the run `run_name`. `status` is that run's (an empty panel reads differently while it
        runs and once it ended); `fixable_reason` says why its fixes cannot be applied ("" when they can); `notes`
        are the run store's lines about a run read from disk."""
        findings = ordered(as_findings(findings))
        same = same_findings(findings, self.findings) and list(layer_names) == self.layer_names
        self.status, self.fixable_reason, self.run_name = status, fixable_reason, run_name
        self._show_heading()
        self.notes.setText("\n".join(f"Note: {inert(n)}" for n in notes or []))
        self.notes.setVisible(bool(notes))
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

    def _show_heading(self) -> None:
        if not self.run_name:
            self.heading.setText("<i>No run selected</i>")
            return
        status = f" ({inert_html(self.status)})" if self.status else ""
        self.heading.setText(f"Findings of <b>{inert_html(self.run_name)}</b>{status}")

    def _finding_item(self, finding) -> QTreeWidgetItem:
        message = user_text(field(finding, "message", "") or "")
        resolved = state(finding) == "resolved"
        if resolved:
            message = f"{message}\n{resolved_note(finding)}"
        item = QTreeWidgetItem([f"{finding_title(finding)}\n{message}"])
        item.setData(0, Qt.UserRole, finding)
        color = RESOLVED_COLOR if resolved else SEVERITY_COLORS.get(str(field(finding, "severity", "info")).lower(),
                                                                    SEVERITY_COLORS["info"])
        item.setBackground(0, QBrush(color))
        if resolved:
            item.setForeground(0, QBrush(self.palette().placeholderText().color()))
        for fix in field(finding, "fixes", []) or []:
            child = QTreeWidgetItem([f"Fix: {inert(field(fix, 'title', str(fix)))}"])
            child.setToolTip(0, inert_html(user_text(field(fix, "why", "") or "")))
            child.setData(0, FIX_ROLE, fix)
            item.addChild(child)
        for advice in field(finding, "advice", []) or []:  # a user's own model: what to change in their code
            child = QTreeWidgetItem([f"{self._advice_label()}: {user_text(advice)}"])
            child.setToolTip(0, inert_html(user_text(advice)))
            item.addChild(child)
        return item

    def _render_empty(self) -> None:
        """Says so when no problem holds: no finding at all, or only notes (info findings, resolved ones)."""
        holding = [f for f in self.findings if str(field(f, "severity", "info")).lower() != "info"
                   and state(f) != "resolved"]
        if holding or (self.findings and self.status not in FINISHED):
            self.empty.hide()
            return
        if self.status in FINISHED and self.findings:
            text = ("No problem holds at the end of the run: the notes below say what happened on the way or what "
                    "could not be judged." if self.status == "completed"
                    else f"No problem held when the run ended ({self.status}); the notes below say more.")
        elif self.status in FINISHED:
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
        rows = "".join(f"<tr><td>{inert_html(str(k).replace('_', ' '))}</td><td>&nbsp;{html.escape(format_number(v))}"
                       "</td></tr>" for k, v in evidence.items())
        text = f"<b>Evidence</b><table>{rows}</table>" if rows else ""
        advice = [user_text(a) for a in field(finding, "advice", []) or []]
        if advice:  # what to change by hand: in a user's own code, or in how a spec run is trained
            text += f"<p><b>{self._advice_label('In your own code')}:</b></p><ul>" + "".join(
                f"<li>{html.escape(a)}</li>" for a in advice) + "</ul>"
        if fix is not None:
            why = user_text(field(fix, "why", "") or "")
            text += f"<p><b>Fix: {inert_html(field(fix, 'title', ''))}</b><br>{html.escape(why)}</p>"
            advice = self._advice(fix, finding)
            if advice:
                text += f"<p><b>In your own code:</b> {html.escape(advice)}</p>"
        return text

    def _advice_label(self, own: str = "In your code") -> str:
        """A user's own model (its fixes cannot be applied) is changed in their code; a spec run by hand."""
        return own if self.fixable_reason else "Advice"

    def _advice(self, fix, finding) -> str:
        """For a run without a spec (a user's own model) the fix is advice for their code."""
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
