"""Small dialogs of the main window: unsaved changes, removing a run, help pages, and the message bar that shows
errors. None of them blocks the event loop (they open window-modal, never in a nested event loop): training keeps
drawing behind them and tests can answer them. Every button has a mnemonic (Alt+letter)."""

from __future__ import annotations

import html
from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton,
                               QTextBrowser, QVBoxLayout, QWidget)

from vg_studio import __version__
from vg_studio.references import REFERENCES
from vg_studio.text import inert


def ask_unsaved(parent: QWidget, name: str, doing: str, save: Callable[[], bool], then: Callable[[], None]) \
        -> QMessageBox:
    """"Save changes to NAME before DOING?" — Save (then continue if saving worked), Discard (continue), Cancel."""
    box = QMessageBox(QMessageBox.Warning, "Unsaved changes", f"The experiment “{inert(name)}” has unsaved changes.",
                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, parent)
    box.setTextFormat(Qt.PlainText)
    box.setInformativeText(f"Save them before {doing}?")
    for button, text in ((QMessageBox.Save, "&Save"), (QMessageBox.Discard, "&Discard"),
                         (QMessageBox.Cancel, "&Cancel")):
        box.button(button).setText(text)
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


def ask_remove_run(parent: QWidget, name: str, folder: str | None, remove: Callable[[bool], None]) -> QMessageBox:
    """Remove a run from the list — and, if asked, delete its folder from the disk. `remove(delete_folder)`."""
    box = QMessageBox(QMessageBox.Question, "Remove run", f"Remove “{inert(name)}” from the list?",
                      QMessageBox.NoButton, parent)
    box.setTextFormat(Qt.PlainText)
    box.setObjectName("remove-run")
    keep = box.addButton("&Remove from the list", QMessageBox.AcceptRole)
    delete = box.addButton("&Delete its folder too", QMessageBox.DestructiveRole) if folder else None
    cancel = box.addButton("&Cancel", QMessageBox.RejectRole)
    if folder:
        box.setInformativeText(f"Its folder stays on disk unless you delete it:\n{inert(folder)}")
    box.setDefaultButton(keep)
    box.setEscapeButton(cancel)
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.setWindowModality(Qt.WindowModal)

    def answered(button) -> None:
        if button is keep:
            remove(False)
        elif delete is not None and button is delete:
            remove(True)

    box.buttonClicked.connect(answered)
    box.open()
    return box


class TextDialog(QDialog):
    def __init__(self, title: str, html_text: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(True)
        self.text.setHtml(html_text)
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.button(QDialogButtonBox.Close).setText("&Close")
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(640, 460)
        self.setAttribute(Qt.WA_DeleteOnClose)


def background_reading_html() -> str:
    items = "".join(f"<li><p><b>{html.escape(r.full)}</b><br>What VG Studio takes from it: "
                    f"{html.escape(r.topic)}.</p></li>" for r in REFERENCES.values())
    return ("<h3>Background reading</h3><p>The science behind VG Studio's diagnostics, fixes and the SDAGD optimizer "
            f"comes from these {len(REFERENCES)} sources.</p><ol>{items}</ol>")


def about_html(backend: str) -> str:
    return (f"<h3>VG Studio {__version__}</h3><p>See, diagnose and fix vanishing and exploding gradients in deep "
            f"networks built with Keras 3.</p><p>Training backend: {html.escape(backend) or 'starting…'}</p>"
            "<p>Help ▸ Background reading lists the papers the diagnostics and fixes come from.</p>")


GETTING_STARTED = """
<h3>Getting started</h3>
<p>VG Studio trains a small network and shows, layer by layer, how large its gradient is — so you can see the
gradient vanish (or explode), read why, and try the fix.</p>
<ol>
<li><p><b>Pick a network.</b> Presets ▸ <i>Deep sigmoid network (the gradient vanishes)</i> is a good first one,
or build your own in the <b>Network</b> dock: one row per hidden layer.</p></li>
<li><p><b>Train.</b> Press <b>▶ Train</b> (Ctrl+Return). The plots fill as it trains: the loss and accuracy, the
gradient of every layer, and the heatmap where a dark band at the bottom (the input side) is a vanishing
gradient. Stop with <b>■ Stop</b> (Ctrl+.).</p></li>
<li><p><b>Read the diagnosis.</b> The <b>Diagnostics</b> dock lists what the rules found, the layers they name,
the evidence, and the fixes that fit.</p></li>
<li><p><b>Fix and compare.</b> Select a fix and press <b>Apply fix and compare</b>: the fixed network trains and
its curves are drawn over the first run's. <b>Try fixes…</b> trains a short trial of every fix and ranks them.</p></li>
<li><p><b>Watch your own code.</b> Add <code>GradientMonitor(run_dir)</code> to your own <code>model.fit</code> and
open the folder with File ▸ Open run folder: the app follows it as it is written.</p></li>
</ol>
<h4>The keyboard</h4>
<table>
<tr><td>Ctrl+Return</td><td>Train</td></tr><tr><td>Ctrl+.</td><td>Stop (twice: at once)</td></tr>
<tr><td>Ctrl+1 … Ctrl+5</td><td>Go to Network, Training, Data, Diagnostics, Runs</td></tr>
<tr><td>Ctrl+0</td><td>Go to the plots</td></tr>
<tr><td>Tab / Shift+Tab</td><td>Next / previous field</td></tr>
<tr><td>Esc</td><td>Put back the value of the field being edited</td></tr>
<tr><td>F2, Delete</td><td>Rename, remove the selected run (in Runs)</td></tr>
<tr><td>Ctrl+Z, Ctrl+Shift+Z</td><td>Undo, redo</td></tr>
</table>
"""


class MessageBar(QFrame):
    """An error in view at the top of the plots until it is dismissed or replaced: never a dialog hidden behind
    the window, never a line the status bar has already cleared."""

    closed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("message-bar")
        self.setFrameShape(QFrame.StyledPanel)
        self.setStyleSheet("#message-bar { background: rgba(214, 39, 40, 40); border: 1px solid #d62728; }")
        self.label = QLabel()
        self.label.setTextFormat(Qt.PlainText)  # messages name files and layers: never rendered as markup
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.dismiss = QPushButton("&Dismiss")
        self.dismiss.setToolTip("Hide this message")
        self.dismiss.clicked.connect(self.hide)
        self.dismiss.clicked.connect(self.closed.emit)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(QLabel("⚠"))
        layout.addWidget(self.label, 1)
        layout.addWidget(self.dismiss, 0, Qt.AlignTop)
        self.hide()

    def show_message(self, message: str) -> None:
        self.label.setText(inert(message))
        self.show()

