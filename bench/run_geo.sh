#!/usr/bin/env bash
# Time `geo run` on a synthetic Landsat-sized scene and report wall time, peak RSS and stage timings.
#
#   bash bench/run_geo.sh            # full scene, 7801 x 7681 px x 7 bands
#   SIZE=4096 bash bench/run_geo.sh  # 4096 x 4096
#
# The scene comes from bench/make_scene.py (vendored from the shared peer harness: deterministic,
# spatially structured, deflate-compressed and tiled like USGS files) and is cached in $DATA.
# The pipeline is the shipped one with the scene read as a 7-band GeoTIFF (C2 L2 scaling).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-full}
DATA=${DATA:-$HOME/.cache/geo-bench/data}
MAKE_SCENE=${MAKE_SCENE:-bench/make_scene.py}
PY=.venv/bin/python
# the scene is made with the peers' venv when it exists (bench/setup.sh), like bench/run.sh
# does, so both scripts share byte-identical scenes; geo's venv gives +-1 DN on a few pixels
SCENE_PY=${SCENE_PY:-$HOME/.cache/geo-bench/venv/bin/python}
[ -x "$SCENE_PY" ] || SCENE_PY=$PY
mkdir -p "$DATA"
scene="$DATA/scene_${SIZE}.tif"
if [ ! -f "$scene" ]; then
  [ -f "$MAKE_SCENE" ] || { echo "make_scene.py not found at $MAKE_SCENE (set MAKE_SCENE)" >&2; exit 2; }
  "$SCENE_PY" "$MAKE_SCENE" --size "$SIZE" --layout stack --out "$scene"
fi
spec="$DATA/geo_${SIZE}.yaml"
out="$DATA/geo_out_${SIZE}"
"$PY" - "$scene" "$spec" "$out" <<'PYEOF'
import sys, yaml
scene, spec, out = sys.argv[1:]
doc = yaml.safe_load(open("pipelines/landsat_alteration.yaml"))
doc["inputs"]["scene"] = {"path": scene, "roles": ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"],
                          "sensor": "landsat_oli", "scale": 2.75e-05, "offset": -0.2}
doc["inputs"].pop("licences")
doc["output"] = out
yaml.safe_dump(doc, open(spec, "w"), sort_keys=False)
PYEOF
sync
/usr/bin/time -v .venv/bin/geo -q run "$spec" --overwrite --top 0 2> "$DATA/geo_time_${SIZE}.txt" >/dev/null || {
  cat "$DATA/geo_time_${SIZE}.txt" >&2; exit 1; }
grep -E "Elapsed|Maximum resident|Percent of CPU" "$DATA/geo_time_${SIZE}.txt"
"$PY" -c "
import json; m = json.load(open('$out/manifest.json'))
print('stage seconds  ', m['timings_s'])
print('peak RSS MB after stage', m['peak_rss_mb_after_stage'])
print('targets', m['targets']['count'], 'valid fraction', m['masks']['valid_fraction'])"
