"""The spec document the views render from, and its undoable edits.

Every user edit is one `SpecEdit` on the document's QUndoStack holding the spec before and after: undo/redo
swap whole specs, so any edit (add a layer, apply a diagnostic fix, load a preset) is undoable the same way.
Edits of one field typed in quick succession merge into one undo step (QUndoCommand.mergeWith).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from vg_studio.spec import ExperimentSpec


class SpecDocument(QObject):
    """Holds the one ExperimentSpec; `changed` fires after every edit, undo and redo."""

    changed = Signal()

    def __init__(self, spec: ExperimentSpec, parent=None):
        super().__init__(parent)
        self._spec = spec
        self.undo_stack = QUndoStack(self)

    @property
    def spec(self) -> ExperimentSpec:
        """A copy: views must change the spec only through `edit`."""
        return self._spec.copy()

    def _set(self, spec: ExperimentSpec) -> None:
        self._spec = spec
        self.changed.emit()

    def edit(self, text: str, mutate: Callable[[ExperimentSpec], ExperimentSpec | None], merge_key: str = "") -> bool:
        """Apply `mutate` to a copy of the spec (it may change it in place or return a new one) as one undo step."""
        after = self._spec.copy()
        result = mutate(after)
        after = result if result is not None else after
        if after.to_dict() == self._spec.to_dict():
            return False
        self.undo_stack.push(SpecEdit(self, self._spec, after, text, merge_key))
        return True

    def replace(self, spec: ExperimentSpec, text: str) -> None:
        self.edit(text, lambda _: spec.copy())

    def reset(self, spec: ExperimentSpec) -> None:
        """A new document (File ▸ New/Open): not undoable, clears the history."""
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._set(spec.copy())


class SpecEdit(QUndoCommand):
    _ids: dict[str, int] = {}

    def __init__(self, document: SpecDocument, before: ExperimentSpec, after: ExperimentSpec, text: str,
                 merge_key: str = ""):
        super().__init__(text)
        self.document, self.before, self.after = document, before.copy(), after.copy()
        self._id = SpecEdit._ids.setdefault(merge_key, len(SpecEdit._ids) + 1) if merge_key else -1

    def id(self) -> int:
        return self._id

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SpecEdit) or other.id() != self.id() or self.id() < 0:
            return False
        self.after = other.after.copy()
        return True

    def redo(self) -> None:
        self.document._set(self.after.copy())

    def undo(self) -> None:
        self.document._set(self.before.copy())
