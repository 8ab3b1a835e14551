#!/usr/bin/env bash
# Time geo's index stage alone on the benchmark scene (bench/make_scene.py), REPEATS times (default 3):
# fill mask, iron-oxide and clay ratios on reflectance, mask reasons and the true-colour basemap,
# each written as a COG with overviews (no anomalies, zones, targets or field exports).
#
#   bash bench/run_geo_index.sh            # full scene, 7801 x 7681 px x 7 bands
#   SIZE=4096 REPEATS=5 bash bench/run_geo_index.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-full}
REPEATS=${REPEATS:-3}
DATA=${DATA:-$HOME/.cache/geo-bench/data}
MAKE_SCENE=${MAKE_SCENE:-bench/make_scene.py}
PY=.venv/bin/python
# the scene is made with the peers' venv when it exists (bench/setup.sh), like bench/run.sh
# does, so both scripts share byte-identical scenes; geo's venv gives +-1 DN on a few pixels
SCENE_PY=${SCENE_PY:-$HOME/.cache/geo-bench/venv/bin/python}
[ -x "$SCENE_PY" ] || SCENE_PY=$PY
mkdir -p "$DATA"
scene="$DATA/scene_${SIZE}.tif"
[ -f "$scene" ] || "$SCENE_PY" "$MAKE_SCENE" --size "$SIZE" --layout stack --out "$scene"
spec="$DATA/geo_index_${SIZE}.yaml"
"$PY" - "$scene" "$spec" "$DATA/geo_index_out_${SIZE}" <<'PYEOF'
import sys, yaml
scene, spec, out = sys.argv[1:]
doc = yaml.safe_load(open("pipelines/landsat_alteration.yaml"))
doc.update(name="index-stage", output=out, indices=["iron_oxide", "clay_hydroxyl"], anomalies={},
           export={"formats": []},
           masks={"qa": [], "saturation": False, "ndvi_max": None, "mndwi_max": None,
                  "dark_albedo": None, "buffer_px": 0, "buffer_rules": []})
doc["inputs"] = {"scene": {"path": scene, "sensor": "landsat_oli", "scale": 2.75e-05, "offset": -0.2,
                           "roles": ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]}}
doc["targets"].update(iron=[], clay=[])
yaml.safe_dump(doc, open(spec, "w"), sort_keys=False)
PYEOF
for i in $(seq "$REPEATS"); do
  sync
  /usr/bin/time -v .venv/bin/geo -q run "$spec" --overwrite --top 0 2> "$DATA/geo_index_time_${SIZE}_$i.txt" >/dev/null
  printf 'run %s: ' "$i"
  grep -E "Elapsed|Maximum resident" "$DATA/geo_index_time_${SIZE}_$i.txt" | sed 's/^\s*//' | tr '\n' ' '
  echo
done
