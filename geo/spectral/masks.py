"""Valid-pixel masks that keep, per pixel, which rules removed it.

The result of :func:`build_mask` is a ``uint16`` raster of *reasons*: bit ``i`` is set
when rule ``MASK_RULES[i]`` flags the pixel, so a pixel can carry several reasons and
the valid pixels are exactly those with value 0.

QA_PIXEL bits (Landsat Collection 2, CFMask) and QA_RADSAT bits follow
``../shared/DOMAIN.md`` §1.5 (GEE LC08_C02_L2 template): bit 0 fill, 1 dilated cloud,
2 cirrus, 3 cloud, 4 cloud shadow, 5 snow, 6 clear, 7 water. QA_RADSAT bits 0–6 are
OLI bands 1–7 saturated. Vegetation, water and deep shadow are spectral tests, so they
also work where a product has no QA layer.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass

import dask
import dask.array as dsa
import numpy as np
import xarray as xr
from scipy import ndimage

from geo._validation import as_cube
from geo.errors import InvalidParameterError
from geo.spectral.expression import parse_expression

__all__ = [
    "MASK_RULES",
    "PRODUCT_RULES",
    "QA_PIXEL_BITS",
    "RADSAT_BITS",
    "SCL_RULES",
    "MaskConfig",
    "build_mask",
    "compute_masks",
    "fractions_from_codes",
    "landsat_qa_flags",
    "mask_fractions",
    "product_flags",
    "qa_bit",
    "scl_flags",
]

#: Rule names in reason-bit order.
MASK_RULES: tuple[str, ...] = (
    "fill",
    "cloud",
    "dilated_cloud",
    "cirrus",
    "cloud_shadow",
    "snow",
    "saturated",
    "water",
    "vegetation",
    "dark",
    "buffer",
    "unclassified",
    "haze",  # EnMAP's haze layer (last: the bits of the rules above keep their values)
)

#: CFMask QA_PIXEL single-bit flags.
QA_PIXEL_BITS: dict[str, int] = {
    "fill": 0,
    "dilated_cloud": 1,
    "cirrus": 2,
    "cloud": 3,
    "cloud_shadow": 4,
    "snow": 5,
    "clear": 6,
    "water": 7,
}

#: Rules a product's own QA can raise (Landsat QA_PIXEL/QA_RADSAT, Sentinel-2 SCL).
PRODUCT_RULES = (
    "fill",
    "cloud",
    "dilated_cloud",
    "cirrus",
    "cloud_shadow",
    "snow",
    "saturated",
    "water",
    "vegetation",
    "dark",
    "unclassified",
    "haze",
)
_ALBEDO_BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
#: QA_RADSAT bits that make a reflective pixel unusable, per sensor (DOMAIN.md §1.5):
#: OLI bits 0-6 = bands 1-7; TM/ETM+ bits 0-4 and 6 = bands 1-5 and 7 (bit 5 is thermal
#: band 6) and bit 9 = dropped pixel.
RADSAT_BITS: dict[str, int] = {
    "landsat_oli": 0b1111111,
    "landsat_tm": 0b1001011111,
    "landsat_etm": 0b1001011111,
}


@dataclass(frozen=True)
class MaskConfig:
    """Which rules apply and their thresholds.

    Attributes
    ----------
    qa : tuple of str
        Rules from the product's own QA that remove a pixel (any of
        :data:`PRODUCT_RULES`). QA water joins the ``water`` rule whenever the
        MNDWI rule is on.
    saturation : bool
        Remove pixels the product flags as saturated (Landsat QA_RADSAT, SCL class 1).
    ndvi_max : float or None
        Remove vegetation: NDVI above this. Typical 0.3–0.4 (heuristic, DOMAIN.md §2.5).
    mndwi_max : float or None
        Remove water: MNDWI (Xu 2006) above this (water > 0).
    dark_albedo : float or None
        Remove deep shadow: mean reflectance of the visible-to-SWIR bands below this
        (skipped when the scene has none of them).
    buffer_px : int
        Also remove pixels within this many pixels of a pixel flagged by one of
        ``buffer_rules`` (rule ``buffer``). Edges of vegetation, water and cloud are
        mixed pixels whose ratios mimic alteration (vegetation raises swir1/swir2).
    buffer_rules : tuple of str
        Rules whose pixels are buffered.
    """

    qa: tuple[str, ...] = PRODUCT_RULES
    saturation: bool = True
    ndvi_max: float | None = 0.3
    mndwi_max: float | None = 0.0
    dark_albedo: float | None = 0.04
    buffer_px: int = 2
    buffer_rules: tuple[str, ...] = ("cloud", "cloud_shadow", "water", "vegetation")

    def __post_init__(self) -> None:
        unknown = sorted(set(self.qa) - set(PRODUCT_RULES))
        if unknown:
            raise InvalidParameterError(
                f"Unknown QA mask flag(s) {', '.join(unknown)}; choose from {', '.join(PRODUCT_RULES)}."
            )
        bad = sorted(set(self.buffer_rules) - (set(MASK_RULES) - {"buffer"}))
        if bad:
            raise InvalidParameterError(
                f"Unknown buffer rule(s) {', '.join(bad)}; choose from "
                f"{', '.join(r for r in MASK_RULES if r != 'buffer')}."
            )
        if self.buffer_px < 0:
            raise InvalidParameterError(f"buffer_px must be >= 0; got {self.buffer_px!r}.")


def qa_bit(qa: xr.DataArray, bit: int) -> xr.DataArray:
    """Return a boolean array: is ``bit`` set in the integer QA layer ``qa``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> qa_bit(xr.DataArray(np.array([21824, 22280, 1], dtype="uint16")), 3).values
    array([False,  True, False])
    """
    return (qa.astype("uint16") & np.uint16(1 << bit)) != 0


_NDVI = parse_expression("(nir - red) / (nir + red)")
_MNDWI = parse_expression("(green - swir1) / (green + swir1)")


def landsat_qa_flags(
    qa_pixel: xr.DataArray | None = None,
    qa_radsat: xr.DataArray | None = None,
    *,
    sensor: str = "landsat_oli",
) -> dict[str, xr.DataArray]:
    """Decode Landsat Collection 2 QA_PIXEL / QA_RADSAT into named rule flags.

    QA_PIXEL gives fill, dilated_cloud, cirrus, cloud, cloud_shadow, snow and water;
    QA_RADSAT gives ``saturated`` from the sensor's reflective-band bits
    (:data:`RADSAT_BITS`). Cirrus is unused (always 0) for TM/ETM+.
    """
    flags: dict[str, xr.DataArray] = {}
    if qa_pixel is not None:
        for rule in ("fill", "dilated_cloud", "cirrus", "cloud", "cloud_shadow", "snow", "water"):
            flags[rule] = qa_bit(qa_pixel, QA_PIXEL_BITS[rule])
    if qa_radsat is not None:
        bits = np.uint16(RADSAT_BITS.get(sensor, RADSAT_BITS["landsat_oli"]))
        flags["saturated"] = (qa_radsat.astype("uint16") & bits) != 0
    return flags


#: Sentinel-2 L2A scene classification (SCL) classes → rules ([V GEE-S2SR, Sentinel Hub];
#: DOMAIN.md §1.5). Class 5 (bare soil) is what geology keeps; 7 (unclassified / cloud low
#: probability) is masked unless the pipeline drops "unclassified" from ``masks.qa``.
SCL_RULES: dict[int, str] = {
    0: "fill",
    1: "saturated",
    2: "dark",  # dark area pixels; "topographic casted shadows" from baseline 04.00
    3: "cloud_shadow",
    4: "vegetation",
    6: "water",
    7: "unclassified",
    8: "cloud",
    9: "cloud",
    10: "cirrus",
    11: "snow",
}


def scl_flags(scl: xr.DataArray) -> dict[str, xr.DataArray]:
    """Decode a Sentinel-2 SCL layer (already on the analysis grid) into named rule flags."""
    flags: dict[str, xr.DataArray] = {}
    for value, rule in SCL_RULES.items():
        hit = scl == value
        flags[rule] = flags[rule] | hit if rule in flags else hit
    return flags


def product_flags(
    qa: Mapping[str, xr.DataArray], kind: str | None, *, sensor: str = "landsat_oli"
) -> dict[str, xr.DataArray]:
    """Decode a product's QA layers by product kind (``scene.metadata["qa_kind"]``).

    Kinds: ``"landsat_c2"`` (``qa_pixel``, ``qa_radsat``), ``"sentinel2_scl"`` (``scl``),
    ``"flag_layers"`` (one 0/1 layer per rule, named by the rule: the imaging spectrometers'
    cloud, cirrus, water, haze... masks; layers not named after a rule are ignored);
    ``None`` or no layers gives no flags (spectral rules still apply).
    """
    if not qa or kind is None:
        return {}
    if kind == "flag_layers":
        return {rule: layer != 0 for rule, layer in qa.items() if rule in PRODUCT_RULES}
    if kind == "landsat_c2":
        return landsat_qa_flags(qa.get("qa_pixel"), qa.get("qa_radsat"), sensor=sensor)
    if kind == "sentinel2_scl":
        return scl_flags(qa["scl"])
    raise InvalidParameterError(
        f"Unknown QA kind {kind!r}; known: landsat_c2, sentinel2_scl, flag_layers."
    )


def build_mask(
    reflectance: xr.DataArray,
    *,
    flags: Mapping[str, xr.DataArray] | None = None,
    config: MaskConfig = MaskConfig(),
) -> xr.DataArray:
    """Build the per-pixel reason raster.

    Parameters
    ----------
    reflectance : xarray.DataArray
        ``(band, y, x)`` reflectance with role names; NaN = no data.
    flags : mapping of str to xarray.DataArray, optional
        Boolean rule flags decoded from the product's own QA (see :func:`product_flags`),
        on the reflectance grid. Only the rules named in ``config.qa`` are used.
    config : MaskConfig
        Rules and thresholds.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` uint16; bit ``i`` set when ``MASK_RULES[i]`` removes the pixel;
        0 = valid. ``attrs["rules"]`` lists the rule names in bit order.

    Examples
    --------
    >>> from geo.testing import make_raster
    >>> r = make_raster([[[0.1, 0.1]], [[0.1, 0.1]], [[0.1, 0.05]], [[0.2, 0.5]],
    ...                  [[0.3, 0.3]], [[0.25, 0.2]]],
    ...                 bands=["blue", "green", "red", "nir", "swir1", "swir2"])
    >>> reasons = int(build_mask(r, config=MaskConfig(buffer_px=0))[0, 1])
    >>> [rule for i, rule in enumerate(MASK_RULES) if reasons >> i & 1]
    ['vegetation']
    """
    bands = {str(b): reflectance.sel(band=b, drop=True) for b in reflectance["band"].values}
    zero = xr.zeros_like(bands[next(iter(bands))], dtype="uint16")
    found: dict[str, list[xr.DataArray]] = {"fill": [reflectance.isnull().any("band")]}
    use = set(config.qa) | ({"saturated"} if config.saturation else set())
    for rule, flag in (flags or {}).items():
        if rule in use or (rule == "water" and config.mndwi_max is not None):
            found.setdefault(rule, []).append(flag)
    if config.mndwi_max is not None and {"green", "swir1"} <= set(bands):
        found.setdefault("water", []).append(_MNDWI.evaluate(bands) > config.mndwi_max)
    if config.ndvi_max is not None and {"nir", "red"} <= set(bands):
        found.setdefault("vegetation", []).append(_NDVI.evaluate(bands) > config.ndvi_max)
    albedo_bands = [bands[b] for b in _ALBEDO_BANDS if b in bands]
    if config.dark_albedo is not None and albedo_bands:  # as NDVI and MNDWI: needs its bands
        albedo = functools.reduce(operator.add, albedo_bands) / len(albedo_bands)
        found.setdefault("dark", []).append(albedo < config.dark_albedo)
    merged = {rule: functools.reduce(operator.or_, parts) for rule, parts in found.items()}
    buffered = [merged[r] for r in config.buffer_rules if r in merged]
    if config.buffer_px > 0 and buffered:
        near = _dilate(functools.reduce(operator.or_, buffered), config.buffer_px)
        merged["buffer"] = near & ~functools.reduce(operator.or_, buffered)
    reasons = zero
    for bit, rule in enumerate(MASK_RULES):
        if rule in merged:
            reasons = reasons | (merged[rule].astype("uint16") << np.uint16(bit))
    reasons = reasons.astype("uint16").rename("mask_reasons")
    reasons.attrs = {"rules": list(MASK_RULES), "applied": [r for r in MASK_RULES if r in merged]}
    return reasons


def _dilate(flag: xr.DataArray, pixels: int) -> xr.DataArray:
    """Grow a boolean (y, x) mask by ``pixels`` (8-connected), chunk-wise with overlap."""
    structure = np.ones((3, 3), dtype=bool)

    def grow(block: np.ndarray) -> np.ndarray:
        return ndimage.binary_dilation(block, structure=structure, iterations=pixels)

    data = flag.data
    if isinstance(data, dsa.Array):
        grown = data.map_overlap(grow, depth=pixels, boundary=False, dtype=bool)
    else:
        grown = grow(np.asarray(data))
    return flag.copy(data=grown)


def compute_masks(scene, config: MaskConfig | None = None) -> xr.DataArray:
    """Return the reason raster of a scene: its own QA flags and the spectral rules.

    ``scene`` is what :func:`geo.open_scene` returns (reflectance, QA layers and the kind
    of QA in ``metadata["qa_kind"]``); a bare reflectance cube gets the spectral rules only.
    See :func:`build_mask` for the raster (0 = valid, a bit per rule).
    """
    cube = as_cube(scene, what="compute_masks")
    qa = getattr(scene, "qa", None) or {}
    kind = (getattr(scene, "metadata", None) or {}).get("qa_kind")
    flags = product_flags(qa, kind, sensor=str(cube.attrs.get("sensor", "landsat_oli")))
    return build_mask(cube, flags=flags, config=config or MaskConfig())


def mask_fractions(reasons: xr.DataArray) -> dict:
    """Summarise a reason raster: fraction of pixels each rule flags, and the valid fraction.

    Fractions are of all pixels in the grid; ``of_data`` fractions exclude fill. A pixel
    flagged by two rules counts for both. Computed in one pass over the chunks.

    Returns
    -------
    dict
        ``{"pixels": n, "valid_fraction": f, "rules": {rule: {"fraction": f,
        "of_data": f, "only": f}}}`` where ``only`` is the fraction removed by that rule alone.
    """
    data = reasons.data
    total = int(np.prod(reasons.shape))
    # one histogram of the reason codes (a code is a set of rule bits), summed over chunks;
    # every fraction below is a sum over codes
    n_codes = 1 << len(MASK_RULES)

    def histogram(block: np.ndarray) -> np.ndarray:
        return np.bincount(np.asarray(block, dtype=np.intp).ravel(), minlength=n_codes)

    if isinstance(data, dsa.Array):
        parts = [dask.delayed(histogram)(b) for b in data.to_delayed().ravel()]
        hist = np.sum(dask.compute(*parts), axis=0)
    else:
        hist = histogram(data)
    return fractions_from_codes(hist, total, reasons.attrs.get("applied", list(MASK_RULES)))


def fractions_from_codes(hist: np.ndarray, total: int, applied) -> dict:
    """Return the summary of :func:`mask_fractions` from the histogram of the reason codes.

    ``hist[c]`` is the number of pixels whose reason code is ``c`` (counted in the pass that
    writes the raster, so it need not be read again); ``applied`` the rules that ran.
    """
    codes = np.arange(hist.size)
    counts = [hist[(codes & (1 << i)) != 0].sum() for i in range(len(MASK_RULES))]
    only = [hist[1 << i] for i in range(len(MASK_RULES))]
    valid = hist[0]
    fill = counts[MASK_RULES.index("fill")]
    data_pixels = max(total - int(fill), 1)
    rules = {
        rule: {
            "fraction": round(int(counts[i]) / total, 6),
            "of_data": round(int(counts[i]) / data_pixels if rule != "fill" else 0.0, 6),
            "only": round(int(only[i]) / total, 6),
        }
        for i, rule in enumerate(MASK_RULES)
        if rule in applied
    }
    return {"pixels": total, "valid_fraction": round(int(valid) / total, 6), "rules": rules}
