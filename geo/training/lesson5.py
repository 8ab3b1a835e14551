"""Lesson 5: from alteration to targets.

Evidence, fuzzy overlay, weights of evidence, licence join, ranking and success-rate curves.

The checks compute the expected answer with geo's prospectivity API
(:mod:`geo.prospectivity.evidence`, :mod:`geo.prospectivity`,
:mod:`geo.targets.licences`) and say what is off. The lesson's settings live here so the
notebook and the checks share them: the fault membership (:data:`FAULT_LOW_M` →
:data:`FAULT_HIGH_M`), the fault pattern for weights of evidence (:data:`FAULT_BUFFER_M`)
and γ (:data:`GAMMA`).

Reusable piece: :func:`lesson_spec`, the shipped prospectivity pipeline pointed at the
sample data with the field exports off (a run in about 20 s on a laptop).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import xarray as xr

from geo.training import _root, sample_dir
from geo.training.checks import CheckFailed, check_array, check_choice, check_value

__all__ = [
    "FAULT_BUFFER_M",
    "FAULT_HIGH_M",
    "FAULT_LOW_M",
    "GAMMA",
    "LICENCE_FIELDS",
    "check_auc",
    "check_best_licence",
    "check_gamma",
    "check_membership",
    "check_weights",
    "lesson_spec",
]

PRODUCT = "LC08_L2SR_171075_20230601_20230607_02_T1"

#: Fault membership: 1 on a fault, falling linearly to 0 at 1.5 km (as in the pipeline).
FAULT_LOW_M, FAULT_HIGH_M = 1500.0, 0.0

#: Weights of evidence: the binary pattern "within 500 m of a fault".
FAULT_BUFFER_M = 500.0

#: γ of the fuzzy gamma exercise (Carranza & Hale 2001 found 0.73–0.79 best).
GAMMA = 0.75

#: Columns of the sample's licence layer, for :func:`geo.io.vector.read_licences`.
LICENCE_FIELDS = {"licence_id": "licence_no", "holder": "holder_name", "status": "status"}


def lesson_spec(*, indices: tuple[str, ...] = ("iron_oxide", "clay_hydroxyl", "ndvi", "mndwi")):
    """Return the shipped ``pipelines/landsat_prospectivity.yaml``, set up for the lesson.

    Its inputs (scene, licences, occurrences, faults) are pointed at :func:`sample_dir`,
    only ``indices`` are computed (the evidence needs iron oxide and clay; NDVI and MNDWI
    are for the masks) and the field exports (report, KML, GPX...) are off, so a run takes
    about 20 s on the sample. Everything else (masks, anomalies, evidence, memberships,
    weights, targets) is the shipped pipeline's.
    """
    from geo.pipeline.spec import load_spec

    spec = load_spec(_root() / "pipelines" / "landsat_prospectivity.yaml")
    sample = sample_dir()

    def here(path):
        return None if path is None else sample / Path(path).name

    scene, licences, occurrences = spec.inputs.scene, spec.inputs.licences, spec.inputs.occurrences
    assert scene is not None and licences is not None and occurrences is not None  # shipped
    inputs = spec.inputs.model_copy(
        update={
            "scene": scene.model_copy(update={"path": sample / PRODUCT}),
            "licences": licences.model_copy(update={"path": here(licences.path)}),
            "occurrences": occurrences.model_copy(update={"path": here(occurrences.path)}),
        }
    )
    evidence = {
        name: ev.model_copy(update={"vector": here(ev.vector)})
        for name, ev in spec.evidence.items()
    }
    return spec.model_copy(
        update={
            "inputs": inputs,
            "evidence": evidence,
            "indices": list(indices),
            "export": spec.export.model_copy(update={"formats": []}),
        }
    )


@functools.lru_cache(maxsize=2)
def _grid(folder: str) -> xr.DataArray:
    from geo.io import open_scene

    return open_scene(f"{folder}/{PRODUCT}").reflectance.isel(band=0, drop=True)


def _template(like=None) -> xr.DataArray:
    """Return the scene grid (or ``like``, when it is a raster with a CRS)."""
    if isinstance(like, xr.DataArray) and like.rio.crs is not None:
        return like
    return _grid(str(sample_dir()))


@functools.lru_cache(maxsize=2)
def _fault_distance(folder: str) -> xr.DataArray:
    from geo.prospectivity.evidence import distance_to_lines

    faults = gpd.read_file(f"{folder}/structures.gpkg", layer="faults")
    return distance_to_lines(faults, _grid(folder)).compute()


def fault_distance() -> xr.DataArray:
    """Distance (m) from each pixel to the nearest fault of the sample (cached)."""
    return _fault_distance(str(sample_dir()))


def occurrence_cells(template=None) -> np.ndarray:
    """Boolean ``(y, x)``: the cells holding a known occurrence of the sample."""
    from geo.prospectivity.evidence import points_to_mask

    occurrences = gpd.read_file(sample_dir() / "occurrences.gpkg", layer="occurrences")
    return points_to_mask(occurrences, _template(template)).values > 0


def _array(x) -> np.ndarray:
    return np.asarray(x.values if isinstance(x, xr.DataArray) else x, dtype="float64")


def _number(value, name: str) -> float:
    if value is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name}: expected a number, got {type(value).__name__}.") from None


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def check_membership(mu) -> bool:
    """Check the linear fuzzy membership of distance to faults.

    Expected: ``fuzzy_linear(distance, FAULT_LOW_M, FAULT_HIGH_M)`` — 1 on a fault, 0 at
    1.5 km and beyond — with ``distance_to_lines`` of the sample's faults.
    """
    from geo.prospectivity import fuzzy_linear

    name = "fault membership"
    if mu is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    distance = fault_distance()
    expected = _array(fuzzy_linear(distance, FAULT_LOW_M, FAULT_HIGH_M))
    got = _array(mu)
    d = _array(distance)
    if got.shape == expected.shape:
        if np.allclose(got, 1.0 - expected, atol=1e-4) and not np.allclose(got, expected):
            raise CheckFailed(
                f"{name}: it is reversed — 1 far from the faults and 0 on them. Near a fault "
                "is favourable: membership 1 at distance 0, falling to 0 at 1500 m."
            )
        if np.allclose(got, 1.0 - d / FAULT_LOW_M, atol=1e-4):
            raise CheckFailed(
                f"{name}: values go below 0 far from the faults (down to {got.min():.2f}). "
                "A membership stays in [0, 1]: clip it, e.g. np.clip(..., 0, 1)."
            )
        if np.allclose(got, np.clip(1.0 - d / 1.5, 0, 1), atol=1e-4):
            raise CheckFailed(
                f"{name}: the distance is in metres, not kilometres: use 1500, not 1.5."
            )
        if np.nanmax(got) > 1.0 + 1e-6 or np.nanmin(got) < -1e-6:
            raise CheckFailed(
                f"{name}: values run from {np.nanmin(got):.3g} to {np.nanmax(got):.3g}; a "
                "membership must stay in [0, 1] (clip it)."
            )
    return check_array(
        got,
        expected,
        name=name,
        atol=1e-4,
        hint="Membership = 1 − distance / 1500, clipped to [0, 1].",
    )


def check_gamma(answer, mu_a, mu_b, gamma: float = GAMMA) -> bool:
    """Check a fuzzy gamma of two membership layers computed by hand.

    Expected: :func:`geo.prospectivity.fuzzy_gamma` of ``[mu_a, mu_b]`` with
    ``gamma``: FAS^γ · FAP^(1−γ), FAS = 1 − (1 − a)(1 − b), FAP = a · b.
    """
    from geo.prospectivity import fuzzy_gamma, fuzzy_product, fuzzy_sum

    name = f"fuzzy gamma (γ = {gamma:g})"
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    a, b = _array(mu_a), _array(mu_b)
    expected = _array(fuzzy_gamma([a, b], gamma))
    got = _array(answer)
    if got.shape == expected.shape and not np.allclose(got, expected, atol=1e-5, equal_nan=True):
        wrong = {
            "the exponents are swapped: FAS takes γ and FAP takes 1 − γ": fuzzy_gamma(
                [a, b], 1.0 - gamma
            ),
            "this is the algebraic product FAP = a·b alone; raise it to 1 − γ and multiply "
            "by FAS^γ": fuzzy_product([a, b]),
            "this is the algebraic sum FAS = 1 − (1 − a)(1 − b) alone; raise it to γ and "
            "multiply by FAP^(1 − γ)": fuzzy_sum([a, b]),
            "the algebraic sum is wrong: FAS = 1 − (1 − a)(1 − b), not a + b": np.clip(
                a + b, 0, None
            )
            ** gamma
            * (a * b) ** (1.0 - gamma),
        }
        for why, values in wrong.items():
            if np.allclose(got, _array(values), atol=1e-5, equal_nan=True):
                raise CheckFailed(f"{name}: {why}.")
    return check_array(got, expected, name=name, atol=1e-5, hint="γ = FAS^γ × FAP^(1 − γ).")


def expected_weights() -> dict:
    """:func:`geo.prospectivity.wofe_weights` of the lesson's fault pattern."""
    from geo.prospectivity import wofe_weights

    pattern = _array(fault_distance()) <= FAULT_BUFFER_M
    return wofe_weights(pattern, occurrence_cells())


def check_weights(w_plus, w_minus) -> bool:
    """Check W⁺ and W⁻ of the pattern "within 500 m of a fault", computed from counts.

    Expected: :func:`geo.prospectivity.wofe_weights` over the whole grid, one
    unit cell per pixel, the occurrences as deposit cells.
    """
    wp, wm = _number(w_plus, "W+"), _number(w_minus, "W−")
    w = expected_weights()
    b, s, d_b, d_s = w["b"], w["s"], w["d_b"], w["d_s"]
    if np.isclose(wp, w["w_minus"], rtol=1e-3) and np.isclose(wm, w["w_plus"], rtol=1e-3):
        raise CheckFailed("W+ and W−: they are swapped. W+ is for cells on the pattern.")
    if np.isclose(wp, w["w_plus"] / math.log(10), rtol=1e-3):
        raise CheckFailed("W+: you used log10; weights of evidence use the natural log (np.log).")
    check_value(
        wp,
        w["w_plus"],
        name="W+",
        hint=f"W+ = ln[(d_b/d_s) / ((b − d_b)/(s − d_s))] with b = {b:.0f}, s = {s:.0f}, "
        f"d_b = {d_b}, d_s = {d_s}.",
    )
    return check_value(
        wm,
        w["w_minus"],
        name="W−",
        hint="W− = ln[((d_s − d_b)/d_s) / ((s − b − d_s + d_b)/(s − d_s))].",
    )


def check_auc(auc, score) -> bool:
    """Check the area under the success-rate curve of ``score`` against the occurrences.

    Expected: :func:`geo.prospectivity.curve_auc` of
    :func:`geo.prospectivity.success_rate_curve` (cells ranked best first; NaN
    cells left out).
    """
    from geo.prospectivity import curve_auc, success_rate_curve

    value = _number(auc, "success-rate AUC")
    area, found = success_rate_curve(score, occurrence_cells(score))
    expected = curve_auc(area, found)
    if not np.isclose(value, expected, atol=1e-3) and np.isclose(value, 1 - expected, atol=1e-3):
        raise CheckFailed(
            f"success-rate AUC: {value:.3f} is 1 − the expected value: the cells were ranked "
            "worst first. Rank them by score, highest first."
        )
    return check_value(
        value,
        expected,
        name="success-rate AUC",
        atol=1e-3,
        hint="area, found = success_rate_curve(score, deposits); auc = curve_auc(area, found).",
    )


def expected_best_licence(targets: gpd.GeoDataFrame) -> tuple[str, str, float]:
    """Return (licence_id, target_id, score) of the best target lying in a licence."""
    from geo.io.vector import read_licences
    from geo.targets.licences import assign_licences

    licences, _ = read_licences(
        sample_dir() / "licences.gpkg", layer="licences", fields=LICENCE_FIELDS,
        to_crs=targets.crs,
    )  # fmt: skip
    joined = assign_licences(targets[["target_id", "score", "geometry"]], licences)
    inside = joined[joined["licence_id"].notna()]
    best = inside.loc[inside["score"].idxmax()]
    return str(best["licence_id"]), str(best["target_id"]), float(best["score"])


def check_best_licence(answer, targets: gpd.GeoDataFrame) -> bool:
    """Check which licence holds the best-scoring target (of the targets inside licences)."""
    licence, target, score = expected_best_licence(targets)
    if answer is not None and str(answer).strip().startswith("Example "):
        raise CheckFailed(
            f"best licence: {answer!r} is a holder; give the licence number (licence_id, "
            "e.g. 'PL 013/2021')."
        )
    if isinstance(answer, float) and math.isnan(answer):
        raise CheckFailed(
            "best licence: NaN means the target lies in no licence. Keep only the targets "
            "with a licence_id (dropna) before taking the best."
        )
    return check_choice(
        answer,
        licence,
        name="best licence",
        explain=f"{target} (score {score:.3f}) is the best target inside a licence, and it "
        f"lies in {licence}.",
    )
