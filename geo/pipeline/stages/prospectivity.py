"""``prospectivity``: evidence layers → one score → its evaluation (see geo.pipeline.prospect).

The same stage re-runs in ``geo rank``: the score is rebuilt from the run's rasters
(``ctx.rasters``) and the evidence sources, new layers going to ``ctx.tmp / "rasters"``.
"""

from __future__ import annotations

from geo.pipeline.prospect import run_prospectivity
from geo.pipeline.spec import PipelineSpec
from geo.pipeline.stages.base import PixelStage, RunContext, required
from geo.spectral.masks import MASK_RULES

__all__ = ["ProspectivityStage"]


class ProspectivityStage(PixelStage):
    """``prospectivity.tif`` (and its inputs) from the ``evidence`` of the pipeline."""

    name = "prospectivity"
    sections = ("prospectivity", "evaluation")

    def configured(self, spec: PipelineSpec) -> bool:
        """Tell whether the pipeline has a ``prospectivity`` section."""
        return spec.prospectivity is not None

    def run(self, ctx: RunContext) -> None:
        """Build the score; ``ctx.prospect`` holds it for the targets and the maps."""
        out_dir = required(ctx.tmp, "ctx.tmp") / "rasters"
        out_dir.mkdir(exist_ok=True)
        prospect = run_prospectivity(
            ctx.spec,
            required(ctx.reasons, "ctx.reasons"),
            required(ctx.rasters, "ctx.rasters"),
            chunk=ctx.chunk,
            notes=ctx.notes,
            occurrences=ctx.occurrences,
            fill_bit=1 << MASK_RULES.index("fill"),
            out_dir=out_dir,
        )
        ctx.prospect = prospect
        ctx.manifest["prospectivity"] = prospect.info
        # the same object: the export stage adds the capture of the delivered targets
        ctx.manifest["evaluation"] = prospect.evaluation
