"""Number editors for the panels: a value is committed once typed (Enter, Tab or leaving the field), never digit
by digit — "64" must not become 6 and then re-render the table under the user's fingers — and a value outside the
field's range ("-5" units) is refused visibly instead of being silently changed into another number.

Every editor answers `problem()`: "" when what it shows is what a run would train with, else one line saying what
is wrong (an empty learning rate, a refused value still on screen, text typed but not committed). The window keeps
Train off while any editor has a problem. Esc puts the committed value back (it never reaches the window), and the
mouse wheel changes a value only in the field that has the keyboard focus: scrolling a dock past a field leaves it
alone.
"""

from __future__ import annotations

import math
from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (QAbstractScrollArea, QApplication, QComboBox, QDoubleSpinBox,
                               QLineEdit, QSpinBox, QToolTip, QWidget)

REFUSED_COLOR = "rgba(255,120,120,110)"
MIN_EDITOR_WIDTH = 56  # editors may shrink to this in a narrow dock (their size hint is the widest value)


def show_refusal(label, message: str) -> None:
    """Show an editor's refusal in a panel's message label; an empty one (a later valid value) clears it."""
    if message:
        label.setText(f"⚠ {message}")
    elif "refused" in label.text():
        label.setText("")


# ---- the wheel -------------------------------------------------------------------------------------------------
class _WheelGuard(QObject):
    """A wheel turned over an editor without the keyboard focus scrolls what holds it instead."""

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() != QEvent.Wheel or watched.hasFocus():
            return False
        holder = watched.parentWidget()
        while holder is not None and not isinstance(holder, QAbstractScrollArea):
            holder = holder.parentWidget()
        if holder is not None:
            QApplication.sendEvent(holder.viewport(), event)
        return True


_WHEEL_GUARD: _WheelGuard | None = None


def wheel_needs_focus(widget: QWidget) -> QWidget:
    """The wheel changes `widget` (a spin box or a combo box) only once it has the focus (a click or Tab)."""
    global _WHEEL_GUARD
    if _WHEEL_GUARD is None:
        _WHEEL_GUARD = _WheelGuard()
    widget.setFocusPolicy(Qt.StrongFocus)
    widget.installEventFilter(_WHEEL_GUARD)
    widget.setMinimumWidth(MIN_EDITOR_WIDTH)
    return widget


def combo_box() -> QComboBox:
    """A combo box for a narrow dock: as wide as the dock allows, its list as wide as its longest entry."""
    combo = wheel_needs_focus(QComboBox())
    combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(4)
    return combo


# ---- spin boxes ------------------------------------------------------------------------------------------------
class _Guarded:
    """Shared by the int and float spin boxes: out-of-range text may be typed; on commit it is refused loudly."""

    def _setup(self, label: str) -> None:
        self.label = label
        self.setKeyboardTracking(False)  # valueChanged when the value is committed, not on every keystroke
        self.valueChanged.connect(self._clear_refusal)
        wheel_needs_focus(self)

    def validate(self, text: str, pos: int):
        result = super().validate(text, pos)
        state = result[0] if isinstance(result, tuple) else result
        if state == QValidator.Invalid and self._parse(text) is not None:
            return QValidator.Intermediate, text, pos  # let it be typed; it is refused on commit, with a reason
        return result

    def _parse(self, text: str):
        text = text.strip().removesuffix(self.suffix().strip()).strip().replace(",", ".")
        if text in ("-", "+"):
            return text
        try:
            return float(text)
        except ValueError:
            return None

    def _shown(self) -> str:
        return self.lineEdit().text().strip().removesuffix(self.suffix().strip()).strip()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self._check_typed()  # before Qt puts the last good value back
        elif event.key() == Qt.Key_Escape:
            self.revert()
            event.accept()
            return
        super().keyPressEvent(event)

    def focusOutEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._check_typed()
        super().focusOutEvent(event)

    def revert(self) -> None:
        """Esc: the committed value back in the field, the refusal gone."""
        self.setSuffix(self.suffix())  # Qt redraws the field from the value (prefix, suffix, special text)
        self._clear_refusal()

    def commit(self) -> None:
        """Commit what is typed now (Train pressed while this field still had the focus)."""
        self._check_typed()
        self.interpretText()

    def problem(self) -> str:
        """"" when the field shows the value a run trains with; else why not (a refused value still shown)."""
        refused = self.property("refused")
        if not refused:
            return ""
        shown = self._shown()
        value = self._parse(shown)
        return refused if not isinstance(value, float) or value != float(self.value()) else ""

    def _check_typed(self) -> None:
        typed = self.lineEdit().text()
        value = self._parse(typed)
        if value is None or isinstance(value, str):
            return
        if not self.minimum() <= value <= self.maximum():
            low, high = self.textFromValue(self.minimum()), self.textFromValue(self.maximum())
            self.refuse(f"{self.label}: {self._shown()} refused — must be between {low} and {high}")
        else:  # a valid value, even the one already there (no valueChanged): the refusal's message goes
            self._clear_refusal()

    def refuse(self, message: str) -> None:
        self.setStyleSheet(f"{type(self).__name__} {{ background-color: {REFUSED_COLOR}; }}")  # not its tooltip
        self.setToolTip(message)
        self.setProperty("refused", message)
        if self.isVisible():
            QToolTip.showText(self.mapToGlobal(self.rect().bottomLeft()), message, self)
        self.refused.emit(message)

    def _clear_refusal(self, *_) -> None:
        if self.property("refused"):
            self.setProperty("refused", None)
            self.setStyleSheet("")
            self.setToolTip("")
            self.refused.emit("")  # an empty refusal: the panel clears the message it showed


class IntEdit(_Guarded, QSpinBox):
    refused = Signal(str)

    def __init__(self, low: int, high: int, label: str, parent=None):
        super().__init__(parent)
        self.setRange(low, high)
        self._setup(label)


class FloatEdit(_Guarded, QDoubleSpinBox):
    refused = Signal(str)

    def __init__(self, low: float, high: float, label: str, step: float = 0.1, decimals: int = 2, parent=None):
        super().__init__(parent)
        self.setDecimals(decimals)
        self.setRange(low, high)
        self.setSingleStep(step)
        self._setup(label)


# ---- a number typed as text ------------------------------------------------------------------------------------
class NumberEdit(QLineEdit):
    """A number in free form (a learning rate of 3e-4, a clip value, a hyperparameter): committed with Enter, Tab
    or leaving the field, and only when it is a finite number that `check` accepts; Esc puts the committed value
    back. `problem()` says what is wrong with the text shown, as soon as it is typed."""

    committed = Signal(object)  # float, or None for an empty field that may be empty
    problem_changed = Signal()

    def __init__(self, label: str, allow_empty: bool = False, check: Callable[[float], str] | None = None,
                 parent=None):
        super().__init__(parent)
        self.label, self.allow_empty, self.check = label, allow_empty, check
        self.setMinimumWidth(MIN_EDITOR_WIDTH)
        self._value_text = ""  # the committed value as text
        self._problem = ""
        self.editingFinished.connect(self._finished)
        self.textEdited.connect(self._edited)

    def set_value(self, value) -> None:
        """The spec's value (not while the user types here)."""
        self._value_text = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
        if not self.hasFocus():
            self.setText(self._value_text)
            self._set_problem("")

    def problem(self) -> str:
        return self._problem

    def parsed(self):
        """(value, problem) of the text shown."""
        text = self.text().strip()
        if not text:
            return None, "" if self.allow_empty else f"{self.label}: empty — type a number"
        try:
            value = float(text.replace(",", "."))
        except ValueError:
            return None, f"{self.label}: {text!r} is not a number"
        if not math.isfinite(value):
            return None, f"{self.label}: {text} refused — must be a finite number"
        refusal = self.check(value) if self.check is not None else ""
        return value, f"{self.label}: {text} refused — {refusal}" if refusal else ""

    def commit(self) -> None:
        self._finished()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.key() == Qt.Key_Escape:
            self.setText(self._value_text)
            self._set_problem("")
            event.accept()
            return
        super().keyPressEvent(event)

    def _edited(self, _text: str) -> None:
        self._set_problem(self.parsed()[1] if self.text().strip() != self._value_text else "")

    def _finished(self) -> None:
        if self.text().strip() == self._value_text and not self._problem:
            return
        value, problem = self.parsed()
        self._set_problem(problem)
        if not problem:
            self.committed.emit(value)

    def _set_problem(self, problem: str) -> None:
        if problem == self._problem:
            return
        self._problem = problem
        self.setProperty("typed_problem", problem or None)
        self.problem_changed.emit()
