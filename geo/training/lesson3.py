"""Lesson 3, Crosta (feature-oriented PCA) and the spectral angle mapper: answer checks.

The expected answers come from the package: :func:`geo.spectral.pca.fit_pca` and
:func:`geo.spectral.pca.crosta` for the hydroxyl (H) component, and
:func:`geo.spectral.sam.spectral_angle` for the angles, all on the bundled sample with the
mask of :func:`geo.training.lesson2.load_sample`. A wrong answer is compared with the usual
mistakes (PC1 or a same-sign component, the wrong sign, no mean removed, degrees instead of
radians, a forgotten normalisation) and the message says which one it looks like.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import xarray as xr

from geo.spectral.pca import PCAResult, crosta
from geo.spectral.sam import GROUPS, load_library, spectral_angle
from geo.training.checks import CheckFailed, check_array, check_choice
from geo.training.lesson2 import _check_array_mistakes, _check_value_mistakes, load_sample

__all__ = [
    "SAM_COLOURS",
    "answer_is_nan",
    "check_angle_map",
    "check_crosta_image",
    "check_hydroxyl_component",
    "check_hydroxyl_pca",
    "check_pixel_angle",
    "closest_records",
    "expected_crosta",
    "sam_categories",
]

#: Map colours of the SAM mineral groups (and unclassified).
SAM_COLOURS: dict[str, str] = {
    "unclassified": "#f0e6d2",
    "iron_oxide": "#d7301f",
    "aloh_clay": "#2166ac",
    "mgoh_carbonate": "#b8e186",
    "vegetation": "#1b7837",
    "soil": "#a6761d",
    "water": "#00bcd4",
    "snow": "#ffffff",
}
_VISIBLE = {"coastal", "blue", "green", "red"}


@functools.cache
def _crosta(folder: str, target: str):
    s = load_sample()
    return crosta(s.reflectance, target, valid=s.valid)


def expected_crosta(target: str = "hydroxyl"):
    """Return geo's Crosta result (:class:`~geo.spectral.pca.CrostaResult`) on the sample.

    Parameters
    ----------
    target : {"hydroxyl", "iron_oxide"}
        H or F component, fitted on the valid pixels of :func:`~geo.training.lesson2.load_sample`.
    """
    from geo.training import sample_dir

    return _crosta(str(sample_dir()), target)


# --------------------------------------------------------------------------------------------
# Crosta


def check_hydroxyl_pca(pca) -> bool:
    """Check a PCA fitted for the Crosta hydroxyl (H) image: bands, pixels and matrix.

    Parameters
    ----------
    pca : geo.spectral.pca.PCAResult
        The result of :func:`geo.spectral.pca.fit_pca`.

    Raises
    ------
    CheckFailed
        Wrong band subset (the message explains Loughlin's one-visible-band rule), the mask
        left out, the correlation instead of the covariance matrix, or other eigenvalues.
    """
    name = "hydroxyl PCA"
    if pca is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    if not isinstance(pca, PCAResult):
        raise CheckFailed(f"{name}: expected the result of fit_pca(...), got {type(pca).__name__}.")
    want = expected_crosta("hydroxyl").pca
    got_roles, want_roles = set(pca.roles), set(want.roles)
    if got_roles != want_roles:
        extra, missing = sorted(got_roles - want_roles), sorted(want_roles - got_roles)
        why = f"the H subset is {', '.join(want.roles)}"
        if len(got_roles & _VISIBLE) > 1:
            why += (
                ". It holds only one visible band: with a second one the iron-oxide slope "
                "(low blue, high red) leaks into the hydroxyl component (Loughlin 1991)"
            )
        if {"swir1", "swir2"} - got_roles:
            why += ". Both swir1 (the shoulder) and swir2 (the 2.2 µm Al-OH absorption) are needed"
        raise CheckFailed(
            f"{name}: the bands differ (extra: {extra or 'none'}, missing: {missing or 'none'}); "
            f"{why}."
        )
    if pca.standardized:
        raise CheckFailed(
            f"{name}: this PCA used the correlation matrix (standardize=True). Crosta's method "
            "uses the covariance of the reflectances: all four bands are in the same unit, and "
            "scaling them up would give the noise of a dull band as much weight as the signal."
        )
    if pca.n_pixels != want.n_pixels:
        s = load_sample()
        finite = int(np.isfinite(s.reflectance.sel(band=list(want.roles)).values).all(0).sum())
        if pca.n_pixels == finite:
            raise CheckFailed(
                f"{name}: fitted on all {finite} pixels with data; pass valid=valid so that only "
                f"the {want.n_pixels} valid pixels count. Left in, vegetation, water and cloud "
                "dominate the variance and the components describe them instead of the rocks."
            )
        raise CheckFailed(
            f"{name}: fitted on {pca.n_pixels} pixels; the valid mask of the lesson has "
            f"{want.n_pixels}. Pass valid=valid."
        )
    return check_array(pca.eigenvalues, want.eigenvalues, name=name, rtol=1e-4, atol=1e-10)


def _component_number(answer) -> int | None:
    if answer is None:
        return None
    text = str(answer).strip().upper().removeprefix("PC")
    try:
        return int(text)
    except ValueError:
        raise CheckFailed(
            f"hydroxyl component: {answer!r} is not a component number (4 or 'PC4')."
        ) from None


def check_hydroxyl_component(component, sign) -> bool:
    """Check which principal component carries the hydroxyl signal, and its sign.

    Parameters
    ----------
    component : int or str
        1-based component number (``4`` or ``"PC4"``) of the H PCA.
    sign : int
        +1 or −1: the factor that makes clay-rich pixels bright.

    Raises
    ------
    CheckFailed
        PC1, a component with swir1 and swir2 of one sign, a weaker candidate, or the wrong
        sign; the message quotes the loadings.
    """
    name = "hydroxyl component"
    c = expected_crosta("hydroxyl")
    vec, roles = c.pca.eigenvectors, c.pca.roles
    i1, i2, ib = roles.index("swir1"), roles.index("swir2"), roles.index("blue")
    number = _component_number(component)
    if number is None or sign is None:
        raise CheckFailed(f"{name}: no answer yet (a variable is None). Fill in the cell above.")
    if not 1 <= number <= len(roles):
        raise CheckFailed(f"{name}: there are {len(roles)} components, PC1 to PC{len(roles)}.")
    if sign not in (1, -1):
        raise CheckFailed(f"{name}: the sign is +1 or -1, got {sign!r}.")

    def loads(j: int) -> str:
        return f"swir1 {vec[i1, j]:+.3f}, swir2 {vec[i2, j]:+.3f}"

    j, best = number - 1, c.component - 1
    if number == 1:
        raise CheckFailed(
            f"{name}: PC1 loads every band with the same sign ({', '.join(f'{r} {v:+.2f}' for r, v in zip(roles, vec[:, 0], strict=True))}): "
            f"it is the overall brightness (albedo), {c.pca.explained_variance_ratio[0]:.0%} of "
            "the variance. The mineral signal hides in the small components: look for opposite "
            "signs on swir1 and swir2 in PC2 to PC4."
        )
    if vec[i1, j] * vec[i2, j] > 0:
        raise CheckFailed(
            f"{name}: PC{number} loads swir1 and swir2 with the same sign ({loads(j)}), so it "
            "does not contrast the 2.2 µm absorption (swir2) with its shoulder (swir1). Look for "
            "the component where they have opposite signs and large magnitudes."
        )
    if j != best:
        flip = 1 if vec[i1, j] > 0 else -1
        blue, blue_best = flip * vec[ib, j], c.sign * vec[ib, best]
        leak = (
            f" Made bright for clay, PC{number} loads blue {blue:+.3f} (PC{c.component}: "
            f"{blue_best:+.3f}): pixels with low blue, the iron oxides, would come out bright "
            "too — iron-oxide leakage."
            if blue < 0 and abs(blue) > abs(blue_best)
            else ""
        )
        raise CheckFailed(
            f"{name}: PC{number} contrasts swir1 and swir2 too ({loads(j)}, difference "
            f"{abs(vec[i1, j] - vec[i2, j]):.3f}), but PC{c.component} contrasts them more "
            f"({loads(best)}, difference {abs(vec[i1, best] - vec[i2, best]):.3f}).{leak}"
        )
    if sign != c.sign:
        raise CheckFailed(
            f"{name}: PC{number} is the right component, but multiplied by {sign:+d} it loads "
            f"swir1 {sign * vec[i1, j]:+.3f} and swir2 {sign * vec[i2, j]:+.3f}: clay-rich "
            "pixels (high swir1, low swir2) would come out dark. Use the sign that makes the "
            "swir1 loading positive."
        )
    explain = (
        f"PC{number} × {sign:+d} loads swir1 {sign * vec[i1, j]:+.3f} against swir2 "
        f"{sign * vec[i2, j]:+.3f}, so pixels that reflect at 1.6 µm and absorb at 2.2 µm "
        f"(Al-OH clays) are bright; it holds {c.pca.explained_variance_ratio[j]:.1%} of the "
        "variance — small, as mineral signals are."
    )
    return check_choice(number, str(c.component), name=name, explain=explain)


def check_crosta_image(image) -> bool:
    """Check a hydroxyl Crosta image computed by hand: sign · (X − mean) · loadings, masked.

    Raises
    ------
    CheckFailed
        The image is missing, of the opposite sign, not centred, from another component,
        unmasked, or different otherwise.
    """
    c = expected_crosta("hydroxyl")
    s = load_sample()
    roles = list(c.pca.roles)
    cube = s.reflectance.sel(band=roles).values.astype("float64")
    centred = cube - c.pca.mean[:, None, None]
    valid = s.valid.values

    def scores(j: int, sign: int, data=centred, masked: bool = True) -> np.ndarray:
        out = np.tensordot(sign * c.pca.eigenvectors[:, j], data, axes=1)
        return np.where(valid, out, np.nan) if masked else out

    j = c.component - 1
    mistakes: list[tuple[Callable[[], object], str]] = [
        (
            lambda: scores(j, -c.sign),
            "the sign is flipped: clay-rich pixels are dark. Multiply by the sign that makes "
            "the swir1 loading positive.",
        ),
        (
            lambda: scores(j, c.sign, cube),
            "the band means were not subtracted: a PCA score is (pixel − mean) · loadings. "
            "Use pca.mean.",
        ),
        (
            lambda: scores(j, c.sign, masked=False),
            "the values are right on the valid pixels, but the masked ones hold values too; "
            "set them to NaN with np.where(valid, ..., np.nan) or .where(valid).",
        ),
        *[
            (
                functools.partial(scores, other, sgn),
                f"this is PC{other + 1} (× {sgn:+d}); the hydroxyl image is PC{c.component} "
                f"× {c.sign:+d}.",
            )
            for other in range(len(roles))
            if other != j
            for sgn in (1, -1)
        ],
    ]
    return _check_array_mistakes(
        image,
        c.image,
        mistakes,
        name="hydroxyl Crosta image",
        rtol=1e-3,
        atol=1e-5,
        hint="Compute sign · Σ loading_b · (band_b − mean_b) over the four bands, NaN where not valid.",
    )


# --------------------------------------------------------------------------------------------
# Spectral angle mapper


def _library():
    lib = load_library("landsat_oli").set_index("name")
    return lib, [c for c in lib.columns if c not in ("group", "record", "library")]


def _angle(pixel: np.ndarray, reference: np.ndarray) -> float:
    cosine = pixel @ reference / (np.linalg.norm(pixel) * np.linalg.norm(reference))
    return float(np.arccos(np.clip(cosine, -1.0, 1.0)))


def check_pixel_angle(angle, row: int, col: int, mineral: str = "kaolinite_kga1") -> bool:
    """Check the spectral angle (radians) between one pixel and a library spectrum.

    Expected: :func:`geo.spectral.sam.spectral_angle` over the seven OLI bands of the library.

    Parameters
    ----------
    angle : float
        The learner's angle.
    row, col : int
        The pixel (row and column from the top-left corner of the sample).
    mineral : str
        The library record (``load_library("landsat_oli")["name"]``).

    Raises
    ------
    CheckFailed
        Missing, NaN (not normalised), in degrees, a cosine, over six bands, against another
        record, at the swapped pixel, or different otherwise.
    """
    name = f"spectral angle of pixel ({row}, {col}) to {mineral}"
    lib, bands = _library()
    if mineral not in lib.index:
        raise CheckFailed(f"{name}: {mineral!r} is not in the library; names: {list(lib.index)}.")
    s = load_sample()
    cube = s.reflectance.sel(band=bands)
    expected = float(
        spectral_angle(cube[:, row : row + 1, col : col + 1], lib.loc[mineral, bands])[0, 0]
    )
    if answer_is_nan(angle):
        raise CheckFailed(
            f"{name}: the angle is NaN. np.arccos needs a number between −1 and 1: divide the "
            "dot product by the lengths of both spectra (np.linalg.norm), and check that the "
            "pixel is not masked."
        )
    pixel = cube[:, row, col].values.astype("float64")
    reference = lib.loc[mineral, bands].to_numpy(dtype="float64")
    cosine = pixel @ reference / (np.linalg.norm(pixel) * np.linalg.norm(reference))
    mistakes = [
        (np.degrees(expected), "this is the angle in degrees; SAM thresholds are in radians."),
        (float(cosine), "this is the cosine of the angle; take np.arccos of it."),
        (
            float(pixel @ reference),
            "this is the plain dot product; divide it by the lengths of both spectra "
            "(np.linalg.norm) and take np.arccos.",
        ),
        (
            _angle(pixel[1:], reference[1:]),
            "this angle leaves out the coastal band; use all seven library bands "
            f"({', '.join(bands)}).",
        ),
        *[
            (
                _angle(pixel, lib.loc[other, bands].to_numpy(dtype="float64")),
                f"this is the angle to {other!r}, not to {mineral!r}.",
            )
            for other in lib.index
            if other != mineral
        ],
    ]
    if row != col and 0 <= col < cube.sizes["y"] and 0 <= row < cube.sizes["x"]:
        swapped = cube[:, col, row].values.astype("float64")
        if np.isfinite(swapped).all():
            mistakes.append(
                (
                    _angle(swapped, reference),
                    f"this is pixel ({col}, {row}): row and column are swapped. The row comes "
                    "first: reflectance[:, row, col].",
                )
            )
    return _check_value_mistakes(angle, expected, mistakes, name=name, rtol=2e-3)


def answer_is_nan(answer) -> bool:
    """Return True when ``answer`` is a number and NaN (a helper for the checks)."""
    try:
        return bool(np.isnan(float(answer)))
    except (TypeError, ValueError):
        return False


def check_angle_map(angles, mineral: str = "kaolinite_kga1") -> bool:
    """Check a whole-scene spectral angle map to a library spectrum, NaN outside the mask.

    Raises
    ------
    CheckFailed
        Missing, in degrees, unmasked, over six bands, or different otherwise.
    """
    lib, bands = _library()
    s = load_sample()
    reference = lib.loc[mineral, bands]
    expected = spectral_angle(s.reflectance, reference).where(s.valid)
    cube = s.reflectance.sel(band=bands).values.astype("float64")
    valid = s.valid.values

    def by_hand(data: np.ndarray, ref: np.ndarray, masked: bool = True) -> np.ndarray:
        cosine = np.tensordot(ref, data, axes=1) / (
            np.linalg.norm(data, axis=0) * np.linalg.norm(ref)
        )
        out = np.arccos(np.clip(cosine, -1.0, 1.0))
        return np.where(valid, out, np.nan) if masked else out

    ref = reference.to_numpy(dtype="float64")
    mistakes = [
        (
            lambda: np.degrees(expected.values),
            "these angles are in degrees; SAM works in radians (np.arccos returns radians).",
        ),
        (
            lambda: by_hand(cube, ref, masked=False),
            "the masked pixels hold angles too; set them to NaN with np.where(valid, ..., np.nan).",
        ),
        (
            lambda: by_hand(cube[1:], ref[1:]),
            f"the coastal band is left out; use all seven library bands ({', '.join(bands)}).",
        ),
    ]
    return _check_array_mistakes(
        angles,
        expected,
        mistakes,
        name=f"spectral angle map to {mineral}",
        rtol=1e-3,
        atol=5e-4,
        hint="angle = arccos(Σ pixel·reference / (|pixel| · |reference|)), in radians, NaN where not valid.",
    )


def sam_categories(codes: Mapping[int, str], present=None) -> dict[int, tuple[str, str]]:
    """Map the group codes of :func:`geo.spectral.sam.sam_classify` to (name, colour) for a map.

    Parameters
    ----------
    codes : mapping of int to str
        ``best_group.attrs["codes"]``.
    present : array-like, optional
        The codes on the map; only these get a legend entry.
    """
    keep = None if present is None else set(np.unique(np.asarray(present, dtype="float64")))
    return {
        int(code): (group.replace("_", " "), SAM_COLOURS.get(group, "#888888"))
        for code, group in codes.items()
        if (group in SAM_COLOURS or group in GROUPS) and (keep is None or code in keep)
    }


def closest_records(
    reflectance: xr.DataArray, pixels: Mapping[str, tuple[int, int]], *, n: int = 3
) -> pd.DataFrame:
    """Return the ``n`` library records with the smallest spectral angle to each pixel.

    Parameters
    ----------
    reflectance : xarray.DataArray
        ``(band, y, x)`` reflectance with the library's band roles.
    pixels : mapping of str to (row, col)
        A label per pixel.
    n : int
        How many records to list.

    Returns
    -------
    pandas.DataFrame
        One row per pixel: ``row``, ``col``, then ``1st`` … with ``"name (group): angle"``.
    """
    lib, bands = _library()
    references = lib[bands].to_numpy(dtype="float64")
    cube = reflectance.sel(band=bands)
    rows = []
    for label, (row, col) in pixels.items():
        pixel = cube[:, row, col].values.astype("float64")
        angles = [_angle(pixel, ref) for ref in references]
        order = np.argsort(angles)[:n]
        ranks = ["1st", "2nd", "3rd", *[f"{i}th" for i in range(4, n + 1)]]
        rows.append(
            {
                "pixel": label,
                "row": row,
                "col": col,
                **{
                    ranks[i]: f"{lib.index[k]} ({lib['group'].iloc[k]}): {angles[k]:.3f} rad"
                    for i, k in enumerate(order)
                },
            }
        )
    return pd.DataFrame(rows).set_index("pixel")
