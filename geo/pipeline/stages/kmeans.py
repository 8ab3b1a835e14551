"""``kmeans``: unsupervised clusters of the valid pixels (a first look at a new area)."""

from __future__ import annotations

import numpy as np

from geo.io.writers import RasterLayer, write_rasters
from geo.pipeline.spec import PipelineSpec
from geo.pipeline.stages.base import PixelStage, RunContext, required

__all__ = ["KMeansStage"]


class KMeansStage(PixelStage):
    """k-means clusters of the reflectance: ``kmeans_clusters``, centres in ``methods``."""

    name = "kmeans"

    def configured(self, spec: PipelineSpec) -> bool:
        """Tell whether the pipeline has a ``kmeans`` section."""
        return spec.kmeans is not None

    def run(self, ctx: RunContext) -> None:
        """Cluster a sample of the valid pixels, classify every pixel chunk by chunk."""
        from geo.classify import kmeans_classes  # scikit-learn loads only when needed

        opts = required(ctx.spec.kmeans, "pipeline section kmeans")
        refl = required(ctx.refl, "ctx.refl")
        clusters, model = kmeans_classes(
            refl.where(required(ctx.reasons, "ctx.reasons") == 0),
            opts.clusters,
            sample=opts.sample,
            random_state=opts.seed,
            chunk=ctx.chunk,
        )
        write_rasters(
            {"kmeans_clusters": RasterLayer(clusters, "uint8", 255, True, "k-means cluster")},
            required(ctx.rasters, "ctx.rasters"),
        )
        ctx.methods["kmeans"] = {
            "clusters": opts.clusters,
            "bands": [str(b) for b in refl["band"].values],
            "centres": np.round(model.cluster_centers_, 5).tolist(),
        }
