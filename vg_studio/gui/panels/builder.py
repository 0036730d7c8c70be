"""Network builder: the hidden layers as a table (one row per layer, editors in the cells), a depth control and
the output's activation, layer buttons, the selected layer's less common settings (σ of a normal initializer,
starting bias, attention tokens), the live parameter count and the validation messages of the spec.

Every change goes through `vg_studio.edits` as one undoable step of the document. Cells that the spec's
validation names are tinted from the issue's location (layer index, field); numbers are committed when typed
(see editors.py) and out-of-range input is refused with a message. Tab walks the cells and then leaves the table
(it never cycles inside it); a cell that gets the keyboard focus selects its row."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QAbstractItemView, QAbstractSpinBox, QCheckBox, QComboBox, QHBoxLayout,
                               QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from vg_studio import catalog, edits
from vg_studio.gui.commands import SpecDocument
from vg_studio.gui.panels.editors import FloatEdit, IntEdit, combo_box
from vg_studio.limits import LIMITS
from vg_studio.references import cite
from vg_studio.spec import LayerSpec

COLUMNS = ("kind", "units", "activation", "initializer", "attention", "batch_norm", "residual", "dropout",
           "return_sequences", "aux_head", "aux_weight")
HEADERS = ("Kind", "Units", "Activation", "Init", "Attn", "BN", "Res", "Drop", "Seq", "Aux", "Aux w")
# Relative column widths: the visible columns share the table's width (no horizontal scroll bar) as long as each
# gets its readable minimum; a narrower table scrolls sideways instead of cutting every column.
WIDTHS = (7, 6, 8, 8.5, 3.5, 3.5, 3.5, 5, 3.5, 3.5, 5)
MIN_WIDTHS = (50, 40, 70, 70, 22, 22, 22, 36, 22, 22, 36)
KIND_TEXT = catalog.LAYER_KIND_LABELS
INIT_TEXT = {"glorot_uniform": "Glorot U", "glorot_normal": "Glorot N", "he_normal": "He N", "he_uniform": "He U",
             "lecun_normal": "LeCun N", "lecun_uniform": "LeCun U", "random_normal": "Normal σ", "zeros": "Zeros"}
CHECKS = ("attention", "batch_norm", "residual", "return_sequences", "aux_head")
TIPS = {"kind": "Dense, or a recurrent layer (recurrent layers come first; images are read row by row)",
        "units": "Units (neurons) of this layer",
        "activation": "Activation function; a new one brings its matching initializer unless you chose another",
        "initializer": "How the weights start",
        "attention": f"The attention block in front of this dense layer {cite('wu-attention')}",
        "batch_norm": "BatchNorm after this dense layer", "residual": "Residual connection around this dense layer",
        "dropout": "Dropout rate after this layer (training only)",
        "return_sequences": "Recurrent: pass every time step on (forced on when another recurrent layer follows)",
        "aux_head": "An auxiliary softmax classifier after this layer (training only, not exported)",
        "aux_weight": "Loss weight of the auxiliary classifier"}
DENSE_ONLY, RECURRENT_ONLY = catalog.DENSE_ONLY_OPTIONS, catalog.RECURRENT_ONLY_OPTIONS
INVALID = QColor(255, 120, 120, 110)
FLAGGED = QColor(255, 170, 0, 90)
ROW_HEIGHT = 28
MIN_ROWS = 3  # the table never shrinks below this many rows (the dock scrolls instead)
DETAILS = {"init_stddev": "σ of the normal initializer (Init “Normal σ”)",
           "bias_init": "Constant every bias of this layer starts at",
           "attention_tokens": "Tokens the attention block splits its input into (0 = chosen from the width)"}


class BuilderPanel(QWidget):
    layer_selected = Signal(int)
    fields_changed = Signal()  # an editor's problem appeared or went (the window re-checks Train)

    def __init__(self, document: SpecDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.input_shape: tuple | None = None
        self.num_classes: int | None = None
        self.params_counter = None  # set once Keras is loaded: vg_studio.nn.build.count_params
        self.flagged_layers: set[int] = set()
        self.problems: list[str] = []
        self.refusal = ""  # the last out-of-range input refused by an editor, shown until the next edit

        self.depth = IntEdit(0, LIMITS.layers, "Hidden layers")
        self.depth.setToolTip(f"Number of hidden layers, 0–{LIMITS.layers} (new ones copy the last layer)")
        self.depth.valueChanged.connect(self._set_depth)
        self.depth.refused.connect(self._refused)
        self.output_activation = combo_box()
        for name in catalog.OUTPUT_ACTIVATIONS:
            self.output_activation.addItem(name, name)
        self.output_activation.setToolTip("Activation of the output layer (softmax for classes)")
        self.output_activation.currentIndexChanged.connect(self._output_changed)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setTabKeyNavigation(False)  # Tab goes through the cells' editors and then out of the table
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Fixed)
        header.setMinimumSectionSize(10)
        for column, name in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(column).setToolTip(TIPS.get(name, ""))
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.table.viewport().installEventFilter(self)
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + MIN_ROWS * ROW_HEIGHT + 4)
        self.table.itemSelectionChanged.connect(self._show_details)
        self.buttons = {}
        row = QHBoxLayout()
        row.setSpacing(3)
        for key, text, tip, slot in (
                ("add", "&Add", "Add a layer after the selected one (a copy of it)", self.add_layer),
                ("remove", "Remo&ve", "Remove the selected layer", self.remove_layer),
                ("duplicate", "Dup&licate", "Duplicate the selected layer", self.duplicate_layer),
                ("up", "▲", "Move the selected layer towards the input", lambda: self.move_layer(-1)),
                ("down", "▼", "Move the selected layer towards the output", lambda: self.move_layer(1))):
            button = QPushButton(text)
            button.setToolTip(tip)
            if key in ("up", "down"):
                button.setMaximumWidth(34)
            else:  # as narrow as its text (Qt's own minimum is far wider)
                button.setMinimumWidth(button.fontMetrics().horizontalAdvance(text.replace("&", "")) + 14)
            button.clicked.connect(slot)
            self.buttons[key] = button
            row.addWidget(button, 0 if key in ("up", "down") else 1)
        self.details_label = QLabel()
        self.details = {"init_stddev": FloatEdit(0.0001, 1000.0, "σ", step=0.01, decimals=4),
                        "bias_init": FloatEdit(-1000.0, 1000.0, "Bias init", step=0.1, decimals=3),
                        "attention_tokens": IntEdit(0, LIMITS.units, "Attention tokens")}
        self.details["attention_tokens"].setSpecialValueText("auto")
        details = QHBoxLayout()  # one line: the dock keeps its height for the table
        details.setContentsMargins(0, 0, 0, 0)
        details.setSpacing(4)
        self.details_label.setToolTip("The selected layer's less common settings")
        details.addWidget(self.details_label)
        for name, text in (("init_stddev", "&σ"), ("bias_init", "B&ias"), ("attention_tokens", "To&kens")):
            editor = self.details[name]
            editor.setToolTip(DETAILS[name])
            editor.setMinimumWidth(44)
            editor.valueChanged.connect(lambda v, name=name: self._set_detail(name, v))
            editor.refused.connect(self._refused)
            editor.setButtonSymbols(QAbstractSpinBox.NoButtons)
            label = QLabel(text)
            label.setBuddy(editor)
            details.addWidget(label)
            details.addWidget(editor, 1)
        depth_row = QHBoxLayout()
        depth_row.setSpacing(4)
        depth_label = QLabel("Hidden &layers")
        depth_label.setBuddy(self.depth)
        depth_row.addWidget(depth_label)
        depth_row.addWidget(self.depth)
        depth_row.addStretch(1)
        output_label = QLabel("&Output")
        output_label.setBuddy(self.output_activation)
        depth_row.addWidget(output_label)
        depth_row.addWidget(self.output_activation)
        self.shape_label = QLabel()
        self.shape_label.setWordWrap(True)
        self.params_label = QLabel()
        self.params_label.setObjectName("params")
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setTextFormat(Qt.PlainText)  # messages quote what was typed and file names
        self.problems_label.setStyleSheet("color: #d62728;")
        layout = QVBoxLayout(self)
        layout.addLayout(depth_row)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addLayout(details)
        summary = QHBoxLayout()
        summary.addWidget(self.shape_label, 1)
        summary.addWidget(self.params_label, 0, Qt.AlignTop)
        layout.addLayout(summary)
        layout.addWidget(self.problems_label)
        document.changed.connect(self._document_changed)
        self.render()

    # ---- rendering from the spec ---------------------------------------------------------------------------
    def _document_changed(self) -> None:
        self.refusal = ""
        self.render()

    def render(self) -> None:
        spec = self.document.spec
        layers = spec.network.layers
        selected = self.selected_row()
        self.depth.blockSignals(True)
        self.depth.setValue(len(layers))
        self.depth.blockSignals(False)
        issues = spec.issues()
        self.problems = [str(issue) for issue in issues]
        invalid = {(issue.layer, issue.field): str(issue) for issue in issues
                   if issue.layer is not None and issue.field in COLUMNS}  # located from the issue, not its text
        self.table.setRowCount(len(layers))
        for i, layer in enumerate(layers):
            self._fill_row(i, layer, invalid)
        self._hide_unused_columns(layers)
        wanted = min(max(selected, 0), len(layers) - 1)
        if layers and wanted != selected:  # re-selecting the same row would move the focus out of the editor
            self.table.selectRow(wanted)
        self.output_activation.blockSignals(True)
        self.output_activation.setCurrentIndex(max(self.output_activation.findData(spec.network.output_activation),
                                                   0))
        self.output_activation.blockSignals(False)
        self._show_details()
        self._show_messages()
        self.update_params()

    def _fill_row(self, i: int, layer: LayerSpec, invalid: dict) -> None:
        if self.table.cellWidget(i, 0) is None:
            self._create_row(i)
        # update in place (signals blocked): recreating editors would steal focus while the user types
        editors = {name: self.editor(i, name) for name in COLUMNS}
        for editor in editors.values():
            editor.blockSignals(True)
        for name in ("kind", "activation", "initializer"):
            editors[name].setCurrentIndex(max(editors[name].findData(getattr(layer, name)), 0))
        editors["units"].setValue(layer.units)
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
            problem = invalid.get((i, name))
            self._tint(i, COLUMNS.index(name), problem is not None, problem or TIPS.get(name, ""))
        self._label_row(i)

    def _label_row(self, i: int) -> None:
        """The row header: h1, h2 … as in every message; a layer a diagnostic finding names is marked there (not on
        its editors, whose own drawing a background colour would change)."""
        flagged = i in self.flagged_layers
        item = self.table.verticalHeaderItem(i) or QTableWidgetItem()
        item.setText(f"⚠ h{i + 1}" if flagged else f"h{i + 1}")
        item.setBackground(QBrush(FLAGGED) if flagged else QBrush())
        item.setToolTip("A diagnostic finding names this layer" if flagged else "")
        self.table.setVerticalHeaderItem(i, item)

    def _hide_unused_columns(self, layers) -> None:
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
        self._fit_columns()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.table.viewport() and event.type() == QEvent.Resize:
            self._fit_columns()
        elif event.type() == QEvent.FocusIn:
            row = self._row_of(watched)
            if row >= 0 and row != self.selected_row():
                self.table.selectRow(row)
                watched.setFocus()  # selecting a row takes the focus to the table: give it back to the cell
        return super().eventFilter(watched, event)

    def _row_of(self, editor: QWidget) -> int:
        for row in range(self.table.rowCount()):
            if any(self.editor(row, name) is editor for name in COLUMNS):
                return row
        return -1

    def _fit_columns(self) -> None:
        """Share the table's width among the visible columns by WIDTHS: all of them in view when each still gets
        its readable minimum (MIN_WIDTHS); otherwise each gets its minimum and the table scrolls sideways."""
        visible = [c for c in range(len(COLUMNS)) if not self.table.isColumnHidden(c)]
        width = self.table.viewport().width()
        narrow = sum(MIN_WIDTHS[c] for c in visible) > width
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded if narrow else Qt.ScrollBarAlwaysOff)
        if narrow:
            for column in visible:
                self.table.setColumnWidth(column, MIN_WIDTHS[column])
            return
        total = sum(WIDTHS[c] for c in visible)
        used = 0
        for n, column in enumerate(visible):
            share = width - used if n == len(visible) - 1 else int(width * WIDTHS[column] / total)
            self.table.setColumnWidth(column, max(10, share))
            used += share

    def editor(self, row: int, column: int | str) -> QWidget:
        """The editor in a cell; `column` is an index or a name from COLUMNS."""
        widget = self.table.cellWidget(row, COLUMNS.index(column) if isinstance(column, str) else column)
        return getattr(widget, "check", widget)

    def _create_row(self, i: int) -> None:
        def put(name: str, widget: QWidget) -> None:
            self.table.setCellWidget(i, COLUMNS.index(name), widget)

        for name, labels in (("kind", KIND_TEXT), ("activation", {a: a for a in catalog.ACTIVATIONS}),
                             ("initializer", INIT_TEXT)):
            combo = combo_box()
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(4)
            for key, text in labels.items():
                combo.addItem(text, key)
                tip = catalog.INITIALIZERS.get(key) if name == "initializer" else None
                if tip:
                    combo.setItemData(combo.count() - 1, tip, Qt.ToolTipRole)
            combo.currentIndexChanged.connect(lambda _, i=i, name=name, box=combo:
                                              self.set_field(i, name, box.currentData()))
            put(name, combo)
        units = IntEdit(1, LIMITS.units, f"h{i + 1} units")
        units.setButtonSymbols(QAbstractSpinBox.NoButtons)  # room for the digits; arrow keys and wheel still step
        units.valueChanged.connect(lambda v, i=i: self.set_field(i, "units", v))
        units.refused.connect(self._refused)
        put("units", units)
        for name in CHECKS:
            box = QCheckBox()
            box.toggled.connect(lambda v, i=i, name=name: self.set_field(i, name, bool(v)))
            put(name, _centered(box))
        for name, low, top, step in (("dropout", 0.0, 0.99, 0.05), ("aux_weight", 0.01, 10.0, 0.1)):
            spin = FloatEdit(low, top, f"h{i + 1} {name.replace('_', ' ')}", step=step)
            spin.setButtonSymbols(QAbstractSpinBox.NoButtons)
            spin.valueChanged.connect(lambda v, i=i, name=name: self.set_field(i, name, float(v)))
            spin.refused.connect(self._refused)
            put(name, spin)
        for name in COLUMNS:
            self.editor(i, name).installEventFilter(self)  # focus in a cell selects its row

    def _tint(self, row: int, column: int, invalid: bool, tip: str) -> None:
        """Mark one cell invalid (or not); the rule is scoped to the cell's own widget so that a checkbox inside a
        cell keeps its look."""
        widget = self.table.cellWidget(row, column)
        if widget is None or bool(widget.property("invalid")) == invalid and widget.toolTip() == tip:
            return  # unchanged: restyling a focused editor would disturb typing
        selector = "QWidget#cell" if hasattr(widget, "check") else f"{type(widget).__name__}#cell"
        widget.setObjectName("cell")
        color = INVALID
        widget.setStyleSheet(f"{selector} {{ background-color: rgba({color.red()},{color.green()},{color.blue()},"
                             f"{color.alpha()}); }}" if invalid else "")
        widget.setToolTip(tip)
        widget.setProperty("invalid", invalid)

    def _refused(self, message: str) -> None:
        self.refusal = message
        self._show_messages()
        self.fields_changed.emit()

    def field_problems(self) -> list[str]:
        """Editors that show a value a run would not train with (a refused one still on screen)."""
        editors = [self.depth, *self.details.values()]
        for row in range(self.table.rowCount()):
            editors += [self.editor(row, name) for name in ("units", "dropout", "aux_weight")]
        return [problem for problem in (e.problem() for e in editors if hasattr(e, "problem")) if problem]

    # ---- the selected layer's less common settings -----------------------------------------------------------
    def _show_details(self) -> None:
        layers = self.document.spec.network.layers
        row = self.selected_row()
        layer = layers[row] if 0 <= row < len(layers) else None
        self.details_label.setText(f"h{row + 1}:" if layer is not None else "—")
        for name, editor in self.details.items():
            editor.blockSignals(True)
            if layer is not None:
                editor.setValue(getattr(layer, name))
            editor.blockSignals(False)
            applies = layer is not None and (
                name != "init_stddev" or layer.initializer == "random_normal") and (
                name != "attention_tokens" or layer.attention)
            editor.setEnabled(applies)

    def _set_detail(self, name: str, value) -> None:
        row = self.selected_row()
        if row >= 0:
            self.set_field(row, name, int(value) if name == "attention_tokens" else float(value))

    def _output_changed(self) -> None:
        value = self.output_activation.currentData()
        self.document.edit(f"Output activation = {value}",
                           lambda spec: edits.set_field(spec, "network.output_activation", value))

    def _show_messages(self) -> None:
        lines = ([self.refusal] if self.refusal else []) + self.problems
        self.problems_label.setText("\n".join(f"⚠ {p}" for p in lines))

    def update_params(self) -> None:
        spec = self.document.spec
        if self.input_shape is None:
            self.shape_label.setText("Loading the dataset…")
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
        for i in range(self.table.rowCount()):  # only the row headers show it (a whole render cost ~10 ms)
            self._label_row(i)

    # ---- edits --------------------------------------------------------------------------------------------
    def selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return rows[0].row() if rows else -1

    def set_field(self, i: int, name: str, value) -> None:
        shown = {"kind": KIND_TEXT, "initializer": INIT_TEXT}.get(name, {}).get(value, value)
        label = {"init_stddev": "σ", "bias_init": "bias init", "attention_tokens": "attention tokens",
                 "aux_weight": "aux weight", "return_sequences": "sequences", "batch_norm": "BatchNorm"}.get(name, name)
        self.document.edit(f"h{i + 1} {label} = {_value_text(shown)}",
                           lambda spec: edits.set_layer_field(spec, i, name, value), merge_key=f"layer{i}.{name}")

    def set_kind(self, i: int, kind: str) -> None:
        """Change a layer's kind and, in the same undo step, clear the options the new kind does not have."""
        self.document.edit(f"h{i + 1} kind = {KIND_TEXT.get(kind, kind)}", lambda spec: edits.set_kind(spec, kind, i))

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


def _value_text(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _centered(widget: QWidget) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setAlignment(Qt.AlignCenter)
    layout.addWidget(widget)
    holder.check = widget
    return holder
