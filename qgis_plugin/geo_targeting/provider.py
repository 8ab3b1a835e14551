"""The ``geo`` Processing provider: the algorithms in the toolbox, the modeler and qgis_process."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider

from . import settings
from .algorithms import ALGORITHMS


class GeoProvider(QgsProcessingProvider):
    """Provider ``geo``: Run pipeline, Re-rank a run, Export for the field, Scene info, Batch."""

    def id(self) -> str:
        """Return the provider id (algorithm ids are ``geo:<name>``)."""
        return "geo"

    def name(self) -> str:
        """Return the name shown in the toolbox."""
        return "geo"

    def longName(self) -> str:
        """Return the full name."""
        return "geo: satellite scenes to ranked, licence-aware drill targets"

    def icon(self):
        """Return geo's icon."""
        return settings.icon()

    def loadAlgorithms(self) -> None:
        """Add one instance of every algorithm."""
        for algorithm in ALGORITHMS:
            self.addAlgorithm(algorithm())
