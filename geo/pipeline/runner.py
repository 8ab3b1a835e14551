"""Run one pipeline on one scene: ingest → masks → indices → anomalies → zones → targets → export.

The runner is the only place besides ``geo.io`` that touches disk. Inputs are opened
and checked before anything is written, outputs go to a temporary folder that
replaces the output folder only when the whole run succeeded, and every choice
goes into ``manifest.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import xarray as xr

from geo._memory import peak_rss_mb, release_memory
from geo._version import __version__
from geo.errors import GeoWarning, InputNotFoundError, InvalidParameterError, TooFewPixelsError
from geo.export.quicklook import decimated_rgb, render_quicklook, true_colour
from geo.io.checksum import file_record
from geo.io.layers import open_run_layer
from geo.io.readers import open_scene
from geo.io.runfolder import MANIFEST_SCHEMA, MANIFEST_TOOL, output_lock, preflight, run_root
from geo.io.vector import read_aoi, read_exclusions, read_licences, read_training
from geo.io.writers import RasterLayer, run_folder, write_csv, write_rasters, write_vectors
from geo.pipeline.export import export_run
from geo.pipeline.prospect import read_occurrences, run_prospectivity
from geo.pipeline.spec import PipelineSpec, validate_spec
from geo.prospectivity.combine import target_breakdown, top_fraction_cutoff
from geo.spectral.anomaly import MIN_PIXELS, Threshold, anomaly_z, fit_threshold
from geo.spectral.indices import compute_indices, get_index
from geo.spectral.masks import MASK_RULES, build_mask, mask_fractions, product_flags
from geo.spectral.pca import crosta, crosta_composite, directed_pca
from geo.targets.columns import PROSPECT_COLUMNS, TARGET_COLUMNS
from geo.targets.evaluate import polygon_mask
from geo.targets.licences import (
    apply_exclusions,
    assign_licences,
    licence_context,
    split_at_licences,
    summarise_licences,
)
from geo.targets.rank import (
    COMPONENTS,
    flag_targets,
    locate_targets,
    merge_zones,
    rank_targets,
    score_targets,
)
from geo.targets.zones import ZONE_COLUMNS, extract_zones

__all__ = ["RunResult", "rerank", "run_pipeline"]

logger = logging.getLogger(__name__)


def gdal_env(spec: PipelineSpec) -> rasterio.Env:
    """Return the GDAL environment of a run: block cache capped at ``processing.gdal_cache_mb``.

    GDAL's cache defaults to 5 % of RAM and is the main reason windowed readers grow with the
    scene (see bench/README); chunks bound the rest. rasterio hands an integer
    ``GDAL_CACHEMAX`` to ``GDALSetCacheMax64``, which takes **bytes** (``128`` would be a
    128-byte cache: every decimated or unaligned read decodes its tiles again and again).
    """
    return rasterio.Env(GDAL_CACHEMAX=spec.processing.gdal_cache_mb * 1024 * 1024)


_ANOMALY_NODATA = 255
#: Colour table of anomaly rasters: background transparent, anomaly red.
_ANOMALY_COLOURS = {0: (0, 0, 0, 0), 1: (220, 30, 30, 255), _ANOMALY_NODATA: (0, 0, 0, 0)}
_VERSIONED = (
    "numpy",
    "xarray",
    "rioxarray",
    "dask",
    "rasterio",
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "scipy",
    "scikit-learn",
    "pandas",
    "pydantic",
)


@dataclass
class RunResult:
    """What a run produced (also on disk in ``out_dir``)."""

    out_dir: Path
    targets: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    licences: gpd.GeoDataFrame | None
    manifest: dict
    warnings: list[str] = field(default_factory=list)


class _Timer:
    """Wall time per stage, and the process's peak resident memory once each stage is done."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.peak_rss_mb: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        logger.info("stage %s", name)
        try:
            yield
        except Exception as exc:
            # where a run failed, for batch reports: the first (innermost) stage wins
            if not hasattr(exc, "geo_stage"):
                exc.geo_stage = name
            raise
        self.seconds[name] = round(time.perf_counter() - start, 3)
        release_memory()  # the stage's freed temporaries must not add to the next one's peak
        self.peak_rss_mb[name] = peak_rss_mb()


def _versions() -> dict[str, str]:
    out = {
        "geo": __version__,
        "python": platform.python_version(),
        "gdal": rasterio.__gdal_version__,
    }
    for name in _VERSIONED:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def open_spec_scene(spec: PipelineSpec, scene_path: str | Path):
    """Open ``scene_path`` the way ``spec`` says (``inputs.scene`` options, chunk size)."""
    opts = spec.inputs.scene
    return open_scene(
        scene_path,
        roles=opts.roles if opts else None,
        bands=opts.bands if opts else None,
        resolution=opts.resolution if opts else None,
        sensor=opts.sensor if opts else None,
        scale=opts.scale if opts else None,
        offset=opts.offset if opts else None,
        chunk=spec.processing.chunk,
    )


def run_pipeline(
    spec: PipelineSpec,
    *,
    scene_path: str | Path | None = None,
    licences_path: str | Path | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    pipeline_file: str | Path | None = None,
) -> RunResult:
    """Run ``spec`` end to end and write the output folder.

    Parameters
    ----------
    spec : PipelineSpec
        Validated pipeline.
    scene_path, licences_path, out : str or Path, optional
        Override the pipeline file's inputs and output folder.
    overwrite : bool
        Replace an existing run folder.
    pipeline_file : str or Path, optional
        The pipeline file, recorded with its checksum in the manifest.

    Returns
    -------
    RunResult

    Raises
    ------
    GeoError
        Any bad input (before anything is written) or failed validation.
    """
    with gdal_env(spec):
        return _run(spec, scene_path, licences_path, out, overwrite, pipeline_file)


def _run(spec, scene_path, licences_path, out, overwrite, pipeline_file) -> RunResult:
    timer = _Timer()
    notes: list[str] = []
    scene_path = (
        Path(scene_path) if scene_path else (spec.inputs.scene.path if spec.inputs.scene else None)
    )
    if scene_path is None:
        raise InvalidParameterError(
            "No scene given: pass --scene or set inputs.scene.path in the pipeline file."
        )
    out_dir = Path(out) if out else spec.output
    if out_dir is None:
        raise InvalidParameterError(
            "No output folder given: pass --out or set output in the pipeline file."
        )
    chunk = spec.processing.chunk
    preflight(out_dir, overwrite=overwrite)  # an output folder in the way stops the run now

    with timer.stage("ingest"):
        scene = open_spec_scene(spec, scene_path)
        refl = scene.reflectance
        # the manifest's checksums of the scene files, computed beside the raster work
        # (hashlib releases the GIL) instead of as a serial pass at the end
        hashing = ThreadPoolExecutor(1, thread_name_prefix="geo-sha256")
        scene_hashes = hashing.submit(lambda: [file_record(f) for f in scene.files])
        hashing.shutdown(wait=False)
        sensor = refl.attrs["sensor"]
        for name in spec.indices:
            get_index(name, sensor)  # fail now, not after the first pass
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GeoWarning)  # repairs of the layer, for the manifest
            lic_path, licences, licence_info = _licence_input(spec, licences_path, refl.rio.crs)
        for w in caught:
            if issubclass(w.category, GeoWarning):
                notes.append(str(w.message))
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if lic_path is not None:
            notes += _licence_overlap_notes(licences, refl, lic_path)
        else:
            notes.append("no licence layer given: every target has a null licence_id")
        exclusions = None
        if spec.inputs.exclusions is not None:
            ex = spec.inputs.exclusions
            exclusions = read_exclusions(
                ex.path, layer=ex.layer, name_column=ex.name_column, to_crs=refl.rio.crs
            )
        aoi = None
        if spec.inputs.aoi is not None:
            aoi = read_aoi(spec.inputs.aoi.path, layer=spec.inputs.aoi.layer, to_crs=refl.rio.crs)
        for name, ev in spec.evidence.items():
            for source in (ev.raster, ev.vector):
                if source is not None and not Path(source).exists():
                    raise InputNotFoundError(
                        f"{source}: file of evidence {name!r} not found (evidence.{name})."
                    )
        occurrences = read_occurrences(spec, refl) if spec.prospectivity is not None else None
        training = None
        if spec.classifier is not None:
            training = read_training(
                spec.classifier.training,
                layer=spec.classifier.layer,
                label_column=spec.classifier.label_column,
                to_crs=refl.rio.crs,
            )

    with run_folder(out_dir, overwrite=overwrite) as tmp:
        rasters = tmp / "rasters"
        with timer.stage("masks_indices"):
            reasons = build_mask(
                refl,
                flags=product_flags(scene.qa, scene.metadata.get("qa_kind"), sensor=sensor),
                config=spec.masks.to_config(),
            )
            indices = compute_indices(refl, spec.indices, sensor=sensor, custom=spec.custom_indices)
            valid = reasons == 0
            layers = {
                "mask_reasons": RasterLayer(
                    reasons, "uint16", None, True, "mask reasons (bit per rule)"
                )
            }
            for name in indices["index"].values:
                layers[str(name)] = RasterLayer(
                    indices.sel(index=name, drop=True).where(valid), description=str(name)
                )
            rgb = None
            if {"red", "green", "blue"} <= {str(b) for b in refl["band"].values}:
                # one read, through the files' overviews, for the basemap's stretch and the
                # quicklook
                rgb = decimated_rgb(refl, preview=scene.preview)
                layers["true_colour"] = RasterLayer(  # the field team's basemap
                    true_colour(refl, sample=rgb), "uint8", 0, False, "true colour (2-98 % stretch)"
                )
            write_rasters(layers, rasters)
            reasons_disk = open_run_layer(rasters / "mask_reasons.tif", chunk, masked=False)
            fractions = mask_fractions(reasons_disk.assign_attrs(reasons.attrs))
            usable = round(fractions["valid_fraction"] * fractions["pixels"]) >= MIN_PIXELS
            if not usable:
                notes.append(_unusable_note(fractions))
            elif fractions["valid_fraction"] < 0.05:
                notes.append(
                    f"only {fractions['valid_fraction']:.1%} of the scene is valid after masking; "
                    "thresholds rest on few pixels"
                )
            skipped = [] if usable else _pixel_methods(spec)
            if skipped:
                notes.append(
                    f"not run for lack of usable pixels: {', '.join(skipped)} (see the masks in "
                    "manifest.json)"
                )

        methods: dict[str, dict] = {}
        if spec.crosta is not None and usable:
            with timer.stage("crosta"):
                clear = reasons_disk == 0
                images, results = {}, {}
                for target in spec.crosta.targets:
                    result = crosta(refl, target, sensor=sensor, valid=clear)
                    results[target] = result
                    images[f"crosta_{target}"] = RasterLayer(
                        result.image.where(clear),
                        description=f"Crosta {target}: PC{result.component} x {result.sign:+d}",
                    )
                    methods.setdefault("crosta", {})[target] = {
                        "roles": list(result.subset.roles),
                        "component": result.component,
                        "sign": result.sign,
                        "n_pixels": result.pca.n_pixels,
                        "explained_variance_ratio": [
                            round(float(v), 6) for v in result.pca.explained_variance_ratio
                        ],
                        "loadings": result.loadings_table().round(6).to_dict(),
                    }
                if {"iron_oxide", "hydroxyl"} <= set(results):
                    images["crosta_composite"] = RasterLayer(
                        crosta_composite(results["hydroxyl"], results["iron_oxide"])
                    )
                write_rasters(images, rasters)

        if spec.directed_pca and usable:
            with timer.stage("directed_pca"):
                clear = reasons_disk == 0
                images = {}
                for name, pair in spec.directed_pca.items():
                    result = directed_pca(
                        open_run_layer(rasters / f"{pair.mineral}.tif", chunk),
                        open_run_layer(rasters / f"{pair.vegetation}.tif", chunk),
                        valid=clear,
                    )
                    images[f"dpca_{name}"] = RasterLayer(
                        result.image.where(clear), description=f"directed PCA {name}"
                    )
                    methods.setdefault("directed_pca", {})[name] = {
                        "mineral": pair.mineral,
                        "vegetation": pair.vegetation,
                        "component": result.component,
                        "sign": result.sign,
                        "loadings": result.pca.loadings_table().round(6).to_dict(),
                    }
                write_rasters(images, rasters)

        if spec.kmeans is not None and usable:
            with timer.stage("kmeans"):
                from geo.classify import kmeans_classes

                clusters, model = kmeans_classes(
                    refl.where(reasons_disk == 0),
                    spec.kmeans.clusters,
                    sample=spec.kmeans.sample,
                    random_state=spec.kmeans.seed,
                    chunk=chunk,
                )
                write_rasters(
                    {
                        "kmeans_clusters": RasterLayer(
                            clusters, "uint8", 255, True, "k-means cluster"
                        )
                    },
                    rasters,
                )
                methods["kmeans"] = {
                    "clusters": spec.kmeans.clusters,
                    "bands": [str(b) for b in refl["band"].values],
                    "centres": np.round(model.cluster_centers_, 5).tolist(),
                }

        binary: dict[str, tuple[xr.DataArray, dict[str, xr.DataArray]]] = {}
        if spec.sam is not None and usable:
            with timer.stage("sam"):
                binary.update(_sam(spec, refl, reasons_disk, rasters, chunk, methods))
        if spec.classifier is not None and usable:
            with timer.stage("classifier"):
                binary.update(
                    _classify(spec, refl, reasons_disk, rasters, tmp, chunk, methods, training)
                )

        with timer.stage("anomalies"):
            thresholds: dict[str, Threshold] = {}
            anomaly_layers: dict[str, RasterLayer] = {}
            unfitted: dict[str, str] = {}
            on_disk = {
                name: open_run_layer(rasters / f"{name}.tif", chunk)
                for name in spec.anomalies
                if (rasters / f"{name}.tif").is_file()
            }
            inside = None
            if aoi is not None:
                inside = refl.isel(band=0, drop=True).copy(data=polygon_mask(aoi[0], refl))
                methods["aoi"] = {
                    **aoi[1],
                    "area_ha": round(float(aoi[0].union_all().area) / 1e4, 2),
                    "pixels_inside": int(inside.values.sum()),
                }
            for name, opts in spec.anomalies.items():
                if name not in on_disk:  # a layer of a method skipped for lack of pixels
                    continue
                log = get_index(name, sensor).log_stats if name in spec.indices else False
                try:
                    thr = fit_threshold(
                        on_disk[name],
                        inside,
                        name=name,
                        method=opts.method,
                        k=opts.k,
                        percentile=opts.percentile,
                        log=log,
                    )
                except TooFewPixelsError as exc:
                    # a result, not a failure: no anomaly of this index can be seen here
                    unfitted[name] = str(exc)
                    if usable:
                        notes.append(f"{exc} No anomalies of {name} in this scene.")
                    anomaly_layers[f"{name}_z"] = RasterLayer(
                        on_disk[name] * np.nan, description=f"{name} z-score (not fitted)"
                    )
                    anomaly_layers[f"{name}_anomaly"] = RasterLayer(
                        xr.full_like(on_disk[name], _ANOMALY_NODATA, dtype="uint8"),
                        "uint8",
                        _ANOMALY_NODATA,
                        True,
                        f"{name} anomaly (not fitted: too few valid pixels)",
                        _ANOMALY_COLOURS,
                    )
                    continue
                thresholds[name] = thr
                z = anomaly_z(on_disk[name], thr)
                flag = (on_disk[name] >= thr.cutoff).astype("uint8")
                flag = flag.where(on_disk[name].notnull(), _ANOMALY_NODATA)
                anomaly_layers[f"{name}_z"] = RasterLayer(z, description=f"{name} z-score")
                anomaly_layers[f"{name}_anomaly"] = RasterLayer(
                    flag,
                    "uint8",
                    _ANOMALY_NODATA,
                    True,
                    f"{name} anomaly (1) at >= {thr.cutoff:.4g}",
                    _ANOMALY_COLOURS,
                )
            write_rasters(anomaly_layers, rasters)

        with timer.stage("zones"):
            frames = []
            for name in spec.anomalies:
                if name not in thresholds:  # not fitted: no zones
                    continue
                flag = open_run_layer(rasters / f"{name}_anomaly.tif", chunk)
                z = open_run_layer(rasters / f"{name}_z.tif", chunk)
                frames.append(
                    extract_zones(
                        flag == 1,
                        kind=name,
                        values={"index": on_disk[name], "z": z},
                        min_area_ha=spec.zones.min_area_ha,
                        sieve_px=spec.zones.sieve_px,
                    )
                )
            for name, (mask, values) in binary.items():
                frames.append(
                    extract_zones(
                        mask,
                        kind=name,
                        values=values,
                        min_area_ha=spec.zones.min_area_ha,
                        sieve_px=spec.zones.sieve_px,
                    )
                )
            if frames:
                zones = pd.concat(frames, ignore_index=True)
            else:  # a pipeline without anomaly layers (indices only): no zones, no targets
                zones = gpd.GeoDataFrame(columns=ZONE_COLUMNS, geometry=[], crs=refl.rio.crs)
            zones = gpd.GeoDataFrame(zones, geometry="geometry", crs=refl.rio.crs)
            if "mean_z" not in zones:  # only binary evidence (SAM, classifier) this run
                zones["mean_z"] = np.nan

        prospect = None
        if spec.prospectivity is not None and usable:
            with timer.stage("prospectivity"):
                prospect = run_prospectivity(
                    spec,
                    reasons_disk,
                    rasters,
                    chunk=chunk,
                    notes=notes,
                    occurrences=occurrences,
                    fill_bit=1 << MASK_RULES.index("fill"),
                )

        with timer.stage("targets"):
            targets, licence_layer, target_info = _targets(
                spec,
                zones,
                licences,
                reasons_disk,
                scene_id=refl.attrs.get("scene_id"),
                date=refl.attrs.get("date"),
                notes=notes,
                exclusions=exclusions,
                prospect=prospect,
                usable=usable,
            )
            outside = int(targets["licence_id"].isna().sum())

        with timer.stage("export"):
            _write_targets(tmp, targets, zones, licence_layer, prospect)
            if prospect is not None:
                _write_evaluation(tmp, prospect, targets, spec)
            fig = render_quicklook(
                refl,
                rgb=rgb,
                invalid=reasons_disk != 0,
                zones=zones,
                targets=targets,
                licences=licence_layer,
                structures=prospect.structures if prospect is not None else None,
                occurrences=prospect.occurrences if prospect is not None else None,
                title=f"{refl.attrs.get('scene_id')} ({refl.attrs.get('date')}): {len(targets)} targets",
            )
            fig.savefig(tmp / "quicklook.png", bbox_inches="tight")
            fig.clear()
            if prospect is not None:
                _write_score_map(tmp, prospect, targets, licence_layer, target_info, spec)

        manifest = {
            "tool": MANIFEST_TOOL,
            "schema": MANIFEST_SCHEMA["run"],
            "geo_version": __version__,
            "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "pipeline": {
                "name": spec.name,
                "file": file_record(str(pipeline_file)) if pipeline_file else None,
                "spec": spec.model_dump(mode="json"),
            },
            "inputs": {
                "scene": {"path": str(scene_path), "files": scene_hashes.result()},
                "licences": (
                    {**licence_info, **file_record(str(lic_path))}
                    if licence_info is not None
                    else None
                ),
                "exclusions": (
                    {
                        **exclusions[2],
                        "action": spec.inputs.exclusions.action,
                        **file_record(str(spec.inputs.exclusions.path)),
                    }
                    if exclusions is not None
                    else None
                ),
            },
            "scene": scene.metadata,
            "masks": {"config": spec.masks.model_dump(mode="json"), **fractions},
            "indices": indices.attrs["formulas"],
            "thresholds": {
                **{n: t.to_dict() for n, t in thresholds.items()},
                **{n: {"index": n, "fitted": False, "reason": r} for n, r in unfitted.items()},
            },
            "usable": {
                "pixels": round(fractions["valid_fraction"] * fractions["pixels"]),
                "min_pixels": MIN_PIXELS,
                "usable": usable,
                "skipped": skipped,
            },
            "methods": methods,
            "zones": {
                "count": len(zones),
                "by_kind": {str(k): int(v) for k, v in zones["kind"].value_counts().items()}
                if len(zones)
                else {},
            },
            "targets": {
                "count": len(targets),
                "outside_licences": outside,
                "score_components": list(COMPONENTS),
                **target_info,
            },
            "prospectivity": prospect.info if prospect is not None else None,
            "evaluation": prospect.evaluation if prospect is not None else None,
            "outputs": sorted(
                [*(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()), "manifest.json"]
            ),
            "versions": _versions(),
            "timings_s": timer.seconds,
            "peak_rss_mb_after_stage": timer.peak_rss_mb,
            "licence_check_date": dt.date.today().isoformat(),
            "warnings": notes,
        }
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, indent=2, default=_json_default) + "\n"
        )
        if spec.export.formats:
            with timer.stage("field_exports"):
                manifest["exports"] = export_run(
                    tmp, spec.export.formats, top=spec.export.top, route_top=spec.export.route_top
                )
            manifest["outputs"] = sorted(
                [
                    *(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()),
                ]
            )
            manifest["timings_s"] = timer.seconds
            manifest["peak_rss_mb_after_stage"] = timer.peak_rss_mb
            (tmp / "manifest.json").write_text(
                json.dumps(manifest, indent=2, default=_json_default) + "\n"
            )
    for note in notes:
        warnings.warn(note, GeoWarning, stacklevel=2)
    return RunResult(Path(out_dir), targets, zones, licence_layer, manifest, notes)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _pixel_methods(spec: PipelineSpec) -> list[str]:
    """Sections of ``spec`` that need valid pixels (skipped when a scene has none)."""
    return [
        key
        for key, on in (
            ("crosta", spec.crosta is not None),
            ("directed_pca", bool(spec.directed_pca)),
            ("kmeans", spec.kmeans is not None),
            ("sam", spec.sam is not None),
            ("classifier", spec.classifier is not None),
            ("prospectivity", spec.prospectivity is not None),
        )
        if on
    ]


def _unusable_note(fractions: dict) -> str:
    """Return the warning of a scene with too few valid pixels: which masks removed them."""
    n = round(fractions["valid_fraction"] * fractions["pixels"])
    top = sorted(fractions["rules"].items(), key=lambda kv: -kv[1]["fraction"])
    removed = ", ".join(f"{rule} {v['fraction']:.1%}" for rule, v in top[:3] if v["fraction"] > 0)
    return (
        f"no usable pixels: {n} of {fractions['pixels']:,} pixels are valid after masking "
        f"(at least {MIN_PIXELS} are needed for a threshold); the masks removed "
        f"{removed or 'nothing'}. The run has no targets; licences.csv lists each licence's "
        "valid_pct (unexplored, not barren)"
    )


def _licence_overlap_notes(licences: gpd.GeoDataFrame, refl: xr.DataArray, path: Path) -> list[str]:
    from shapely.geometry import box

    footprint = box(*refl.rio.bounds())
    hits = licences.geometry.intersects(footprint)
    if not hits.any():
        return [
            f"{path}: none of the {len(licences)} licences overlaps the scene (scene bounds "
            f"{tuple(round(b) for b in refl.rio.bounds())} in {refl.rio.crs}); every target "
            "will have a null licence_id. Check that the licence layer covers this scene."
        ]
    return []


def _estimator(spec_estimator, seed: int = 0):
    """Build the pipeline's classifier from geo's allow-list (seeded unless it sets one)."""
    from geo.classify.estimators import build_estimator

    return build_estimator(spec_estimator.class_, spec_estimator.params, seed=seed)


def _classify(spec, refl, reasons, rasters, tmp, chunk, methods, training):
    """Train, validate (spatial vs random folds), predict and write the classifier outputs.

    Returns the binary evidence layers ``class_<name>`` with their probability as strength.
    """
    from geo.classify import (
        cross_validate,
        fit_classifier,
        labels_from_polygons,
        polygon_blocks,
        predict_raster,
        raster_to_samples,
        save_model,
        spatial_blocks,
    )

    opts = spec.classifier
    polygons, info = training
    clear = reasons == 0
    layers = [refl.where(clear)]
    if opts.features == "bands+indices":
        for name in spec.indices:
            layers.append(open_run_layer(rasters / f"{name}.tif", chunk).expand_dims(band=[name]))
    features = xr.concat(layers, dim="band", coords="minimal", compat="override").astype("float32")
    features = features.assign_coords(band=[str(b) for b in features["band"].values])
    labels, polygon_id = labels_from_polygons(polygons, clear, label_column="code")
    blocks = spatial_blocks(clear.shape, clear.rio.transform(), opts.block_size_m)
    # every polygon in one fold: its group is the block holding most of its pixels
    group = polygon_blocks(polygon_id, blocks)
    X, y, groups, _ = raster_to_samples(features, labels, group)
    if len(np.unique(y)) < 2:
        raise InvalidParameterError(
            f"{opts.training}: the training polygons cover fewer than two classes on valid pixels."
        )
    estimator = _estimator(opts.estimator, opts.seed)
    n_groups = len(np.unique(groups))
    report = None
    if n_groups >= 2:
        report = cross_validate(
            estimator,
            X,
            y,
            groups=groups,
            n_splits=min(opts.folds, n_groups),
            random_state=opts.seed,
        )
        names = {code: label for label, code in info["classes"].items()}
        (tmp / "classification_report.txt").write_text(report.to_text(names) + "\n")
    model = fit_classifier(X, y, estimator=estimator, random_state=opts.seed)
    classes, proba = predict_raster(model, features, chunk=chunk)
    codes = {int(v): k for k, v in info["classes"].items()}
    proba = proba.assign_coords({proba.dims[0]: [codes[int(c)] for c in model.classes_]})
    proba = proba.rename({proba.dims[0]: "band"})
    write_rasters(
        {
            "classes": RasterLayer(classes, "uint8", 255, True, "class code (see manifest)"),
            "class_probability": RasterLayer(proba),
        },
        rasters,
    )
    save_model(
        model,
        tmp / "model.skops",
        feature_names=list(features["band"].values),
        classes=[codes[int(c)] for c in model.classes_],
        meta={"training": info},
    )
    methods["classifier"] = {
        "training": info,
        "estimator": opts.estimator.class_,
        "params": dict(opts.estimator.params),
        "features": list(features["band"].values),
        "samples": len(y),
        "groups": int(n_groups),
        "validation": report.to_dict() if report is not None else None,
    }
    classes_disk = open_run_layer(rasters / "classes.tif", chunk)
    proba_disk = open_run_layer(rasters / "class_probability.tif", chunk, squeeze=False)
    out = {}
    for name in opts.anomaly_classes:
        if name not in info["classes"]:
            raise InvalidParameterError(
                f"classifier.anomaly_classes: {name!r} is not a training class; classes are "
                f"{', '.join(info['classes'])}."
            )
        band = 1 + [codes[int(c)] for c in model.classes_].index(name)
        p = proba_disk.sel(band=band, drop=True)
        mask = (classes_disk == info["classes"][name]) & (p >= opts.min_probability)
        out[f"class_{name}"] = (mask, {"strength": p})
    return out


def _sam(spec, refl, reasons, rasters, chunk, methods):
    """Map the best-matching library group per pixel; return binary layers ``sam_<group>``.

    A layer's strength is 1 − angle / threshold: 1 for a perfect match, 0 at the threshold.
    """
    from geo.spectral.sam import sam_classify

    clear = reasons == 0
    thresholds = {"default": spec.sam.threshold, **spec.sam.thresholds}
    result = sam_classify(refl.where(clear), refl.attrs["sensor"], thresholds=thresholds)
    codes = {int(k): str(v) for k, v in result["best_group"].attrs["codes"].items()}
    write_rasters(
        {
            "sam_group": RasterLayer(result["best_group"], "uint8", 255, True, "SAM group code"),
            "sam_angle": RasterLayer(result["angle"], description="SAM angle (radians)"),
        },
        rasters,
    )
    methods["sam"] = {
        "library": f"geo/data/library_{refl.attrs['sensor']}.csv",
        "codes": {str(k): v for k, v in codes.items()},
        "thresholds": thresholds,
        "bands": [str(b) for b in result.attrs.get("bands", [])],
    }
    group = open_run_layer(rasters / "sam_group.tif", chunk, masked=False)
    angle = open_run_layer(rasters / "sam_angle.tif", chunk)
    by_name = {v: k for k, v in codes.items()}
    out = {}
    for name in spec.sam.groups:
        if name not in by_name:
            raise InvalidParameterError(
                f"sam.groups: {name!r} is not a library group; groups are {', '.join(by_name)}."
            )
        limit = spec.sam.thresholds.get(name, spec.sam.threshold)
        strength = (1 - angle / limit).clip(0, 1)
        out[f"sam_{name}"] = (group == by_name[name], {"strength": strength, "angle": angle})
    return out


def _score_cutoff(spec, prospect) -> dict:
    """Return the score above which pixels become targets (a fixed score or a top area fraction)."""
    t = spec.targets
    if t.score_threshold is not None:
        score = prospect.score
        n = float(score.notnull().sum())
        fraction = float((score >= t.score_threshold).sum()) / n if n else 0.0
        return {"rule": "score_threshold", "cutoff": t.score_threshold, "area_fraction": fraction}
    cutoff, fraction = top_fraction_cutoff(prospect.score, t.top_area_fraction)
    return {
        "rule": "top_area_fraction",
        "requested_fraction": t.top_area_fraction,
        "cutoff": round(cutoff, 8),
        "area_fraction": round(fraction, 6),
    }


def _alteration_support(targets, zones):
    """For prospectivity targets: the alteration zones each target overlaps (ids, count, kinds)."""
    out = targets.copy()
    ids = [""] * len(out)
    if len(zones) and len(out):
        left, right = zones.sindex.query(out.geometry.values, predicate="intersects")
        for t in np.unique(left):
            ids[t] = ",".join(zones["zone_id"].iloc[right[left == t]])
    out["zone_ids"] = ids
    out["n_zones"] = [len([i for i in z.split(",") if i]) for z in ids]
    kind_of = dict(zip(zones["zone_id"], zones["kind"], strict=True)) if len(zones) else {}
    out["kinds"] = [",".join(sorted({kind_of[i] for i in z.split(",") if i})) for z in ids]
    return out


def _split_with(targets) -> pd.Series:
    """Target ids of the other pieces of the same anomaly (targets split at licence lines)."""
    parent = targets["_parent"]
    out = []
    for tid, p in zip(targets["target_id"], parent, strict=True):
        if p is None or pd.isna(p):
            out.append("")
            continue
        out.append(
            ",".join(
                t for t, q in zip(targets["target_id"], parent, strict=True) if q == p and t != tid
            )
        )
    return pd.Series(out, index=targets.index, dtype="object")


def _targets(
    spec,
    zones,
    licences,
    reasons,
    *,
    scene_id,
    date,
    notes,
    exclusions=None,
    prospect=None,
    usable=True,
):
    """Zones or the prospectivity score → merged, scored, licensed, ranked, flagged targets.

    Returns the targets, the per-licence summary (or None) and facts for the manifest.
    """
    config = spec.targets.to_config()
    info: dict = {"source": "zones"}
    from_score = prospect is not None and spec.target_source == "prospectivity"
    cutoff = None
    if from_score:
        info = {"source": "prospectivity", **_score_cutoff(spec, prospect)}
        cutoff = info["cutoff"]
        mask = prospect.score >= cutoff
        pz = extract_zones(
            mask,
            kind="prospectivity",
            min_area_ha=spec.zones.min_area_ha,
            sieve_px=spec.zones.sieve_px,
        )
        merged = merge_zones(pz, distance_m=spec.targets.merge_distance_m)
    else:
        merged = merge_zones(zones, distance_m=spec.targets.merge_distance_m)
    merged["_parent"] = pd.array([None] * len(merged), dtype="object")
    straddle = spec.targets.straddle
    info["straddle"] = straddle
    if straddle == "split" and licences is not None and len(merged):
        merged, dropped = split_at_licences(
            merged.drop(columns="_parent"), licences, min_area_m2=spec.zones.min_area_ha * 1e4
        )
        merged = merged.rename(columns={"split_from": "_parent"})
        if dropped:
            notes.append(
                f"{dropped} piece(s) of targets split at licence boundaries were smaller than "
                f"zones.min_area_ha ({spec.zones.min_area_ha} ha) and were dropped"
            )
        info["split_pieces"] = int(merged["_parent"].notna().sum())
    if from_score:
        merged = _alteration_support(merged, zones)
    # zones are clipped to targets that are not unions of whole zones (score, split pieces)
    clip = from_score or "split_pieces" in info
    scored = score_targets(merged, zones, config, clip=clip)
    if from_score:
        breakdown = target_breakdown(
            scored, prospect.inputs, prospect.combination, baseline=prospect.baseline
        )
        scored = pd.concat([scored, breakdown.drop(columns=["supporting", "score_p90"])], axis=1)
        scored["score_p90"] = breakdown["score_p90"]
        # rank on the target's best part: the 90th percentile of its pixel scores
        scored["score"] = scored.pop("score_p90")
        scored["score_method"] = spec.prospectivity.method
        scored = scored[scored["score"].notna()]
    if licences is not None:
        scored = assign_licences(scored, licences)
    else:
        for column in ("licence_id", "holder", "licence_status", "licence_expiry"):
            scored[column] = pd.array([None] * len(scored), dtype="object")
        scored["licence_overlap_pct"] = 0.0
        scored["straddles_boundary"] = False
    targets = locate_targets(rank_targets(scored))
    targets["scene_id"] = scene_id
    targets["date"] = date
    today = dt.date.today().isoformat()
    targets = licence_context(targets, on_date=today)
    targets = flag_targets(
        targets,
        reasons,
        MASK_RULES,
        buffer_m=2 * abs(reasons.rio.resolution()[0]),
        min_area_ha=spec.zones.min_area_ha,
    )
    if straddle == "flag" and len(targets):
        targets["flags"] = [
            ",".join(filter(None, [f, "straddles_licence_boundary" if s else ""]))
            for f, s in zip(targets["flags"], targets["straddles_boundary"], strict=True)
        ]
    if exclusions is not None:
        polygons, names, _ = exclusions
        before = len(targets)
        targets = apply_exclusions(
            targets, polygons, names=names, action=spec.inputs.exclusions.action
        )
        if len(targets) < before:
            notes.append(f"{before - len(targets)} target(s) removed by the exclusion zones")
            targets = licence_context(targets, on_date=today)
    targets["split_with"] = _split_with(targets) if len(targets) else pd.Series(dtype="object")
    extra = []
    if from_score:
        names = list(spec.evidence)
        extra = [*PROSPECT_COLUMNS, *(f"mean_{n}" for n in names), *(f"contrib_{n}" for n in names)]
    targets = targets[[*TARGET_COLUMNS, *extra, "geometry"]]
    if targets.empty and usable:  # (an unusable scene's warning says why already)
        notes.append(
            "no targets: no anomaly zone reached zones.min_area_ha "
            f"({spec.zones.min_area_ha} ha); see the thresholds in manifest.json"
            if not from_score
            else "no targets: no area above the prospectivity cutoff reached zones.min_area_ha "
            f"({spec.zones.min_area_ha} ha)"
        )
    outside = int(targets["licence_id"].isna().sum())
    if outside:
        notes.append(f"{outside} target(s) lie outside every licence (licence_id is null)")
    summary = (
        summarise_licences(
            licences,
            targets,
            zones,
            reasons=reasons,
            fill_bit=1 << MASK_RULES.index("fill"),
            score=prospect.score if prospect is not None else None,
            cutoff=cutoff,
        )
        if licences is not None
        else None
    )
    return targets, summary, info


def _write_score_map(folder: Path, prospect, targets, licences, target_info, spec) -> None:
    """``prospectivity.png``: the score, the target cutoff, targets, structures, occurrences."""
    from geo.export.quicklook import render_score_map

    fig = render_score_map(
        prospect.score,
        cutoff=target_info.get("cutoff"),
        targets=targets,
        licences=licences,
        structures=prospect.structures,
        occurrences=prospect.occurrences,
        title=f"{spec.name}: {spec.prospectivity.method} prospectivity, {len(targets)} targets",
        label=f"{spec.prospectivity.method} score",
    )
    fig.savefig(folder / "prospectivity.png", bbox_inches="tight")
    fig.clear()


def _write_evaluation(folder: Path, prospect, targets, spec) -> None:
    """``evaluation.png`` (rate curves) and target capture of the occurrences, into the manifest."""
    from geo.export.plots import plot_rate_curves

    if prospect.deposits is None or not prospect.curves:
        return
    fig = plot_rate_curves(
        prospect.curves,
        title=f"{spec.name}: {spec.prospectivity.method} against "
        f"{prospect.evaluation['occurrences_scored']} occurrences",
        capture_fractions=tuple(spec.prospectivity.evaluation.fractions),
    )
    fig.savefig(folder / "evaluation.png", dpi=110, bbox_inches="tight")
    fig.clear()
    # how many known occurrences the delivered targets hold, and how much area they take
    inside = (
        polygon_mask(targets, prospect.score)
        if len(targets)
        else np.zeros(prospect.score.shape, bool)
    )
    study = prospect.study.values
    dep = prospect.deposits
    prospect.evaluation["targets"] = {
        "occurrences_in_targets": int((dep & inside).sum()),
        "occurrences": int(dep.sum()),
        "area_fraction": round(float((inside & study).sum() / max(study.sum(), 1)), 6),
    }


def rerank(
    run_dir: str | Path,
    *,
    pipeline: PipelineSpec | None = None,
    licences_path: str | Path | None = None,
    pipeline_file: str | Path | None = None,
) -> RunResult:
    """Re-rank an existing run with new target settings or licences, without touching rasters.

    The zones and the mask-reason raster of ``run_dir`` are reused; ``targets.gpkg``,
    ``targets.csv``, ``licences.csv`` and ``manifest.json`` are replaced atomically (each
    written to a temporary name first). The ``targets`` section (weights, merge distance,
    evidence kinds) and the licence input come from ``pipeline`` when given, else from the
    run's own manifest; ``licences_path`` overrides the licence file.

    Raises
    ------
    InputNotFoundError
        ``run_dir`` is not a geo run folder.
    """
    run_dir = Path(run_dir)
    # no run, rank or export changes the folder meanwhile; every write stays inside it
    with output_lock(run_dir, existing=True), run_root(run_dir):
        return _rerank(run_dir, pipeline, licences_path, pipeline_file)


def _rerank(run_dir: Path, pipeline, licences_path, pipeline_file) -> RunResult:
    import shutil

    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file() or not (run_dir / "targets.gpkg").is_file():
        raise InputNotFoundError(
            f"{run_dir}: not a geo run folder (no manifest.json / targets.gpkg)."
        )
    manifest = _read_json(manifest_path)
    spec = pipeline or validate_spec(
        (manifest.get("pipeline") or {}).get("spec"), f"{manifest_path} (pipeline.spec)"
    )
    notes: list[str] = []
    reasons = open_run_layer(run_dir / "rasters" / "mask_reasons.tif", 1024, masked=False)
    zones = gpd.read_file(run_dir / "targets.gpkg", layer="zones", engine="pyogrio")
    if zones.crs is None:
        zones = zones.set_crs(reasons.rio.crs)
    lic_path, licences, licence_info = _licence_input(spec, licences_path, reasons.rio.crs)
    exclusions = None
    if spec.inputs.exclusions is not None:
        ex = spec.inputs.exclusions
        exclusions = read_exclusions(
            ex.path, layer=ex.layer, name_column=ex.name_column, to_crs=reasons.rio.crs
        )
    scene = manifest.get("scene") if isinstance(manifest.get("scene"), dict) else {}
    staging = run_dir / ".rerank.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    prospect = None
    if spec.prospectivity is not None:
        # the score is rebuilt from the run's alteration rasters and the evidence sources:
        # new weights, memberships, methods or occurrences take effect, nothing else is redone
        missing = sorted(
            ev.layer
            for ev in spec.evidence.values()
            if ev.layer is not None and not (run_dir / "rasters" / f"{ev.layer}.tif").is_file()
        )
        if missing:
            raise InputNotFoundError(
                f"{run_dir}: the run has no raster {', '.join(missing)} for the evidence of this "
                "pipeline; run `geo run` with it instead of re-ranking."
            )
        (staging / "rasters").mkdir()
        with gdal_env(spec):
            prospect = run_prospectivity(
                spec,
                reasons,
                run_dir / "rasters",
                chunk=spec.processing.chunk,
                notes=notes,
                occurrences=read_occurrences(spec, reasons),
                fill_bit=1 << MASK_RULES.index("fill"),
                out_dir=staging / "rasters",
            )
    targets, summary, target_info = _targets(
        spec,
        zones,
        licences,
        reasons,
        scene_id=scene.get("scene_id"),
        date=scene.get("date_acquired"),
        notes=notes,
        exclusions=exclusions,
        prospect=prospect,
    )
    _write_targets(staging, targets, zones, summary, prospect)
    if prospect is not None:
        _write_evaluation(staging, prospect, targets, spec)
        _write_score_map(staging, prospect, targets, summary, target_info, spec)
        manifest["prospectivity"] = prospect.info
        manifest["evaluation"] = prospect.evaluation
    manifest["pipeline"]["spec"] = spec.model_dump(mode="json")
    manifest.setdefault("reranked", []).append(
        {
            "at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "pipeline_file": file_record(str(pipeline_file)) if pipeline_file else None,
            "licences": ({**licence_info, **file_record(str(lic_path))} if licence_info else None),
        }
    )
    manifest["targets"] = {
        **manifest.get("targets", {}),
        "count": len(targets),
        "outside_licences": int(targets["licence_id"].isna().sum()),
        **target_info,
    }
    manifest["warnings"] = notes
    (staging / "manifest.json").write_text(
        json.dumps(manifest, indent=2, default=_json_default) + "\n"
    )
    # rasters first, the manifest last: a run whose manifest names the new settings is complete
    if (staging / "rasters").is_dir():
        for f in (staging / "rasters").iterdir():
            os.replace(f, run_dir / "rasters" / f.name)
        (staging / "rasters").rmdir()
    for f in sorted(staging.iterdir(), key=lambda f: f.name == "manifest.json"):
        os.replace(f, run_dir / f.name)
    staging.rmdir()
    if spec.export.formats:  # the field files follow the new ranking
        manifest["exports"] = export_run(
            run_dir, spec.export.formats, top=spec.export.top, route_top=spec.export.route_top
        )
        partial = run_dir / ".manifest.json.partial"
        partial.write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")
        os.replace(partial, run_dir / "manifest.json")
    for note in notes:
        warnings.warn(note, GeoWarning, stacklevel=2)
    return RunResult(run_dir, targets, zones, summary, manifest, notes)


def _read_json(path: Path) -> dict:
    """Read a run's JSON file (untrusted: it may come from someone else's folder)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputNotFoundError(f"{path}: not a geo manifest (not valid JSON: {exc}).") from None
    if not isinstance(doc, dict):
        raise InputNotFoundError(f"{path}: not a geo manifest (not a JSON object).")
    return doc


def _licence_input(spec, override, crs):
    """Read the licence layer named by ``override`` or the pipeline, reprojected to ``crs``.

    Returns ``(path or None, licences or None, info or None)``.
    """
    opts = spec.inputs.licences
    path = Path(override) if override else (opts.path if opts else None)
    if path is None:
        return None, None, None
    licences, info = read_licences(
        path,
        layer=opts.layer if opts else None,
        fields=opts.fields if opts else None,
        encoding=opts.encoding if opts else None,
        to_crs=crs,
    )
    return path, licences, info


def _write_targets(folder: Path, targets, zones, licences, prospect=None) -> None:
    """Write ``targets.gpkg`` (targets, zones, licences), ``targets.csv`` and ``licences.csv``.

    With a prospectivity stage the GeoPackage also holds the ``occurrences`` and the line
    evidence (``structures``) in the scene CRS, so the field files and QGIS show them.
    """
    layers = {"targets": targets, "zones": zones}
    if licences is not None:
        layers["licences"] = licences
    if prospect is not None:
        for name in ("occurrences", "structures"):
            extra = getattr(prospect, name)
            if extra is not None and len(extra):
                layers[name] = extra
    write_vectors(layers, folder / "targets.gpkg")
    write_csv(targets, folder / "targets.csv")
    if licences is not None:
        write_csv(licences, folder / "licences.csv")
