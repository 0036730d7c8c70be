"""The side panels: each renders from the SpecDocument and changes it only through undoable edits."""
