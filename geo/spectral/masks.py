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
from dataclasses import dataclass

import dask
import dask.array as dsa
import numpy as np
import xarray as xr
from scipy import ndimage

from geo.errors import InvalidParameterError
from geo.spectral.expression import parse_expression

__all__ = [
    "MASK_RULES",
    "QA_PIXEL_BITS",
    "MaskConfig",
    "build_mask",
    "mask_fractions",
    "qa_bit",
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

_QA_RULES = ("fill", "cloud", "dilated_cloud", "cirrus", "cloud_shadow", "snow")
_RADSAT_REFLECTIVE = 0b1111111  # OLI bands 1-7


@dataclass(frozen=True)
class MaskConfig:
    """Which rules apply and their thresholds.

    Attributes
    ----------
    qa : tuple of str
        QA_PIXEL flags that remove a pixel (subset of fill, cloud, dilated_cloud,
        cirrus, cloud_shadow, snow). Water from QA_PIXEL joins the ``water`` rule.
    saturation : bool
        Remove pixels saturated in any reflective band (QA_RADSAT), where present.
    ndvi_max : float or None
        Remove vegetation: NDVI above this. Typical 0.3–0.4 (heuristic, DOMAIN.md §2.5).
    mndwi_max : float or None
        Remove water: MNDWI (Xu 2006) above this (water > 0).
    dark_albedo : float or None
        Remove deep shadow: mean reflectance of the visible-to-SWIR bands below this.
    buffer_px : int
        Also remove pixels within this many pixels of a pixel flagged by one of
        ``buffer_rules`` (rule ``buffer``). Edges of vegetation, water and cloud are
        mixed pixels whose ratios mimic alteration (vegetation raises swir1/swir2).
    buffer_rules : tuple of str
        Rules whose pixels are buffered.
    """

    qa: tuple[str, ...] = _QA_RULES
    saturation: bool = True
    ndvi_max: float | None = 0.3
    mndwi_max: float | None = 0.0
    dark_albedo: float | None = 0.04
    buffer_px: int = 2
    buffer_rules: tuple[str, ...] = ("cloud", "cloud_shadow", "water", "vegetation")

    def __post_init__(self) -> None:
        unknown = sorted(set(self.qa) - set(_QA_RULES))
        if unknown:
            raise InvalidParameterError(
                f"Unknown QA mask flag(s) {', '.join(unknown)}; choose from {', '.join(_QA_RULES)}."
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


def build_mask(
    reflectance: xr.DataArray,
    *,
    qa_pixel: xr.DataArray | None = None,
    qa_radsat: xr.DataArray | None = None,
    config: MaskConfig = MaskConfig(),
) -> xr.DataArray:
    """Build the per-pixel reason raster.

    Parameters
    ----------
    reflectance : xarray.DataArray
        ``(band, y, x)`` reflectance with role names; NaN = no data.
    qa_pixel, qa_radsat : xarray.DataArray, optional
        Raw QA layers on the same grid.
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
    >>> [MASK_RULES[i] for i in range(10) if int(build_mask(r)[0, 1]) >> i & 1]
    ['vegetation']
    """
    bands = {str(b): reflectance.sel(band=b, drop=True) for b in reflectance["band"].values}
    zero = xr.zeros_like(bands[next(iter(bands))], dtype="uint16")
    flags: dict[str, xr.DataArray] = {"fill": reflectance.isnull().any("band")}
    if qa_pixel is not None:
        for rule in config.qa:
            bit_set = qa_bit(qa_pixel, QA_PIXEL_BITS[rule])
            flags[rule] = flags[rule] | bit_set if rule in flags else bit_set
    if config.saturation and qa_radsat is not None:
        flags["saturated"] = (qa_radsat.astype("uint16") & np.uint16(_RADSAT_REFLECTIVE)) != 0
    water = []
    if qa_pixel is not None:
        water.append(qa_bit(qa_pixel, QA_PIXEL_BITS["water"]))
    if config.mndwi_max is not None and {"green", "swir1"} <= set(bands):
        water.append(_MNDWI.evaluate(bands) > config.mndwi_max)
    if water:
        flags["water"] = water[0] | water[1] if len(water) == 2 else water[0]
    if config.ndvi_max is not None and {"nir", "red"} <= set(bands):
        flags["vegetation"] = _NDVI.evaluate(bands) > config.ndvi_max
    if config.dark_albedo is not None:
        albedo_bands = [b for b in ("blue", "green", "red", "nir", "swir1", "swir2") if b in bands]
        albedo = sum(bands[b] for b in albedo_bands) / len(albedo_bands)
        flags["dark"] = albedo < config.dark_albedo
    buffered = [flags[r] for r in config.buffer_rules if r in flags]
    if config.buffer_px > 0 and buffered:
        near = _dilate(functools.reduce(operator.or_, buffered), config.buffer_px)
        flags["buffer"] = near & ~functools.reduce(operator.or_, buffered)
    reasons = zero
    for bit, rule in enumerate(MASK_RULES):
        if rule in flags:
            reasons = reasons | (flags[rule].astype("uint16") << np.uint16(bit))
    reasons = reasons.astype("uint16").rename("mask_reasons")
    reasons.attrs = {"rules": list(MASK_RULES), "applied": [r for r in MASK_RULES if r in flags]}
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
    fill_bit = np.uint16(1 << MASK_RULES.index("fill"))
    counts = [((data & np.uint16(1 << i)) != 0).sum() for i in range(len(MASK_RULES))]
    only = [(data == np.uint16(1 << i)).sum() for i in range(len(MASK_RULES))]
    valid = (data == 0).sum()
    fill = ((data & fill_bit) != 0).sum()
    counts, only, valid, fill = dask.compute(counts, only, valid, fill)
    data_pixels = max(total - int(fill), 1)
    applied = reasons.attrs.get("applied", list(MASK_RULES))
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
