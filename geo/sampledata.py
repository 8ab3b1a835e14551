"""Generate the bundled synthetic Landsat 8 Collection 2 Level-2 sample scene.

The tests and the training notebooks run on ``sample_rasters/``, which this module
writes. The scene is synthetic but honest: every pixel is a linear mixture of
laboratory spectra taken from ``geo/data/endmembers_landsat8_oli.csv`` (USGS
spectral-library records resampled to the OLI bands). Nothing is a hand-picked
pixel value. The mixture is then lit by a terrain illumination factor, covered
by one cloud and its shadow, given sensor noise and encoded exactly as USGS
encodes Collection 2 Level-2 surface reflectance (see ``../shared/DOMAIN.md``
§1.5).

What is in the scene, pixel units (row, col) on a 600 × 600 grid of 30 m pixels:

* planted alteration, mixed into the background at soft-edged abundances: a
  porphyry-like system (iron-oxide core, clay halo), an iron cap, an elongated
  argillic zone, a second iron cap outside every licence, and a clay zone hidden
  under the cloud;
* the traps a real scene has: a riparian vegetation strip, a dam, a cloud with
  a dilated-cloud ring, its shadow, two dark slopes that QA does not flag, a
  small cluster of saturated pixels and fill corners outside the WRS-2 frame.

The truth (one polygon per planted feature) and four licence polygons are written
beside the product, so every later stage can be scored against known answers.
"""

from __future__ import annotations

import functools
import logging
import math
import operator
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from pyproj import Transformer
from rasterio.features import shapes
from rasterio.transform import Affine
from scipy import ndimage
from shapely.geometry import Polygon, box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from geo.errors import InputNotFoundError, OutputExistsError, ProductError
from geo.io.readers.mtl import format_mtl_json, format_mtl_txt
from geo.sensors import LANDSAT_C2_L2_REFLECTANCE_ADD, LANDSAT_C2_L2_REFLECTANCE_MULT, OLI_BANDS

__all__ = [
    "ENDMEMBER_TABLE",
    "PRODUCT_ID",
    "QA_CIRRUS",
    "QA_CLEAR",
    "QA_CLOUD",
    "QA_CLOUD_SHADOW",
    "QA_DILATED_CLOUD",
    "QA_FILL",
    "QA_SNOW",
    "QA_WATER",
    "TYPICAL_QA_PIXEL",
    "load_endmembers",
    "make_landsat_sample",
    "qa_confidence",
    "reflectance_to_dn",
]

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Product and grid
# ---------------------------------------------------------------------------------------------

#: Landsat product identifier of the sample (L2SR: surface reflectance, no surface temperature).
PRODUCT_ID = "LC08_L2SR_171075_20230601_20230607_02_T1"
#: Package table of endmember reflectances at the OLI bands.
ENDMEMBER_TABLE = Path(__file__).parent / "data" / "endmembers_landsat8_oli.csv"

SHAPE = (600, 600)
PIXEL_SIZE = 30.0
CRS = "EPSG:32635"  # WGS 84 / UTM 35N; southern scenes keep north zones and negative northings
SCENE_CENTRE_LONLAT = (27.5, -21.5)  # eastern Botswana
ACQUIRED = datetime(2023, 6, 1, 8, 13, 52, 469000, tzinfo=UTC)
PROCESSED = "2023-06-07"
WRS_PATH, WRS_ROW = 171, 75

# Level-1 TOA reflectance rescaling (same key names as Level 2, different values: the MTL pitfall).
_L1_REFLECTANCE_MULT = 2.0e-05
_L1_REFLECTANCE_ADD = -0.1
# Approximate OLI exo-atmospheric solar irradiance per band, W m⁻² µm⁻¹ [U: commonly quoted
# values]; used only to give the Level-1 radiance rescaling plausible numbers.
_OLI_ESUN = {
    "1": 1895.33,
    "2": 2004.57,
    "3": 1820.75,
    "4": 1549.49,
    "5": 951.76,
    "6": 247.55,
    "7": 85.46,
}

FRAME_ROTATION_DEG = 12.0  # the WRS-2 frame is rotated against the north-up product grid
FRAME_HALF_SIZE_PX = 320.0  # half side of the valid frame; the image corners fall outside it

# ---------------------------------------------------------------------------------------------
# QA_PIXEL (CFMask) bits, DOMAIN.md §1.5
# ---------------------------------------------------------------------------------------------

QA_FILL = 1 << 0
QA_DILATED_CLOUD = 1 << 1
QA_CIRRUS = 1 << 2
QA_CLOUD = 1 << 3
QA_CLOUD_SHADOW = 1 << 4
QA_SNOW = 1 << 5
QA_CLEAR = 1 << 6
QA_WATER = 1 << 7

_LOW, _HIGH = 1, 3  # two-bit confidence levels (0 none, 1 low, 2 medium/reserved, 3 high)


def qa_confidence(
    *, cloud: int = _LOW, shadow: int = _LOW, snow: int = _LOW, cirrus: int = _LOW
) -> int:
    """Pack the four two-bit CFMask confidences into QA_PIXEL bits 8–15.

    Parameters
    ----------
    cloud, shadow, snow, cirrus : int
        Confidence 0 (none), 1 (low), 2 (medium) or 3 (high). USGS writes "low"
        rather than "none" for the classes it found nothing of.

    Returns
    -------
    int
        The confidence bits, to be OR-ed with the flag bits.

    Examples
    --------
    >>> qa_confidence(cloud=3) == (3 << 8) | (1 << 10) | (1 << 12) | (1 << 14)
    True
    """
    return cloud << 8 | shadow << 10 | snow << 12 | cirrus << 14


#: QA_PIXEL values USGS writes for the common cases, built from the bits above.
TYPICAL_QA_PIXEL: dict[str, int] = {
    "fill": QA_FILL,
    "clear_land": QA_CLEAR | qa_confidence(),
    "clear_water": QA_CLEAR | QA_WATER | qa_confidence(),
    "dilated_cloud": QA_DILATED_CLOUD | qa_confidence(),
    "cloud": QA_CLOUD | qa_confidence(cloud=_HIGH),
    "cloud_shadow": QA_CLEAR | QA_CLOUD_SHADOW | qa_confidence(shadow=_HIGH),
    "high_cirrus": QA_CLEAR | QA_CIRRUS | qa_confidence(cirrus=_HIGH),
}

# ---------------------------------------------------------------------------------------------
# Physical parameters of the simulation
# ---------------------------------------------------------------------------------------------

SENSOR_NOISE = 0.003  # reflectance, 1 sigma, independent per band and pixel
TERRAIN_ILLUMINATION = (0.85, 1.10)  # range of the gentle topographic illumination factor
ABUNDANCE_FOOTPRINT = 0.15  # truth polygons are drawn where a planted abundance reaches this
MOTTLING = 0.2  # relative amplitude of the patchiness inside planted zones and the river strip
EDGE_TEXTURE_PX = 2.0  # scale of the raggedness of every planted and trap outline
CLOUD_REFLECTANCE = (0.45, 0.60)  # spectrally flat cloud-top reflectance range
CLOUD_HEIGHT_M = 2000.0
CLOUD_MASK_OPACITY = 0.5  # CFMask-like: cloud where the cloud opacity reaches this
DILATED_CLOUD_PX = 3
SHADOW_TRANSMISSION = 0.25  # fraction of direct light left in the core of the cloud shadow
SCARP_SLOPE_DEG = 33.0  # steepest slope of the two dark scarps, facing away from the sun
SCARP_VARNISH_COVER = 0.6  # desert-varnished rock exposed on the steepest part of a scarp
SATURATION_REFLECTANCE = 1.0  # recorded value of a saturated band; the signal was higher
GLINT_REFLECTANCE = 1.2  # peak of the specular glint (metal roofs) over the quarry
WATER_MASK_FRACTION = 0.5  # QA water where open water covers at least this fraction
QUARRY_COVER = 0.9  # calcite cover on the quarry floor

#: Background (bare ground) endmembers and their mean share of the surface.
BACKGROUND_SHARES: dict[str, float] = {
    "sand": 0.30,
    "soil": 0.24,
    "playa_soil": 0.06,
    "desert_varnish": 0.12,
    "dry_vegetation": 0.16,
    "chlorite": 0.06,
    "calcite": 0.06,
}
BACKGROUND_CONTRAST = 0.6  # relative amplitude of each endmember's share
BACKGROUND_SCALES_PX = (2.0, 6.0, 20.0, 60.0)  # gaussian scales of the multi-scale fields
BACKGROUND_SCALE_WEIGHTS = (0.15, 0.2, 0.3, 0.35)

# ---------------------------------------------------------------------------------------------
# Scene layout (pixel coordinates: row from the top, col from the left)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ellipse:
    """An ellipse on the pixel grid.

    Attributes
    ----------
    row, col : float
        Centre, in pixels from the top-left corner of the image.
    semi_major, semi_minor : float
        Semi-axes in pixels.
    azimuth_deg : float
        Direction of the major axis, clockwise from north (as a geological strike).
    """

    row: float
    col: float
    semi_major: float
    semi_minor: float
    azimuth_deg: float = 0.0


@dataclass(frozen=True)
class Layer:
    """One planted material: a mineral mixture spread at a soft-edged abundance.

    Attributes
    ----------
    name : str
        Name of the truth row for this part (used when a zone has several layers).
    minerals : dict of str to float
        Endmember name → share in the planted material; the shares sum to 1.
    support : Ellipse
        The abundance falls to 0 at this rim.
    peak : float
        Abundance in the plateau at the centre.
    hole : Ellipse or None
        For a ring (a halo): the abundance inside this rim is removed again.
    """

    name: str
    minerals: dict[str, float]
    support: Ellipse
    peak: float
    hole: Ellipse | None = None


@dataclass(frozen=True)
class PlantedZone:
    """A planted alteration feature made of one or more layers.

    Attributes
    ----------
    name, kind : str
        Truth name and kind (``porphyry``, ``iron_cap``, ``argillic``).
    layers : tuple of Layer
        Mixed in order; each layer replaces a fraction of the surface below it.
    expect_target : bool
        Whether a correct pipeline should report this zone as a target.
    licence_no : str or None
        The licence the target should be joined to; None outside every licence.
    """

    name: str
    kind: str
    layers: tuple[Layer, ...]
    expect_target: bool
    licence_no: str | None


@dataclass(frozen=True)
class Licence:
    """A licence polygon given by its outline on the pixel grid, plus its attributes."""

    licence_no: str
    holder_name: str
    status: str
    expiry: str
    commodity: str
    outline: tuple[tuple[float, float], ...]  # (row, col) vertices


_IRON_CORE = {"hematite": 0.45, "goethite": 0.35, "jarosite": 0.20}
_CLAY_HALO = {"kaolinite": 0.45, "muscovite": 0.30, "alunite": 0.15, "goethite": 0.10}
_GOSSAN = {"goethite": 0.60, "hematite": 0.40}
_ADVANCED_ARGILLIC = {"kaolinite": 0.60, "alunite": 0.40}

PLANTED_ZONES: tuple[PlantedZone, ...] = (
    PlantedZone(
        "porphyry",
        "porphyry",
        (
            Layer(
                "porphyry_halo",
                _CLAY_HALO,
                Ellipse(200, 400, 31, 28, 60),
                0.65,
                hole=Ellipse(200, 400, 14, 13, 60),
            ),
            Layer("porphyry_core", _IRON_CORE, Ellipse(200, 400, 14, 13, 60), 0.68),
        ),
        expect_target=True,
        licence_no="PL 012/2021",
    ),
    PlantedZone(
        "iron_cap",
        "iron_cap",
        (Layer("iron_cap", _GOSSAN, Ellipse(450, 170, 12, 10, 150), 0.55),),
        expect_target=True,
        licence_no="PL 087/2019",
    ),
    PlantedZone(
        "argillic",
        "argillic",
        (Layer("argillic", _ADVANCED_ARGILLIC, Ellipse(450, 420, 30, 11, 55), 0.55),),
        expect_target=True,
        licence_no="PL 013/2021",
    ),
    PlantedZone(
        "iron_cap_outside",
        "iron_cap",
        (Layer("iron_cap_outside", _GOSSAN, Ellipse(300, 95, 11, 10, 20), 0.50),),
        expect_target=True,
        licence_no=None,
    ),
    PlantedZone(
        "hidden_argillic",
        "argillic",
        (Layer("hidden_argillic", _ADVANCED_ARGILLIC, Ellipse(110, 205, 12, 9, 100), 0.60),),
        expect_target=False,
        licence_no=None,
    ),
)

CLOUD = Ellipse(110, 205, 40, 32, 75)
WATER = Ellipse(335, 548, 17, 11, 120)
QUARRY = Ellipse(545, 300, 6, 5, 30)  # calcite quarry; the glint sits on it
GLINT_CENTRE = (544.6, 300.3)  # (row, col), off the pixel centre so the cluster is not symmetric
GLINT_SIGMA_PX = 1.2
# Scarps strike perpendicular to the sun azimuth (≈34°) and face away from the sun.
DARK_SLOPES: dict[str, Ellipse] = {
    "dark_slope_north": Ellipse(70, 335, 26, 8, 124),
    "dark_slope_south": Ellipse(350, 265, 24, 8, 124),
}
RIVER_ENDS = ((-5.0, 400.0), (330.0, 540.0))  # (row, col): from the top edge into the dam
RIVER_MEANDERS = (2.5, 14.0)  # number of meander wavelengths, amplitude in pixels
RIVER_HALF_WIDTH_PX = 6.0
RIVER_COVER = 0.8  # green-vegetation cover along the channel

_SHARED_BOUNDARY = ((292, 322), (300, 380), (296, 430), (304, 470), (298, 505))

LICENCES: tuple[Licence, ...] = (
    Licence(
        "PL 012/2021",
        "Example Copper (Pty) Ltd",
        "granted",
        "2026-03-31",
        "Cu, Au, Mo",
        (
            (230, 318),
            (150, 335),
            (128, 392),
            (140, 462),
            (185, 500),
            (250, 514),
            *reversed(_SHARED_BOUNDARY),
        ),
    ),
    Licence(
        "PL 013/2021",
        "Example Base Metals (Pty) Ltd",
        "granted",
        "2026-06-30",
        "Cu, Au",
        (
            *_SHARED_BOUNDARY,
            (360, 512),
            (430, 500),
            (510, 486),
            (532, 400),
            (505, 338),
            (420, 318),
            (350, 332),
        ),
    ),
    Licence(
        "PL 087/2019",
        "Example Gold (Pty) Ltd",
        "pending",
        "2027-09-30",
        "Au",
        ((385, 105), (380, 200), (410, 248), (490, 252), (522, 210), (515, 128), (470, 92)),
    ),
    Licence(
        "PL 044/2017",
        "Example Holdings (Pty) Ltd",
        "expired",
        "2022-11-30",
        "Cu, Ni",
        ((45, 140), (38, 272), (95, 292), (178, 276), (188, 182), (140, 126)),
    ),
)


@dataclass(frozen=True)
class Structure:
    """A mapped fault or lineament, given by its trace on the pixel grid."""

    name: str
    kind: str
    trace: tuple[tuple[float, float], ...]  # (row, col) vertices


#: Faults as a geological map would show them. The planted systems sit where a geologist
#: would expect them: the porphyry at the crossing of the NW-trending Lesedi fault and the
#: N-S Tau fault, the iron cap and the argillic zone on those faults, the hidden argillic zone
#: on the NE-striking Kgama fault. Two faults carry no alteration at all (most faults don't).
STRUCTURES: tuple[Structure, ...] = (
    Structure(
        "Lesedi fault",
        "fault",
        ((15, 575), (120, 480), (205, 398), (330, 285), (470, 155), (590, 45)),
    ),
    Structure(
        "Tau fault", "fault", ((0, 386), (120, 392), (205, 402), (330, 412), (455, 421), (600, 430))
    ),
    Structure("Kgama fault", "fault", ((0, 268), (105, 208), (200, 152), (300, 96), (420, 28))),
    Structure("Phiri fault", "fault", ((520, 0), (522, 120), (525, 250))),
    Structure("Noka lineament", "lineament", ((380, 599), (470, 540), (599, 505))),
)


@dataclass(frozen=True)
class Occurrence:
    """A known mineral occurrence as a survey database lists it."""

    name: str
    commodity: str
    kind: str
    cell: tuple[float, float]  # (row, col)


#: Known occurrences: showings in four of the planted systems, one under the cloud, and
#: three that no imagery can see (old workings on faults, a placer in the river), as in a
#: real database. Evaluation uses them; nothing in the scene was made from them.
OCCURRENCES: tuple[Occurrence, ...] = (
    Occurrence("Lesedi Cu showing", "Cu", "showing", (196, 404)),
    Occurrence("Lesedi South Cu-Mo", "Cu, Mo", "prospect", (214, 391)),
    Occurrence("Mmutla gossan", "Au", "showing", (452, 168)),
    Occurrence("Tau kaolin pit", "kaolin", "working", (446, 418)),
    Occurrence("Kgama Au", "Au", "showing", (112, 204)),
    Occurrence("Phiri old workings", "Au", "working", (523, 95)),
    Occurrence("Kgama South Cu", "Cu", "showing", (262, 118)),
    Occurrence("Noka alluvial Au", "Au", "placer", (250, 470)),
)


def _structures(transform: Affine) -> gpd.GeoDataFrame:
    """Fault traces in EPSG:32735 (UTM 35 South: the national grid, not the scene CRS)."""
    from shapely.geometry import LineString

    rows = [
        {
            "name": st.name,
            "kind": st.kind,
            "geometry": LineString([transform @ (col, row) for row, col in st.trace]),
        }
        for st in STRUCTURES
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS).to_crs("EPSG:32735")


def _occurrences(transform: Affine) -> gpd.GeoDataFrame:
    """Known occurrences as points in EPSG:4326, at pixel centres."""
    from shapely.geometry import Point

    rows = [
        {
            "name": o.name,
            "commodity": o.commodity,
            "type": o.kind,
            "geometry": Point(transform @ (o.cell[1] + 0.5, o.cell[0] + 0.5)),
        }
        for o in OCCURRENCES
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS).to_crs("EPSG:4326")


_REQUIRED_ENDMEMBERS = tuple(
    dict.fromkeys(
        [
            *BACKGROUND_SHARES,
            *(m for zone in PLANTED_ZONES for layer in zone.layers for m in layer.minerals),
            "green_vegetation",
            "seawater",
            "calcite",
        ]
    )
)

# ---------------------------------------------------------------------------------------------
# Public helpers
# ---------------------------------------------------------------------------------------------


def load_endmembers(path: Path = ENDMEMBER_TABLE) -> pd.DataFrame:
    """Read the endmember table and check it has every spectrum the sample uses.

    Parameters
    ----------
    path : Path
        CSV with ``#`` comment lines, then columns ``name, group, record, library``
        and one reflectance column (0–1) per OLI band role (``coastal`` … ``swir2``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``name``, one float64 column per band role in band order.

    Raises
    ------
    InputNotFoundError
        If the file does not exist.
    ProductError
        If a band column or an endmember the sample needs is missing, or a value
        is not a reflectance in [0, 1].
    """
    if not path.is_file():
        raise InputNotFoundError(
            f"Endmember table {path} does not exist; the sample scene is "
            "mixed from it. Reinstall geo or restore geo/data/."
        )
    table = pd.read_csv(path, comment="#")
    roles = [band.role for band in OLI_BANDS]
    missing_cols = [c for c in ["name", *roles] if c not in table.columns]
    if missing_cols:
        raise ProductError(
            f"{path}: column(s) {missing_cols} missing; expected name and the "
            f"band roles {roles}. Found columns {list(table.columns)}."
        )
    spectra = table.set_index("name")[roles].astype("float64")
    missing = [name for name in _REQUIRED_ENDMEMBERS if name not in spectra.index]
    if missing:
        raise ProductError(
            f"{path}: endmember row(s) {missing} missing; the sample scene needs "
            f"{list(_REQUIRED_ENDMEMBERS)}. Rows present: {list(spectra.index)}."
        )
    needed = spectra.loc[list(_REQUIRED_ENDMEMBERS)]
    values = needed.to_numpy(dtype="float64")
    if not np.isfinite(values).all() or not ((values >= 0) & (values <= 1)).all():
        raise ProductError(
            f"{path}: every reflectance the sample uses must be a number in "
            "[0, 1]; check the rows " + ", ".join(_REQUIRED_ENDMEMBERS) + "."
        )
    return needed


def reflectance_to_dn(reflectance: np.ndarray) -> np.ndarray:
    """Encode surface reflectance as Collection 2 Level-2 digital numbers.

    Parameters
    ----------
    reflectance : numpy.ndarray
        Reflectance (unitless); NaN marks fill.

    Returns
    -------
    numpy.ndarray
        uint16 DN = round((ρ − ADD) / MULT) clipped to 1–65455; fill is 0.

    Examples
    --------
    >>> reflectance_to_dn(np.array([0.0, 1.0, np.nan, -1.0]))
    array([ 7273, 43636,     0,     1], dtype=uint16)
    """
    dn = np.rint((reflectance - LANDSAT_C2_L2_REFLECTANCE_ADD) / LANDSAT_C2_L2_REFLECTANCE_MULT)
    dn = np.clip(dn, 1, 65455)
    return np.where(np.isnan(reflectance), 0, dn).astype(np.uint16)


# ---------------------------------------------------------------------------------------------
# Geometry and fields
# ---------------------------------------------------------------------------------------------


def _solar_position(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Sun azimuth (clockwise from north) and elevation in degrees (NOAA approximation)."""
    day = when.timetuple().tm_yday
    hours = when.hour + when.minute / 60 + when.second / 3600
    g = 2 * math.pi / 365 * (day - 1 + (hours - 12) / 24)
    eq_time = 229.18 * (
        0.000075
        + 0.001868 * math.cos(g)
        - 0.032077 * math.sin(g)
        - 0.014615 * math.cos(2 * g)
        - 0.040849 * math.sin(2 * g)
    )
    decl = (
        0.006918
        - 0.399912 * math.cos(g)
        + 0.070257 * math.sin(g)
        - 0.006758 * math.cos(2 * g)
        + 0.000907 * math.sin(2 * g)
        - 0.002697 * math.cos(3 * g)
        + 0.00148 * math.sin(3 * g)
    )
    hour_angle = math.radians((hours * 60 + eq_time + 4 * lon) / 4 - 180)
    phi = math.radians(lat)
    cos_zenith = math.sin(phi) * math.sin(decl) + math.cos(phi) * math.cos(decl) * math.cos(
        hour_angle
    )
    elevation = 90 - math.degrees(math.acos(cos_zenith))
    azimuth = (
        math.degrees(
            math.atan2(
                math.sin(hour_angle),
                math.cos(hour_angle) * math.sin(phi) - math.tan(decl) * math.cos(phi),
            )
        )
        + 180
    )
    return azimuth % 360, elevation


def _earth_sun_distance(when: datetime) -> float:
    """Earth–sun distance in astronomical units (DOMAIN.md §1.5)."""
    day = when.timetuple().tm_yday
    return 1 - 0.01672 * math.cos(math.radians(0.9856 * (day - 4)))


def _grid_transform() -> Affine:
    """North-up 30 m grid centred on the scene centre, snapped like USGS grids.

    Pixel centres fall on multiples of 30 m, so the outer edges (the GeoTIFF
    origin) sit on multiples of 30 m plus 15 m.
    """
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(*SCENE_CENTRE_LONLAT)
    rows, cols = SHAPE
    left = round((x - cols / 2 * PIXEL_SIZE) / PIXEL_SIZE) * PIXEL_SIZE - PIXEL_SIZE / 2
    top = round((y + rows / 2 * PIXEL_SIZE) / PIXEL_SIZE) * PIXEL_SIZE + PIXEL_SIZE / 2
    return Affine(PIXEL_SIZE, 0.0, left, 0.0, -PIXEL_SIZE, top)


def _pixel_grid() -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.indices(SHAPE, dtype=np.float64)
    return rows, cols


def _smooth_field(
    rng: np.random.Generator, scales: tuple[float, ...], weights: tuple[float, ...]
) -> np.ndarray:
    """Multi-scale gaussian-filtered noise with zero mean and unit standard deviation."""
    noise_ft = np.fft.rfft2(rng.standard_normal(SHAPE))
    field = np.zeros(SHAPE)
    for sigma, weight in zip(scales, weights, strict=True):
        part = np.fft.irfft2(ndimage.fourier_gaussian(noise_ft, sigma, n=SHAPE[1]), s=SHAPE)
        field += weight * (part - part.mean()) / part.std()
    return (field - field.mean()) / field.std()


def _ellipse_distance(ellipse: Ellipse, rng: np.random.Generator, roughness: float) -> np.ndarray:
    """Normalised distance from the ellipse centre: 1 on a rim made irregular by ``roughness``.

    The rim radius is modulated by a few angular harmonics with random phases and
    amplitudes up to ``roughness``, and the distance by fine-scale noise of the same
    relative amplitude, so shapes are lobate with ragged edges but solid centres.
    """
    rows, cols = _pixel_grid()
    az = math.radians(ellipse.azimuth_deg)
    d_row, d_col = rows - ellipse.row, cols - ellipse.col
    along = (d_col * math.sin(az) - d_row * math.cos(az)) / ellipse.semi_major
    across = (d_col * math.cos(az) + d_row * math.sin(az)) / ellipse.semi_minor
    theta = np.arctan2(across, along)
    rim = np.ones(SHAPE)
    for harmonic in (2, 3, 4, 5):
        amplitude = roughness * rng.uniform(0.3, 1.0) / (harmonic - 1)
        rim += amplitude * np.cos(harmonic * theta + rng.uniform(0, 2 * math.pi))
    ragged = 1 + roughness * _smooth_field(rng, (EDGE_TEXTURE_PX,), (1.0,))
    return np.hypot(along, across) / rim * ragged


def _taper(distance: np.ndarray, plateau: float) -> np.ndarray:
    """1 inside ``plateau``, 0 beyond 1, smoothstep in between."""
    t = np.clip((1 - distance) / (1 - plateau), 0, 1)
    return t * t * (3 - 2 * t)


def _footprint(mask: np.ndarray, transform: Affine) -> BaseGeometry:
    """(Multi)polygon in map coordinates covering exactly the pixels in ``mask``."""
    pixels = mask.astype(np.uint8)
    return unary_union([shape(geom) for geom, _ in shapes(pixels, mask=mask, transform=transform)])


# ---------------------------------------------------------------------------------------------
# Surface, illumination, atmosphere
# ---------------------------------------------------------------------------------------------


def _spectrum(endmembers: pd.DataFrame, shares: Mapping[str, float]) -> np.ndarray:
    """Reflectance of a linear mixture given as endmember → share."""
    parts = (share * endmembers.loc[name].to_numpy() for name, share in shares.items())
    return functools.reduce(operator.add, parts)


def _mix(surface: np.ndarray, abundance: np.ndarray, spectrum: np.ndarray) -> np.ndarray:
    """Replace the fraction ``abundance`` of each pixel's surface by a material."""
    return surface * (1 - abundance) + abundance * spectrum[:, None, None]


def _background(rng: np.random.Generator, endmembers: pd.DataFrame) -> np.ndarray:
    """Bare ground: endmember abundances driven by smooth random fields, summing to 1.

    Each endmember's weight is its mean share times ``1 + contrast · tanh(field)``,
    so it stays within ``(1 ± contrast)`` of the share: varied, but without the
    long tails that would make the background itself look like alteration.
    """
    weights = {
        name: share
        * (
            1
            + BACKGROUND_CONTRAST
            * np.tanh(_smooth_field(rng, BACKGROUND_SCALES_PX, BACKGROUND_SCALE_WEIGHTS))
        )
        for name, share in BACKGROUND_SHARES.items()
    }
    total = sum(weights.values())
    surface = np.zeros((len(OLI_BANDS), *SHAPE))
    for name, weight in weights.items():
        surface += (weight / total) * endmembers.loc[name].to_numpy()[:, None, None]
    return surface


def _layer_abundance(layer: Layer, rng: np.random.Generator) -> np.ndarray:
    """Soft-edged abundance of one planted layer, mottled inside."""
    cover = _taper(_ellipse_distance(layer.support, rng, roughness=0.10), plateau=0.55)
    if layer.hole is not None:
        cover -= _taper(_ellipse_distance(layer.hole, rng, roughness=0.10), plateau=0.5)
    patchiness = 1 + MOTTLING * _smooth_field(rng, (2.0, 6.0), (0.5, 0.5))
    return np.clip(layer.peak * cover * patchiness, 0, 1)


def _river_abundance(rng: np.random.Generator) -> np.ndarray:
    """Green-vegetation cover of a riparian strip along a meandering channel."""
    (r0, c0), (r1, c1) = RIVER_ENDS
    waves, amplitude = RIVER_MEANDERS
    t = np.linspace(0, 1, 4000)
    phase = rng.uniform(0, 2 * math.pi)
    length = math.hypot(r1 - r0, c1 - c0)
    normal = ((c1 - c0) / length, -(r1 - r0) / length)  # (row, col) unit normal to the valley
    wiggle = amplitude * np.sin(2 * math.pi * waves * t + phase) * np.sin(math.pi * t)
    line_rows = r0 + t * (r1 - r0) + wiggle * normal[0]
    line_cols = c0 + t * (c1 - c0) + wiggle * normal[1]
    channel = np.ones(SHAPE, dtype=bool)
    inside = (
        (line_rows >= 0)
        & (line_rows < SHAPE[0] - 0.5)
        & (line_cols >= 0)
        & (line_cols < SHAPE[1] - 0.5)
    )
    channel[np.rint(line_rows[inside]).astype(int), np.rint(line_cols[inside]).astype(int)] = False
    distance = ndimage.distance_transform_edt(channel) / RIVER_HALF_WIDTH_PX
    ragged = 0.2 * _smooth_field(rng, (EDGE_TEXTURE_PX,), (1.0,))
    density = 1 + MOTTLING * np.tanh(_smooth_field(rng, (3.0, 10.0), (0.5, 0.5)))
    return np.clip(RIVER_COVER * _taper(distance + ragged, plateau=0.4) * density, 0, 1)


def _terrain_illumination(
    rng: np.random.Generator, sun_azimuth: float, sun_elevation: float
) -> np.ndarray:
    """Gentle hillshade of a smooth random terrain, scaled to TERRAIN_ILLUMINATION."""
    dem = 40.0 * _smooth_field(rng, (15.0, 50.0), (0.4, 0.6))
    dz_drow, dz_dcol = np.gradient(dem, PIXEL_SIZE)
    normal_east, normal_north = -dz_dcol, dz_drow  # rows run south
    az, el = math.radians(sun_azimuth), math.radians(sun_elevation)
    cos_incidence = (
        normal_east * math.sin(az) * math.cos(el)
        + normal_north * math.cos(az) * math.cos(el)
        + math.sin(el)
    ) / np.sqrt(normal_east**2 + normal_north**2 + 1)
    low, high = TERRAIN_ILLUMINATION
    span = cos_incidence.max() - cos_incidence.min()
    return low + (high - low) * (cos_incidence - cos_incidence.min()) / span


def _scarp_illumination(slope_deg: np.ndarray, sun_elevation: float) -> np.ndarray:
    """Illumination of a slope facing directly away from the sun, relative to flat ground."""
    slope, el = np.radians(slope_deg), math.radians(sun_elevation)
    return np.clip(np.cos(slope) - np.sin(slope) / math.tan(el), 0, None)


def _valid_frame() -> np.ndarray:
    """Mark the pixels inside the rotated WRS-2 frame; the image corners outside it are fill."""
    rows, cols = _pixel_grid()
    y = (SHAPE[0] - 1) / 2 - rows
    x = cols - (SHAPE[1] - 1) / 2
    angle = math.radians(FRAME_ROTATION_DEG)
    u = x * math.cos(angle) + y * math.sin(angle)
    v = -x * math.sin(angle) + y * math.cos(angle)
    return (np.abs(u) <= FRAME_HALF_SIZE_PX) & (np.abs(v) <= FRAME_HALF_SIZE_PX)


# ---------------------------------------------------------------------------------------------
# The scene
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scene:
    """Everything the writers need: arrays, tables and metadata of one simulation."""

    dn: np.ndarray  # (band, row, col) uint16
    qa_pixel: np.ndarray
    qa_radsat: np.ndarray
    transform: Affine
    truth: gpd.GeoDataFrame
    licences: gpd.GeoDataFrame
    sun_azimuth: float
    sun_elevation: float
    cloud_cover: float
    cloud_cover_land: float


def _truth_row(
    name: str,
    kind: str,
    mask: np.ndarray,
    minerals: Iterable[str] = (),
    expect_target: bool = False,
    licence_no: str | None = None,
) -> dict[str, Any]:
    """Make one row of the truth layer; ``mask`` becomes its footprint polygon later."""
    return {
        "name": name,
        "kind": kind,
        "minerals": ",".join(minerals) or None,
        "expect_target": expect_target,
        "licence_no": licence_no,
        "mask": mask,
    }


def _plant_alteration(
    surface: np.ndarray, rng: np.random.Generator, endmembers: pd.DataFrame
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Mix every planted zone into the surface; one truth row per zone (and per part)."""
    rows = []
    for zone in PLANTED_ZONES:
        total = np.zeros(SHAPE)
        parts = []
        for layer in zone.layers:
            abundance = _layer_abundance(layer, rng)
            surface = _mix(surface, abundance, _spectrum(endmembers, layer.minerals))
            total += abundance
            parts.append(
                _truth_row(layer.name, layer.name, abundance >= ABUNDANCE_FOOTPRINT, layer.minerals)
            )
        minerals = dict.fromkeys(m for layer in zone.layers for m in layer.minerals)
        rows.append(
            _truth_row(
                zone.name,
                zone.kind,
                total >= ABUNDANCE_FOOTPRINT,
                minerals,
                zone.expect_target,
                zone.licence_no,
            )
        )
        if len(parts) > 1:
            rows += parts
    return surface, rows


def _add_ground_cover(
    surface: np.ndarray, rng: np.random.Generator, endmembers: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Mix in the riparian strip, the dam and the calcite quarry; return the water cover too."""
    vegetation = _river_abundance(rng)
    surface = _mix(surface, vegetation, endmembers.loc["green_vegetation"].to_numpy())
    water = _taper(_ellipse_distance(WATER, rng, roughness=0.15), plateau=0.8)
    surface = _mix(surface, water, endmembers.loc["seawater"].to_numpy())
    quarry = QUARRY_COVER * _taper(_ellipse_distance(QUARRY, rng, roughness=0.1), plateau=0.5)
    surface = _mix(surface, quarry, endmembers.loc["calcite"].to_numpy())
    rows = [
        _truth_row(
            "riparian_vegetation",
            "vegetation",
            vegetation * (1 - water) >= ABUNDANCE_FOOTPRINT,  # the dam drowns the river's end
            ["green_vegetation"],
        ),
        _truth_row("dam", "water", water >= WATER_MASK_FRACTION, ["seawater"]),
    ]
    return surface, water, rows


def _add_scarps(
    surface: np.ndarray,
    rng: np.random.Generator,
    endmembers: pd.DataFrame,
    sun_elevation: float,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Expose varnished rock on two steep scarps; return their illumination factor too.

    The scarps face directly away from the sun, so QA does not flag them but they
    receive only a small fraction of the light that flat ground gets.
    """
    illumination = np.ones(SHAPE)
    rows = []
    for name, scarp in DARK_SLOPES.items():
        steepness = _taper(_ellipse_distance(scarp, rng, roughness=0.08), plateau=0.5)
        varnish = SCARP_VARNISH_COVER * steepness
        surface = _mix(surface, varnish, endmembers.loc["desert_varnish"].to_numpy())
        illumination *= _scarp_illumination(SCARP_SLOPE_DEG * steepness, sun_elevation)
        rows.append(_truth_row(name, "dark_slope", steepness >= 0.9, ["desert_varnish"]))
    return surface, illumination, rows


def _add_cloud(
    surface: np.ndarray, rng: np.random.Generator, sun_azimuth: float, sun_elevation: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shade the cloud's shadow, then cover with the cloud; return the two opacities too.

    The shadow is the cloud's opacity moved away from the sun by the cloud height
    over the tangent of the sun elevation.
    """
    cloud = _taper(_ellipse_distance(CLOUD, rng, roughness=0.18), plateau=0.45)
    shift = CLOUD_HEIGHT_M / math.tan(math.radians(sun_elevation)) / PIXEL_SIZE
    az = math.radians(sun_azimuth)
    offset = (shift * math.cos(az), -shift * math.sin(az))  # (rows south, cols east)
    shadow = ndimage.shift(cloud, offset, order=1, mode="constant", cval=0.0)
    surface = surface * (1 - (1 - SHADOW_TRANSMISSION) * shadow)
    texture = _smooth_field(rng, (4.0,), (1.0,))
    low, high = CLOUD_REFLECTANCE
    cloud_top = low + (high - low) * (texture - texture.min()) / (texture.max() - texture.min())
    return surface * (1 - cloud) + cloud * cloud_top, cloud, shadow


def _sense(
    surface: np.ndarray, rng: np.random.Generator, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Add the quarry glint and sensor noise, clip saturated bands; return QA_RADSAT too."""
    rows, cols = _pixel_grid()
    distance2 = (rows - GLINT_CENTRE[0]) ** 2 + (cols - GLINT_CENTRE[1]) ** 2
    surface = surface + GLINT_REFLECTANCE * np.exp(-distance2 / (2 * GLINT_SIGMA_PX**2))
    surface = surface + rng.normal(0.0, SENSOR_NOISE, surface.shape)
    qa_radsat = np.zeros(SHAPE, dtype=np.uint16)
    for bit, band in enumerate(surface):
        qa_radsat[(band >= SATURATION_REFLECTANCE) & valid] |= 1 << bit
    return np.minimum(surface, SATURATION_REFLECTANCE), qa_radsat


def _qa_pixel(
    valid: np.ndarray, cloud: np.ndarray, shadow: np.ndarray, water: np.ndarray
) -> np.ndarray:
    """Encode the CFMask-like classes as QA_PIXEL values, later classes winning."""
    cloud_mask = cloud >= CLOUD_MASK_OPACITY
    cross = ndimage.generate_binary_structure(2, 1)
    dilated = ndimage.binary_dilation(cloud_mask, cross, iterations=DILATED_CLOUD_PX)
    qa = np.full(SHAPE, TYPICAL_QA_PIXEL["clear_land"], dtype=np.uint16)
    qa[water >= WATER_MASK_FRACTION] = TYPICAL_QA_PIXEL["clear_water"]
    qa[shadow >= CLOUD_MASK_OPACITY] = TYPICAL_QA_PIXEL["cloud_shadow"]
    qa[dilated] = TYPICAL_QA_PIXEL["dilated_cloud"]
    qa[cloud_mask] = TYPICAL_QA_PIXEL["cloud"]
    qa[~valid] = TYPICAL_QA_PIXEL["fill"]
    return qa


def _simulate(seed: int, endmembers: pd.DataFrame) -> _Scene:
    """Build the scene in memory; every random draw comes from ``seed`` in a fixed order."""
    rng = np.random.default_rng(seed)
    transform = _grid_transform()
    sun_azimuth, sun_elevation = _solar_position(ACQUIRED, *SCENE_CENTRE_LONLAT)
    valid = _valid_frame()

    surface = _background(rng, endmembers)
    surface, truth = _plant_alteration(surface, rng, endmembers)
    surface, water, cover_rows = _add_ground_cover(surface, rng, endmembers)
    surface, scarp_light, slope_rows = _add_scarps(surface, rng, endmembers, sun_elevation)
    surface *= scarp_light * _terrain_illumination(rng, sun_azimuth, sun_elevation)
    surface, cloud, shadow = _add_cloud(surface, rng, sun_azimuth, sun_elevation)
    surface, qa_radsat = _sense(surface, rng, valid)
    qa = _qa_pixel(valid, cloud, shadow, water)

    truth += cover_rows + slope_rows
    truth += [
        _truth_row("quarry_glint", "saturated", qa_radsat > 0, ["calcite"]),
        _truth_row("cloud", "cloud", (qa & QA_CLOUD) > 0),
        _truth_row("cloud_shadow", "cloud_shadow", (qa & QA_CLOUD_SHADOW) > 0),
    ]
    for row in truth:
        row["geometry"] = _footprint(row.pop("mask"), transform)

    cloudy = (qa & QA_CLOUD) > 0
    land = valid & ((qa & QA_WATER) == 0)
    return _Scene(
        dn=reflectance_to_dn(np.where(valid, surface, np.nan)),
        qa_pixel=qa,
        qa_radsat=qa_radsat,
        transform=transform,
        truth=gpd.GeoDataFrame(truth, geometry="geometry", crs=CRS),
        licences=_licences(transform),
        sun_azimuth=sun_azimuth,
        sun_elevation=sun_elevation,
        cloud_cover=round(float(100 * cloudy.sum() / valid.sum()), 2),
        cloud_cover_land=round(float(100 * (cloudy & land).sum() / land.sum()), 2),
    )


def _licences(transform: Affine) -> gpd.GeoDataFrame:
    """Build the licence polygons on the scene grid and return them in EPSG:4326."""
    rows = []
    for licence in LICENCES:
        outline = [transform @ (col, row) for row, col in licence.outline]
        rows.append(
            {
                "licence_no": licence.licence_no,
                "holder_name": licence.holder_name,
                "status": licence.status,
                "expiry": licence.expiry,
                "commodity": licence.commodity,
                "geometry": Polygon(outline),
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS).to_crs("EPSG:4326")


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it into place only if the block succeeds."""
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_geotiff(
    path: Path, array: np.ndarray, transform: Affine, description: str, nodata: int | None
) -> None:
    profile = {
        "driver": "GTiff",
        "height": array.shape[0],
        "width": array.shape[1],
        "count": 1,
        "dtype": "uint16",
        "crs": CRS,
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 2,
    }
    with _atomic(path) as tmp:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(array, 1)
            dst.set_band_description(1, description)


def _write_text(path: Path, text: str) -> None:
    with _atomic(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


#: Training polygons for the classifier lessons: interiors of some planted zones and bare
#: background patches, so the other planted zones stay out of training and test the model.
TRAINING_SOURCES = {"iron_oxide": "porphyry_core", "aloh_clay": "argillic"}
TRAINING_SHRINK_M = 60.0  # two pixels inside the planted footprint: no mixed edge pixels
BACKGROUND_PATCHES = 8
BACKGROUND_HALF_M = 120.0  # 8 x 8 pixel squares
BACKGROUND_CLEARANCE_M = 300.0  # away from every planted feature and trap


def _training_polygons(scene: _Scene, seed: int) -> gpd.GeoDataFrame:
    """Class polygons in EPSG:4326 (as field teams record them): iron oxide, AlOH clay, background."""
    truth = scene.truth.set_index("name")
    rows = [
        {"class": cls, "source": name, "geometry": truth.geometry[name].buffer(-TRAINING_SHRINK_M)}
        for cls, name in TRAINING_SOURCES.items()
    ]
    frame = _valid_frame()
    occupied = scene.truth.geometry.union_all().buffer(BACKGROUND_CLEARANCE_M)
    rng = np.random.default_rng(seed + 7)
    candidates = [
        (r, c) for r in range(40, SHAPE[0] - 40, 20) for c in range(40, SHAPE[1] - 40, 20)
    ]
    chosen = 0
    for i in rng.permutation(len(candidates)):
        r, c = candidates[i]
        x, y = scene.transform * (c + 0.5, r + 0.5)
        square = box(
            x - BACKGROUND_HALF_M,
            y - BACKGROUND_HALF_M,
            x + BACKGROUND_HALF_M,
            y + BACKGROUND_HALF_M,
        )
        if not frame[r - 5 : r + 5, c - 5 : c + 5].all() or square.intersects(occupied):
            continue
        rows.append(
            {
                "class": "background",
                "source": f"bare ground at row {r}, col {c}",
                "geometry": square,
            }
        )
        occupied = occupied.union(square.buffer(BACKGROUND_CLEARANCE_M))
        chosen += 1
        if chosen == BACKGROUND_PATCHES:
            break
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS).to_crs("EPSG:4326")


def _write_layer(path: Path, frame: gpd.GeoDataFrame, layer: str) -> None:
    with _atomic(path) as tmp:
        frame.to_file(tmp, layer=layer, driver="GPKG")


def _band_file(band_number: str) -> str:
    return f"{PRODUCT_ID}_SR_B{band_number}.TIF"


def _mtl_groups(scene: _Scene) -> dict[str, dict[str, Any]]:
    """Fill the MTL groups USGS writes for an L2SR product from the scene."""
    numbers = [band.number for band in OLI_BANDS]
    rows, cols = SHAPE
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    corners: dict[str, Any] = {}
    for corner, (row, col) in {
        "UL": (0, 0),
        "UR": (0, cols - 1),
        "LL": (rows - 1, 0),
        "LR": (rows - 1, cols - 1),
    }.items():
        x, y = scene.transform @ (col + 0.5, row + 0.5)  # MTL corners are pixel centres
        lon, lat = to_lonlat.transform(x, y)
        corners[f"CORNER_{corner}_LAT_PRODUCT"] = round(lat, 5)
        corners[f"CORNER_{corner}_LON_PRODUCT"] = round(lon, 5)
        corners[f"CORNER_{corner}_PROJECTION_X_PRODUCT"] = x
        corners[f"CORNER_{corner}_PROJECTION_Y_PRODUCT"] = y
    distance = _earth_sun_distance(ACQUIRED)
    # Level-1 radiance rescaling implied by the Level-1 reflectance rescaling and the
    # exo-atmospheric solar irradiance: L = ρ' · ESUN / (π d²).
    radiance_per_reflectance = {n: esun / (math.pi * distance**2) for n, esun in _OLI_ESUN.items()}
    return {
        "PRODUCT_CONTENTS": {
            "ORIGIN": "Synthetic sample generated by geo.sampledata; not a USGS product",
            "LANDSAT_PRODUCT_ID": PRODUCT_ID,
            "PROCESSING_LEVEL": "L2SR",
            "COLLECTION_NUMBER": 2,
            "COLLECTION_CATEGORY": "T1",
            "OUTPUT_FORMAT": "GEOTIFF",
            **{f"FILE_NAME_BAND_{n}": _band_file(n) for n in numbers},
            "FILE_NAME_QUALITY_L1_PIXEL": f"{PRODUCT_ID}_QA_PIXEL.TIF",
            "FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION": f"{PRODUCT_ID}_QA_RADSAT.TIF",
            "FILE_NAME_METADATA_ODL": f"{PRODUCT_ID}_MTL.txt",
            "FILE_NAME_METADATA_JSON": f"{PRODUCT_ID}_MTL.json",
            **{f"DATA_TYPE_BAND_{n}": "UINT16" for n in numbers},
            "DATA_TYPE_QUALITY_L1_PIXEL": "UINT16",
            "DATA_TYPE_QUALITY_L1_RADIOMETRIC_SATURATION": "UINT16",
        },
        "IMAGE_ATTRIBUTES": {
            "SPACECRAFT_ID": "LANDSAT_8",
            "SENSOR_ID": "OLI_TIRS",
            "WRS_TYPE": 2,
            "WRS_PATH": WRS_PATH,
            "WRS_ROW": WRS_ROW,
            "NADIR_OFFNADIR": "NADIR",
            "DATE_ACQUIRED": ACQUIRED.strftime("%Y-%m-%d"),
            "SCENE_CENTER_TIME": ACQUIRED.strftime("%H:%M:%S.%f0Z"),
            "CLOUD_COVER": scene.cloud_cover,
            "CLOUD_COVER_LAND": scene.cloud_cover_land,
            "SUN_AZIMUTH": round(scene.sun_azimuth, 8),
            "SUN_ELEVATION": round(scene.sun_elevation, 8),
            "EARTH_SUN_DISTANCE": round(distance, 7),
        },
        "PROJECTION_ATTRIBUTES": {
            "MAP_PROJECTION": "UTM",
            "DATUM": "WGS84",
            "ELLIPSOID": "WGS84",
            "UTM_ZONE": 35,
            "GRID_CELL_SIZE_REFLECTIVE": PIXEL_SIZE,
            "REFLECTIVE_LINES": rows,
            "REFLECTIVE_SAMPLES": cols,
            "ORIENTATION": "NORTH_UP",
            **corners,
        },
        "LEVEL2_PROCESSING_RECORD": {
            "ORIGIN": "Synthetic sample generated by geo.sampledata; not a USGS product",
            "LANDSAT_PRODUCT_ID": PRODUCT_ID,
            "PROCESSING_LEVEL": "L2SR",
            "OUTPUT_FORMAT": "GEOTIFF",
            "DATE_PRODUCT_GENERATED": f"{PROCESSED}T00:00:00Z",
            "PROCESSING_SOFTWARE_VERSION": "geo.sampledata",
            "ALGORITHM_SOURCE_SURFACE_REFLECTANCE": "synthetic linear spectral mixture",
        },
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": {
            **{f"REFLECTANCE_MAXIMUM_BAND_{n}": 1.602213 for n in numbers},
            **{f"REFLECTANCE_MINIMUM_BAND_{n}": -0.199972 for n in numbers},
            **{f"QUANTIZE_CAL_MAX_BAND_{n}": 65535 for n in numbers},
            **{f"QUANTIZE_CAL_MIN_BAND_{n}": 1 for n in numbers},
            **{f"REFLECTANCE_MULT_BAND_{n}": LANDSAT_C2_L2_REFLECTANCE_MULT for n in numbers},
            **{f"REFLECTANCE_ADD_BAND_{n}": LANDSAT_C2_L2_REFLECTANCE_ADD for n in numbers},
        },
        "LEVEL1_RADIOMETRIC_RESCALING": {
            **{
                f"RADIANCE_MULT_BAND_{n}": float(f"{_L1_REFLECTANCE_MULT * k:.4e}")
                for n, k in radiance_per_reflectance.items()
            },
            **{
                f"RADIANCE_ADD_BAND_{n}": round(_L1_REFLECTANCE_ADD * k, 5)
                for n, k in radiance_per_reflectance.items()
            },
            **{f"REFLECTANCE_MULT_BAND_{n}": _L1_REFLECTANCE_MULT for n in numbers},
            **{f"REFLECTANCE_ADD_BAND_{n}": _L1_REFLECTANCE_ADD for n in numbers},
        },
    }


def _product_files(product_dir: Path) -> dict[str, Path]:
    files = {f"SR_B{band.number}": product_dir / _band_file(band.number) for band in OLI_BANDS}
    for name in ("QA_PIXEL", "QA_RADSAT"):
        files[name] = product_dir / f"{PRODUCT_ID}_{name}.TIF"
    files["MTL_txt"] = product_dir / f"{PRODUCT_ID}_MTL.txt"
    files["MTL_json"] = product_dir / f"{PRODUCT_ID}_MTL.json"
    return files


def _write_product(scene: _Scene, product_dir: Path) -> dict[str, Path]:
    product_dir.mkdir(parents=True, exist_ok=True)
    files = _product_files(product_dir)
    for band, dn in zip(OLI_BANDS, scene.dn, strict=True):
        name = f"SR_B{band.number}"
        _write_geotiff(files[name], dn, scene.transform, name, nodata=0)
    _write_geotiff(
        files["QA_PIXEL"],
        scene.qa_pixel,
        scene.transform,
        "QA_PIXEL",
        nodata=TYPICAL_QA_PIXEL["fill"],
    )
    _write_geotiff(files["QA_RADSAT"], scene.qa_radsat, scene.transform, "QA_RADSAT", nodata=None)
    groups = _mtl_groups(scene)
    _write_text(files["MTL_txt"], format_mtl_txt(groups))
    _write_text(files["MTL_json"], format_mtl_json(groups))
    return files


# ---------------------------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------------------------


def _markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _table_citation(path: Path) -> str:
    """Quote the ``#`` header of the endmember table, which carries its source and citation."""
    with path.open(encoding="utf-8") as handle:
        lines = [line.strip().lstrip("#").strip() for line in handle if line.startswith("#")]
    return "\n".join(f"> {line}" for line in lines if line)


_README = """\
# sample_rasters: synthetic Landsat 8 Collection 2 Level-2 scene

**Everything in this folder is synthetic.** It was generated by
`geo.sampledata.make_landsat_sample` (seed {seed}) from a table of laboratory mineral spectra. It
is not a USGS product and shows no real place, deposit, licence or company; the licence holders
are fictitious. It exists so that the tests and the training notebooks have a small scene whose
right answers are known.

## Files

| path | content |
|---|---|
| `{product_id}/` | Landsat 8 Collection 2 Level-2 product folder (L2SR: reflectance only) |
| `…_SR_B1.TIF` … `…_SR_B7.TIF` | surface reflectance, uint16 DN, nodata 0, description `SR_Bn` |
| `…_QA_PIXEL.TIF` | CFMask bits, uint16, fill value 1 (also the GeoTIFF nodata) |
| `…_QA_RADSAT.TIF` | saturation bits, uint16 (bit n−1 = band n saturated) |
| `…_MTL.txt`, `…_MTL.json` | the same metadata in the ODL and JSON forms |
| `licences.gpkg` | layer `licences`: 4 polygons in **EPSG:4326** (not the scene CRS, on purpose) |
| `truth.gpkg` | layer `planted`: one polygon per planted feature and trap, EPSG:32635 |
| `training.gpkg` | layer `training`: classifier training polygons in **EPSG:4326** (column `class`: iron_oxide from the porphyry core, aloh_clay from the argillic zone, background bare-ground squares); the other planted zones are left out to test the model |
| `structures.gpkg` | layer `faults`: {n_structures} fault and lineament traces in **EPSG:32735** (UTM 35 South, a national-grid CRS unlike the scene's), columns `name`, `kind` |
| `occurrences.gpkg` | layer `occurrences`: {n_occurrences} known mineral occurrences (points, **EPSG:4326**), columns `name`, `commodity`, `type` |

Grid: {rows} × {cols} pixels of {pixel_size:.0f} m, CRS **{crs}** (WGS 84 / UTM zone 35N), about
{size_mb:.0f} MB in all. As USGS does for southern-hemisphere scenes, the north zone is kept, so
northings are negative: the top-left corner of the grid is x = {left:.0f} m, y = {top:.0f} m, and
pixel centres fall on multiples of 30 m. The scene centre is near {lat:.1f}° S, {lon:.1f}° E
(eastern Botswana), WRS-2 path {path} / row {row}, acquired {acquired} UTC; sun azimuth
{sun_azimuth:.1f}°, elevation {sun_elevation:.1f}° (computed for that place and time). GeoTIFFs
are tiled 256 × 256, DEFLATE with horizontal predictor.

Encoding, as in every Collection 2 Level-2 product: reflectance ρ = DN × {l2_mult} + ({l2_add});
DN 0 is fill and valid DN are 1–65455. The MTL also holds a `LEVEL1_RADIOMETRIC_RESCALING` group
whose `REFLECTANCE_MULT_BAND_n` / `REFLECTANCE_ADD_BAND_n` carry the **Level-1** values
({l1_mult}, {l1_add}); a reader must take the scaling from `LEVEL2_SURFACE_REFLECTANCE_PARAMETERS`.

QA_PIXEL values used (bit 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 cloud shadow, 5 snow,
6 clear, 7 water, 8–9 cloud, 10–11 shadow, 12–13 snow, 14–15 cirrus confidence):

{qa_table}

CLOUD_COVER in the MTL ({cloud_cover} %) is the share of valid pixels with the cloud bit.

## How it was made

1. **Background**: every pixel is a linear mixture of bare-ground endmembers ({background}).
   Their abundances follow smooth random fields (gaussian-filtered noise at {scales} px) and
   sum to 1.
2. **Planted alteration**: each zone replaces a fraction of the surface with its mineral
   mixture. The abundance is 0 at an irregular rim and {peak_low}–{peak_high} in the centre,
   mottled inside.
3. **Traps**: riparian green vegetation along a meandering channel, a dam (open water), a
   calcite quarry with a specular glint that saturates the sensor.
4. **Illumination**: a gentle hillshade of a random terrain (factor {light_low}–{light_high}),
   and two {scarp_slope:.0f}° scarps of desert-varnished rock facing away from the sun, whose
   steepest parts receive {scarp_light:.0f} % of the light of flat ground.
5. **Atmosphere**: one cloud (flat reflectance {cloud_low}–{cloud_high}, soft edges) at
   {cloud_km:.0f} km, whose shadow (direct light × {shadow}) falls away from the sun.
6. **Sensor**: gaussian noise of σ = {noise} reflectance; values at or above {saturation} are
   clipped and flagged in QA_RADSAT; fill outside a WRS-2-like frame rotated {frame:.0f}° leaves
   DN 0 / QA 1 triangles in the corners.

Endmember spectra come from `geo/data/endmembers_landsat8_oli.csv`. Its header says:

{citation}

## What is planted and where

Centre = centroid of the truth polygon in pixels (row, col) from the top-left corner. Polygons
cover the pixels where the planted abundance is at least {footprint}; for traps, the extent of
the trap (QA cloud / shadow / water pixels, saturated pixels, the steepest part of a scarp).

{planted_table}

- `porphyry` is the whole system; `porphyry_core` (iron oxides) and `porphyry_halo` (clays with
  a little goethite) are its parts and are not targets on their own.
- `iron_cap_outside` is a real anomaly outside every licence: it should be found but joined to
  no licence.
- `hidden_argillic` lies entirely under the cloud (inside licence {hidden_licence}). A correct
  pipeline masks it and never reports it.

## Traps

- **Vegetation**: NDVI well above 0.5 in the strip, and green vegetation has a high SWIR1/SWIR2
  ratio, the classic false clay anomaly. The strip passes {river_gap:.0f} m from the porphyry.
  QA does not flag it; mask it with NDVI.
- **Water**: QA water bit set.
- **Cloud / cloud shadow**: QA cloud bit with high confidence, a {dilation}-pixel dilated-cloud
  ring (bit 1), and the shadow bit on the shadow.
- **Dark slopes**: not flagged in QA; mean reflectance about 0.03, so band ratios are mostly
  noise.
- **Saturation**: a few pixels over the quarry are saturated (QA_RADSAT ≠ 0) and clipped at
  ρ = {saturation}.
- **Fill corners**: outside the rotated frame every band is 0 and QA_PIXEL is 1.

## Structures and known occurrences

The fault map and the occurrence list are drawn to agree with the planted systems, as a real
geological map would: the porphyry lies where the NW-trending Lesedi fault crosses the N-S Tau
fault, the iron cap and the argillic zone lie on those faults, the hidden argillic zone on the
Kgama fault. The Phiri fault and the Noka lineament carry no alteration. Nothing in the pixels
was made from these layers; they are evidence for prospectivity and ground truth for its
evaluation.

{structure_table}

{occurrence_table}

Three occurrences cannot be seen in any imagery (old workings on a fault, a showing on a fault,
a placer in the river gravels) and one lies under the cloud: a prospectivity model that
captures all of them from the spectra alone is fooling itself.

## Licences

{licence_table}

{shared_a} and {shared_b} share a boundary.

## EMIT-format sample (imaging spectroscopy)

`EMIT_L2A_RFL_001_20230601T082000_2315206_004.nc` and its `_MASK_` granule: an 84 x 72 pixel
swath at 60 m with EMIT's 285 bands (381-2493 nm), rotated 14 degrees on a geographic grid
through a geometry lookup table, as NASA's EMIT L2A products are (written by
`geo.sampledata_emit.make_emit_sample`, seed {seed}). Linear mixtures of the bundled USGS
library spectra (`geo/data/library_usgs_hyperspectral.csv`) over a synthetic sandy soil: a
porphyry-style system (alunite + kaolinite core, white-mica ring, chlorite + epidote + calcite
halo), an argillic patch (kaolinite + montmorillonite), a hematite-stained sand with no SWIR
alteration, green vegetation and a small cloud flagged in the MASK granule.
`emit_truth.gpkg` holds the planted polygons with their assemblage and `emit_licences.gpkg`
two licences (`licence_no`, `holder_name`, `status`, `expiry`). Run it with
`geo run pipelines/hyperspectral_minerals.yaml`; lesson 7 of the course works on it.

## Regenerate

```
geo sample-data sample_rasters --overwrite
```

or `make sample-data`, or from Python
`geo.sampledata.make_landsat_sample(Path("sample_rasters"), overwrite=True)`. The output depends
only on the seed and the endmember table; `tests/test_sampledata.py` checks that this folder
equals a fresh regeneration.
"""


def _readme_text(scene: _Scene, seed: int, endmember_path: Path, size_mb: float) -> str:
    """Fill the README template from the scene, so the README cannot drift from the data."""
    inverse = ~scene.transform
    planted_rows = []
    for row in scene.truth.itertuples():
        col, line = inverse @ (row.geometry.centroid.x, row.geometry.centroid.y)
        planted_rows.append(
            [
                f"`{row.name}`",
                row.kind,
                f"({line:.0f}, {col:.0f})",
                f"{row.geometry.area / 1e4:.0f}",
                row.minerals.replace(",", ", ") if isinstance(row.minerals, str) else "",
                "yes" if row.expect_target else "no",
                row.licence_no if isinstance(row.licence_no, str) else "",
            ]
        )
    footprints = scene.truth.set_index("name").geometry
    peaks = [layer.peak for zone in PLANTED_ZONES for layer in zone.layers]
    hidden = scene.truth.set_index("name").to_crs(scene.licences.crs).geometry["hidden_argillic"]
    lon, lat = SCENE_CENTRE_LONLAT
    structure_table = _markdown_table(
        ["name", "kind", "trace (row, col) vertices"],
        [
            [st.name, st.kind, " → ".join(f"({r:.0f}, {c:.0f})" for r, c in st.trace)]
            for st in STRUCTURES
        ],
    )
    occurrence_table = _markdown_table(
        ["name", "commodity", "type", "(row, col)"],
        [[o.name, o.commodity, o.kind, f"({o.cell[0]:.0f}, {o.cell[1]:.0f})"] for o in OCCURRENCES],
    )
    return _README.format(
        structure_table=structure_table,
        occurrence_table=occurrence_table,
        n_structures=len(STRUCTURES),
        n_occurrences=len(OCCURRENCES),
        seed=seed,
        product_id=PRODUCT_ID,
        rows=SHAPE[0],
        cols=SHAPE[1],
        pixel_size=PIXEL_SIZE,
        crs=CRS,
        size_mb=size_mb,
        left=scene.transform.c,
        top=scene.transform.f,
        lat=abs(lat),
        lon=lon,
        path=WRS_PATH,
        row=WRS_ROW,
        acquired=f"{ACQUIRED:%Y-%m-%d %H:%M}",
        sun_azimuth=scene.sun_azimuth,
        sun_elevation=scene.sun_elevation,
        l2_mult=LANDSAT_C2_L2_REFLECTANCE_MULT,
        l2_add=LANDSAT_C2_L2_REFLECTANCE_ADD,
        l1_mult=_L1_REFLECTANCE_MULT,
        l1_add=_L1_REFLECTANCE_ADD,
        qa_table=_markdown_table(
            ["class", "value", "bits (15 … 0)"],
            [
                [name.replace("_", " "), value, f"`{value:016b}`"]
                for name, value in TYPICAL_QA_PIXEL.items()
                if name != "high_cirrus"
            ],
        ),
        cloud_cover=scene.cloud_cover,
        background=", ".join(BACKGROUND_SHARES),
        scales=", ".join(f"{s:.0f}" for s in BACKGROUND_SCALES_PX),
        peak_low=min(peaks),
        peak_high=max(peaks),
        light_low=TERRAIN_ILLUMINATION[0],
        light_high=TERRAIN_ILLUMINATION[1],
        scarp_slope=SCARP_SLOPE_DEG,
        scarp_light=100
        * float(_scarp_illumination(np.array(SCARP_SLOPE_DEG), scene.sun_elevation)),
        cloud_low=CLOUD_REFLECTANCE[0],
        cloud_high=CLOUD_REFLECTANCE[1],
        cloud_km=CLOUD_HEIGHT_M / 1000,
        shadow=SHADOW_TRANSMISSION,
        noise=SENSOR_NOISE,
        saturation=SATURATION_REFLECTANCE,
        frame=FRAME_ROTATION_DEG,
        citation=_table_citation(endmember_path),
        footprint=ABUNDANCE_FOOTPRINT,
        planted_table=_markdown_table(
            ["name", "kind", "centre (row, col)", "area (ha)", "minerals", "target", "licence"],
            planted_rows,
        ),
        hidden_licence=scene.licences.loc[scene.licences.contains(hidden), "licence_no"].iloc[0],
        river_gap=footprints["riparian_vegetation"].distance(footprints["porphyry"]),
        dilation=DILATED_CLOUD_PX,
        licence_table=_markdown_table(
            ["licence_no", "holder_name", "status", "expiry", "commodity"],
            scene.licences.drop(columns="geometry").to_numpy().tolist(),
        ),
        shared_a=LICENCES[0].licence_no,
        shared_b=LICENCES[1].licence_no,
    )


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def make_landsat_sample(
    out_dir: Path, *, seed: int = 20230601, overwrite: bool = False
) -> dict[str, Any]:
    """Generate the synthetic Landsat 8 C2 L2 sample scene, its licences and its truth.

    The output is fully determined by ``seed`` and the endmember table; the same
    call always writes the same pixels.

    Parameters
    ----------
    out_dir : Path
        Folder to write into; created if needed.
    seed : int
        Seed of every random draw (background fields, zone rims, cloud, noise).
    overwrite : bool
        Allow writing into a folder that is not empty; existing files of the
        sample are replaced, other files are left alone.

    Returns
    -------
    dict
        ``product_id``, ``paths`` (name → Path of every file written), ``shape``
        (rows, cols), ``crs``, ``licence_count`` and ``planted_count`` (rows of the
        truth layer).

    Raises
    ------
    OutputExistsError
        If ``out_dir`` is a file, or is not empty and ``overwrite`` is False.
    InputNotFoundError, ProductError
        If the endmember table is missing or incomplete.

    Examples
    --------
    >>> import tempfile
    >>> summary = make_landsat_sample(Path(tempfile.mkdtemp()) / "sample")
    >>> summary["shape"], summary["crs"]
    ((600, 600), 'EPSG:32635')
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir} is a file; give a folder to write the sample into.")
    if not overwrite and out_dir.is_dir() and any(out_dir.iterdir()):
        raise OutputExistsError(
            f"{out_dir} is not empty; pass overwrite=True (CLI: --overwrite) to replace the "
            "sample files in it, or choose an empty folder."
        )
    endmembers = load_endmembers(ENDMEMBER_TABLE)
    scene = _simulate(seed, endmembers)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = _write_product(scene, out_dir / PRODUCT_ID)
    paths["licences"] = out_dir / "licences.gpkg"
    paths["truth"] = out_dir / "truth.gpkg"
    _write_layer(paths["licences"], scene.licences, "licences")
    _write_layer(paths["truth"], scene.truth, "planted")
    paths["training"] = out_dir / "training.gpkg"
    _write_layer(paths["training"], _training_polygons(scene, seed), "training")
    paths["structures"] = out_dir / "structures.gpkg"
    _write_layer(paths["structures"], _structures(_grid_transform()), "faults")
    paths["occurrences"] = out_dir / "occurrences.gpkg"
    _write_layer(paths["occurrences"], _occurrences(_grid_transform()), "occurrences")
    size_mb = sum(path.stat().st_size for path in paths.values()) / 2**20
    paths["readme"] = out_dir / "README.md"
    _write_text(paths["readme"], _readme_text(scene, seed, ENDMEMBER_TABLE, size_mb))
    logger.info("wrote the synthetic sample %s to %s", PRODUCT_ID, out_dir)
    return {
        "product_id": PRODUCT_ID,
        "paths": paths,
        "shape": SHAPE,
        "crs": CRS,
        "licence_count": len(scene.licences),
        "planted_count": len(scene.truth),
    }
