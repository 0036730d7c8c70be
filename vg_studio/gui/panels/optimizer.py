"""Optimizer and training settings: the catalog's optimizers with their hyperparameters, clipping, epochs."""

from __future__ import annotations

import math

from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGroupBox, QLineEdit, QSpinBox, QVBoxLayout,
                               QWidget)

from vg_studio import catalog, edits
from vg_studio.gui.commands import SpecDocument

LABELS = {"sgd": "SGD", "sgd_momentum": "SGD + momentum", "adagrad": "Adagrad", "adadelta": "Adadelta",
          "rmsprop": "RMSprop", "adam": "Adam", "sdagd": "SDAGD (seed 003)"}
CLIPS = ("none", "clipnorm", "clipvalue", "global_clipnorm")
INVALID_STYLE = "background-color: rgba(255,120,120,110);"


class OptimizerPanel(QWidget):
    def __init__(self, document: SpecDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.name = QComboBox()
        for key in catalog.OPTIMIZERS:
            self.name.addItem(LABELS.get(key, key), key)
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
        self.epochs = self._spin(1, 100000, "training.epochs")
        self.batch_size = self._spin(1, 1_000_000, "training.batch_size")
        self.seed = self._spin(0, 2**31 - 1, "training.seed")
        self.record_every = self._spin(1, 100000, "monitoring.record_every")
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
            return
        self.document.edit(f"{key} = {text}", lambda s: setter(s, value), merge_key=f"opt.{key}")
        self.render()  # clears a red mark left by an earlier bad entry even when the value did not change

    def _spin(self, low: int, high: int, path: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)

        def changed(value):
            self.document.edit(f"{path} = {value}", lambda s: edits.set_field(s, path, value), merge_key=path)
        spin.valueChanged.connect(changed)
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
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        self.param_editors = {}
        for key, default in catalog.OPTIMIZERS[name]["params"].items():
            if isinstance(default, bool):
                editor = QCheckBox()
                editor.toggled.connect(lambda v, key=key: self._set_param(key, bool(v)))
            elif isinstance(default, str):
                editor = QLineEdit()
                editor.editingFinished.connect(lambda e=editor, key=key: self._set_param(key, e.text().strip()))
            else:
                editor = self._number_edit(lambda s, v, key=key: edits.set_optimizer_param(s, key, v), key)
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
        if self._form_for != opt.name and opt.name in catalog.OPTIMIZERS:
            self._build_param_form(opt.name)
        _set_text(self.learning_rate, opt.learning_rate)
        defaults = catalog.OPTIMIZERS.get(opt.name, {"params": {}})["params"]
        for key, editor in self.param_editors.items():
            value = opt.params.get(key, defaults.get(key))
            if isinstance(editor, QCheckBox):
                editor.blockSignals(True)
                editor.setChecked(bool(value))
                editor.blockSignals(False)
            else:
                _set_text(editor, value)
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
        problems = [p for p in spec.validate() if p.startswith("optimizer")]
        self.setToolTip("\n".join(problems))
        bad = {p.split(":")[0].split(".")[-1] for p in problems}
        for key, editor in [("learning_rate", self.learning_rate), ("clip", self.clip_value),
                            *self.param_editors.items()]:
            invalid = key in bad or (key == "clip" and bool(bad & set(CLIPS)))
            editor.setStyleSheet(INVALID_STYLE if invalid else "")
            editor.setToolTip("\n".join(p for p in problems if key in p) if invalid else "")


def _set_text(edit: QLineEdit, value) -> None:
    if not edit.hasFocus():
        edit.setText("" if value is None else f"{value:g}" if isinstance(value, float) else str(value))
