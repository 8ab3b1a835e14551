"""geo_targeting: a QGIS Processing provider that runs geo (satellite scenes to drill targets).

QGIS loads the plugin through :func:`classFactory`. geo itself is never imported into QGIS:
the algorithms run it as a child process (:mod:`.geo_process`), from QGIS's own Python when
geo is installed there, else from the program or virtualenv set in Settings > Options > geo.
"""


def classFactory(iface):
    """Return the plugin object for QGIS."""
    from .plugin import GeoTargetingPlugin

    return GeoTargetingPlugin(iface)
