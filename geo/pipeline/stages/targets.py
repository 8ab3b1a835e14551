"""``targets``: zones or the prospectivity score → merged, scored, licensed, ranked targets.

:func:`geo.targets.ranking.rank_with_licences` is *the* ranking after the licence join:
this stage (``geo run``, ``geo rank``) and the merge of ``geo batch`` (targets of several
scenes ranked over the whole area) both call it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.pipeline.stages.base import RunContext, required
from geo.prospectivity.combine import target_breakdown, top_fraction_cutoff
from geo.spectral.masks import MASK_RULES
from geo.targets.columns import PROSPECT_COLUMNS, TARGET_COLUMNS
from geo.targets.licences import (
    apply_exclusions,
    licence_context,
    split_at_licences,
    summarise_licences,
)
from geo.targets.rank import (
    COMPONENTS,
    flag_targets,
    merge_zones,
    score_targets,
)
from geo.targets.ranking import STRADDLE_FLAG, rank_with_licences
from geo.targets.zones import extract_zones

__all__ = ["STRADDLE_FLAG", "TargetsStage", "rank_with_licences"]


class TargetsStage:
    """Merge, score, flag, join licences, rank; apply the exclusions; summarise per licence."""

    name = "targets"
    sections = ("targets",)

    def enabled(self, ctx: RunContext) -> bool:
        """Run always (a run without zones has an empty but complete target table)."""
        return True

    def run(self, ctx: RunContext) -> None:
        """``ctx.targets``, ``ctx.licence_summary`` and ``ctx.target_info`` from the zones."""
        spec = ctx.spec
        candidates, info = _candidates(ctx)
        scored = _score(ctx, candidates, info)
        # risk flags before the ranking: they depend on each target alone
        reasons = required(ctx.reasons, "ctx.reasons")
        scored = flag_targets(
            scored,
            reasons,
            MASK_RULES,
            buffer_m=2 * abs(reasons.rio.resolution()[0]),
            min_area_ha=spec.zones.min_area_ha,
        )
        targets = rank_with_licences(
            scored, ctx.licences, straddle=spec.targets.straddle, on_date=ctx.today
        )
        targets["scene_id"] = ctx.scene_id
        targets["date"] = ctx.date
        targets = _exclude(ctx, targets)
        targets["split_with"] = _split_with(targets) if len(targets) else pd.Series(dtype="object")
        extra = []
        if info["source"] == "prospectivity":
            names = list(spec.evidence)
            extra = [
                *PROSPECT_COLUMNS,
                *(f"mean_{n}" for n in names),
                *(f"contrib_{n}" for n in names),
            ]
        ctx.targets = targets[[*TARGET_COLUMNS, *extra, "geometry"]]
        ctx.target_info = info
        _notes(ctx, info)
        ctx.licence_summary = _summary(ctx, info.get("cutoff"))
        ctx.manifest["targets"] = {
            **(ctx.manifest.get("targets") or {}),  # a re-ranked run keeps what it recorded
            "count": len(ctx.targets),
            "outside_licences": int(ctx.targets["licence_id"].isna().sum()),
            "score_components": list(COMPONENTS),
            **info,
        }


def _from_score(ctx: RunContext) -> bool:
    return ctx.prospect is not None and ctx.spec.target_source == "prospectivity"


def _candidates(ctx: RunContext) -> tuple[gpd.GeoDataFrame, dict]:
    """Merge the zones (or areas above the score cutoff); split at licence lines if asked."""
    spec = ctx.spec
    info: dict = {"source": "zones"}
    if _from_score(ctx):
        prospect = required(ctx.prospect, "ctx.prospect")
        info = {"source": "prospectivity", **_score_cutoff(spec, prospect)}
        pz = extract_zones(
            prospect.score >= info["cutoff"],
            kind="prospectivity",
            min_area_ha=spec.zones.min_area_ha,
            sieve_px=spec.zones.sieve_px,
        )
        merged = merge_zones(pz, distance_m=spec.targets.merge_distance_m)
    else:
        merged = merge_zones(ctx.zones, distance_m=spec.targets.merge_distance_m)
    merged["_parent"] = pd.array([None] * len(merged), dtype="object")
    straddle = spec.targets.straddle
    info["straddle"] = straddle
    if straddle == "split" and ctx.licences is not None and len(merged):
        merged, dropped = split_at_licences(
            merged.drop(columns="_parent"), ctx.licences, min_area_m2=spec.zones.min_area_ha * 1e4
        )
        merged = merged.rename(columns={"split_from": "_parent"})
        if dropped:
            ctx.notes.append(
                f"{dropped} piece(s) of targets split at licence boundaries were smaller than "
                f"zones.min_area_ha ({spec.zones.min_area_ha} ha) and were dropped"
            )
        info["split_pieces"] = int(merged["_parent"].notna().sum())
    if _from_score(ctx):
        merged = _alteration_support(merged, ctx.zones)
    return merged, info


def _score(ctx: RunContext, merged: gpd.GeoDataFrame, info: dict) -> gpd.GeoDataFrame:
    """Score the candidates (alteration evidence, and the prospectivity breakdown)."""
    from_score = _from_score(ctx)
    # zones are clipped to targets that are not unions of whole zones (score, split pieces)
    clip = from_score or "split_pieces" in info
    scored = score_targets(merged, ctx.zones, ctx.spec.targets.to_config(), clip=clip)
    if not from_score:
        return scored
    prospect = required(ctx.prospect, "ctx.prospect")
    breakdown = target_breakdown(
        scored, prospect.inputs, prospect.combination, baseline=prospect.baseline
    )
    scored = pd.concat([scored, breakdown.drop(columns=["supporting", "score_p90"])], axis=1)
    scored["score_p90"] = breakdown["score_p90"]
    # rank on the target's best part: the 90th percentile of its pixel scores
    scored["score"] = scored.pop("score_p90")
    scored["score_method"] = required(
        ctx.spec.prospectivity, "pipeline section prospectivity"
    ).method
    return scored[scored["score"].notna()]


def _exclude(ctx: RunContext, targets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Flag or remove the targets in exclusion zones (the licence ranks follow a removal)."""
    if ctx.exclusions is None:
        return targets
    polygons, names, _ = ctx.exclusions
    before = len(targets)
    ex = required(ctx.spec.inputs.exclusions, "pipeline section inputs.exclusions")
    targets = apply_exclusions(targets, polygons, names=names, action=ex.action)
    if len(targets) < before:
        ctx.notes.append(f"{before - len(targets)} target(s) removed by the exclusion zones")
        targets = licence_context(targets, on_date=ctx.today)
    return targets


def _notes(ctx: RunContext, info: dict) -> None:
    targets, min_area = required(ctx.targets, "ctx.targets"), ctx.spec.zones.min_area_ha
    if targets.empty and ctx.usable:  # (an unusable scene's warning says why already)
        ctx.notes.append(
            "no targets: no anomaly zone reached zones.min_area_ha "
            f"({min_area} ha); see the thresholds in manifest.json"
            if info["source"] != "prospectivity"
            else "no targets: no area above the prospectivity cutoff reached zones.min_area_ha "
            f"({min_area} ha)"
        )
    outside = int(targets["licence_id"].isna().sum())
    if outside:
        ctx.notes.append(f"{outside} target(s) lie outside every licence (licence_id is null)")


def _summary(ctx: RunContext, cutoff) -> gpd.GeoDataFrame | None:
    """One row per licence: targets, anomalous and valid area (None without licences)."""
    if ctx.licences is None:
        return None
    return summarise_licences(
        ctx.licences,
        ctx.targets,
        ctx.zones,
        reasons=ctx.reasons,
        fill_bit=1 << MASK_RULES.index("fill"),
        score=ctx.prospect.score if ctx.prospect is not None else None,
        cutoff=cutoff,
        disjoint_kinds=True,  # the zones of one kind are the components of one mask
    )


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
