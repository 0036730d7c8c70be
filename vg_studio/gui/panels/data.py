"""Data panel: dataset choice (offline default first), import of an image folder or .npz, a grid of samples."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings, Qt, QThread, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from vg_studio import catalog
from vg_studio.gui.commands import SpecDocument

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
    return f"{name}|{options.get('limit')}|{options.get('seed', 0)}|{options.get('image_size')}"


class DataPanel(QWidget):
    dataset_ready = Signal(object)  # Dataset of the current spec

    def __init__(self, document: SpecDocument, parent=None):
        super().__init__(parent)
        self.document = document
        self.dataset = None
        self._loaders: list[DatasetLoader] = []
        self._wanted = None
        self.loading_enabled = False  # the main window enables it once it is on screen (fast first paint)
        self.choice = QComboBox()
        for name, text in catalog.DATASETS.items():
            self.choice.addItem(name, name)
            self.choice.setItemData(self.choice.count() - 1, text, Qt.ToolTipRole)
        self.choice.currentIndexChanged.connect(self._choice_changed)
        self.limit = QSpinBox()
        self.limit.setRange(0, 10_000_000)
        self.limit.setSpecialValueText("all")
        self.limit.setSingleStep(500)
        self.limit.setToolTip("Train on at most this many examples (0 = all)")
        self.limit.editingFinished.connect(self._limit_changed)
        folder, npz = QPushButton("Import folder…"), QPushButton("Import .npz…")
        folder.clicked.connect(self.import_folder)
        npz.clicked.connect(self.import_npz)
        self.info = QLabel()
        self.info.setWordWrap(True)
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
        form.addRow("Dataset", self.choice)
        form.addRow("Limit", self.limit)
        buttons = QHBoxLayout()
        buttons.addWidget(folder)
        buttons.addWidget(npz)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.info)
        layout.addLayout(self.grid)
        layout.addStretch(1)
        document.changed.connect(self.render)
        self.render()

    # ---- edits ------------------------------------------------------------------------------------------
    def _choice_changed(self) -> None:
        self.set_dataset(self.choice.currentData())

    def set_dataset(self, name: str) -> None:
        self.document.edit(f"Dataset = {name}", lambda s: setattr(s.data, "dataset", name))

    def _limit_changed(self) -> None:
        value = self.limit.value()

        def mutate(spec):
            if value:
                spec.data.options["limit"] = value
            else:
                spec.data.options.pop("limit", None)
        self.document.edit(f"Limit = {value or 'all'}", mutate)

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
        key = dataset_key(name, spec.data.options)
        if key != self._wanted and self.loading_enabled:
            self._wanted = key
            if catalog.is_known_dataset(name):
                self.info.setText(f"Loading {name}…")
                loader = DatasetLoader(name, spec.data.options, self)
                loader.loaded.connect(self._loaded)
                loader.failed.connect(self._failed)
                loader.finished.connect(lambda l=loader: self._loaders.remove(l) if l in self._loaders else None)
                self._loaders.append(loader)
                loader.start()

    def _failed(self, key: str, message: str) -> None:
        if key == self._wanted:
            self.dataset = None
            self.info.setText(f"<span style='color:#d62728'>⚠ {message}</span>")

    def _loaded(self, key: str, data) -> None:
        if key != self._wanted and self.loading_enabled:
            return
        self.dataset = data
        shape = "×".join(map(str, data.input_shape))
        self.info.setText(f"{data.name}: {len(data.x_train):,} train / {len(data.x_test):,} test, "
                          f"{shape} inputs, {data.num_classes} classes")
        for i, label in enumerate(self.thumbs):
            if i < len(data.x_train):
                name = str(data.class_names[int(data.y_train[i])])
                label.setToolTip(name)
                label.setPixmap(with_caption(thumbnail(data.x_train[i]), name))
            else:
                label.clear()
        self.dataset_ready.emit(data)

    def start_loading(self) -> None:
        self.loading_enabled = True
        self.render()

    def wait_for_loaders(self, timeout_ms: int = 30_000) -> None:
        for loader in list(self._loaders):
            loader.wait(timeout_ms)


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
