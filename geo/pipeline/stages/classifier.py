"""``classifier``: supervised classification from training polygons, validated on blocks.

Train, validate (spatial against random folds), predict chunk by chunk, write the classes,
their probabilities, the model (``model.skops``, a format that cannot run code) and the
validation report; the chosen ``anomaly_classes`` become binary evidence ``class_<name>``
with their probability as strength.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from geo.errors import InvalidParameterError
from geo.io.layers import open_run_layer
from geo.io.writers import RasterLayer, write_rasters
from geo.pipeline.spec import PipelineSpec
from geo.pipeline.stages.base import PixelStage, RunContext, required

__all__ = ["ClassifierStage", "build_pipeline_estimator"]


def build_pipeline_estimator(spec_estimator, seed: int = 0):
    """Build the pipeline's classifier from geo's allow-list (seeded unless it sets one)."""
    from geo.classify.estimators import build_estimator

    return build_estimator(spec_estimator.class_, spec_estimator.params, seed=seed)


class ClassifierStage(PixelStage):
    """Classes and probabilities per pixel; ``class_<name>`` evidence for the zones."""

    name = "classifier"

    def configured(self, spec: PipelineSpec) -> bool:
        """Tell whether the pipeline has a ``classifier`` section."""
        return spec.classifier is not None

    def run(self, ctx: RunContext) -> None:
        """Train, validate, predict and write; add the anomaly classes to ``ctx.binary``."""
        from geo.classify import fit_classifier, predict_raster, save_model

        opts = required(ctx.spec.classifier, "pipeline section classifier")
        info = required(ctx.training, "ctx.training")[1]
        features = _features(ctx)
        X, y, groups = _samples(ctx, features)
        estimator = build_pipeline_estimator(opts.estimator, opts.seed)
        n_groups = len(np.unique(groups))
        report = _validate(ctx, estimator, X, y, groups, n_groups)
        model = fit_classifier(X, y, estimator=estimator, random_state=opts.seed)
        classes, proba = predict_raster(model, features, chunk=ctx.chunk)
        codes = {int(v): k for k, v in info["classes"].items()}
        names = [codes[int(c)] for c in model.classes_]
        proba = proba.assign_coords({proba.dims[0]: names}).rename({proba.dims[0]: "band"})
        write_rasters(
            {
                "classes": RasterLayer(classes, "uint8", 255, True, "class code (see manifest)"),
                "class_probability": RasterLayer(proba),
            },
            required(ctx.rasters, "ctx.rasters"),
        )
        save_model(
            model,
            required(ctx.tmp, "ctx.tmp") / "model.skops",
            feature_names=list(features["band"].values),
            classes=names,
            meta={"training": info},
        )
        ctx.methods["classifier"] = {
            "training": info,
            "estimator": opts.estimator.class_,
            "params": dict(opts.estimator.params),
            "features": list(features["band"].values),
            "samples": len(y),
            "groups": int(n_groups),
            "validation": report.to_dict() if report is not None else None,
        }
        _evidence(ctx, names)


def _features(ctx: RunContext) -> xr.DataArray:
    """Return the valid pixels' bands (and indices, with ``bands+indices``) as float32."""
    opts = required(ctx.spec.classifier, "pipeline section classifier")
    refl = required(ctx.refl, "ctx.refl")
    layers = [refl.where(required(ctx.reasons, "ctx.reasons") == 0)]
    if opts.features == "bands+indices":
        rasters = required(ctx.rasters, "ctx.rasters")
        for name in ctx.spec.indices:
            layer = open_run_layer(rasters / f"{name}.tif", ctx.chunk)
            layers.append(layer.expand_dims(band=[name]))
    features = xr.concat(layers, dim="band", coords="minimal", compat="override").astype("float32")
    return features.assign_coords(band=[str(b) for b in features["band"].values])


def _samples(ctx: RunContext, features: xr.DataArray):
    """Training samples ``X, y`` and their spatial groups (one block per polygon)."""
    from geo.classify import (
        labels_from_polygons,
        polygon_blocks,
        raster_to_samples,
        spatial_blocks,
    )

    opts = required(ctx.spec.classifier, "pipeline section classifier")
    clear = required(ctx.reasons, "ctx.reasons") == 0
    polygons = required(ctx.training, "ctx.training")[0]
    labels, polygon_id = labels_from_polygons(polygons, clear, label_column="code")
    blocks = spatial_blocks(clear.shape, clear.rio.transform(), opts.block_size_m)
    # every polygon in one fold: its group is the block holding most of its pixels
    group = polygon_blocks(polygon_id, blocks)
    X, y, groups, _ = raster_to_samples(features, labels, group)
    if len(np.unique(y)) < 2:
        raise InvalidParameterError(
            f"{opts.training}: the training polygons cover fewer than two classes on valid pixels."
        )
    return X, y, groups


def _validate(ctx: RunContext, estimator, X, y, groups, n_groups: int):
    """Spatial cross-validation (``classification_report.txt``); None with a single block."""
    from geo.classify import cross_validate

    if n_groups < 2:
        return None
    opts = required(ctx.spec.classifier, "pipeline section classifier")
    report = cross_validate(
        estimator,
        X,
        y,
        groups=groups,
        n_splits=min(opts.folds, n_groups),
        random_state=opts.seed,
    )
    info = required(ctx.training, "ctx.training")[1]
    names = {code: label for label, code in info["classes"].items()}
    (required(ctx.tmp, "ctx.tmp") / "classification_report.txt").write_text(
        report.to_text(names) + "\n"
    )
    return report


def _evidence(ctx: RunContext, names: list[str]) -> None:
    """Binary evidence ``class_<name>``: the class where its probability is high enough."""
    opts = required(ctx.spec.classifier, "pipeline section classifier")
    classes = required(ctx.training, "ctx.training")[1]["classes"]
    rasters = required(ctx.rasters, "ctx.rasters")
    classes_disk = open_run_layer(rasters / "classes.tif", ctx.chunk)
    proba_disk = open_run_layer(rasters / "class_probability.tif", ctx.chunk, squeeze=False)
    for name in opts.anomaly_classes:
        if name not in classes:
            raise InvalidParameterError(
                f"classifier.anomaly_classes: {name!r} is not a training class; classes are "
                f"{', '.join(classes)}."
            )
        band = 1 + names.index(name)
        p = proba_disk.sel(band=band, drop=True)
        mask = (classes_disk == classes[name]) & (p >= opts.min_probability)
        ctx.binary[f"class_{name}"] = (mask, {"strength": p})
