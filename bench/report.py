#!/usr/bin/env python3
"""Summarise runs.csv written by measure.py: median and [min-max] per approach, then the
ratios of geo's rows to each peer. Markdown, ready to paste.

usage: report.py RUNS.csv [--md OUT.md] [--title TEXT]

Table 1 columns
  wall s        median process wall time (GNU time), [min-max] over the successful runs
  peak RSS MB   GNU time's max RSS: the largest single process of the tree
  tree RSS MB   psutil-sampled peak of the summed RSS of the whole process tree (differs
                from peak RSS for multi-process peers such as the dask LocalCluster)
  CPU %         (user+sys)/wall from GNU time; 200 % = both cores of a 2-core machine
  Mpx/s         scene pixels (width x height; 7 bands each) / wall, per run
  x floor 1t/2t ratio rows only: median wall / the I/O floor of the ratio task in the
                peers' format: decode the 4 input bands of the stack (floor_read4) + encode
                the two float32 outputs as deflate GeoTIFF (floor_write2); 1t with GDAL's
                defaults (one thread), 2t with NUM_THREADS=ALL_CPUS (_mt probes)
  x geo floor   geo ratio rows only: the same floor in geo's formats: decode the 4 bands
                from what the row reads (the product's SR_Bn COGs for geo_ratio, the stack
                for geo_ratio_stack) + encode the two ratios as geo writes them (COG,
                deflate, floating-point predictor, overviews: floor_write2_cog[_mt])
  internal s    floor probes only: the probed part alone (no start-up or imports)

Table 2 (geo ÷ peer): median wall of the geo row / median wall of the peer, and median
memory / median memory, where a run's memory is the larger of its peak RSS and its tree
RSS (the whole tree counts for multi-process peers).
"""

from __future__ import annotations

import argparse
import csv
import statistics
from collections import OrderedDict

RATIO_PEERS = ("a_", "b_", "c_", "d_", "e_")
CLASS_PEERS = ("f_", "g_sklearn")
GEO_RATIO = ("geo_ratio",)
GEO_CLASS = ("geo_classify",)
GEO_PIPE = ("geo_pipeline", "geo_alteration")


def fnum(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def span(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(vals))}–{fmt.format(max(vals))}]"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--md", default=None)
    ap.add_argument("--title", default=None)
    a = ap.parse_args(argv)
    rows = list(csv.DictReader(open(a.csv)))
    groups: OrderedDict[str, list] = OrderedDict()
    for r in rows:
        groups.setdefault(r["label"], []).append(r)
    ok = {k: [r for r in v if r["rc"] == "0"] for k, v in groups.items()}

    def med(label, key):
        vals = [fnum(r[key]) for r in ok.get(label, []) if fnum(r[key]) is not None]
        return statistics.median(vals) if vals else None

    def mem(label):
        vals = [
            max(fnum(r["maxrss_mb"]) or 0, fnum(r["tree_peak_mb"]) or 0) for r in ok.get(label, [])
        ]
        return statistics.median(vals) if vals else None

    def floor(*labels):
        vals = [med(lb, "internal_s") for lb in labels]
        return None if any(v is None for v in vals) else sum(vals)

    floors = {
        "peer_1t": floor("floor_read4", "floor_write2"),
        "peer_2t": floor("floor_read4_mt", "floor_write2_mt"),
        "geo_product_1t": floor("floor_read4_product", "floor_write2_cog"),
        "geo_product_2t": floor("floor_read4_product_mt", "floor_write2_cog_mt"),
        "geo_stack_1t": floor("floor_read4", "floor_write2_cog"),
        "geo_stack_2t": floor("floor_read4_mt", "floor_write2_cog_mt"),
        "geo_all_2t": floor("floor_read7_product_mt", "floor_writeall_cog_mt"),
    }

    def ratio(mw, key):
        f = floors.get(key)
        return f"{mw / f:.1f}" if mw and f else "-"

    head = [
        "approach",
        "runs ok",
        "wall s median [min–max]",
        "peak RSS MB [min–max]",
        "tree RSS MB [min–max]",
        "CPU %",
        "Mpx/s [min–max]",
        "x floor 1t",
        "x floor 2t",
        "x geo floor 1t",
        "x geo floor 2t",
        "internal s [min–max]",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, rs in groups.items():
        good, bad = ok[label], [r for r in rs if r["rc"] != "0"]
        walls = [fnum(r["wall_s"]) for r in good]
        size_px = fnum(rs[0]["size_px"]) or 0
        mpx = [size_px / 1e6 / w for w in walls if w] if size_px else []
        mw = statistics.median(walls) if walls else None
        is_ratio = label.startswith(RATIO_PEERS + GEO_RATIO)
        geo_key = (
            ("geo_stack" if label == "geo_ratio_stack" else "geo_product")
            if label.startswith(GEO_RATIO)
            else None
        )
        runs = f"{len(good)}/{len(rs)}" + (
            f" (rc {','.join(sorted({r['rc'] for r in bad}))})" if bad else ""
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    f"**{label}**" if label.startswith("geo_") else label,
                    runs,
                    span(walls, "{:.2f}"),
                    span([fnum(r["maxrss_mb"]) for r in good], "{:.0f}"),
                    span([fnum(r["tree_peak_mb"]) for r in good], "{:.0f}"),
                    span([fnum(r["cpu_pct"]) for r in good], "{:.0f}"),
                    span(mpx, "{:.2f}") if not label.startswith("floor_") else "-",
                    ratio(mw, "peer_1t") if is_ratio else "-",
                    ratio(mw, "peer_2t") if is_ratio else "-",
                    ratio(mw, f"{geo_key}_1t") if geo_key else "-",
                    ratio(mw, f"{geo_key}_2t") if geo_key else "-",
                    span([fnum(r["internal_s"]) for r in good], "{:.3f}")
                    if any(fnum(r["internal_s"]) is not None for r in good)
                    else "-",
                ]
            )
            + " |"
        )
    out = [f"### {a.title}\n" if a.title else "", "\n".join(lines), ""]

    # --- table 2: geo rows relative to each peer ---------------------------------------
    def rel_table(geo_rows, peers, what):
        geo_rows = [g for g in geo_rows if ok.get(g)]
        peers = [p for p in peers if ok.get(p)]
        if not geo_rows or not peers:
            return []
        t = [
            f"**geo ÷ {what}** (median wall ÷ median wall / median memory ÷ median memory; "
            "below 1 = geo is faster / smaller)",
            "",
            "| geo row | " + " | ".join(peers) + " |",
            "|" + "---|" * (len(peers) + 1),
        ]
        for g in geo_rows:
            cells = []
            for p in peers:
                gw, pw, gm, pm = med(g, "wall_s"), med(p, "wall_s"), mem(g), mem(p)
                cells.append(f"{gw / pw:.2f}× / {gm / pm:.2f}×" if gw and pw and gm and pm else "-")
            t.append(f"| {g} | " + " | ".join(cells) + " |")
        return [*t, ""]

    labels = list(groups)
    geo_ratio_rows = [lb for lb in labels if lb.startswith(GEO_RATIO + GEO_PIPE)]
    out += rel_table(
        geo_ratio_rows, [lb for lb in labels if lb.startswith(RATIO_PEERS)], "ratio peers"
    )
    out += rel_table(
        [lb for lb in labels if lb.startswith(GEO_CLASS)],
        [lb for lb in labels if lb.startswith(CLASS_PEERS)],
        "classifier peers",
    )

    # --- notes --------------------------------------------------------------------------
    notes = []
    for label in (
        "floor_membw",
        "floor_read7",
        "floor_read4",
        "floor_read7_mt",
        "floor_read4_mt",
        "floor_write2",
        "floor_write2_mt",
        "floor_read4_product",
        "floor_read4_product_mt",
        "floor_read7_product_mt",
        "floor_write2_cog",
        "floor_write2_cog_mt",
        "floor_writeall_cog_mt",
    ):
        for r in ok.get(label, [])[-1:]:
            if r["internal_json"]:
                notes.append(f"- {label} (last run): {r['internal_json']}")
    desc = {
        "peer_1t": "ratio task, peers' format, 1 thread = floor_read4 + floor_write2",
        "peer_2t": "ratio task, peers' format, 2 threads = floor_read4_mt + floor_write2_mt",
        "geo_product_1t": "ratio task, geo's formats (product in, COG out), 1 thread = "
        "floor_read4_product + floor_write2_cog",
        "geo_product_2t": "same, 2 threads = floor_read4_product_mt + floor_write2_cog_mt",
        "geo_stack_1t": "ratio task, stack in, COG out, 1 thread = floor_read4 + floor_write2_cog",
        "geo_stack_2t": "same, 2 threads = floor_read4_mt + floor_write2_cog_mt",
        "geo_all_2t": "everything geo's index stage reads and writes (7 bands in; 2 ratios, "
        "mask_reasons, true colour out), 2 threads = floor_read7_product_mt + "
        "floor_writeall_cog_mt",
    }
    for key, text in desc.items():
        if floors[key] is not None:
            notes.append(f"- I/O floor, {text}: **{floors[key]:.2f} s** (internal medians)")
    gw = med("geo_ratio", "wall_s")
    if gw and floors["geo_all_2t"]:
        notes.append(
            f"- geo_ratio ÷ the floor of everything it reads and writes (2 threads): "
            f"{gw / floors['geo_all_2t']:.1f}"
        )
    for label in labels:
        if label.startswith("geo_"):
            for r in ok.get(label, [])[-1:]:
                if r["internal_json"]:
                    notes.append(
                        f"- {label} stages (last run, its own clock): {r['internal_json']}"
                    )
    size_px = fnum(rows[0]["size_px"]) if rows else None
    if size_px:
        notes.append(f"- scene: {int(size_px):,} pixels × 7 bands")
    text = "\n".join(out) + "\n" + "\n".join(notes)
    print(text)
    if a.md:
        with open(a.md, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
