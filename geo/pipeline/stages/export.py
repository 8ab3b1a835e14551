"""``export`` (the run's vector files and maps) and ``field_exports`` (the field formats)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geo.io.writers import write_csv, write_vectors
from geo.pipeline.export import export_run
from geo.pipeline.stages.base import RunContext, required
from geo.targets.evaluate import polygon_mask

__all__ = ["ExportStage", "FieldExportsStage", "write_targets"]


@dataclass(frozen=True)
class ExportStage:
    """``targets.gpkg``, ``targets.csv``, ``licences.csv``, ``quicklook.png`` and the score maps.

    ``quicklook``: render ``quicklook.png`` (off when re-ranking: the scene is not read).
    """

    quicklook: bool = True
    name: str = "export"
    sections: tuple[str, ...] = ("evaluation",)

    def enabled(self, ctx: RunContext) -> bool:
        """Run always."""
        return True

    def run(self, ctx: RunContext) -> None:
        """Write the targets, zones and licences; the evaluation and maps of the score."""
        prospect, folder = ctx.prospect, required(ctx.tmp, "ctx.tmp")
        write_targets(folder, ctx.targets, ctx.zones, ctx.licence_summary, prospect)
        if prospect is not None:
            write_evaluation(folder, prospect, ctx.targets, ctx.spec)
            ctx.manifest["evaluation"] = prospect.evaluation
        if self.quicklook:
            _write_quicklook(ctx)
        if prospect is not None:
            write_score_map(folder, ctx)
        if self.quicklook and ctx.spec.minerals is not None and ctx.rasters is not None:
            write_mineral_map(folder, ctx)


@dataclass(frozen=True)
class FieldExportsStage:
    """The pipeline's ``export.formats`` (KML, GPX, report...) from the staged run folder."""

    name: str = "field_exports"
    sections: tuple[str, ...] = ("exports", "export_processes")
    reads_manifest: bool = True  # export_run reads the folder's manifest.json
    folder_only: bool = True  # the grids held in memory are let go before it runs

    def enabled(self, ctx: RunContext) -> bool:
        """Tell whether the pipeline asks for at least one format."""
        return bool(ctx.spec.export.formats)

    def run(self, ctx: RunContext) -> None:
        """Write the formats; the manifest lists them and the processes that wrote them.

        ``exports``: the files per format; ``export_processes``: whether a second process
        wrote some of them. The field files hold the pipeline's field set (``field.top``, ``field.per_licence``);
        ``export.top`` and ``export.route_top`` default to it and never exceed it.
        """
        opts, field = ctx.spec.export, ctx.spec.field
        written = export_run(
            required(ctx.tmp, "ctx.tmp"),
            opts.formats,
            top=opts.top,
            route_top=opts.route_top,
            field_top=field.top,
            per_licence=field.per_licence or 0,
            start=(field.start.lon, field.start.lat) if field.start else None,
            start_name=field.start.name if field.start else None,
        )
        ctx.manifest["exports"] = dict(written)
        ctx.manifest["export_processes"] = {
            "processes": 2 if written.second_process else 1,
            "second_process": list(written.second_process),
        }


def write_targets(folder: Path, targets, zones, licences, prospect=None) -> None:
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


def _write_quicklook(ctx: RunContext) -> None:
    """``quicklook.png``: the scene, masks, zones, targets and licences at a glance."""
    from geo.export.quicklook import render_quicklook

    refl, prospect = required(ctx.refl, "ctx.refl"), ctx.prospect
    targets = required(ctx.targets, "ctx.targets")
    fig = render_quicklook(
        refl,
        rgb=ctx.rgb,
        invalid=required(ctx.reasons, "ctx.reasons") != 0,
        zones=ctx.zones,
        targets=targets,
        licences=ctx.licence_summary,
        structures=prospect.structures if prospect is not None else None,
        occurrences=prospect.occurrences if prospect is not None else None,
        title=f"{refl.attrs.get('scene_id')} ({refl.attrs.get('date')}): {len(targets)} targets",
    )
    fig.savefig(required(ctx.tmp, "ctx.tmp") / "quicklook.png", bbox_inches="tight")
    fig.clear()


def write_score_map(folder: Path, ctx: RunContext) -> None:
    """``prospectivity.png``: the score, the target cutoff, targets, structures, occurrences."""
    from geo.export.quicklook import render_score_map

    prospect, spec = required(ctx.prospect, "ctx.prospect"), ctx.spec
    method = required(spec.prospectivity, "pipeline section prospectivity").method
    targets = required(ctx.targets, "ctx.targets")
    fig = render_score_map(
        prospect.score,
        cutoff=ctx.target_info.get("cutoff"),
        targets=targets,
        licences=ctx.licence_summary,
        structures=prospect.structures,
        occurrences=prospect.occurrences,
        title=f"{spec.name}: {method} prospectivity, {len(targets)} targets",
        label=f"{method} score",
    )
    fig.savefig(folder / "prospectivity.png", bbox_inches="tight")
    fig.clear()


def write_mineral_map(folder: Path, ctx: RunContext) -> None:
    """``minerals.png``: the SWIR minerals (VNIR iron where SWIR names none), with a legend."""
    from geo.export.quicklook import render_mineral_map
    from geo.io.layers import open_run_layer
    from geo.spectral.minerals import mineral_legend

    rasters = required(ctx.rasters, "ctx.rasters")
    maps = {}
    for group in ("swir", "vnir"):
        path = rasters / f"mineral_{group}.tif"
        if path.is_file():
            legend = mineral_legend(group)
            names = dict(
                zip(legend["code"].astype(int), legend["mineral"].astype(str), strict=True)
            )
            maps[group] = (open_run_layer(path, ctx.chunk, masked=False), names)
    if not maps:
        return
    base = maps.get("swir") or maps["vnir"]
    iron = maps.get("vnir") if "swir" in maps else None
    targets = required(ctx.targets, "ctx.targets")
    fig = render_mineral_map(
        base[0],
        base[1],
        vnir=iron[0] if iron else None,
        vnir_legend=iron[1] if iron else None,
        targets=targets,
        licences=ctx.licence_summary,
        title=f"{ctx.scene_id}: minerals (SWIR ~2 µm; VNIR iron where SWIR names none), "
        f"{len(targets)} targets",
    )
    fig.savefig(folder / "minerals.png", bbox_inches="tight")
    fig.clear()


def write_evaluation(folder: Path, prospect, targets, spec) -> None:
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
