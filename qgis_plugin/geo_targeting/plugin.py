"""The QGIS plugin: registers the ``geo`` Processing provider and the options page."""

from __future__ import annotations

from qgis.core import QgsApplication

from .provider import GeoProvider


class GeoTargetingPlugin:
    """Plugin object QGIS creates through :func:`classFactory`.

    Parameters
    ----------
    iface : QgisInterface or None
        QGIS's interface (None when the provider is used without the GUI).
    """

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: GeoProvider | None = None
        self.options_factory = None

    def initProcessing(self) -> None:
        """Register the provider (QGIS calls this for plugins with hasProcessingProvider=yes)."""
        if self.provider is None:
            self.provider = GeoProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        """Register the provider and the Settings > Options > geo page."""
        self.initProcessing()
        if self.iface is not None and self.options_factory is None:
            from .settings import GeoOptionsFactory

            self.options_factory = GeoOptionsFactory()
            self.iface.registerOptionsWidgetFactory(self.options_factory)

    def unload(self) -> None:
        """Remove the provider and the options page."""
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self.iface is not None and self.options_factory is not None:
            self.iface.unregisterOptionsWidgetFactory(self.options_factory)
            self.options_factory = None
