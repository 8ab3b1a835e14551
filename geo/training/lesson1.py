"""Lesson 1, opening a scene: band tables, composites, mask maps, and the answer checks.

The checks compare the learner's answer with what :func:`geo.io.open_scene` and
:mod:`geo.spectral.masks` compute for the bundled sample, and recognise the usual mistakes
(offset forgotten, Level-1 scaling, the wrong band, fill not turned into NaN, a bit number
used as a bit value...).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from geo.training import sample_dir
from geo.training.checks import CheckFailed, _ok, _plain, check_array

__all__ = [
    "SCENE_NAME",
    "band_table",
    "check_cloud_mask",
    "check_false_colour",
    "check_reflectance",
    "library_spectra",
    "plot_composite",
    "plot_mask_reasons",
    "plot_spectra",
    "scene_path",
]

#: The bundled Landsat 8 Collection 2 Level-2 product.
SCENE_NAME = "LC08_L2SR_171075_20230601_20230607_02_T1"

_REGIONS = ((0.70, "visible"), (1.0, "near infrared"), (3.0, "shortwave infrared"))
_CHANNEL_COLOURS = ("#d62728", "#2ca02c", "#1f77b4")
#: Mask reasons drawn by :func:`plot_mask_reasons`, first match wins, with their colours.
_REASON_COLOURS = {
    "fill": "#000000",
    "cloud": "#ffffff",
    "dilated_cloud": "#d9d9d9",
    "cirrus": "#c6dbef",
    "cloud_shadow": "#6a3d9a",
    "snow": "#a6cee3",
    "saturated": "#e31a1c",
    "water": "#1f78b4",
    "vegetation": "#33a02c",
    "dark": "#525252",
    "buffer": "#fdbf6f",
    "unclassified": "#b15928",
    "haze": "#bdbdbd",
}


def scene_path() -> Path:
    """Return the folder of the bundled Landsat product (under :func:`geo.training.sample_dir`)."""
    return sample_dir() / SCENE_NAME


@functools.lru_cache(maxsize=2)
def _scene(path: str):
    from geo.io.readers import open_scene

    return open_scene(path)


def _sample_scene():
    return _scene(str(scene_path()))


@functools.lru_cache(maxsize=8)
def _dn(path: str, band: str) -> np.ndarray:
    """Read the raw integers (DN) of one band of the sample, as stored in its GeoTIFF."""
    import rasterio

    scene = _scene(path)
    name = scene.metadata["bands"][band]["file"]
    with rasterio.open(Path(path) / name) as src:
        return src.read(1).astype("float64")


@functools.lru_cache(maxsize=8)
def _reflectance(path: str, band: str) -> np.ndarray:
    return np.asarray(_scene(path).reflectance.sel(band=band).values, dtype="float64")


def band_table(sensor: str = "landsat_oli") -> pd.DataFrame:
    """Tabulate the reflective bands of a sensor: role, band number, wavelengths and pixel size.

    Examples
    --------
    >>> band_table().loc["swir2", "band"]
    '7'
    """
    from geo.sensors import get_sensor

    rows = []
    for b in get_sensor(sensor).bands:
        region = next(name for edge, name in _REGIONS if b.centre_um < edge)
        rows.append(
            {
                "role": b.role,
                "band": b.number,
                "centre_um": b.centre_um,
                "from_um": b.low_um,
                "to_um": b.high_um,
                "pixel_m": b.gsd_m,
                "region": region,
            }
        )
    return pd.DataFrame(rows).set_index("role")


def library_spectra(names: Sequence[str] | None = None) -> pd.DataFrame:
    """Laboratory spectra (USGS library) averaged over the Landsat 8 OLI bands.

    These are the endmembers the synthetic sample is mixed from
    (``geo/data/endmembers_landsat8_oli.csv``): one row per material, one column per band
    role, reflectance 0–1.
    """
    from geo.sampledata import ENDMEMBER_TABLE

    table = pd.read_csv(ENDMEMBER_TABLE, comment="#").set_index("name")
    roles = list(band_table().index)
    spectra = table[roles].astype("float64")
    return spectra if names is None else spectra.loc[list(names)]


def _axes(ax, size=(7, 4)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def plot_spectra(spectra: pd.DataFrame, *, ax=None, title: str = "Spectra at the OLI bands"):
    """Draw spectra (rows of ``spectra``, columns = band roles) against wavelength.

    The OLI bands are shaded behind the curves so the learner sees what the sensor
    samples, and what falls between its bands.
    """
    ax = _axes(ax)
    table = band_table()
    for _, band in table.iterrows():
        ax.axvspan(band["from_um"], band["to_um"], color="0.88", zorder=0)
        ax.text(band["centre_um"], 1.0, band["band"], ha="center", va="bottom", fontsize=8,
                transform=ax.get_xaxis_transform())  # fmt: skip
    x = table.loc[list(spectra.columns), "centre_um"].to_numpy()
    for name, row in spectra.iterrows():
        ax.plot(x, row.to_numpy(), marker="o", label=str(name).replace("_", " "))
    ax.set_xlabel("wavelength (µm); grey bars: OLI bands, numbered on top")
    ax.set_ylabel("reflectance (0–1)")
    ax.set_title(title, pad=14)
    ax.legend(fontsize=8, loc="upper left", frameon=True)
    ax.set_ylim(bottom=0)
    return ax


def _stretch(rgb: np.ndarray) -> np.ndarray:
    """2–98 % linear stretch per channel; RGBA with transparent no-data pixels."""
    out = np.zeros((*rgb.shape[1:], 4), dtype="float32")
    for i in range(3):
        band = rgb[i]
        finite = band[np.isfinite(band)]
        lo, hi = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
        out[..., i] = np.clip((band - lo) / max(hi - lo, 1e-6), 0, 1)
    out[..., 3] = np.isfinite(rgb).all(axis=0)
    return np.nan_to_num(out)


def _extent(da: xr.DataArray) -> tuple[float, float, float, float]:
    left, bottom, right, top = da.rio.bounds()
    return left, right, bottom, top


def _map_axes(ax, da: xr.DataArray, title: str) -> None:
    from geo.export.quicklook import draw_scale_and_north

    ax.set_title(title, fontsize=10)
    ax.set_xlabel("easting (m)", fontsize=8)
    ax.set_ylabel("northing (m)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(style="plain", useOffset=False)
    draw_scale_and_north(ax, da.rio.bounds(), fontsize=8)
    ax.text(0.99, 0.01, str(da.rio.crs), transform=ax.transAxes, ha="right", va="bottom",
            fontsize=7, color="white", bbox={"facecolor": "black", "alpha": 0.4, "lw": 0})  # fmt: skip


def plot_composite(
    reflectance: xr.DataArray,
    bands: Sequence[str] = ("red", "green", "blue"),
    *,
    ax=None,
    title: str | None = None,
):
    """Draw a colour composite: ``bands`` go to red, green and blue (2–98 % stretch).

    The map has metre coordinates, a scale bar, a north arrow and a legend saying which band
    (and wavelength) drives each colour. No-data pixels are left blank.
    """
    from matplotlib.patches import Patch

    ax = _axes(ax, (6, 6))
    missing = [b for b in bands if b not in reflectance["band"].values]
    if len(bands) != 3 or missing:
        raise ValueError(
            f"Give three band roles for red, green and blue; {missing or bands} not in the "
            f"scene's bands {list(reflectance['band'].values)}."
        )
    rgb = np.asarray(reflectance.sel(band=list(bands)).values, dtype="float32")
    ax.imshow(_stretch(rgb), extent=_extent(reflectance), interpolation="nearest")
    table = band_table(reflectance.attrs.get("sensor", "landsat_oli"))
    handles = [
        Patch(color=c, label=f"{ch} = {b} ({table['centre_um'][b]:.2f} µm)")
        for ch, b, c in zip("RGB", bands, _CHANNEL_COLOURS, strict=True)
    ]
    ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.8)
    _map_axes(ax, reflectance, title or " / ".join(bands))
    return ax


def plot_mask_reasons(reasons: xr.DataArray, *, ax=None, title: str = "Why pixels are removed"):
    """Draw a mask-reason raster (from :func:`geo.spectral.masks.build_mask`) with a legend.

    Each pixel shows its first reason in :data:`geo.spectral.masks.MASK_RULES` order; the
    legend gives the share of the scene each reason removes (a pixel can have several).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from geo.spectral.masks import MASK_RULES

    ax = _axes(ax, (6, 6))
    codes = np.asarray(reasons.values).astype("uint32")
    shown = np.zeros(codes.shape, dtype="uint8")  # 0 = valid
    for bit in reversed(range(len(MASK_RULES))):  # lowest bit drawn last: it wins
        shown[(codes >> bit) & 1 == 1] = bit + 1
    colours = ["#f2e6d0", *(_REASON_COLOURS[r] for r in MASK_RULES)]
    ax.imshow(shown, cmap=ListedColormap(colours), vmin=0, vmax=len(colours) - 1,
              extent=_extent(reasons), interpolation="nearest")  # fmt: skip
    handles = [Patch(facecolor=colours[0], edgecolor="0.5",
                     label=f"kept ({np.mean(codes == 0):.1%})")]  # fmt: skip
    for bit, rule in enumerate(MASK_RULES):
        share = float(np.mean((codes >> bit) & 1))
        if share > 0:
            handles.append(Patch(facecolor=_REASON_COLOURS[rule], edgecolor="0.5",
                                 label=f"{rule.replace('_', ' ')} ({share:.1%})"))  # fmt: skip
    ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.85)
    _map_axes(ax, reasons, title)
    return ax


# ----------------------------------------------------------------------------- checks


def check_reflectance(answer, band: str = "red") -> bool:
    """Check a band converted from DN to surface reflectance (exercise 1).

    Expected: the reflectance :func:`geo.io.open_scene` gives for ``band`` of the
    sample, DN × 2.75e-5 − 0.2 with NaN where DN is 0 (fill).

    Raises
    ------
    CheckFailed
        With the likely mistake: offset forgotten or of the wrong sign, Level-1 scaling,
        still DN, another band, fill pixels not NaN.
    """
    name = f"reflectance of the {band} band"
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    path = str(scene_path())
    want = _reflectance(path, band)
    got = _plain(answer).astype("float64")
    if got.ndim == 3:
        raise CheckFailed(
            f"{name}: got {got.shape[0]} bands (shape {got.shape}); convert only one band, "
            f"a 2-D array of shape {want.shape}."
        )
    if got.shape != want.shape:
        raise CheckFailed(f"{name}: shape {got.shape}, expected {want.shape} (rows, columns).")
    dn = _dn(path, band)
    fill = dn == 0
    ok = ~fill
    candidates = {
        "the offset is missing: reflectance = DN × 2.75e-5 + (−0.2); yours lacks the + (−0.2)": (
            dn * 2.75e-5
        ),
        "the offset has the wrong sign: add −0.2 (subtract 0.2), do not add +0.2": dn * 2.75e-5
        + 0.2,
        "these are the Level-1 (top-of-atmosphere) values 2e-5 and −0.1 from the "
        "LEVEL1_RADIOMETRIC_RESCALING group; surface reflectance uses the "
        "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS values 2.75e-5 and −0.2": dn * 2e-5 - 0.1,
        "these are still the raw DN (integers): multiply by the scale 2.75e-5 and add the "
        "offset −0.2": dn,
    }
    for mistake, values in candidates.items():
        if np.allclose(got[ok], values[ok], rtol=1e-5, atol=1e-6, equal_nan=True):
            raise CheckFailed(f"{name}: {mistake}.")
    for other in band_table().index:
        if other != band and np.allclose(got[ok], _reflectance(path, other)[ok], rtol=1e-5,
                                         atol=1e-6, equal_nan=True):  # fmt: skip
            numbers = band_table()["band"]
            raise CheckFailed(
                f"{name}: this is the reflectance of the {other} band (OLI band "
                f"{numbers[other]}, file …_SR_B{numbers[other]}.TIF); the exercise asks for "
                f"{band} (band {numbers[band]})."
            )
    if not np.isnan(got[fill]).all():
        values = got[fill][~np.isnan(got[fill])]
        seen = f" (they hold {values[0]:.3g})" if values.size else ""
        raise CheckFailed(
            f"{name}: {int(fill.sum())} pixels have DN 0, which means 'no data' (fill), not a "
            f"dark pixel; they must be NaN{seen}. For example: np.where(dn == 0, np.nan, …)."
        )
    return check_array(
        got, want, name=name, hint="Reflectance = DN × 2.75e-5 − 0.2, NaN where DN is 0."
    )


def check_cloud_mask(answer) -> bool:
    """Check a cloud mask built from the QA_PIXEL bits (exercise 2): True where bit 3 is set.

    Raises
    ------
    CheckFailed
        With the likely mistake: another bit, a bit number used as a value (``qa & 3``),
        equality instead of a bit test, inverted, not True/False.
    """
    from geo.spectral.masks import QA_PIXEL_BITS, qa_bit

    name = "cloud mask"
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    qa_da = _sample_scene().qa["qa_pixel"]
    qa = np.asarray(qa_da.values).astype("int64")
    want = np.asarray(qa_bit(qa_da, QA_PIXEL_BITS["cloud"]).values)
    got = _plain(answer)
    if got.shape != want.shape:
        raise CheckFailed(f"{name}: shape {got.shape}, expected {want.shape} (rows, columns).")
    if got.dtype != bool:
        if got.dtype.kind == "f" and np.isnan(got).any():
            raise CheckFailed(
                f"{name}: it holds NaN; a mask is True/False for every pixel. Build it from "
                "the QA_PIXEL integers, not from the reflectance."
            )
        values = np.unique(got)
        if set(values.tolist()) <= {0, 1}:
            got = got.astype(bool)
        else:
            shown = ", ".join(f"{v:g}" for v in values[:4])
            raise CheckFailed(
                f"{name}: expected True/False, got the numbers {shown}. `qa & 8` keeps the "
                "value of the bit (0 or 8); compare it with 0: `(qa & (1 << 3)) != 0`."
            )
    if (got == want).all():
        return _ok(name, f"{int(want.sum())} cloud pixels ({want.mean():.2%} of the scene)")
    if (got == ~want).all():
        raise CheckFailed(
            f"{name}: it is inverted — True should mean 'cloud' (bit 3 set), False clear."
        )
    if (got == (qa == 3)).all() or (got == (qa == 8)).all():
        raise CheckFailed(
            f"{name}: `==` compares the whole 16-bit number, and cloudy pixels have other bits "
            "set too (confidence bits 8–15), so nothing matches. Test the one bit with `&`."
        )
    if not got.any():
        raise CheckFailed(
            f"{name}: no pixel is marked; the scene has {int(want.sum())} cloud pixels."
        )
    for rule, bit in QA_PIXEL_BITS.items():
        flag = ((qa >> bit) & 1).astype(bool)
        if rule != "cloud" and flag.any() and (got == flag).all():
            raise CheckFailed(
                f"{name}: this is bit {bit} ({rule.replace('_', ' ')}); cloud is bit 3."
            )
    if (got == ((qa & 3) != 0)).all():
        raise CheckFailed(
            f"{name}: `qa & 3` tests bits 0 and 1 (3 = 0b11). 3 is the bit's *number*; its "
            "value is 2³ = 8, so test `qa & (1 << 3)` (or `qa & 8`)."
        )
    wrong = got != want
    raise CheckFailed(
        f"{name}: {int(wrong.sum())} of {wrong.size} pixels differ ({int((got & ~want).sum())} "
        f"marked cloud that are not, {int((want & ~got).sum())} cloud pixels missed). A pixel "
        "is cloud when bit 3 of QA_PIXEL is set: `(qa & (1 << 3)) != 0`."
    )


def check_false_colour(answer) -> bool:
    """Check the bands of the SWIR2–NIR–red false-colour composite (exercise 3), R, G, B order."""
    name = "false-colour bands"
    explain = (
        "SWIR2 (2.2 µm) in red, NIR (0.86 µm) in green, red (0.66 µm) in blue: bare rock and "
        "soil come out in browns and pinks, clay-rich ground (which absorbs at 2.2 µm) bluer, "
        "vegetation green, water black."
    )
    want = ["swir2", "nir", "red"]
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    if isinstance(answer, str) or len(answer) != 3:
        raise CheckFailed(
            f"{name}: give a list of three band roles for red, green and blue, such as "
            f"['red', 'green', 'blue']; got {answer!r}."
        )
    numbers = dict(zip(band_table()["band"], band_table().index, strict=True))
    got = [numbers.get(str(a).strip(), str(a).strip().lower()) for a in answer]
    if got == want:
        return _ok(name, explain)
    if got == ["red", "green", "blue"]:
        raise CheckFailed(f"{name}: that is true colour. {explain}")
    if sorted(got) == sorted(want):
        raise CheckFailed(
            f"{name}: the right bands in the wrong order; the first goes to red. {explain}"
        )
    unknown = [a for a in got if a not in band_table().index]
    if unknown:
        raise CheckFailed(
            f"{name}: {unknown} are not band roles of the scene; use "
            f"{', '.join(band_table().index)}."
        )
    raise CheckFailed(f"{name}: {got} is not it; expected {want}. {explain}")
