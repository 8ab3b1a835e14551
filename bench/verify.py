#!/usr/bin/env python3
"""Check that every approach produced the right answer.

Ratio peers (OUTROOT/<peer>/ironox.tif, clay.tif) are compared block by block with a
reference computed here from the scene: float32 B4/B2 and B6/B7 of the DN, nodata where
either band is 0 (max relative difference <= 1e-6, identical nodata mask).

geo's ratio rows (OUTROOT/geo_ratio*/rasters/iron_oxide.tif, clay_hydroxyl.tif) compute on
surface reflectance, so they are compared with an independent reflectance reference in
float64: rho = DN * 2.75e-5 - 0.2, ratio = rho_a / rho_b, nodata where **any of the 7
bands** is fill (geo's fill rule: a pixel without every band is masked) or where the
denominator reflectance is <= 0.01 (geo's min_denominator). Identical mask; relative
difference <= 1e-5, except where the numerator reflectance is below 0.01 in magnitude: there
geo's float32 reflectance (DN * 2.75e-5 - 0.2, a difference of two nearly equal numbers)
has lost relative precision, the ratio is below 1 in magnitude, and the absolute
difference must be <= 1e-5 instead (those pixels are counted). How many pixels geo masks that the peers keep (the band-edge
strips where only some bands have data, and dark denominators) is reported too.
With --product, the product's SR_B2/4/6/7 files are checked to hold the stack's DN.

geo run folders (OUTROOT/geo_pipeline, geo_alteration, geo_ratio*): must hold manifest.json, targets.gpkg
and rasters/iron_oxide.tif on the scene grid; targets, valid fraction and geo's own stage
timings (manifest timings_s) are reported.

Classifier outputs (OUTROOT/<name>/classes.tif, uint8, nodata 255) are compared with the
first peer classifier (f_pyspatialml, else g_sklearn): peers must agree exactly; geo rows
report their agreement with each peer and pass at >= --class-min-agreement (0.99).

usage: verify.py SCENE.tif OUTROOT [--product DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np
import rasterio

RATIOS = {"ironox": (4, 2), "clay": (6, 7)}
GEO_RATIOS = {"iron_oxide": (4, 2), "clay_hydroxyl": (6, 7)}
SR_MULT, SR_ADD, MIN_DENOMINATOR = 2.75e-5, -0.2, 0.01
PEER_CLASSIFIERS = ("f_pyspatialml", "g_sklearn")


def out_mask(arr, nodata):
    if nodata is None:
        return np.zeros(arr.shape, bool)
    if np.isnan(nodata):
        return np.isnan(arr)
    return arr == nodata


def _grid(src, out):
    return out.transform == src.transform and out.crs == src.crs and out.shape == src.shape


def check_ratio(scene, path, num, den, *, reflectance=False, tol=1e-6):
    res = dict(file_MB=round(os.path.getsize(path) / 1e6, 2))
    with rasterio.open(scene) as src, rasterio.open(path) as out:
        res.update(
            dtype=out.dtypes[0],
            nodata=out.nodata,
            compress=str(out.compression),
            blocks=out.block_shapes[0],
            overviews=out.overviews(1),
            same_grid=_grid(src, out),
        )
        mask_mismatch = nonfinite = peer_mask_extra = n_small = 0
        max_abs = max_rel = max_abs_small = 0.0
        n_valid = 0
        for _, win in src.block_windows(1):
            if reflectance:
                dn = src.read(window=win)
                a, b = dn[num - 1], dn[den - 1]
                ra = a.astype(np.float64) * SR_MULT + SR_ADD
                rb = b.astype(np.float64) * SR_MULT + SR_ADD
                ref_mask = (dn == 0).any(axis=0) | (rb <= MIN_DENOMINATOR)
                with np.errstate(divide="ignore", invalid="ignore"):
                    ref = ra / rb
                peer_mask_extra += int((ref_mask & ~((a == 0) | (b == 0))).sum())
                small = np.abs(ra) < MIN_DENOMINATOR
            else:
                a, b = src.read((num, den), window=win)
                ref_mask = (a == 0) | (b == 0)
                with np.errstate(divide="ignore", invalid="ignore"):
                    ref = a.astype(np.float32) / b.astype(np.float32)
                small = np.zeros(a.shape, bool)
            got = out.read(1, window=win)
            m = out_mask(got, out.nodata)
            mask_mismatch += int((m != ref_mask).sum())
            v = ~ref_mask & ~m
            n_valid += int(v.sum())
            nonfinite += int((~np.isfinite(got[~m])).sum())
            vs, v = v & small, v & ~small
            if v.any():
                d = np.abs(got[v].astype(np.float64) - ref[v])
                max_abs = max(max_abs, float(d.max()))
                max_rel = max(max_rel, float((d / np.abs(ref[v])).max()))
            if vs.any():
                n_small += int(vs.sum())
                d = np.abs(got[vs].astype(np.float64) - ref[vs])
                max_abs_small = max(max_abs_small, float(d.max()))
        res.update(
            valid_px=n_valid,
            mask_mismatch_px=mask_mismatch,
            nonfinite_px=nonfinite,
            max_abs_diff=max_abs,
            max_rel_diff=max_rel,
            tolerance=tol,
            ok=bool(
                res["same_grid"]
                and mask_mismatch == 0
                and nonfinite == 0
                and max_rel <= tol
                and max_abs_small <= tol
            ),
        )
        if reflectance:
            res.update(
                masked_beyond_peer_rule_px=peer_mask_extra,
                small_numerator_px=n_small,
                max_abs_diff_small_numerator=max_abs_small,
            )
    return res


def check_product(scene, product):
    """The product's SR band files hold the stack's DN (block by block)."""
    res = {}
    with rasterio.open(scene) as src:
        for n in (2, 4, 6, 7):
            hits = glob.glob(os.path.join(product, f"*_SR_B{n}.TIF"))
            if len(hits) != 1:
                res[f"SR_B{n}"] = dict(ok=False, error=f"{len(hits)} files")
                continue
            with rasterio.open(hits[0]) as band:
                diff = 0
                for _, win in src.block_windows(1):
                    diff += int((src.read(n, window=win) != band.read(1, window=win)).sum())
                res[f"SR_B{n}"] = dict(
                    ok=diff == 0 and _grid(src, band),
                    differing_px=diff,
                    blocks=band.block_shapes[0],
                    compress=str(band.compression),
                )
    return res


def check_pipeline(scene, run_dir):
    res = dict(ok=False)
    manifest = os.path.join(run_dir, "manifest.json")
    if not os.path.exists(manifest):
        res["error"] = "no manifest.json"
        return res
    m = json.load(open(manifest))
    rasters = sorted(glob.glob(os.path.join(run_dir, "rasters", "*.tif")))
    exports = (
        sorted(os.listdir(os.path.join(run_dir, "exports")))
        if os.path.isdir(os.path.join(run_dir, "exports"))
        else []
    )
    with (
        rasterio.open(scene) as src,
        rasterio.open(os.path.join(run_dir, "rasters", "iron_oxide.tif")) as io,
    ):
        same_grid = _grid(src, io)
    targets = m.get("targets", {})
    ev = m.get("evaluation") or {}
    res.update(
        ok=bool(same_grid and os.path.exists(os.path.join(run_dir, "targets.gpkg"))),
        same_grid=same_grid,
        rasters=len(rasters),
        exports=len(exports),
        targets=targets.get("count") if isinstance(targets, dict) else None,
        valid_fraction=(m.get("masks") or {}).get("valid_fraction"),
        evaluation={k: ev[k] for k in list(ev)[:6]} if isinstance(ev, dict) else ev,
        timings_s=m.get("timings_s"),
        peak_rss_mb_after_stage=m.get("peak_rss_mb_after_stage"),
    )
    return res


def check_classes(classifiers, min_agreement):
    report = {}
    bases = [(n, p) for n, p in classifiers if n in PEER_CLASSIFIERS]
    if not bases:
        bases = classifiers[:1]
    arrays = {}
    for name, path in classifiers:
        with rasterio.open(path) as ds:
            arrays[name] = (ds.read(1), ds.nodata, os.path.getsize(path))
    base_name = bases[0][0]
    for name, _path in classifiers:
        arr, nd, size = arrays[name]
        valid = arr != nd
        counts = np.bincount(arr[valid].ravel(), minlength=4)[:4]
        entry = dict(
            file_MB=round(size / 1e6, 2),
            nodata=nd,
            valid_px=int(valid.sum()),
            class_px=[int(c) for c in counts],
            agreement={},
        )
        for other, _ in bases:
            if other == name:
                continue
            oarr, ond, _ = arrays[other]
            both = valid & (oarr != ond)
            entry["agreement"][other] = dict(
                all_px=float((arr == oarr).mean()),
                valid_in_both=float((arr[both] == oarr[both]).mean()) if both.any() else None,
                nodata_mismatch_px=int(((arr == nd) != (oarr == ond)).sum()),
            )
        if name in PEER_CLASSIFIERS:
            a = entry["agreement"].get(base_name)
            entry["ok"] = a is None or a["all_px"] == 1.0
        else:
            entry["ok"] = all(a["all_px"] >= min_agreement for a in entry["agreement"].values())
            entry["min_agreement"] = min_agreement
        report[f"{name}/classes"] = entry
    return report


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("scene")
    ap.add_argument("outroot")
    ap.add_argument("--product", default=None, help="Landsat product folder to check")
    ap.add_argument("--json", default=None)
    ap.add_argument("--class-min-agreement", type=float, default=0.99)
    ap.add_argument("--geo-tolerance", type=float, default=1e-5)
    a = ap.parse_args(argv)
    report = {}
    classifiers = []
    if a.product and os.path.isdir(a.product):
        for k, r in check_product(a.scene, a.product).items():
            report[f"product/{k}"] = r
    for name in sorted(os.listdir(a.outroot)):
        d = os.path.join(a.outroot, name)
        if not os.path.isdir(d):
            continue
        for out, (num, den) in RATIOS.items():
            p = os.path.join(d, f"{out}.tif")
            if os.path.exists(p):
                report[f"{name}/{out}"] = check_ratio(a.scene, p, num, den)
        if name.startswith("geo_ratio"):
            for out, (num, den) in GEO_RATIOS.items():
                p = os.path.join(d, "rasters", f"{out}.tif")
                report[f"{name}/{out}"] = (
                    check_ratio(a.scene, p, num, den, reflectance=True, tol=a.geo_tolerance)
                    if os.path.exists(p)
                    else dict(ok=False, error=f"{p} missing")
                )
        if name in ("geo_pipeline", "geo_alteration") or name.startswith("geo_ratio"):
            report[f"{name}/run"] = check_pipeline(a.scene, d)
        p = os.path.join(d, "classes.tif")
        if os.path.exists(p):
            classifiers.append((name, p))
    if classifiers:
        report.update(check_classes(classifiers, a.class_min_agreement))

    w = max([len(k) for k in report] + [10])
    for k, r in report.items():
        if "error" in r:
            print(f"{k:<{w}}  ok={r['ok']!s:<5} {r['error']}")
        elif k.startswith("product/"):
            print(
                f"{k:<{w}}  ok={r['ok']!s:<5} differing_px={r['differing_px']} "
                f"blocks={r['blocks']} compress={r['compress']}"
            )
        elif k.endswith("/classes"):
            agree = (
                "; ".join(
                    f"with {o}: {v['all_px']:.6f} (valid in both "
                    f"{'-' if v['valid_in_both'] is None else format(v['valid_in_both'], '.6f')},"
                    f" nodata mismatch {v['nodata_mismatch_px']})"
                    for o, v in r["agreement"].items()
                )
                or "(reference)"
            )
            print(
                f"{k:<{w}}  ok={r['ok']!s:<5} valid={r['valid_px']} classes={r['class_px']} "
                f"file={r['file_MB']}MB agreement {agree}"
            )
        elif k.endswith("/run"):
            print(
                f"{k:<{w}}  ok={r['ok']!s:<5} targets={r['targets']} rasters={r['rasters']} "
                f"exports={r['exports']} valid_fraction={r['valid_fraction']} "
                f"timings_s={r['timings_s']}"
            )
        else:
            extra = (
                f" masked_beyond_peer_rule={r['masked_beyond_peer_rule_px']}"
                f" |num|<0.01: {r['small_numerator_px']} px, max_abs_diff="
                f"{r['max_abs_diff_small_numerator']:.1e}"
                if "masked_beyond_peer_rule_px" in r
                else ""
            )
            print(
                f"{k:<{w}}  ok={r['ok']!s:<5} mask_mismatch={r['mask_mismatch_px']} "
                f"nonfinite={r['nonfinite_px']} max_rel_diff={r['max_rel_diff']:.2e} "
                f"(tol {r['tolerance']:.0e}) nodata={r['nodata']} file={r['file_MB']}MB" + extra
            )
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(report, fh, indent=1, default=str)
    return 0 if all(r["ok"] for r in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
