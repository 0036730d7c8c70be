"""Network builder: the hidden layers as a table (one row per layer, editors in the cells), a depth control,
layer buttons, the live parameter count and the validation messages of the spec."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QHeaderView,
                               QLabel, QPushButton, QSpinBox, QTableWidget, QVBoxLayout, QWidget)

from vg_studio import catalog, edits
from vg_studio.gui.commands import SpecDocument
from vg_studio.spec import LayerSpec

COLUMNS = ("kind", "units", "activation", "initializer", "attention", "batch_norm", "residual", "dropout",
           "return_sequences", "aux_head", "aux_weight")
HEADERS = ("Kind", "Units", "Activation", "Init", "Attn", "BN", "Res", "Dropout", "Seq", "Aux", "Aux w")
KIND_TEXT = {"dense": "Dense", "simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}
CHECKS = ("attention", "batch_norm", "residual", "return_sequences", "aux_head")
TIPS = {"kind": "Dense, or a recurrent layer (recurrent layers come first; images are read row by row)",
        "attention": "Seed 000's attention block in front of this dense layer",
        "batch_norm": "BatchNorm after this dense layer", "residual": "Residual connection around this dense layer",
        "return_sequences": "Recurrent: pass every time step on (forced on when another recurrent layer follows)",
        "aux_head": "An auxiliary softmax classifier after this layer (training only, not exported)",
        "aux_weight": "Loss weight of the auxiliary classifier"}
# Options that only exist for one family of layers are disabled (not hidden) on the other.
DENSE_ONLY, RECURRENT_ONLY = ("attention", "batch_norm", "residual"), ("return_sequences",)
INVALID = QColor(255, 120, 120, 110)
FLAGGED = QColor(255, 170, 0, 90)


class BuilderPanel(QWidget):
    layer_selected = Signal(int)

    def __init__(self, document: SpecDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.input_shape: tuple | None = None
        self.num_classes: int | None = None
        self.params_counter = None  # set once Keras is loaded: vg_studio.nn.build.count_params
        self.flagged_layers: set[int] = set()

        self.depth = QSpinBox()
        self.depth.setRange(0, 200)
        self.depth.setToolTip("Number of hidden layers (new ones copy the last layer)")
        self.depth.valueChanged.connect(self._set_depth)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setDefaultSectionSize(28)
        self.buttons = {}
        row = QHBoxLayout()
        for key, text, tip, slot in (
                ("add", "Add", "Add a layer after the selected one", self.add_layer),
                ("remove", "Remove", "Remove the selected layer", self.remove_layer),
                ("duplicate", "Duplicate", "Duplicate the selected layer", self.duplicate_layer),
                ("up", "▲", "Move the selected layer towards the input", lambda: self.move_layer(-1)),
                ("down", "▼", "Move the selected layer towards the output", lambda: self.move_layer(1))):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            self.buttons[key] = button
            row.addWidget(button)
        depth_row = QHBoxLayout()
        depth_row.addWidget(QLabel("Hidden layers:"))
        depth_row.addWidget(self.depth)
        depth_row.addStretch(1)
        self.shape_label = QLabel()
        self.params_label = QLabel()
        self.params_label.setObjectName("params")
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setStyleSheet("color: #d62728;")
        layout = QVBoxLayout(self)
        layout.addLayout(depth_row)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(self.shape_label)
        layout.addWidget(self.params_label)
        layout.addWidget(self.problems_label)
        document.changed.connect(self.render)
        self.render()

    # ---- rendering from the spec ---------------------------------------------------------------------------
    def render(self) -> None:
        spec = self.document.spec
        layers = spec.network.layers
        selected = self.selected_row()
        self.depth.blockSignals(True)
        self.depth.setValue(len(layers))
        self.depth.blockSignals(False)
        self.table.setRowCount(len(layers))
        self.table.setVerticalHeaderLabels([f"h{i + 1}" for i in range(len(layers))])
        for i, layer in enumerate(layers):
            self._fill_row(i, layer)
        self._hide_unused_columns(layers)
        if layers:
            self.table.selectRow(min(max(selected, 0), len(layers) - 1))
        self._show_problems(spec.issues())
        self.update_params()

    def _fill_row(self, i: int, layer: LayerSpec) -> None:
        if self.table.cellWidget(i, 0) is None:
            self._create_row(i)
        # update in place (signals blocked): recreating editors would steal focus while the user types
        editors = {name: self.editor(i, name) for name in COLUMNS}
        for editor in editors.values():
            editor.blockSignals(True)
        kind = editors["kind"]
        kind.setCurrentIndex(max(kind.findData(layer.kind), 0))
        editors["units"].setValue(layer.units)
        editors["activation"].setCurrentText(layer.activation)
        editors["initializer"].setCurrentText(layer.initializer)
        for name in CHECKS:
            editors[name].setChecked(getattr(layer, name))
        editors["dropout"].setValue(layer.dropout)
        editors["aux_weight"].setValue(layer.aux_weight)
        for editor in editors.values():
            editor.blockSignals(False)
        recurrent = layer.kind in catalog.RECURRENT_KINDS
        for name in COLUMNS:
            applies = not (recurrent and name in DENSE_ONLY or not recurrent and name in RECURRENT_ONLY)
            if name == "aux_weight":
                applies = layer.aux_head
            # an option set in a file but not applicable stays editable, so the user can clear it
            editors[name].setEnabled(applies or bool(getattr(layer, name, False)) and name in CHECKS)
            self._tint(i, COLUMNS.index(name), FLAGGED if i in self.flagged_layers else None, TIPS.get(name, ""))

    def _hide_unused_columns(self, layers: list) -> None:
        """Columns no layer of this network can use are hidden (the table stays narrow enough to read)."""
        kinds = {layer.kind in catalog.RECURRENT_KINDS for layer in layers}
        for name in COLUMNS:
            used = any(getattr(layer, name, False) is True for layer in layers)
            if name in DENSE_ONLY:
                used = used or False in kinds
            elif name in RECURRENT_ONLY:
                used = used or True in kinds
            elif name == "aux_weight":
                used = any(layer.aux_head for layer in layers)
            else:
                used = True
            self.table.setColumnHidden(COLUMNS.index(name), not used)

    def editor(self, row: int, column: int | str) -> QWidget:
        """The editor in a cell; `column` is an index or a name from COLUMNS."""
        widget = self.table.cellWidget(row, COLUMNS.index(column) if isinstance(column, str) else column)
        return getattr(widget, "check", widget)

    def _create_row(self, i: int) -> None:
        def put(name: str, widget: QWidget) -> None:
            self.table.setCellWidget(i, COLUMNS.index(name), widget)

        kind = QComboBox()
        for name in catalog.LAYER_KINDS:
            kind.addItem(KIND_TEXT.get(name, name), name)
        kind.currentIndexChanged.connect(lambda _, i=i, box=kind: self.set_kind(i, box.currentData()))
        put("kind", kind)
        units = QSpinBox()
        units.setRange(0, 1_000_000)
        units.valueChanged.connect(lambda v, i=i: self.set_field(i, "units", v))
        put("units", units)
        for name, choices in (("activation", catalog.ACTIVATIONS), ("initializer", tuple(catalog.INITIALIZERS))):
            combo = QComboBox()
            combo.addItems(list(choices))
            combo.currentTextChanged.connect(lambda v, i=i, name=name: self.set_field(i, name, v))
            put(name, combo)
        for name in CHECKS:
            box = QCheckBox()
            box.toggled.connect(lambda v, i=i, name=name: self.set_field(i, name, bool(v)))
            put(name, _centered(box))
        for name, top, step in (("dropout", 0.99, 0.05), ("aux_weight", 10.0, 0.1)):
            spin = QDoubleSpinBox()
            spin.setRange(0.0, top)
            spin.setSingleStep(step)
            spin.valueChanged.connect(lambda v, i=i, name=name: self.set_field(i, name, float(v)))
            put(name, spin)

    def _tint(self, row: int, column: int, color: QColor | None, tip: str, invalid: bool = False) -> None:
        widget = self.table.cellWidget(row, column)
        if widget is None:
            return
        widget.setAutoFillBackground(color is not None)
        widget.setStyleSheet("" if color is None else
                             f"background-color: rgba({color.red()},{color.green()},{color.blue()},{color.alpha()});")
        widget.setToolTip(tip)
        widget.setProperty("invalid", invalid)

    def _show_problems(self, issues: list) -> None:
        """Tint each invalid cell, found from the issue's location (layer index and field)."""
        self.problems = [str(issue) for issue in issues]
        for issue in issues:
            if issue.layer is not None and issue.field in COLUMNS and issue.layer < self.table.rowCount():
                self._tint(issue.layer, COLUMNS.index(issue.field), INVALID, str(issue), True)
        self.problems_label.setText("\n".join(f"⚠ {p}" for p in self.problems))

    def update_params(self) -> None:
        spec = self.document.spec
        if self.input_shape is None:
            self.shape_label.setText("Input/output: loading the dataset…")
        else:
            self.shape_label.setText(f"Input {'×'.join(map(str, self.input_shape))} → "
                                     f"{len(spec.network.layers)} hidden → output {self.num_classes} classes")
        if self.input_shape is None or self.params_counter is None:
            self.params_label.setText("Parameters: …")
            return
        if self.problems:
            self.params_label.setText("Parameters: — (fix the problems below)")
            return
        count = self.params_counter(spec, self.input_shape, self.num_classes)
        self.params_label.setText(f"Parameters: {count:,}")

    def set_data_shape(self, input_shape: tuple, num_classes: int) -> None:
        self.input_shape, self.num_classes = tuple(input_shape), int(num_classes)
        self.update_params()

    def set_flagged_layers(self, layers: set[int]) -> None:
        """Highlight layers a diagnostic finding names (indices into spec.network.layers)."""
        self.flagged_layers = set(layers)
        self.render()

    # ---- edits --------------------------------------------------------------------------------------------
    def selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return rows[0].row() if rows else -1

    def set_field(self, i: int, name: str, value) -> None:
        self.document.edit(f"Layer {i + 1}: {name} = {value}", lambda spec: edits.set_layer_field(spec, i, name, value),
                           merge_key=f"layer{i}.{name}")

    def set_kind(self, i: int, kind: str) -> None:
        """Change a layer's kind and, in the same undo step, clear the options the new kind does not have."""
        self.document.edit(f"Layer {i + 1}: kind = {KIND_TEXT.get(kind, kind)}", lambda spec: edits.set_kind(spec, kind, i))

    def _set_depth(self, depth: int) -> None:
        self.document.edit(f"Depth = {depth}", lambda spec: edits.set_depth(spec, depth), merge_key="depth")

    def add_layer(self) -> None:
        at = self.selected_row()
        self.document.edit("Add layer", lambda spec: edits.add_layer(spec, after=at if at >= 0 else None))
        self.table.selectRow(at + 1 if at >= 0 else self.table.rowCount() - 1)

    def duplicate_layer(self) -> None:
        if self.selected_row() >= 0:
            self.add_layer()

    def remove_layer(self) -> None:
        at = self.selected_row()
        if at < 0:
            return
        self.document.edit(f"Remove layer {at + 1}", lambda spec: edits.remove_layer(spec, at))

    def move_layer(self, delta: int) -> None:
        at = self.selected_row()
        to = at + delta
        if at < 0 or not 0 <= to < self.table.rowCount():
            return
        self.document.edit(f"Move layer {at + 1}", lambda spec: edits.move_layer(spec, at, to))
        self.table.selectRow(to)


def _centered(widget: QWidget) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setAlignment(Qt.AlignCenter)
    layout.addWidget(widget)
    holder.check = widget
    return holder
