"""``crosta`` and ``directed_pca``: principal components that isolate alteration."""

from __future__ import annotations

from geo.io.layers import open_run_layer
from geo.io.writers import RasterLayer, write_rasters
from geo.pipeline.spec import PipelineSpec
from geo.pipeline.stages.base import PixelStage, RunContext, required
from geo.spectral.pca import crosta, crosta_composite, directed_pca

__all__ = ["CrostaStage", "DirectedPcaStage"]


class CrostaStage(PixelStage):
    """Feature-oriented PCA (Crosta) per target: ``crosta_<target>`` and the composite."""

    name = "crosta"

    def configured(self, spec: PipelineSpec) -> bool:
        """Tell whether the pipeline has a ``crosta`` section."""
        return spec.crosta is not None

    def run(self, ctx: RunContext) -> None:
        """Write the component images; record roles, loadings and signs in ``methods``."""
        opts = required(ctx.spec.crosta, "pipeline section crosta")
        refl, rasters = required(ctx.refl, "ctx.refl"), required(ctx.rasters, "ctx.rasters")
        clear = required(ctx.reasons, "ctx.reasons") == 0
        images, results = {}, {}
        for target in opts.targets:
            result = crosta(refl, target, sensor=ctx.sensor, valid=clear)
            results[target] = result
            images[f"crosta_{target}"] = RasterLayer(
                result.image.where(clear),
                description=f"Crosta {target}: PC{result.component} x {result.sign:+d}",
            )
            ctx.methods.setdefault("crosta", {})[target] = {
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


class DirectedPcaStage(PixelStage):
    """Directed PCA of a mineral index against a vegetation index: ``dpca_<name>``."""

    name = "directed_pca"

    def configured(self, spec: PipelineSpec) -> bool:
        """Tell whether the pipeline has ``directed_pca`` pairs."""
        return bool(spec.directed_pca)

    def run(self, ctx: RunContext) -> None:
        """Write the component images; record loadings and signs in ``methods``."""
        rasters = required(ctx.rasters, "ctx.rasters")
        clear = required(ctx.reasons, "ctx.reasons") == 0
        images = {}
        for name, pair in ctx.spec.directed_pca.items():
            result = directed_pca(
                open_run_layer(rasters / f"{pair.mineral}.tif", ctx.chunk),
                open_run_layer(rasters / f"{pair.vegetation}.tif", ctx.chunk),
                valid=clear,
            )
            images[f"dpca_{name}"] = RasterLayer(
                result.image.where(clear), description=f"directed PCA {name}"
            )
            ctx.methods.setdefault("directed_pca", {})[name] = {
                "mineral": pair.mineral,
                "vegetation": pair.vegetation,
                "component": result.component,
                "sign": result.sign,
                "loadings": result.pca.loadings_table().round(6).to_dict(),
            }
        write_rasters(images, rasters)
