"""Where geo is: QgsSettings keys and the options page (Settings > Options > geo).

Two settings, kept in the user's QGIS profile:

- ``geo_targeting/mode``: ``auto`` (geo in QGIS's own Python if it is importable there, else
  the configured program) or ``executable`` (always the configured program);
- ``geo_targeting/executable``: a geo program (``geo.exe``, ``bin/geo``) or the folder of a
  virtualenv where geo is installed.

The page's **Test** button runs ``geo --version`` with what the page shows (not yet saved)
and prints the answer or the reason it failed.
"""

from __future__ import annotations

import os

from qgis.core import QgsSettings
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .geo_process import GeoNotFound, GeoProcessError, find_geo, geo_version

KEY_MODE = "geo_targeting/mode"
KEY_EXECUTABLE = "geo_targeting/executable"
MODES = ("auto", "executable")

try:  # the options page needs QGIS's GUI library (absent in qgis_process's core-only use)
    from qgis.gui import QgsOptionsPageWidget, QgsOptionsWidgetFactory
except ImportError:  # pragma: no cover
    QgsOptionsPageWidget = QWidget
    QgsOptionsWidgetFactory = object


def icon() -> QIcon:
    """Return the plugin's icon."""
    return QIcon(os.path.join(os.path.dirname(__file__), "icon.svg"))


def mode() -> str:
    """Return the saved mode (``auto`` unless ``executable`` was chosen)."""
    value = str(QgsSettings().value(KEY_MODE, "auto") or "auto")
    return value if value in MODES else "auto"


def executable() -> str:
    """Return the saved geo program or virtualenv folder ('' when none)."""
    return str(QgsSettings().value(KEY_EXECUTABLE, "") or "")


def save(new_mode: str, new_executable: str) -> None:
    """Save the mode and the program path."""
    settings = QgsSettings()
    settings.setValue(KEY_MODE, new_mode if new_mode in MODES else "auto")
    settings.setValue(KEY_EXECUTABLE, new_executable.strip())


def locate() -> dict:
    """Return :func:`~.geo_process.find_geo`'s answer for the saved settings."""
    return find_geo(mode(), executable())


def test_text(chosen_mode: str, chosen_executable: str) -> str:
    """Return what the Test button shows: which geo and its version, or why it failed."""
    try:
        found = find_geo(chosen_mode, chosen_executable)
        version = geo_version(found)
    except (GeoNotFound, GeoProcessError) as exc:
        return f"Failed: {exc}"
    return f"{version}\n{found['how']}"


class GeoOptionsPage(QgsOptionsPageWidget):
    """Settings > Options > geo: mode, program or virtualenv path, and a Test button."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("geoOptionsPage")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.mode = QComboBox()
        self.mode.addItem("Auto: geo in QGIS's Python, else the program below", "auto")
        self.mode.addItem("Always the program below", "executable")
        self.mode.setCurrentIndex(max(0, self.mode.findData(mode())))
        form.addRow("Find geo", self.mode)
        row = QHBoxLayout()
        self.path = QLineEdit(executable())
        self.path.setPlaceholderText(r"e.g. C:\geo\.venv  or  C:\geo\.venv\Scripts\geo.exe")
        pick_file = QPushButton("Program…")
        pick_file.clicked.connect(self._pick_file)
        pick_folder = QPushButton("Virtualenv…")
        pick_folder.clicked.connect(self._pick_folder)
        row.addWidget(self.path)
        row.addWidget(pick_file)
        row.addWidget(pick_folder)
        form.addRow("geo program or virtualenv", row)
        layout.addLayout(form)
        self.test_button = QPushButton("Test")
        self.test_button.clicked.connect(self.run_test)
        layout.addWidget(self.test_button, 0, Qt.AlignLeft)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.result)
        note = QLabel(
            "The plugin runs geo as a separate program and installs nothing into QGIS's "
            "Python. Install geo in a virtualenv (python -m venv C:\\geo\\.venv, then "
            "C:\\geo\\.venv\\Scripts\\pip install geo-targets) and choose that folder here."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addStretch(1)

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "geo program", self.path.text())
        if path:
            self.path.setText(path)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Virtualenv with geo", self.path.text())
        if path:
            self.path.setText(path)

    def run_test(self) -> str:
        """Run ``geo --version`` with the page's values; show and return the answer."""
        self.result.setText("running geo --version…")
        text = test_text(str(self.mode.currentData()), self.path.text())
        self.result.setText(text)
        return text

    def apply(self) -> None:
        """Save the page (QGIS calls this on OK)."""
        save(str(self.mode.currentData()), self.path.text())


class GeoOptionsFactory(QgsOptionsWidgetFactory):
    """Registers :class:`GeoOptionsPage` in QGIS's Options dialog."""

    def __init__(self) -> None:
        super().__init__()
        self.setTitle("geo")

    def icon(self) -> QIcon:
        """Return the page's icon."""
        return icon()

    def createWidget(self, parent):
        """Return a new options page."""
        return GeoOptionsPage(parent)
