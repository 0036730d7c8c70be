"""Data panel: dataset choice (offline default first), import of an image folder or .npz, a grid of samples
(images) or a few plotted sequences with their labels (the sequence tasks)."""

from __future__ import annotations

import atexit

import numpy as np
from PySide6.QtCore import QSettings, Qt, QThread, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QPushButton,
                               QVBoxLayout, QWidget)

from vg_studio import catalog, edits
from vg_studio.gui.commands import SpecDocument
from vg_studio.gui.panels.editors import IntEdit, combo_box, show_refusal
from vg_studio.text import inert, inert_html

GRID_ROWS, GRID_COLUMNS, THUMB = 3, 6, 44


class DatasetLoader(QThread):
    loaded = Signal(str, object)  # dataset key, Dataset
    failed = Signal(str, str)

    def __init__(self, name: str, options: dict, parent=None):
        super().__init__(parent)
        self.name, self.options = name, dict(options)

    @property
    def key(self) -> str:
        return dataset_key(self.name, self.options)

    def run(self) -> None:
        try:
            from vg_studio.data import load_dataset

            self.loaded.emit(self.key, load_dataset(self.name, self.options))
        except Exception as exc:  # a missing file or folder, no network for keras.datasets …
            self.failed.emit(self.key, str(exc))


def dataset_key(name: str, options: dict) -> str:
    return "|".join(str(options.get(k)) for k in ("limit", "seed", "image_size", "length", "n")) + f"|{name}"


_RECENT: dict = {}  # key -> Dataset: the last built-in datasets loaded (a new window, or switching back, is instant)
_RECENT_KEEP = 2
LENGTH_DATASETS = ("adding", "recall")  # the sequence tasks with a `length` (time steps) option
DEFAULT_LENGTH = 100


class DataPanel(QWidget):
    dataset_ready = Signal(object)  # Dataset of the current spec
    fields_changed = Signal()  # an editor's problem appeared or went (the window re-checks Train)

    def __init__(self, document: SpecDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.dataset = None
        self._loaders: list[DatasetLoader] = []
        self._wanted = None
        self.loading_enabled = False  # the main window enables it once it is on screen (fast first paint)
        self.choice = combo_box()
        for name, text in catalog.DATASETS.items():
            self.choice.addItem(name, name)
            self.choice.setItemData(self.choice.count() - 1, text, Qt.ToolTipRole)
        self.choice.currentIndexChanged.connect(self._choice_changed)
        self.limit = IntEdit(0, 10_000_000, "Limit")
        self.limit.setSpecialValueText("all")
        self.limit.setSingleStep(500)
        self.limit.setToolTip("Train on at most this many examples (0 = all)")
        self.limit.editingFinished.connect(self._limit_changed)
        self.length = IntEdit(2, 10_000, "Length")
        self.length.setSuffix(" steps")
        self.length.setToolTip("Time steps per sequence: the longer, the further the gradient must travel back")
        self.length.editingFinished.connect(self._length_changed)
        folder, npz = QPushButton("Import &folder…"), QPushButton("Import .&npz…")
        folder.clicked.connect(self.import_folder)
        npz.clicked.connect(self.import_npz)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.PlainText)  # dataset names and paths come from outside
        self.problems_label = QLabel()
        self.problems_label.setObjectName("problems")
        self.problems_label.setWordWrap(True)
        self.problems_label.setTextFormat(Qt.PlainText)  # messages quote what was typed and file names
        self.problems_label.setStyleSheet("color: #d62728;")
        for editor in (self.limit, self.length):
            editor.refused.connect(lambda message: show_refusal(self.problems_label, message))
            editor.refused.connect(lambda _: self.fields_changed.emit())
        self.grid = QGridLayout()
        self.grid.setSpacing(2)
        self.thumbs = []
        for r in range(GRID_ROWS):
            for c in range(GRID_COLUMNS):
                label = QLabel()
                label.setFixedSize(THUMB, THUMB + 14)
                label.setAlignment(Qt.AlignCenter)
                self.grid.addWidget(label, r, c)
                self.thumbs.append(label)
        form = QFormLayout()
        form.addRow("Data&set", self.choice)
        form.addRow("Li&mit", self.limit)
        form.addRow("Len&gth", self.length)
        buttons = QHBoxLayout()
        buttons.addWidget(folder)
        buttons.addWidget(npz)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.info)
        layout.addLayout(self.grid)
        self.sequences = QLabel()  # the sequence tasks: a few sequences drawn as lines/images with their labels
        self.sequences.setObjectName("sequence-preview")
        layout.addWidget(self.sequences)
        layout.addStretch(1)
        document.changed.connect(self.render)
        self.render()

    def field_problems(self) -> list[str]:
        return [p for p in (self.limit.problem(), self.length.problem() if self.length.isEnabled() else "") if p]

    # ---- edits ------------------------------------------------------------------------------------------
    def _choice_changed(self) -> None:
        self.set_dataset(self.choice.currentData())

    def set_dataset(self, name: str) -> None:
        self.document.edit(f"Dataset = {name}", lambda spec: edits.set_dataset(spec, name))

    def _length_changed(self) -> None:
        self.set_length(self.length.value())

    def set_length(self, value: int) -> None:
        length = None if value == DEFAULT_LENGTH else int(value)
        self.document.edit(f"Length = {value}", lambda spec: edits.set_data_option(spec, "length", length),
                           merge_key="data.length")

    def _limit_changed(self) -> None:
        value = self.limit.value()

        self.document.edit(f"Limit = {value or 'all'}",
                           lambda spec: edits.set_data_option(spec, "limit", value or None))

    def import_folder(self) -> None:
        settings = QSettings()
        path = QFileDialog.getExistingDirectory(self, "Image folder (one sub-folder per class)",
                                                settings.value("folders/data", ""))
        if path:
            settings.setValue("folders/data", path)
            self.set_dataset(f"folder:{path}")

    def import_npz(self) -> None:
        settings = QSettings()
        path, _ = QFileDialog.getOpenFileName(self, "Dataset .npz (x_train, y_train, x_test, y_test)",
                                              settings.value("folders/data", ""), "NumPy archives (*.npz)")
        if path:
            settings.setValue("folders/data", str(__import__("pathlib").Path(path).parent))
            self.set_dataset(f"npz:{path}")

    # ---- rendering ------------------------------------------------------------------------------------------
    def render(self) -> None:
        spec = self.document.spec
        name = spec.data.dataset
        self.choice.blockSignals(True)
        if self.choice.findData(name) < 0:
            self.choice.addItem(name.split(":", 1)[0] + ": " + name.split(":", 1)[-1][-40:], name)
        self.choice.setCurrentIndex(self.choice.findData(name))
        self.choice.blockSignals(False)
        if not self.limit.hasFocus():
            self.limit.setValue(int(spec.data.options.get("limit") or 0))
        self.length.setEnabled(name in LENGTH_DATASETS)
        if not self.length.hasFocus():
            self.length.blockSignals(True)
            self.length.setValue(int(spec.data.options.get("length", DEFAULT_LENGTH)))
            self.length.blockSignals(False)
        self._show_issues(spec)
        key = dataset_key(name, spec.data.options)
        if key != self._wanted and self.loading_enabled:
            self._wanted = key
            if key in _RECENT:
                QTimer.singleShot(0, self, lambda key=key: self._loaded(key, _RECENT[key]) if key in _RECENT else None)
            elif catalog.is_known_dataset(name):
                self.info.setText(f"Loading {inert(name)}…")
                loader = DatasetLoader(name, spec.data.options)  # no parent: see _RUNNING
                loader.loaded.connect(self._loaded)
                loader.failed.connect(self._failed)
                _RUNNING.add(loader)
                loader.finished.connect(lambda l=loader: _RUNNING.discard(l))
                self._loaders = [l for l in self._loaders if _running(l)] + [loader]
                loader.start()

    def _show_issues(self, spec) -> None:
        """The data section's problems (an option the dataset does not take, a limit below 10 …), each editor the
        issue's location names marked red."""
        issues = [issue for issue in spec.issues() if issue.loc[:1] == ("data",)]
        for name, editor in (("limit", self.limit), ("length", self.length)):
            messages = [str(i) for i in issues if i.loc[1:3] == ("options", name)]
            tip = editor.property("tip") or editor.toolTip()
            editor.setProperty("tip", tip)
            editor.setStyleSheet(f"{type(editor).__name__} {{ background-color: rgba(255,120,120,110); }}"
                                 if messages else "")
            editor.setProperty("invalid", bool(messages))
            editor.setToolTip("\n".join(messages) or tip)
        self.problems_label.setText("\n".join(f"⚠ {issue}" for issue in issues))

    def _failed(self, key: str, message: str) -> None:
        if key == self._wanted:
            self.dataset = None
            self.info.setStyleSheet("color: #d62728;")
            self.info.setText(f"⚠ {inert(message)}")

    def _loaded(self, key: str, data) -> None:
        if key != self._wanted and self.loading_enabled:
            return
        if ":" not in key:  # built-in data does not change on disk; npz: and folder: files may
            _RECENT.pop(key, None)
            _RECENT[key] = data
            while len(_RECENT) > _RECENT_KEEP:
                _RECENT.pop(next(iter(_RECENT)))
        self.dataset = data
        shape = "×".join(map(str, data.input_shape))
        self.info.setStyleSheet("")
        self.info.setText(f"{inert(data.name)}: {len(data.x_train):,} train / {len(data.x_test):,} test, "
                          f"{shape} inputs, {data.num_classes} classes")
        is_sequence = data.x_train.ndim == 3  # (examples, time steps, features)
        for i, label in enumerate(self.thumbs):
            label.setVisible(not is_sequence)
            if i < len(data.x_train) and not is_sequence:
                name = inert(data.class_names[int(data.y_train[i])])
                label.setToolTip(inert_html(name))
                label.setPixmap(with_caption(thumbnail(data.x_train[i]), name))
            else:
                label.clear()
        self.sequences.setVisible(is_sequence)
        if is_sequence:
            labels = [inert(data.class_names[int(y)]) for y in data.y_train[:SEQUENCE_ROWS]]
            self.sequences.setPixmap(sequence_preview(data.x_train[:SEQUENCE_ROWS], labels))
            self.sequences.setToolTip(f"The first {len(labels)} training sequences, time running left to right")
        self.dataset_ready.emit(data)

    def start_loading(self) -> None:
        self.loading_enabled = True
        self.render()

    @property
    def loading(self) -> bool:
        return any(_running(loader) for loader in self._loaders)

    def wait_for_loaders(self, timeout_ms: int = 30_000) -> None:
        for loader in list(self._loaders):
            if _running(loader):
                loader.wait(timeout_ms)

    def release_loaders(self) -> None:
        """Let loads still running finish without this panel: closing never waits for a dataset it will not show."""
        for loader in self._loaders:
            try:
                loader.loaded.disconnect(self._loaded)
                loader.failed.disconnect(self._failed)
            except (RuntimeError, TypeError):  # finished and deleted, or already unhooked
                pass
        self._loaders = []


# Loads in progress. A loader has no parent and stays referenced here until it ends, so a window or panel deleted
# while a dataset loads never destroys a running QThread (Qt aborts the process when that happens).
_RUNNING: set = set()


def _running(thread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:
        return False


@atexit.register
def _finish_loads() -> None:
    """At interpreter exit, before Python tears the wrappers down (the app itself ends with os._exit)."""
    for loader in list(_RUNNING):
        try:
            loader.wait()
        except RuntimeError:
            pass


def thumbnail(x: np.ndarray) -> QPixmap:
    """A float [0, 1] image (H, W, C) or a flat vector as a small pixmap."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        side = int(np.ceil(np.sqrt(x.size)))
        x = np.pad(x, (0, side * side - x.size)).reshape(side, side, 1)
    pixels = np.ascontiguousarray((np.clip(x, 0, 1) * 255).astype(np.uint8))
    h, w, c = pixels.shape
    if c == 3:
        image = QImage(pixels.data, w, h, 3 * w, QImage.Format_RGB888)
    else:
        pixels = np.ascontiguousarray(pixels[..., 0])
        image = QImage(pixels.data, w, h, w, QImage.Format_Grayscale8)
    return QPixmap.fromImage(image.copy()).scaled(THUMB, THUMB, Qt.KeepAspectRatio, Qt.FastTransformation)


SEQUENCE_ROWS, SEQUENCE_WIDTH, SEQUENCE_HEIGHT, CAPTION = 5, 300, 34, 64
LINE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def sequence_preview(xs: np.ndarray, labels: list[str]) -> QPixmap:
    """Sequences (N, T, F) one per row with their label: few features as lines over time, many as an image
    (features × time; a square sequence such as row-by-row MNIST is drawn as the image it came from)."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

    n, steps, features = xs.shape
    square = steps == features
    row_height = SEQUENCE_HEIGHT if not square else THUMB
    out = QPixmap(SEQUENCE_WIDTH + CAPTION, n * (row_height + 4))
    out.fill(Qt.transparent)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.Antialiasing)
    for r, (x, label) in enumerate(zip(np.asarray(xs, dtype=np.float32), labels)):
        top = r * (row_height + 4)
        painter.setPen(Qt.gray)
        painter.drawText(0, top, CAPTION - 4, row_height, Qt.AlignRight | Qt.AlignVCenter, label)
        if features > 4:
            image = x if square else x.T  # square: rows are time steps, as in the picture
            scaled = np.clip(image / max(float(image.max()), 1e-9), 0, 1)
            pixels = np.ascontiguousarray((scaled * 255).astype(np.uint8))
            h, w = pixels.shape
            qimage = QImage(pixels.data, w, h, w, QImage.Format_Grayscale8).copy()
            width = row_height if square else SEQUENCE_WIDTH
            painter.drawImage(CAPTION, top,
                              qimage.scaled(width, row_height, Qt.IgnoreAspectRatio, Qt.FastTransformation))
            continue
        painter.fillRect(CAPTION, top, SEQUENCE_WIDTH, row_height, QColor(127, 127, 127, 30))
        for f in range(features):
            values = x[:, f]
            low, high = float(values.min()), float(values.max())
            scale = (values - low) / (high - low) if high > low else np.full_like(values, 0.5)
            xs_px = CAPTION + np.linspace(0, SEQUENCE_WIDTH - 1, steps)
            ys_px = top + row_height - 2 - scale * (row_height - 4)
            painter.setPen(QPen(QColor(LINE_COLORS[f % len(LINE_COLORS)]), 1.6 if f else 1.0))
            painter.drawPolyline(QPolygonF([QPointF(a, b) for a, b in zip(xs_px, ys_px)]))
    painter.end()
    return out


def with_caption(pixmap: QPixmap, text: str) -> QPixmap:
    from PySide6.QtGui import QPainter

    out = QPixmap(THUMB, THUMB + 14)
    out.fill(Qt.transparent)
    painter = QPainter(out)
    painter.drawPixmap((THUMB - pixmap.width()) // 2, 0, pixmap)
    painter.setPen(Qt.gray)
    painter.drawText(0, THUMB, THUMB, 14, Qt.AlignCenter, text[:8])
    painter.end()
    return out
