"""The spec document the views render from, and its undoable edits.

Every user edit is one `SpecEdit` on the document's QUndoStack holding the spec before and after: undo/redo
swap whole specs, so any edit (add a layer, apply a diagnostic fix, load a preset) is undoable the same way.
Edits of one field typed in quick succession merge into one undo step (QUndoCommand.mergeWith), labelled with
the value the field holds after the last of them. A label names only a value the spec took: a refused entry
never reaches the document.
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
        """The current spec (immutable: views change it only through `edit`)."""
        return self._spec

    def _set(self, spec: ExperimentSpec) -> None:
        self._spec = spec
        self.changed.emit()

    def edit(self, text: str, change: Callable[[ExperimentSpec], ExperimentSpec], merge_key: str = "") -> bool:
        """Replace the spec by `change(spec)` (a `vg_studio.edits` function) as one undo step; False if it changed
        nothing."""
        after = change(self._spec)
        if not isinstance(after, ExperimentSpec):
            raise TypeError("a spec edit must return the new spec (see vg_studio.edits)")
        if after == self._spec:
            return False
        self.undo_stack.push(SpecEdit(self, self._spec, after, text, merge_key))
        return True

    def replace(self, spec: ExperimentSpec, text: str) -> None:
        self.edit(text, lambda _: spec)

    def reset(self, spec: ExperimentSpec) -> None:
        """A new document (File ▸ New/Open): not undoable, clears the history."""
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._set(spec)


class SpecEdit(QUndoCommand):
    _ids: dict[str, int] = {}

    def __init__(self, document: SpecDocument, before: ExperimentSpec, after: ExperimentSpec, text: str,
                 merge_key: str = ""):
        super().__init__(text)
        self.document, self.before, self.after = document, before, after
        self._id = SpecEdit._ids.setdefault(merge_key, len(SpecEdit._ids) + 1) if merge_key else -1

    def id(self) -> int:
        return self._id

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SpecEdit) or other.id() != self.id() or self.id() < 0:
            return False
        self.after = other.after
        self.setText(other.text())  # "lr = 0.05", not the first value typed into the field
        return True

    def redo(self) -> None:
        self.document._set(self.after)

    def undo(self) -> None:
        self.document._set(self.before)
