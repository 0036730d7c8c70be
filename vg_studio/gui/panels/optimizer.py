"""Optimizer and training settings: the catalog's optimizers with their own hyperparameters, clipping, epochs.

Every hyperparameter gets the editor its type asks for (a flag, a choice, a number) from the optimizer's parameter
model in vg_studio.spec, and every value is checked as soon as it is typed: a learning rate that is empty, not a
number or not above 0 is refused where it is typed (and Train waits for a good one), and an editor the spec's
validation names turns red with the message, long before Train."""

from __future__ import annotations

import typing

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from vg_studio import catalog, edits
from vg_studio.gui.commands import SpecDocument
from vg_studio.gui.panels.editors import IntEdit, NumberEdit, combo_box, show_refusal
from vg_studio.references import cite
from vg_studio.spec import OPTIMIZER_PARAMS

LABELS = {"sgd": "SGD", "sgd_momentum": "SGD + momentum", "adagrad": "Adagrad", "adadelta": "Adadelta",
          "rmsprop": "RMSprop", "adam": "Adam", "sdagd": f"SDAGD {cite('tan-lim-2019')}"}
CLIPS = ("none",) + edits.CLIPS
INVALID_STYLE = "background-color: rgba(255,120,120,110);"


def _positive(value: float) -> str:
    return "" if value > 0 else "must be greater than 0 (at 0 nothing trains)"


class OptimizerPanel(QWidget):
    fields_changed = Signal()  # an editor's problem appeared or went (the window re-checks Train)

    def __init__(self, document: SpecDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.name = combo_box()
        for key in catalog.OPTIMIZERS:
            self.name.addItem(LABELS.get(key, key), key)
        self.name.setToolTip("Switching resets the learning rate and hyperparameters to the new optimizer's "
                             "defaults; gradient clipping is kept")
        self.name.currentIndexChanged.connect(self._name_changed)
        self.learning_rate = self._number_edit(lambda s, v: edits.set_field(s, "optimizer.learning_rate", v),
                                               "Learning rate", check=_positive)
        self.params_box = QGroupBox("Hyperparameters")
        self.params_form = QFormLayout(self.params_box)
        self.param_editors: dict[str, QWidget] = {}
        self._form_for = None
        self.clip_kind = combo_box()
        self.clip_kind.addItems(CLIPS)
        self.clip_kind.currentTextChanged.connect(self._clip_changed)
        self.clip_value = self._number_edit(self._set_clip_value, "Clip value", allow_empty=True)
        self.epochs = self._spin(1, 100000, "training.epochs", "Epochs")
        self.batch_size = self._spin(1, 1_000_000, "training.batch_size", "Batch size")
        self.batch_size.setToolTip("Examples per step (SDAGD's curvature estimate uses this batch size too)")
        self.seed = self._spin(0, 2**31 - 1, "training.seed", "Seed")
        self.record_every = self._spin(1, 1_000_000, "monitoring.record_every", "Probe every")
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setTextFormat(Qt.PlainText)  # messages quote what was typed and file names
        self.problems_label.setStyleSheet("color: #d62728;")
        top = QFormLayout()
        top.addRow("O&ptimizer", self.name)
        top.addRow("Learning &rate", self.learning_rate)
        top.addRow("Gradient &clipping", self.clip_kind)
        top.addRow("Clip &value", self.clip_value)
        training = QGroupBox("Training")
        form = QFormLayout(training)
        form.addRow("&Epochs", self.epochs)
        form.addRow("&Batch size", self.batch_size)
        form.addRow("See&d", self.seed)
        form.addRow("Probe every (s&teps)", self.record_every)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.params_box)
        layout.addWidget(training)
        layout.addWidget(self.problems_label)
        layout.addStretch(1)
        document.changed.connect(self.render)
        self.render()

    # ---- editors ----------------------------------------------------------------------------------------
    def _number_edit(self, setter, label: str, key: str | None = None, allow_empty: bool = False,
                     check=None) -> NumberEdit:
        """A number field: committed values go to the spec as one undoable step labelled with the value taken;
        a refused one stays in the field, red, with its reason (and Train waits)."""
        edit = NumberEdit(label, allow_empty=allow_empty, check=check)
        key = key or label
        edit.committed.connect(lambda value: self._number_entered(setter, key, value))
        edit.problem_changed.connect(lambda: self._show_issues(self.document.spec))
        edit.problem_changed.connect(self.fields_changed.emit)
        return edit

    def _number_entered(self, setter, key: str, value) -> None:
        if value is not None and float(value).is_integer() and key in self._integer_params():
            value = int(value)
        shown = "none" if value is None else f"{value:g}"
        self.document.edit(f"{key} = {shown}", lambda s: setter(s, value), merge_key=f"opt.{key}")
        self.render()  # the field shows the value taken, even when it did not change the spec

    def field_problems(self) -> list[str]:
        """Fields whose text a run would not train with (empty, not a number, refused)."""
        editors = [self.learning_rate, self.clip_value, *self.param_editors.values(), self.epochs,
                   self.batch_size, self.seed, self.record_every]
        return [p for p in (e.problem() for e in editors if hasattr(e, "problem") and e.isEnabled()) if p]

    def _integer_params(self) -> set[str]:
        model = OPTIMIZER_PARAMS.get(self.document.spec.optimizer.name)
        return {k for k, f in (model.model_fields.items() if model else ()) if _base_type(f.annotation) is int}

    def _spin(self, low: int, high: int, path: str, label: str) -> IntEdit:
        spin = IntEdit(low, high, label)

        def changed(value):
            self.document.edit(f"{path} = {value}", lambda s: edits.set_field(s, path, value), merge_key=path)
        spin.valueChanged.connect(changed)
        spin.refused.connect(lambda message: show_refusal(self.problems_label, message))
        spin.refused.connect(lambda _: self.fields_changed.emit())
        return spin

    def _name_changed(self) -> None:
        key = self.name.currentData()
        self.document.edit(f"Optimizer = {key}", lambda spec: edits.set_optimizer(spec, key))

    def _clip_changed(self, kind: str) -> None:
        self.document.edit(f"Clipping = {kind}", lambda spec: edits.set_clipping(spec, kind))

    def _set_clip_value(self, spec, value):
        kind = self.clip_kind.currentText()
        return edits.set_clipping(spec, kind, value) if kind != "none" else spec

    def _build_param_form(self, name: str) -> None:
        """One editor per hyperparameter of the optimizer's parameter model: a flag, a list of choices, a number."""
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self.param_editors = {}
        model = OPTIMIZER_PARAMS[name]
        for key, info in model.model_fields.items():
            choices = typing.get_args(info.annotation) if typing.get_origin(info.annotation) is typing.Literal else ()
            if _base_type(info.annotation) is bool:
                editor = QCheckBox()
                editor.toggled.connect(lambda v, key=key: self._set_param(key, bool(v)))
            elif choices:
                editor = combo_box()
                editor.addItems([str(c) for c in choices])
                editor.currentTextChanged.connect(lambda v, key=key: self._set_param(key, v))
            else:
                editor = self._number_edit(lambda s, v, key=key: edits.set_optimizer_param(s, key, v), key)
            editor.setToolTip(info.description or "")
            editor.setProperty("description", info.description or "")
            self.param_editors[key] = editor
            self.params_form.addRow(key, editor)
        self.params_box.setVisible(bool(self.param_editors))
        self._form_for = name

    def _set_param(self, key: str, value) -> None:
        self.document.edit(f"{key} = {value}", lambda s: edits.set_optimizer_param(s, key, value),
                           merge_key=f"opt.{key}")

    # ---- rendering ------------------------------------------------------------------------------------------
    def render(self) -> None:
        spec = self.document.spec
        opt = spec.optimizer
        widgets = [self.name, self.clip_kind, self.epochs, self.batch_size, self.seed, self.record_every]
        for w in widgets:
            w.blockSignals(True)
        self.name.setCurrentIndex(max(self.name.findData(opt.name), 0))
        if self._form_for != opt.name and opt.name in OPTIMIZER_PARAMS:
            self._build_param_form(opt.name)
        self.learning_rate.set_value(opt.learning_rate)
        defaults = catalog.OPTIMIZERS.get(opt.name, {"params": {}})["params"]
        for key, editor in self.param_editors.items():
            value = opt.params.get(key, defaults.get(key))
            editor.blockSignals(True)
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            else:
                editor.set_value(value)
            editor.blockSignals(False)
        kind = next((n for n in CLIPS[1:] if getattr(opt, n) is not None), "none")
        self.clip_kind.setCurrentText(kind)
        self.clip_value.setEnabled(kind != "none")
        self.clip_value.set_value(getattr(opt, kind) if kind != "none" else None)
        self.epochs.setValue(spec.training.epochs)
        self.batch_size.setValue(spec.training.batch_size)
        self.seed.setValue(spec.training.seed)
        self.record_every.setValue(spec.monitoring.record_every)
        for w in widgets:
            w.blockSignals(False)
        self._show_issues(spec)

    def _show_issues(self, spec) -> None:
        """Mark each editor the spec's validation names (by the issue's location) and list the messages."""
        issues = [i for i in spec.issues() if i.loc and i.loc[0] in ("optimizer", "training", "monitoring")]
        marked: dict[QWidget, list[str]] = {}
        for issue in issues:
            loc = issue.loc[1:]
            if loc[:1] == ("params",) and len(loc) > 1 and loc[1] in self.param_editors:
                editor = self.param_editors[loc[1]]
            elif loc[:1] == ("learning_rate",):
                editor = self.learning_rate
            else:  # a clipping value, or "at most one of the clippings" (the section itself)
                editor = self.clip_value if issue.loc[0] == "optimizer" else None
            if editor is not None:
                marked.setdefault(editor, []).append(str(issue))
        typed = []
        for editor in [self.learning_rate, self.clip_value, *self.param_editors.values()]:
            messages = marked.get(editor, [])
            own = editor.problem() if isinstance(editor, NumberEdit) else ""
            if own:
                typed.append(own)
            shown = ([own] if own else []) + messages
            editor.setStyleSheet(f"{type(editor).__name__} {{ {INVALID_STYLE} }}" if shown else "")
            editor.setToolTip("\n".join(shown) if shown else editor.property("description") or "")
            editor.setProperty("invalid", bool(messages))
        self.problems_label.setText("\n".join(f"⚠ {line}" for line in typed + [str(i) for i in issues]))


def _base_type(annotation):
    """bool/int/float/str behind Annotated[...] (the spec's strict field types)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation

