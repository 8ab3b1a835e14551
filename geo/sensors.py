"""Band tables per sensor: role, band number, wavelengths, and product scaling rules.

Facts come from the USGS/GEE Landsat Collection 2 catalogue templates
(``LC08_C02_L2``, ``LC09_C02_L2``); see ``../shared/DOMAIN.md`` §1.1 and §1.5.
Roles are the names every stage uses: ``scene.sel(band="swir1")``, never "band 6".
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.errors import InvalidParameterError

__all__ = [
    "LANDSAT_C2_L2_REFLECTANCE_ADD",
    "LANDSAT_C2_L2_REFLECTANCE_MULT",
    "OLI_BANDS",
    "ROLES",
    "SENSORS",
    "BandInfo",
    "Sensor",
    "get_sensor",
]

#: Canonical reflective band roles, in wavelength order.
ROLES: tuple[str, ...] = ("coastal", "blue", "green", "red", "nir", "swir1", "swir2")


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

SENSORS: dict[str, Sensor] = {
    "landsat_oli": Sensor("landsat_oli", ("LANDSAT_8", "LANDSAT_9"), OLI_BANDS),
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
