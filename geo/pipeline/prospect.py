"""The prospectivity stage: evidence layers on the scene grid → one score → its evaluation.

Reads the evidence sources of the pipeline file (rasters of this run, outside rasters in
any CRS, vectors in any CRS), puts each on the scene grid, turns it into the model input
(its fuzzy membership when one is given, else its values), fits or builds the
combination (:mod:`geo.prospectivity.combine`, :mod:`geo.prospectivity.modelling`), writes the
layers and the score as COGs, and tests the score against the known occurrences:
success-rate (or prediction-rate) curve, area capture, ROC-AUC, and leave-one-out and
spatially blocked hold-outs for the fitted methods.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from geo._memory import release_memory
from geo.errors import GeoWarning, InvalidParameterError
from geo.io.layers import open_run_layer, read_raster_layer
from geo.io.runfolder import safe_child
from geo.io.stack import Grid, reproject_to_grid
from geo.io.vector import read_vector
from geo.io.writers import RasterLayer, write_rasters
from geo.pipeline.spec import PipelineSpec, Prospectivity
from geo.prospectivity import (
    conditional_independence,
    curve_auc,
)
from geo.prospectivity.combine import (
    KNOWLEDGE_METHODS,
    Combination,
    apply_combination,
    fit_wofe,
    knowledge_combination,
)
from geo.prospectivity.evidence import (
    distance_to_lines,
    distance_to_points,
    line_density,
    line_intersections,
    point_pixels,
    rasterize_attribute,
    slope_degrees,
)
from geo.prospectivity.streaming import KeyHistogram, evaluate_score, streaming_median

__all__ = ["Prospect", "read_occurrences", "run_prospectivity"]

logger = logging.getLogger(__name__)


@dataclass
class Prospect:
    """What the stage produced (the rasters are on disk and reopened lazily)."""

    score: xr.DataArray
    inputs: dict[str, xr.DataArray]
    combination: Combination
    baseline: dict[str, float]
    study: xr.DataArray
    deposits: np.ndarray | None
    info: dict
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    evaluation: dict | None = None
    structures: object = None  # line evidence (GeoDataFrame), for the maps
    occurrences: object = None  # occurrence points (GeoDataFrame), for the maps


def _section(spec: PipelineSpec) -> Prospectivity:
    """Return the ``prospectivity`` section of ``spec`` (an error when it has none)."""
    if spec.prospectivity is None:
        raise InvalidParameterError(
            f"pipeline {spec.name!r} has no prospectivity section: no score to build."
        )
    return spec.prospectivity


def read_occurrences(spec: PipelineSpec, template: xr.DataArray):
    """Known occurrences (points) reprojected to the scene CRS, with reading info, or None."""
    occ = spec.inputs.occurrences
    if occ is None:
        return None
    return read_vector(
        occ.path,
        layer=occ.layer,
        to_crs=template.rio.crs,
        what="occurrence layer (inputs.occurrences)",
        kinds=("points",),
    )


def _chunked_view(da: xr.DataArray, chunk: int) -> xr.DataArray:
    """Return the in-memory grid ``da`` as dask chunks that are views of it, not copies.

    ``DataArray.chunk`` (``dask.array.from_array``) slices a numpy array into copies of its
    chunks up front: a second whole grid in memory (0.24 GB for a float32 Landsat layer).
    """
    import dask.array as dsa

    values = da.values

    def piece(block_info=None):
        (r0, r1), (c0, c1) = block_info[None]["array-location"]
        return values[r0:r1, c0:c1]

    data = dsa.map_blocks(
        piece,
        chunks=dsa.core.normalize_chunks((chunk, chunk), values.shape),
        dtype=values.dtype,
        meta=np.empty((0, 0), dtype=values.dtype),
    )
    return da.copy(data=data)


def _grid_of(template: xr.DataArray) -> Grid:
    rows, cols = template.shape  # the scene grid: (y, x)
    return Grid(template.rio.crs, template.rio.transform(), (rows, cols))


def _on_grid(da: xr.DataArray, template: xr.DataArray, resampling: str, chunk: int, info: dict):
    """Put an outside raster on the scene grid: reproject explicitly when CRS or grid differ."""
    same = (
        da.rio.crs == template.rio.crs
        and da.shape == template.shape
        and da.rio.transform().almost_equals(template.rio.transform())
    )
    if same:
        return da.assign_coords(x=template.x, y=template.y)
    info["reprojected"] = {
        "from_crs": da.rio.crs.to_string(),
        "from_resolution": [abs(v) for v in da.rio.resolution()],
        "resampling": resampling,
    }
    return reproject_to_grid(da, _grid_of(template), resampling=resampling, chunk=chunk)


def _evidence_values(name, ev, template, rasters: Path, chunk: int, scratch: Path | None = None):
    """One evidence layer's values on the scene grid, its info, category codes and line vector.

    The last two are None when they do not apply. A distance is written strip by strip to
    ``scratch`` when given (the caller deletes it) and read back lazily, so its grid is
    never held whole.
    """
    info: dict = {"measure": ev.measure}
    codes = None
    if ev.layer is not None:
        info["source"] = f"rasters/{ev.layer}.tif"
        if ev.layer == "class_probability":
            proba = open_run_layer(rasters / "class_probability.tif", chunk, squeeze=False)
            names = list(proba.attrs.get("long_name", ()))
            if isinstance(ev.band, str):
                if ev.band not in names:
                    raise InvalidParameterError(
                        f"evidence.{name}.band: class {ev.band!r} is not predicted; classes are "
                        f"{', '.join(map(str, names))}."
                    )
                band = names.index(ev.band) + 1
            else:
                band = ev.band
            return proba.sel(band=band, drop=True), {**info, "band": ev.band}, None, None
        return open_run_layer(rasters / f"{ev.layer}.tif", chunk), info, None, None
    if ev.raster is not None:
        if isinstance(ev.band, str):
            raise InvalidParameterError(
                f"evidence.{name}.band: give a band number for a raster file; got {ev.band!r}."
            )
        info["source"] = str(ev.raster)
        da = read_raster_layer(ev.raster, band=ev.band, label=f"evidence {name!r}", chunk=chunk)
        da = _on_grid(da, template, ev.resampling, chunk, info)
        if ev.measure == "slope":
            da = slope_degrees(da.load(), name=name)
        return da, info, None, None
    kinds = {
        "distance": ("points", "lines", "polygons"),
        "intersection_distance": ("lines",),
        "density": ("lines",),
        "category": ("polygons",),
    }[ev.measure]
    gdf, vinfo = read_vector(
        ev.vector,
        layer=ev.vector_layer,
        to_crs=template.rio.crs,
        what=f"vector of evidence {name!r}",
        kinds=kinds,
        columns=(ev.column,) if ev.column else (),
    )
    info.update(source=str(ev.vector), **{k: v for k, v in vinfo.items() if k != "file"})
    if ev.measure == "distance":
        kind = set(gdf.geom_type)
        if kind <= {"Point", "MultiPoint"}:
            da = distance_to_points(gdf, template, name=name, path=scratch, chunk=chunk)
        else:
            # lines, or polygon outlines (contacts): distance to the nearest boundary
            lines = gdf.boundary if not kind <= {"LineString", "MultiLineString"} else gdf
            da = distance_to_lines(lines, template, name=name, path=scratch, chunk=chunk)
    elif ev.measure == "intersection_distance":
        nodes = line_intersections(gdf)
        info["intersections"] = len(nodes)
        if nodes.empty:
            raise InvalidParameterError(
                f"{ev.vector}: evidence {name!r}: the lines never cross, so there is no "
                "intersection to measure a distance to."
            )
        da = distance_to_points(nodes, template, name=name, path=scratch, chunk=chunk)
    elif ev.measure == "density":
        da = line_density(gdf, template, radius_m=ev.radius_m, name=name)
        info["radius_m"] = ev.radius_m
    else:
        da, legend = rasterize_attribute(gdf, template, ev.column, name=name)
        codes = {str(v): float(k) for k, v in legend.items()}
        info["categories"] = {str(v): int(k) for k, v in legend.items()}
    lines = gdf if set(gdf.geom_type) <= {"LineString", "MultiLineString"} else None
    return da, info, codes, lines


def _membership(name, ev, codes):
    if ev.membership is None:
        return None
    if ev.membership.function == "categories" and codes is not None:
        unknown = sorted(set(ev.membership.values) - set(codes or {}))
        if unknown:
            raise InvalidParameterError(
                f"evidence.{name}.membership.values: {', '.join(map(repr, unknown))} is not a "
                f"value of column {ev.column!r}; it holds {', '.join(sorted(codes or {}))}."
            )
    return ev.membership.to_membership(codes)


def fit_combination(
    spec: PipelineSpec,
    inputs: dict[str, np.ndarray],
    study: np.ndarray,
    deposits: np.ndarray | None,
    *,
    pixel_m: float,
    wofe_thresholds: dict[str, float] | None = None,
) -> tuple[Combination, dict]:
    """Build (knowledge-driven) or fit (data-driven) the combination on in-memory inputs."""
    p = _section(spec)
    names = list(inputs)
    if p.method in KNOWLEDGE_METHODS:
        return _knowledge(p, names), {}
    if deposits is None:
        raise InvalidParameterError(
            f"prospectivity.method {p.method!r} is fitted on known occurrences; set "
            "inputs.occurrences (points)"
        )
    if p.method == "wofe":
        wofe = fit_wofe(
            inputs,
            deposits,
            valid=study,
            ascending={n: spec.evidence[n].is_favourable_low() for n in names},
            classes=p.classes,
            min_studentised=p.min_studentised,
            thresholds=wofe_thresholds,
        )
        return wofe.combination(), {"model": wofe}
    from geo.prospectivity.modelling import fit_prospectivity

    model = fit_prospectivity(
        inputs,
        deposits,
        method=p.method,
        valid=study,
        buffer_px=p.negatives.buffer_m / pixel_m,
        negatives_ratio=p.negatives.ratio,
        random_state=p.seed,
        estimator_params=p.estimator_params or None,
    )

    def kernel(values):
        arrays = {n: np.asarray(values[n], dtype="float64") for n in names}
        shape = arrays[names[0]].shape
        flat = {n: a.reshape(1, -1) if a.ndim != 2 else a for n, a in arrays.items()}
        return np.asarray(model.predict(flat), dtype="float32").reshape(shape)

    weights = model.coefficients() if p.method == "logistic" else model.importances()
    info = {
        "method": p.method,
        "evidence": names,
        "positives": model.n_positive,
        "negatives": model.n_negative,
        "negatives_buffer_m": p.negatives.buffer_m,
        ("standardised_coefficients" if p.method == "logistic" else "importances"): {
            k: round(float(v), 6) for k, v in weights.items()
        },
        "estimator": type(model.estimator).__name__,
        "seed": p.seed,
    }
    return Combination(p.method, tuple(names), kernel, info), {"model": model}


def _knowledge(p: Prospectivity, names: list[str]) -> Combination:
    """Build the knowledge-driven combination of ``names`` (nothing to fit: names only)."""
    return knowledge_combination(p.method, names, weights=p.weights, gamma=p.gamma)


def run_prospectivity(
    spec: PipelineSpec,
    reasons: xr.DataArray,
    rasters: Path,
    *,
    chunk: int,
    notes: list[str],
    occurrences=None,
    fill_bit: int = 1,
    out_dir: Path | None = None,
) -> Prospect:
    """Evidence → model inputs → score on disk, plus the evaluation against occurrences.

    ``reasons`` is the run's mask-reason raster (defines the grid; the study area is every
    pixel with data, bit ``fill_bit`` clear). Writes ``evidence_<name>.tif`` (values of
    outside sources), ``membership_<name>.tif``, ``prospectivity.tif`` and, for weights of
    evidence, ``prospectivity_std.tif`` under ``out_dir`` (default ``rasters``, where the
    run's own layers are read from).
    """
    out_dir = rasters if out_dir is None else out_dir
    template = reasons.astype("float32")
    in_study = (reasons & fill_bit) == 0  # lazy, for the layers written chunk by chunk
    study = in_study.compute()  # in memory (bool), for the statistics
    pixel_m = abs(float(reasons.rio.resolution()[0]))
    inputs, infos, structures, counted = _model_inputs(
        spec, template, in_study, rasters, out_dir, chunk
    )
    deposits, occ_info = _deposits(occurrences, template, study)
    method = _section(spec).method
    combination, extra, in_memory = _combine(spec, inputs, study, deposits, pixel_m, notes)
    score = apply_combination(combination.kernel, inputs, name="prospectivity").where(in_study)
    out = {"prospectivity": RasterLayer(score, description=f"prospectivity ({method})")}
    if combination.std_kernel is not None:
        out["prospectivity_std"] = RasterLayer(
            apply_combination(combination.std_kernel, inputs, name="std").where(in_study),
            description="posterior standard deviation",
        )
    write_rasters(out, out_dir)
    score_disk = open_run_layer(out_dir / "prospectivity.tif", chunk)
    # a typical location, for the per-target contributions: each input's median in the study area
    # (strip by strip, exact; the first pass of a layer written here was counted as it was)
    baseline = {}
    for name, da in inputs.items():
        median = streaming_median(da, study.values, histogram=counted.get(name))
        baseline[name] = median if np.isfinite(median) else 0.0
    info = {
        "method": method,
        "evidence": infos,
        "combination": combination.info,
        "baseline_medians": {k: round(v, 6) for k, v in baseline.items()},
        "occurrences": occ_info,
    }
    result = Prospect(score_disk, inputs, combination, baseline, study, deposits, info)
    if structures:
        import pandas as pd

        result.structures = pd.concat(list(structures.values()), ignore_index=True)
    if occurrences is not None:
        result.occurrences = occurrences[0]
    if deposits is not None:
        _evaluate(spec, result, in_memory, pixel_m, notes, extra)
    return result


def _model_inputs(spec, template, in_study, rasters: Path, out_dir: Path, chunk: int):
    """Every evidence layer on the scene grid as the model's input (membership or values).

    Layers computed here (outside sources, memberships) are written to ``out_dir`` one at a
    time and re-opened, so no two whole grids are held at once (a distance is not held
    whole at all: it is written strip by strip to a scratch file, read back chunk by chunk
    and deleted). Returns the inputs, the evidence infos for the manifest, the line vectors
    (``structures``) by source, and for each input written here the
    :class:`~geo.prospectivity.streaming.KeyHistogram` of its values counted in the pass
    that wrote it (the first pass of its median).
    """
    kept: dict[str, xr.DataArray] = {}  # inputs used as they are (not written here)
    infos: dict[str, dict] = {}
    written: set[str] = set()
    structures = {}
    counted: dict[str, KeyHistogram] = {}
    for name, ev in spec.evidence.items():
        scratch = safe_child(out_dir, f"scratch_distance_{name}", ".tif")
        try:
            da, info, codes, lines = _evidence_values(
                name, ev, template, rasters, chunk, scratch=scratch
            )
            if lines is not None:
                structures[(str(ev.vector), ev.vector_layer)] = lines.assign(
                    source=Path(str(ev.vector)).name
                )
            if not da.chunks:  # a computed grid (density...): transform it chunk by chunk
                da = _chunked_view(da, chunk)
            layers_out = {}
            if ev.layer is None:
                layers_out[f"evidence_{name}"] = RasterLayer(
                    da.where(in_study), description=f"evidence {name}: {ev.measure}"
                )
            membership = _membership(name, ev, codes)
            if membership is not None:
                info["membership"] = membership.describe()
                layers_out[f"membership_{name}"] = RasterLayer(
                    membership.apply(da).where(in_study), description=f"membership of {name}"
                )
            taps = []
            key = f"membership_{name}" if membership is not None else f"evidence_{name}"
            if key in layers_out and layers_out[key].data.dtype == np.float32:
                # the model input: its values counted as they are written (median, 1st pass)
                counted[name] = KeyHistogram()
                taps.append((layers_out[key].data.data, counted[name]))
            # written now, one evidence layer at a time, so no two whole grids are held at once
            write_rasters(layers_out, out_dir, taps=taps)
            written.update(layers_out)
            if not layers_out:
                kept[name] = da
            infos[name] = info
            del da, layers_out, taps
        finally:
            _drop_scratch(scratch)
        release_memory()
    inputs: dict[str, xr.DataArray] = {}
    for name, ev in spec.evidence.items():
        key = f"membership_{name}" if ev.membership is not None else f"evidence_{name}"
        inputs[name] = (
            open_run_layer(out_dir / f"{key}.tif", chunk) if key in written else kept[name]
        )
        if not inputs[name].chunks:
            inputs[name] = _chunked_view(inputs[name], chunk)
    return inputs, infos, structures, counted


def _drop_scratch(path: Path) -> None:
    """Delete a scratch distance file, once its readers are gone (Windows keeps open files)."""
    import gc

    try:
        path.unlink(missing_ok=True)
    except PermissionError:  # still open through a reader not yet collected
        gc.collect()
        path.unlink(missing_ok=True)


def _deposits(occurrences, template, study):
    """Return the occurrence cells in the study area (None without occurrences) and their info."""
    if occurrences is None:
        return None, None
    gdf, occ_info = occurrences
    rows, cols = point_pixels(gdf, template)  # no grid of the points: only their cells
    inside = np.asarray(study.values[rows, cols], dtype=bool)
    deposits = np.zeros(study.shape, dtype=bool)
    deposits[rows[inside], cols[inside]] = True
    occ_info = {**occ_info, "cells_in_study_area": int(deposits.sum())}
    if deposits.sum() == 0:
        raise InvalidParameterError(
            f"{occ_info['file']}: none of the {len(gdf)} occurrences falls on the scene's "
            "data area; check that the layer covers the scene."
        )
    return deposits, occ_info


def _combine(spec, inputs, study, deposits, pixel_m: float, notes: list[str]):
    """Fit or build the combination; for weights of evidence, its independence tests.

    Returns the combination, the fitting extras (the model) and the in-memory inputs of a
    data-driven method (None for a knowledge-driven one).
    """
    p = _section(spec)
    method = p.method
    if method in KNOWLEDGE_METHODS:
        return _knowledge(p, list(inputs)), {}, None
    in_memory = {n: np.asarray(da.values, dtype="float64") for n, da in inputs.items()}
    combination, extra = fit_combination(spec, in_memory, study.values, deposits, pixel_m=pixel_m)
    if method == "wofe":
        model = extra["model"]
        patterns = model.patterns(in_memory)
        if len(patterns) >= 2:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", GeoWarning)
                table = conditional_independence(patterns, deposits, valid=study.values)
            for w in caught:
                notes.append(str(w.message))
            combination.info["conditional_independence"] = table.round(6).to_dict("records")
        combination.info["generalisation"] = {
            n: t.round(6).replace({np.nan: None}).to_dict("records")
            for n, t in model.tables.items()
        }
    return combination, extra, in_memory


def _evaluate(
    spec, result: Prospect, in_memory, pixel_m: float, notes: list[str], extras: dict
) -> None:
    """Curves, area capture, ROC-AUC and hold-outs; stored on ``result``."""
    p = _section(spec)
    ev = p.evaluation
    if result.deposits is None:
        raise RuntimeError("_evaluate: the score cannot be evaluated without occurrences")
    known = result.deposits
    study = np.asarray(result.study.values, dtype=bool)
    try:  # strip by strip: the score is never held whole
        evaluation = evaluate_score(
            result.score, known, study, n_background=10000, random_state=p.seed
        )
    except InvalidParameterError:
        notes.append("no occurrence falls on a scored cell: the score cannot be evaluated")
        result.evaluation = {"occurrences_scored": 0}
        return
    deposits = evaluation.deposits
    lost = int(known.sum() - deposits.sum())
    if lost:
        notes.append(
            f"{lost} occurrence cell(s) have no prospectivity score (evidence missing there, "
            "e.g. under a mask) and are left out of the evaluation"
        )
    fitted = p.method not in KNOWLEDGE_METHODS
    kind = "success_rate" if fitted else "prediction_rate"
    label = (
        "success rate (occurrences used to fit)"
        if fitted
        else "prediction rate (occurrences not used by the model)"
    )
    area, dep = evaluation.area_fraction, evaluation.deposit_fraction
    result.curves[label] = (area, dep)
    out: dict = {
        "occurrences_scored": int(deposits.sum()),
        "scored_cells": evaluation.scored_cells,
        kind: {
            "auc": round(curve_auc(area, dep), 4),
            "area_capture": {
                f"top_{round(f * 100)}pct": round(v, 4)
                for f, v in evaluation.capture(tuple(ev.fractions)).items()
            },
        },
    }
    try:
        out["roc_auc"] = round(evaluation.roc_auc(), 4)
    except InvalidParameterError as exc:
        notes.append(f"ROC-AUC not computed: {exc}")
    if fitted:
        out["holdout"] = _holdouts(spec, result, in_memory, deposits, pixel_m, notes, extras)
    result.evaluation = out


def _holdouts(spec, result: Prospect, in_memory, deposits, pixel_m, notes, extras) -> dict:
    """Prediction-rate curves of the fitted method on held-out occurrences, per scheme."""
    from geo.prospectivity.modelling import holdout_prediction_rate

    p = spec.prospectivity
    ev = p.evaluation
    study = np.asarray(result.study.values, dtype=bool)
    fixed = {"folds": 0}
    full_model = extras.get("model")

    def fit_score(train):
        train = np.asarray(train, bool)
        try:
            comb, _ = fit_combination(spec, in_memory, study, train, pixel_m=pixel_m)
        except InvalidParameterError:
            if p.method != "wofe":
                raise
            # too few training deposits to choose a class: keep the classes chosen on all
            # occurrences and refit only the weights on this fold's deposits
            fixed["folds"] += 1
            comb, _ = fit_combination(
                spec,
                in_memory,
                study,
                train,
                pixel_m=pixel_m,
                wofe_thresholds=dict(full_model.thresholds),
            )
        return np.where(study, comb.kernel(in_memory), np.nan)

    out: dict = {}
    for scheme in ev.holdout:
        n = int(deposits.sum())
        if scheme == "leave_one_out" and n > ev.max_leave_one_out:
            notes.append(
                f"leave-one-out skipped: {n} occurrences > evaluation.max_leave_one_out "
                f"({ev.max_leave_one_out}); blocked hold-outs still run"
            )
            continue
        block_px = max(round(ev.block_size_m / pixel_m), 1)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", GeoWarning)
                res = holdout_prediction_rate(
                    fit_score,
                    deposits,
                    valid=study,
                    scheme=scheme,
                    block_size_px=block_px if scheme == "blocks" else None,
                    fractions=tuple(ev.fractions),
                )
        except InvalidParameterError as exc:
            notes.append(f"{scheme} hold-out not computed: {exc}")
            continue
        name = "leave-one-out" if scheme == "leave_one_out" else f"blocks of {ev.block_size_m:g} m"
        result.curves[f"prediction rate, {name} hold-out"] = (
            res.area_fraction,
            res.deposit_fraction,
        )
        out[scheme] = {
            "folds": res.n_folds,
            "auc": round(res.auc, 4),
            "area_capture": {
                f"top_{round(f * 100)}pct": round(v, 4) for f, v in res.capture.items()
            },
            **({"block_size_m": ev.block_size_m} if scheme == "blocks" else {}),
        }
        if fixed["folds"]:
            out[scheme]["folds_with_classes_from_all_occurrences"] = fixed["folds"]
            fixed["folds"] = 0
    return out
