"""Optimizer and training settings: the catalog's optimizers with their own hyperparameters, clipping, epochs.

Every hyperparameter gets the editor its type asks for (a flag, a choice, a number) from the optimizer's parameter
model in vg_studio.spec, and every value is checked by the spec as soon as it is entered: an editor the spec's
validation names turns red with the message, long before Train (issue 13 defect 9)."""

from __future__ import annotations

import math
import typing

from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QLabel, QLineEdit, QVBoxLayout,
                               QWidget)

from vg_studio import catalog, edits
from vg_studio.gui.commands import SpecDocument
from vg_studio.gui.panels.editors import IntEdit, show_refusal
from vg_studio.references import cite
from vg_studio.spec import OPTIMIZER_PARAMS

LABELS = {"sgd": "SGD", "sgd_momentum": "SGD + momentum", "adagrad": "Adagrad", "adadelta": "Adadelta",
          "rmsprop": "RMSprop", "adam": "Adam", "sdagd": f"SDAGD {cite('tan-lim-2019')}"}
CLIPS = ("none",) + edits.CLIPS
INVALID_STYLE = "background-color: rgba(255,120,120,110);"


class OptimizerPanel(QWidget):
    def __init__(self, document: SpecDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.name = QComboBox()
        for key in catalog.OPTIMIZERS:
            self.name.addItem(LABELS.get(key, key), key)
        self.name.setToolTip("Switching resets the learning rate and hyperparameters to the new optimizer's "
                             "defaults; gradient clipping is kept")
        self.name.currentIndexChanged.connect(self._name_changed)
        self.learning_rate = self._number_edit(lambda s, v: edits.set_field(s, "optimizer.learning_rate", v), "lr")
        self.params_box = QGroupBox("Hyperparameters")
        self.params_form = QFormLayout(self.params_box)
        self.param_editors: dict[str, QWidget] = {}
        self._form_for = None
        self.clip_kind = QComboBox()
        self.clip_kind.addItems(CLIPS)
        self.clip_kind.currentTextChanged.connect(self._clip_changed)
        self.clip_value = self._number_edit(self._set_clip_value, "clip")
        self.epochs = self._spin(1, 100000, "training.epochs", "Epochs")
        self.batch_size = self._spin(1, 1_000_000, "training.batch_size", "Batch size")
        self.batch_size.setToolTip("Examples per step (SDAGD's curvature estimate uses this batch size too)")
        self.seed = self._spin(0, 2**31 - 1, "training.seed", "Seed")
        self.record_every = self._spin(1, 1_000_000, "monitoring.record_every", "Probe every")
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #d62728;")
        top = QFormLayout()
        top.addRow("Optimizer", self.name)
        top.addRow("Learning rate", self.learning_rate)
        top.addRow("Gradient clipping", self.clip_kind)
        top.addRow("Clip value", self.clip_value)
        training = QGroupBox("Training")
        form = QFormLayout(training)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Seed", self.seed)
        form.addRow("Probe every (steps)", self.record_every)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.params_box)
        layout.addWidget(training)
        layout.addWidget(self.problems_label)
        layout.addStretch(1)
        document.changed.connect(self.render)
        self.render()

    # ---- editors ----------------------------------------------------------------------------------------
    def _number_edit(self, setter, key: str) -> QLineEdit:
        edit = QLineEdit()
        edit.editingFinished.connect(lambda: self._number_entered(edit, setter, key))
        return edit

    def _number_entered(self, edit: QLineEdit, setter, key: str) -> None:
        text = edit.text().strip()
        try:
            value = float(text) if text else None
            if value is None and key != "clip" or value is not None and not math.isfinite(value):
                raise ValueError  # only the clip value may be empty; inf/nan cannot be saved as JSON
        except ValueError:
            edit.setStyleSheet(INVALID_STYLE)
            edit.setToolTip(f"{text!r} is not a finite number")
            self.problems_label.setText(f"⚠ {key}: {text!r} is not a finite number")
            return
        if value is not None and value.is_integer() and key in self._integer_params():
            value = int(value)
        self.document.edit(f"{key} = {text}", lambda s: setter(s, value), merge_key=f"opt.{key}")
        self.render()  # clears a red mark left by an earlier bad entry even when the value did not change

    def _integer_params(self) -> set[str]:
        model = OPTIMIZER_PARAMS.get(self.document.spec.optimizer.name)
        return {k for k, f in (model.model_fields.items() if model else ()) if _base_type(f.annotation) is int}

    def _spin(self, low: int, high: int, path: str, label: str) -> IntEdit:
        spin = IntEdit(low, high, label)

        def changed(value):
            self.document.edit(f"{path} = {value}", lambda s: edits.set_field(s, path, value), merge_key=path)
        spin.valueChanged.connect(changed)
        spin.refused.connect(lambda message: show_refusal(self.problems_label, message))
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
                editor = QComboBox()
                editor.addItems([str(c) for c in choices])
                editor.currentTextChanged.connect(lambda v, key=key: self._set_param(key, v))
            else:
                editor = self._number_edit(lambda s, v, key=key: edits.set_optimizer_param(s, key, v), key)
            editor.setToolTip(info.description or "")
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
        _set_text(self.learning_rate, opt.learning_rate)
        defaults = catalog.OPTIMIZERS.get(opt.name, {"params": {}})["params"]
        for key, editor in self.param_editors.items():
            value = opt.params.get(key, defaults.get(key))
            editor.blockSignals(True)
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            else:
                _set_text(editor, value)
            editor.blockSignals(False)
        kind = next((n for n in CLIPS[1:] if getattr(opt, n) is not None), "none")
        self.clip_kind.setCurrentText(kind)
        self.clip_value.setEnabled(kind != "none")
        _set_text(self.clip_value, getattr(opt, kind) if kind != "none" else "")
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
        for editor in [self.learning_rate, self.clip_value, *self.param_editors.values()]:
            messages = marked.get(editor)
            editor.setStyleSheet(f"{type(editor).__name__} {{ {INVALID_STYLE} }}" if messages else "")
            editor.setToolTip("\n".join(messages) if messages else "")
            editor.setProperty("invalid", bool(messages))
        self.problems_label.setText("\n".join(f"⚠ {issue}" for issue in issues))


def _base_type(annotation):
    """bool/int/float/str behind Annotated[...] (the spec's strict field types)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _set_text(edit: QLineEdit, value) -> None:
    if not edit.hasFocus():
        edit.setText("" if value is None else f"{value:g}" if isinstance(value, float) else str(value))
