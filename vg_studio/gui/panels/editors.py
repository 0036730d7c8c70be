"""Number editors for the panels: a value is committed once typed (Enter, Tab or leaving the field), never digit
by digit — "64" must not become 6 and then re-render the table under the user's fingers — and a value outside the
field's range ("-5" units) is refused visibly instead of being silently changed into another number."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox, QToolTip

REFUSED_COLOR = "rgba(255,120,120,110)"


def show_refusal(label, message: str) -> None:
    """Show an editor's refusal in a panel's message label; an empty one (a later valid value) clears it."""
    if message:
        label.setText(f"⚠ {message}")
    elif "refused" in label.text():
        label.setText("")


class _Guarded:
    """Shared by the int and float spin boxes: out-of-range text may be typed; on commit it is refused loudly."""

    def _setup(self, label: str) -> None:
        self.label = label
        self.setKeyboardTracking(False)  # valueChanged when the value is committed, not on every keystroke
        self.valueChanged.connect(self._clear_refusal)

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

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter):
            self._check_typed()  # before Qt puts the last good value back
        super().keyPressEvent(event)

    def focusOutEvent(self, event) -> None:
        self._check_typed()
        super().focusOutEvent(event)

    def _check_typed(self) -> None:
        typed = self.lineEdit().text()
        value = self._parse(typed)
        if value is None or isinstance(value, str):
            return
        if not self.minimum() <= value <= self.maximum():
            low, high = self.textFromValue(self.minimum()), self.textFromValue(self.maximum())
            shown = typed.strip().removesuffix(self.suffix().strip()).strip()
            self.refuse(f"{self.label}: {shown} refused — must be between {low} and {high}")
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
