"""Small dialogs of the main window: unsaved changes, background reading, about. None of them blocks the event
loop (they open window-modal, never in a nested event loop): training keeps drawing behind them and tests can
answer them."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout, QWidget

from vg_studio import __version__
from vg_studio.references import REFERENCES


def ask_unsaved(parent: QWidget, name: str, doing: str, save: Callable[[], bool], then: Callable[[], None]) \
        -> QMessageBox:
    """"Save changes to NAME before DOING?" — Save (then continue if saving worked), Discard (continue), Cancel."""
    box = QMessageBox(QMessageBox.Warning, "Unsaved changes", f"The experiment “{name}” has unsaved changes.",
                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, parent)
    box.setInformativeText(f"Save them before {doing}?")
    box.setDefaultButton(QMessageBox.Save)
    box.setEscapeButton(QMessageBox.Cancel)
    box.setObjectName("unsaved-changes")
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModal)

    def answered(button) -> None:
        role = box.standardButton(button)
        if role == QMessageBox.Save and save():
            then()
        elif role == QMessageBox.Discard:
            then()

    box.buttonClicked.connect(answered)
    box.open()
    return box


def background_reading_html() -> str:
    items = "".join(f"<li><p><b>{r.full}</b><br>What VG Studio takes from it: {r.topic}.</p></li>"
                    for r in REFERENCES.values())
    return ("<h3>Background reading</h3><p>The science behind VG Studio's diagnostics, fixes and the SDAGD optimizer "
            f"comes from these four sources.</p><ol>{items}</ol>")


class TextDialog(QDialog):
    def __init__(self, title: str, html: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.text.setHtml(html)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(640, 460)
        self.setAttribute(Qt.WA_DeleteOnClose)


def about_html(backend: str) -> str:
    return (f"<h3>VG Studio {__version__}</h3><p>See, diagnose and fix vanishing and exploding gradients in deep "
            f"networks built with Keras 3.</p><p>Training backend: {backend or 'starting…'}</p>"
            "<p>Help ▸ Background reading lists the papers the diagnostics and fixes come from.</p>")
