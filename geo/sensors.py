"""Band tables per sensor: role, band number, wavelengths, and product scaling rules.

Facts come from the USGS/GEE Landsat Collection 2 catalogue templates
(``LC08_C02_L2``, ``LC09_C02_L2``); see ``../shared/DOMAIN.md`` §1.1 and §1.5.
Roles are the names every stage uses: ``scene.sel(band="swir1")``, never "band 6".
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import InvalidParameterError

__all__ = [
    "ASTER_BANDS",
    "ETM_BANDS",
    "LANDSAT_C2_L2_REFLECTANCE_ADD",
    "LANDSAT_C2_L2_REFLECTANCE_MULT",
    "MSI_BANDS",
    "OLI_BANDS",
    "ROLES",
    "SENSORS",
    "TM_BANDS",
    "BandInfo",
    "Sensor",
    "get_sensor",
]

#: Canonical reflective band roles, in wavelength order. Broad bands shared by several sensors
#: keep one name (``red``, ``swir1``); the narrow ASTER SWIR bands are named by their centre
#: wavelength in nm, because no other sensor here has them.
ROLES: tuple[str, ...] = (
    "coastal",
    "blue",
    "green",
    "red",
    "rededge1",
    "rededge2",
    "rededge3",
    "nir",
    "nir_narrow",
    "water_vapour",
    "cirrus",
    "swir1",
    "swir2",
    "swir2165",
    "swir2205",
    "swir2260",
    "swir2330",
    "swir2395",
)


@dataclass(frozen=True)
class BandInfo:
    """One reflective band of a sensor.

    Attributes
    ----------
    role : str
        Canonical role name (``"red"``, ``"swir1"``...).
    number : str
        The sensor's own band number (``"4"``), as used in file names and the MTL.
    centre_um, low_um, high_um : float
        Centre wavelength and band edges in micrometres.
    gsd_m : float
        Ground sampling distance in metres.
    """

    role: str
    number: str
    centre_um: float
    low_um: float
    high_um: float
    gsd_m: float


@dataclass(frozen=True)
class Sensor:
    """A sensor's reflective band table."""

    name: str
    platforms: tuple[str, ...]
    bands: tuple[BandInfo, ...]

    @property
    def roles(self) -> tuple[str, ...]:
        """Band roles in the sensor's band order."""
        return tuple(b.role for b in self.bands)

    def band(self, role: str) -> BandInfo:
        """Return the :class:`BandInfo` for ``role``.

        Raises
        ------
        KeyError
            If the sensor has no band with that role.
        """
        for b in self.bands:
            if b.role == role:
                return b
        raise KeyError(f"sensor {self.name!r} has no band with role {role!r}; roles: {self.roles}")


# Landsat 8 OLI / Landsat 9 OLI-2 reflective bands [V GEE-L8L2]. Landsat 9 uses the same band set.
OLI_BANDS: tuple[BandInfo, ...] = (
    BandInfo("coastal", "1", 0.443, 0.435, 0.451, 30.0),
    BandInfo("blue", "2", 0.482, 0.452, 0.512, 30.0),
    BandInfo("green", "3", 0.562, 0.533, 0.590, 30.0),
    BandInfo("red", "4", 0.655, 0.636, 0.673, 30.0),
    BandInfo("nir", "5", 0.865, 0.851, 0.879, 30.0),
    BandInfo("swir1", "6", 1.609, 1.566, 1.651, 30.0),
    BandInfo("swir2", "7", 2.201, 2.107, 2.294, 30.0),
)

# Landsat 4/5 TM and Landsat 7 ETM+ reflective bands [V GEE-L7L2, spatialEco TM5]; DOMAIN.md §1.2.
TM_BANDS: tuple[BandInfo, ...] = (
    BandInfo("blue", "1", 0.485, 0.45, 0.52, 30.0),
    BandInfo("green", "2", 0.56, 0.52, 0.60, 30.0),
    BandInfo("red", "3", 0.66, 0.63, 0.69, 30.0),
    BandInfo("nir", "4", 0.83, 0.76, 0.90, 30.0),
    BandInfo("swir1", "5", 1.65, 1.55, 1.75, 30.0),
    BandInfo("swir2", "7", 2.215, 2.08, 2.35, 30.0),
)
ETM_BANDS: tuple[BandInfo, ...] = (
    BandInfo("blue", "1", 0.485, 0.45, 0.52, 30.0),
    BandInfo("green", "2", 0.56, 0.52, 0.60, 30.0),
    BandInfo("red", "3", 0.66, 0.63, 0.69, 30.0),
    BandInfo("nir", "4", 0.835, 0.77, 0.90, 30.0),
    BandInfo("swir1", "5", 1.65, 1.55, 1.75, 30.0),
    BandInfo("swir2", "7", 2.215, 2.08, 2.35, 30.0),
)

# Sentinel-2 MSI (S2A centres) [V GEE-S2SR; Major-TOM]; DOMAIN.md §1.3. Edges are approximate
# (centre ± half the nominal bandwidth). B10 exists in L1C only.
MSI_BANDS: tuple[BandInfo, ...] = (
    BandInfo("coastal", "01", 0.4439, 0.433, 0.453, 60.0),
    BandInfo("blue", "02", 0.4966, 0.458, 0.523, 10.0),
    BandInfo("green", "03", 0.560, 0.543, 0.578, 10.0),
    BandInfo("red", "04", 0.6645, 0.650, 0.680, 10.0),
    BandInfo("rededge1", "05", 0.7039, 0.698, 0.713, 20.0),
    BandInfo("rededge2", "06", 0.7402, 0.733, 0.748, 20.0),
    BandInfo("rededge3", "07", 0.7825, 0.773, 0.793, 20.0),
    BandInfo("nir", "08", 0.8351, 0.785, 0.900, 10.0),
    BandInfo("nir_narrow", "8A", 0.8648, 0.855, 0.875, 20.0),
    BandInfo("water_vapour", "09", 0.945, 0.935, 0.955, 60.0),
    BandInfo("cirrus", "10", 1.3735, 1.360, 1.390, 60.0),
    BandInfo("swir1", "11", 1.6137, 1.565, 1.655, 20.0),
    BandInfo("swir2", "12", 2.2024, 2.100, 2.280, 20.0),
)

# ASTER VNIR + SWIR [V GEE-AST; LP DAAC]; DOMAIN.md §1.4.
ASTER_BANDS: tuple[BandInfo, ...] = (
    BandInfo("green", "1", 0.56, 0.52, 0.60, 15.0),
    BandInfo("red", "2", 0.66, 0.63, 0.69, 15.0),
    BandInfo("nir", "3N", 0.82, 0.78, 0.86, 15.0),
    BandInfo("swir1", "4", 1.65, 1.60, 1.70, 30.0),
    BandInfo("swir2165", "5", 2.165, 2.145, 2.185, 30.0),
    BandInfo("swir2205", "6", 2.205, 2.185, 2.225, 30.0),
    BandInfo("swir2260", "7", 2.26, 2.235, 2.285, 30.0),
    BandInfo("swir2330", "8", 2.33, 2.295, 2.365, 30.0),
    BandInfo("swir2395", "9", 2.395, 2.36, 2.43, 30.0),
)

SENSORS: dict[str, Sensor] = {
    "landsat_oli": Sensor("landsat_oli", ("LANDSAT_8", "LANDSAT_9"), OLI_BANDS),
    "landsat_etm": Sensor("landsat_etm", ("LANDSAT_7",), ETM_BANDS),
    "landsat_tm": Sensor("landsat_tm", ("LANDSAT_4", "LANDSAT_5"), TM_BANDS),
    "sentinel2_msi": Sensor(
        "sentinel2_msi", ("Sentinel-2A", "Sentinel-2B", "Sentinel-2C"), MSI_BANDS
    ),
    "aster": Sensor("aster", ("TERRA",), ASTER_BANDS),
}

#: Collection 2 Level-2 surface reflectance scaling, the documented default [V GEE-L8L2].
#: The reader always takes the values from the MTL's LEVEL2 group; these are only
#: used to sanity-check them and to write synthetic products.
LANDSAT_C2_L2_REFLECTANCE_MULT = 2.75e-05
LANDSAT_C2_L2_REFLECTANCE_ADD = -0.2


def get_sensor(name: str) -> Sensor:
    """Return the band table of sensor ``name``.

    Raises
    ------
    InvalidParameterError
        If the sensor is unknown; the message lists the known ones.
    """
    try:
        return SENSORS[name]
    except KeyError:
        raise InvalidParameterError(
            f"Unknown sensor {name!r}; known sensors: {', '.join(sorted(SENSORS))}."
        ) from None
