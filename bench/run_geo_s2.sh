#!/usr/bin/env bash
# Run `geo run` on a synthetic full-size Sentinel-2 L2A tile; report wall time, peak RSS, and
# the peak RSS of each stage.
#
#   bash bench/run_geo_s2.sh              # full tile: 10980 x 10980 at 10 m (5490 x 5490 at 20 m)
#   SIZE=2748 bash bench/run_geo_s2.sh    # about a quarter of the side (a multiple of 6)
#   RESOLUTION=10 bash bench/run_geo_s2.sh # analysis grid at 10 m instead of the pipeline's 20 m
#
# The tile comes from bench/make_s2_tile.py (deterministic, the real SAFE layout, lossless
# JPEG 2000) and is cached in $DATA/s2_$SIZE. The pipeline is pipelines/sentinel2_alteration.yaml
# as shipped (processing.chunk and gdal_cache_mb at their defaults unless CHUNK / GDAL_CACHE_MB
# are set), pointed at the tile and at a small licence layer generated for the tile's extent.
#
# Figures: GNU time's wall time and max RSS of the geo process; the manifest's peak RSS after
# each stage (ru_maxrss, cumulative); and a psutil sampler (every $SAMPLE_S s) that records the
# RSS of the geo process and tags each sample with the stage geo -v last logged, giving the
# largest RSS seen while each stage ran ($DATA/s2_$SIZE/rss_samples_<res>m.csv has the series).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-10980}
SEED=${SEED:-0}
DATA=${DATA:-$HOME/.cache/geo-bench/data}
SAMPLE_S=${SAMPLE_S:-0.2}
RESOLUTION=${RESOLUTION:-}
PY=.venv/bin/python
tile="$DATA/s2_$SIZE"
mkdir -p "$tile"
if [ ! -f "$tile/s2_tile.json" ]; then
  "$PY" bench/make_s2_tile.py "$tile" --size "$SIZE" --seed "$SEED"
fi
safe=$(ls -d "$tile"/*.SAFE)
res_tag=${RESOLUTION:-20}m
spec="$tile/geo_s2_$res_tag.yaml"
out="$tile/geo_out_$res_tag"
"$PY" - "$safe" "$spec" "$out" "$tile/licences.gpkg" "${CHUNK:-}" "${GDAL_CACHE_MB:-}" \
  "$RESOLUTION" <<'PYEOF'
import sys

import geopandas as gpd
import rasterio
import yaml
from shapely.geometry import box

safe, spec, out, lic, chunk, cache, resolution = sys.argv[1:]
# licence layer: 5 x 5 grid of blocks over the tile with gaps, in WGS 84 like a cadastre
b10 = next(__import__("pathlib").Path(safe).rglob("*_B02_10m.jp2"))
with rasterio.open(b10) as src:
    left, bottom, right, top = src.bounds
    crs = src.crs
rows = []
step_x, step_y = (right - left) / 5, (top - bottom) / 5
status = ["granted", "application", "granted", "renewal pending"]
for i in range(5):
    for j in range(5):
        k = i * 5 + j
        if k % 7 == 3:
            continue  # open ground: targets there have no licence
        x0, y0 = left + j * step_x, top - (i + 1) * step_y
        shrink = 0.04 * step_x
        rows.append(
            {
                "licence_no": f"PL {100 + k:03d}/2022",
                "holder_name": f"Holder {k % 6 + 1}",
                "status": status[k % 4],
                "expiry": f"{2026 + k % 4}-0{1 + k % 9}-15",
                "geometry": box(x0 + shrink, y0 + shrink, x0 + step_x - shrink, y0 + step_y - shrink),
            }
        )
gpd.GeoDataFrame(rows, crs=crs).to_crs("EPSG:4326").to_file(lic, layer="licences", driver="GPKG")

doc = yaml.safe_load(open("pipelines/sentinel2_alteration.yaml"))
doc["inputs"]["scene"] = {
    "path": safe,
    "resolution": float(resolution) if resolution else doc["inputs"]["scene"]["resolution"],
}
doc["inputs"]["licences"]["path"] = lic
doc["output"] = out
proc = doc.setdefault("processing", {})
if chunk:
    proc["chunk"] = int(chunk)
if cache:
    proc["gdal_cache_mb"] = int(cache)
if not proc:
    doc.pop("processing")
yaml.safe_dump(doc, open(spec, "w"), sort_keys=False)
PYEOF
"$PY" -c "
from geo.pipeline.spec import load_spec
s = load_spec('$spec')
p = s.processing
print('tile', '$safe'.rsplit('/', 1)[-1], 'size', $SIZE, '| resolution', s.inputs.scene.resolution,
      '| processing.chunk', p.chunk, '| gdal_cache_mb', p.gdal_cache_mb)"
sync
log="$tile/geo_run_$res_tag.log"
timef="$tile/geo_time_$res_tag.txt"
samples="$tile/rss_samples_$res_tag.csv"
/usr/bin/time -v -o "$timef" .venv/bin/geo -v run "$spec" --overwrite --top 0 >"$log" 2>&1 &
pid=$!
# the time process's child is geo; sample it (and any children) until it exits
"$PY" - "$pid" "$log" "$samples" "$SAMPLE_S" <<'PYEOF' &
import re, sys, time
import psutil

pid, log, samples, period = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
parent = psutil.Process(pid)
t0 = time.monotonic()
stage, pos = "start", 0
with open(samples, "w") as out:
    out.write("t_s,rss_mb,stage\n")
    while parent.is_running() and parent.status() != psutil.STATUS_ZOMBIE:
        try:
            with open(log) as fh:
                fh.seek(pos)
                text = fh.read()
                pos = fh.tell()
            for m in re.finditer(r"geo\.pipeline\.runner: stage (\w+)", text):
                stage = m.group(1)
            rss = sum(p.memory_info().rss for p in parent.children(recursive=True))
        except (psutil.Error, OSError):
            break
        out.write(f"{time.monotonic() - t0:.2f},{rss / 2**20:.1f},{stage}\n")
        out.flush()
        time.sleep(period)
PYEOF
sampler=$!
status=0
wait "$pid" || status=$?
wait "$sampler" || true
if [ "$status" -ne 0 ]; then
  tail -n 30 "$log" >&2
  echo "geo run failed (exit $status); log: $log" >&2
  exit "$status"
fi
grep -E "Elapsed|Maximum resident|Percent of CPU" "$timef"
"$PY" - "$out/manifest.json" "$samples" <<'PYEOF'
import csv, json, sys

m = json.load(open(sys.argv[1]))
print("grid (px)       ", m["scene"]["shape"], "at", m["scene"]["resolution_m"], "m")
print("stage seconds   ", m["timings_s"])
print("peak RSS MB after stage (cumulative)", m["peak_rss_mb_after_stage"])
peak = {}
for row in csv.DictReader(open(sys.argv[2])):
    peak[row["stage"]] = max(peak.get(row["stage"], 0.0), float(row["rss_mb"]))
print("sampled max RSS MB during stage     ", peak)
print("targets", m["targets"]["count"], "zones", m["zones"]["count"],
      "valid fraction", round(m["masks"]["valid_fraction"], 4))
PYEOF
