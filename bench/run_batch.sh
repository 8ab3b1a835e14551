#!/usr/bin/env bash
# Batch scale-out: `geo batch` of the index-stage pipeline over SCENES copies of the benchmark
# scene, on a LocalCluster of 1 and of 2 workers (one dask thread each), REPEATS times in
# alternation. Prints each run's wall time, the scene seconds the batch report records, and
# the throughput ratio 2 workers / 1 worker, for the whole command and for the scenes alone.
#
#   bash bench/run_batch.sh                     # 4 scenes of 4096², 2 repeats
#   SCENES=8 SIZE=4096 REPEATS=2 bash bench/run_batch.sh
#
# The scenes are symbolic links to one stack (bench/make_scene.py), so every scene does the
# same work; geo treats each as its own scene (own folder, manifest and targets).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-4096}
SCENES=${SCENES:-4}
REPEATS=${REPEATS:-2}
THREADS=${THREADS:-1}
DATA=${DATA:-$HOME/.cache/geo-bench/data}
PY=.venv/bin/python
SCENE_PY=${SCENE_PY:-$HOME/.cache/geo-bench/venv/bin/python}
[ -x "$SCENE_PY" ] || SCENE_PY=$PY
mkdir -p "$DATA"
scene="$DATA/scene_${SIZE}.tif"
[ -f "$scene" ] || "$SCENE_PY" bench/make_scene.py --size "$SIZE" --layout stack --out "$scene"
tiles="$DATA/batch_${SIZE}_x${SCENES}"
rm -rf "$tiles" && mkdir -p "$tiles"
for i in $(seq "$SCENES"); do ln -s "$scene" "$tiles/tile_$i.tif"; done
spec="$DATA/batch_index_${SIZE}.yaml"
# the index-stage pipeline of bench/run_geo_index.sh, with the shipped processing defaults
"$PY" - "$scene" "$spec" <<'PYEOF'
import sys, yaml
scene, spec = sys.argv[1:]
doc = yaml.safe_load(open("pipelines/landsat_alteration.yaml"))
doc.update(name="index-stage", indices=["iron_oxide", "clay_hydroxyl"], anomalies={},
           export={"formats": []},
           masks={"qa": [], "saturation": False, "ndvi_max": None, "mndwi_max": None,
                  "dark_albedo": None, "buffer_px": 0, "buffer_rules": []})
doc.pop("output", None)
doc["inputs"] = {"scene": {"path": scene, "sensor": "landsat_oli", "scale": 2.75e-05, "offset": -0.2,
                           "roles": ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]}}
doc["targets"].update(iron=[], clay=[])
yaml.safe_dump(doc, open(spec, "w"), sort_keys=False)
PYEOF
echo "geo $(.venv/bin/geo --version 2>&1) ($(git describe --always --dirty)); $(nproc) cores;" \
     "$SCENES scenes of ${SIZE}²; --threads $THREADS; load $(cut -d' ' -f1-3 /proc/loadavg)"
results="$DATA/batch_results_${SIZE}_x${SCENES}.csv"
echo "run,workers,wall_s,scene_s_sum,scene_s_max" > "$results"
for r in $(seq "$REPEATS"); do
  for w in 1 2; do
    out="$DATA/batch_out_${SIZE}_x${SCENES}_w$w"
    rm -rf "$out"
    sync
    start=$(date +%s.%N)
    .venv/bin/geo -q batch "$spec" "$tiles"/*.tif --out "$out" --workers "$w" --threads "$THREADS" \
        >/dev/null
    end=$(date +%s.%N)
    "$PY" - "$out/batch.json" "$r" "$w" "$start" "$end" >> "$results" <<'PYEOF'
import json, sys
report, run, workers, start, end = sys.argv[1:]
scenes = json.load(open(report))["scenes"]
assert all(s["status"] == "ok" for s in scenes), [s["status"] for s in scenes]
secs = [s["seconds"] for s in scenes]
print(f"{run},{workers},{float(end) - float(start):.2f},{sum(secs):.2f},{max(secs):.2f}")
PYEOF
    tail -1 "$results"
  done
done
"$PY" - "$results" <<'PYEOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
wall = {w: [float(r["wall_s"]) for r in rows if r["workers"] == w] for w in ("1", "2")}
print(f"wall s, 1 worker: {wall['1']}; 2 workers: {wall['2']}")
m1, m2 = statistics.median(wall["1"]), statistics.median(wall["2"])
print(f"throughput 2 workers / 1 worker (median wall): {m1 / m2:.2f}x "
      f"[{min(wall['1']) / max(wall['2']):.2f}-{max(wall['1']) / min(wall['2']):.2f}]")
PYEOF
