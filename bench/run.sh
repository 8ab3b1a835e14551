#!/usr/bin/env bash
# Benchmark harness: geo's index stage, whole pipeline and classifier side by side with the
# peers a user would pick instead, on one synthetic Landsat 8 scene, plus the I/O floor.
#
# Every approach runs REPEATS times, round-robin (rep 1 of all, then rep 2 of all, ...) so
# slow drift on a shared machine spreads over all of them. Each run goes through measure.py:
# GNU `/usr/bin/time -v` (wall, max RSS, CPU) plus a psutil sampler of the whole process
# tree's RSS. Outputs of the last repetition are checked by verify.py, and report.py prints
# the tables (median and [min–max]; geo ÷ each peer).
#
# Vendored from the course's shared peer harness (../shared/bench/run.sh); the geo rows,
# the Landsat product and the geo-format floors are added here (see PROVENANCE.md).
#
# Environment knobs (defaults in brackets):
#   SIZE        full | N | WxH                 [full = 7801x7681]
#   REPEATS     runs per approach               [3]
#   APPROACHES  space-separated subset          [all in $ALL below; also available:
#               floor_compute = the ratio arithmetic alone]
#   VENV        the peers' virtual environment  [$HOME/.cache/geo-bench/venv; bench/setup.sh]
#   GEO         geo's command line              [<repo>/.venv/bin/geo]
#   GEO_PY      python of geo's venv            [next to $GEO]
#   DATA        scenes, outputs, results        [$HOME/.cache/geo-bench/data]
#   RESULTS     results folder                  [$DATA/results/<size>_<timestamp>]
#   TIMEOUT     seconds per run                 [3600]
#   MIN_FREE_GB abort below this free disk      [10]
#
# usage: SIZE=full REPEATS=3 bash bench/run.sh
#        SIZE=2048 REPEATS=5 APPROACHES="a_naive b_numexpr geo_ratio floor_read4" bash bench/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
VENV=${VENV:-$HOME/.cache/geo-bench/venv}
DATA=${DATA:-$HOME/.cache/geo-bench/data}
SIZE=${SIZE:-full}
REPEATS=${REPEATS:-3}
TIMEOUT=${TIMEOUT:-3600}
MIN_FREE_GB=${MIN_FREE_GB:-10}
GEO=${GEO:-$REPO/.venv/bin/geo}
GEO_PY=${GEO_PY:-$(dirname "$GEO")/python}
ALL="floor_import floor_import_geo floor_membw floor_cp
floor_read7 floor_read4 floor_read7_mt floor_read4_mt floor_write2 floor_write2_mt
floor_read4_product floor_read4_product_mt floor_read7_product_mt
floor_write2_cog floor_write2_cog_mt floor_writeall_cog_mt
a_naive b_numexpr c_rio_calc d_gdal_calc e_dask_threads e_dask_cluster e_dask_threads_2048
e_dask_cluster_2048 geo_ratio geo_ratio_stack
f_pyspatialml g_sklearn geo_classify
geo_alteration geo_pipeline"
APPROACHES=${APPROACHES:-$ALL}
PY="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"
GDAL_CALC=${GDAL_CALC:-/usr/bin/gdal_calc.py}

[ -x "$PY" ] || { echo "no venv at $VENV: run bash bench/setup.sh (see bench/README.md)"; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time"; exit 1; }
have_geo=1
if [ ! -x "$GEO" ] || [ ! -x "$GEO_PY" ]; then
    have_geo=0
    echo "geo not found at $GEO (set GEO=/path/to/geo): the geo rows are skipped"
fi

mkdir -p "$DATA"
free_gb=$(df -Pk "$DATA" | awk 'NR==2 {print int($4/1048576)}')
df -h "$DATA" | sed 's/^/  /'
if [ "$free_gb" -lt "$MIN_FREE_GB" ]; then
    echo "only ${free_gb} GB free under $DATA (< MIN_FREE_GB=$MIN_FREE_GB): aborting"; exit 1
fi

# --- the scene: 7-band stack (peers), Landsat product folder and vectors (geo) ---------
SCENE=${SCENE:-$DATA/scene_${SIZE}.tif}
TRAIN=${SCENE%.tif}_train.csv
BUNDLE=${SCENE%.tif}_landsat
LANDSAT_ID=LC08_L2SP_171075_20230601_20230607_02_T1
PRODUCT=$BUNDLE/$LANDSAT_ID
if [ ! -f "$SCENE" ] || [ ! -f "$TRAIN" ]; then
    echo "== generating scene $SCENE and the Landsat product $PRODUCT"
    "$PY" "$HERE/make_scene.py" --size "$SIZE" --out "$SCENE" --layout both --force
elif [ ! -f "$PRODUCT/${LANDSAT_ID}_MTL.txt" ] || [ ! -f "$BUNDLE/occurrences.gpkg" ]; then
    echo "== generating the Landsat product $PRODUCT (the stack $SCENE exists)"
    "$PY" "$HERE/make_scene.py" --size "$SIZE" --out "$SCENE" --layout landsat --force
fi
SIZE_PX=$("$PY" -c "import rasterio,sys; d=rasterio.open(sys.argv[1]); print(d.width*d.height)" "$SCENE")
SHAPE=$("$PY" -c "import rasterio,sys; d=rasterio.open(sys.argv[1]); print(f'{d.width}x{d.height}')" "$SCENE")
OUT=$DATA/out_${SIZE}
RESULTS=${RESULTS:-$DATA/results/${SIZE}_$(date +%Y%m%dT%H%M%S)}
rm -rf "${OUT:?}"          # only this invocation's outputs get verified
mkdir -p "$OUT" "$RESULTS/logs"
CSV=$RESULTS/runs.csv
if [ "$have_geo" = 1 ]; then
    "$GEO_PY" "$HERE/geo_specs.py" --product "$PRODUCT" --stack "$SCENE" --bundle "$BUNDLE" \
        --spec-dir "$RESULTS/specs" >/dev/null
fi

# --- versions and machine ---------------------------------------------------------------
{
    echo "date: $(date -Is)"
    echo "host: $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    echo "memory: $(free -g | awk '/Mem:/ {print $2" GiB total, "$7" GiB available"}')"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "scene: $SCENE ($SHAPE, $(du -m "$SCENE" | cut -f1) MB on disk, $SIZE_PX px x 7 bands)"
    echo "product: $PRODUCT ($(du -sm "$PRODUCT" | cut -f1) MB)"
    echo "peers' venv python: $("$PY" --version 2>&1)"
    "$PY" - <<'EOF'
import importlib.metadata as md
for p in ["numpy", "rasterio", "numexpr", "xarray", "rioxarray", "dask", "distributed",
          "scikit-learn", "pyspatialml", "psutil", "scipy", "pandas", "geopandas", "joblib",
          "threadpoolctl"]:
    try:
        print(f"  {p}=={md.version(p)}")
    except md.PackageNotFoundError:
        print(f"  {p}: not installed")
import rasterio, numexpr
print(f"  rasterio's bundled GDAL {rasterio.__gdal_version__}, PROJ {rasterio.__proj_version__}")
print(f"  numexpr threads: {numexpr.nthreads} (max {numexpr.MAX_THREADS})")
try:
    from threadpoolctl import threadpool_info
    for i in threadpool_info():
        print(f"  threadpool: {i.get('internal_api')} {i.get('version')} "
              f"threads={i.get('num_threads')} arch={i.get('architecture')}")
except Exception as e:  # pragma: no cover
    print("  threadpoolctl:", e)
EOF
    if [ "$have_geo" = 1 ]; then
        echo "geo: $("$GEO" --version 2>&1) at $GEO; repository $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
        echo "geo venv python: $("$GEO_PY" --version 2>&1)"
        "$GEO_PY" - <<'EOF'
import importlib.metadata as md
for p in ["numpy", "rasterio", "xarray", "rioxarray", "dask", "distributed", "scikit-learn",
          "geopandas", "pyogrio", "shapely", "scipy", "matplotlib"]:
    try:
        print(f"  {p}=={md.version(p)}")
    except md.PackageNotFoundError:
        print(f"  {p}: not installed")
import rasterio
print(f"  rasterio's bundled GDAL {rasterio.__gdal_version__}")
EOF
    fi
    if [ -x "$GDAL_CALC" ]; then
        echo "system python: $(/usr/bin/python3 --version 2>&1), numpy $(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)'), GDAL $(/usr/bin/python3 -c 'from osgeo import gdal; print(gdal.__version__)') (Debian gdal-bin $(dpkg-query -W -f='${Version}' gdal-bin 2>/dev/null))"
    else
        echo "gdal_calc.py: not available ($GDAL_CALC)"
    fi
    echo "GNU time: $(dpkg-query -W -f='${Version}' time 2>/dev/null)"
    env | grep -E '^(OPENBLAS|OMP|MKL|NUMEXPR|GDAL)_' || true
} > "$RESULTS/versions.txt"
cat "$RESULTS/versions.txt"

cmd_for() {
    local a=$1 o=$OUT/$1
    case $a in
        floor_import)    echo "$PY -c 'import numpy, rasterio'" ;;
        floor_import_geo) echo "$GEO_PY -c 'import geo.cli.main, geo.pipeline.runner'" ;;
        floor_membw)     echo "$PY $HERE/floor.py membw" ;;
        floor_cp)        echo "cp $SCENE $DATA/cp_copy.tif" ;;
        floor_read7)     echo "$PY $HERE/floor.py read7 $SCENE" ;;
        floor_read4)     echo "$PY $HERE/floor.py read4 $SCENE" ;;
        floor_read7_mt)  echo "$PY $HERE/floor.py read7_mt $SCENE" ;;
        floor_read4_mt)  echo "$PY $HERE/floor.py read4_mt $SCENE" ;;
        floor_write2)    echo "$PY $HERE/floor.py write2 $SCENE $o" ;;
        floor_write2_mt) echo "$PY $HERE/floor.py write2_mt $SCENE $o" ;;
        floor_compute)   echo "$PY $HERE/floor.py compute $SCENE" ;;   # optional, not in ALL
        floor_read4_product)    echo "$PY $HERE/floor.py read4_product $PRODUCT" ;;
        floor_read4_product_mt) echo "$PY $HERE/floor.py read4_product_mt $PRODUCT" ;;
        floor_read7_product_mt) echo "$PY $HERE/floor.py read7_product_mt $PRODUCT" ;;
        floor_write2_cog)       echo "$PY $HERE/floor.py write2_cog $SCENE $o" ;;
        floor_write2_cog_mt)    echo "$PY $HERE/floor.py write2_cog_mt $SCENE $o" ;;
        floor_writeall_cog_mt)  echo "$PY $HERE/floor.py writeall_cog_mt $SCENE $o" ;;
        a_naive)         echo "$PY $HERE/peers/a_naive.py $SCENE $o" ;;
        b_numexpr)       echo "$PY $HERE/peers/b_numexpr_windowed.py $SCENE $o" ;;
        c_rio_calc)      echo "bash $HERE/peers/c_rio_calc.sh $SCENE $o" ;;
        d_gdal_calc)     echo "env GDAL_CALC=$GDAL_CALC bash $HERE/peers/d_gdal_calc.sh $SCENE $o" ;;
        e_dask_threads)  echo "$PY $HERE/peers/e_rioxarray_dask.py $SCENE $o --scheduler threads" ;;
        e_dask_cluster)  echo "$PY $HERE/peers/e_rioxarray_dask.py $SCENE $o --scheduler cluster" ;;
        e_dask_threads_2048) echo "$PY $HERE/peers/e_rioxarray_dask.py $SCENE $o --scheduler threads --chunks 2048" ;;
        e_dask_cluster_2048) echo "$PY $HERE/peers/e_rioxarray_dask.py $SCENE $o --scheduler cluster --chunks 2048" ;;
        f_pyspatialml)   echo "$PY $HERE/peers/f_pyspatialml.py $SCENE $TRAIN $o" ;;
        g_sklearn)       echo "$PY $HERE/peers/g_sklearn_windowed.py $SCENE $TRAIN $o" ;;
        geo_ratio)       echo "$GEO -q run $RESULTS/specs/geo_ratio.yaml --out $o --overwrite --top 0" ;;
        geo_ratio_stack) echo "$GEO -q run $RESULTS/specs/geo_ratio_stack.yaml --out $o --overwrite --top 0" ;;
        geo_pipeline)    echo "$GEO -q run $RESULTS/specs/geo_pipeline.yaml --out $o --overwrite --top 0" ;;
        geo_alteration)  echo "$GEO -q run $RESULTS/specs/geo_alteration.yaml --out $o --overwrite --top 0" ;;
        geo_classify)    echo "$GEO_PY $HERE/geo_classify.py $SCENE $TRAIN $o" ;;
        *) echo "unknown approach $a" >&2; return 1 ;;
    esac
}

selected=()
for a in $APPROACHES; do
    if [ "$a" = d_gdal_calc ] && [ ! -x "$GDAL_CALC" ]; then
        echo "skipping d_gdal_calc: $GDAL_CALC not found (apt-get install gdal-bin python3-gdal)"
        continue
    fi
    case $a in
        geo_*|floor_import_geo)
            if [ "$have_geo" = 0 ]; then echo "skipping $a: no geo"; continue; fi ;;
    esac
    if [ "$a" = geo_classify ] && [ ! -f "$HERE/geo_classify.py" ]; then
        echo "skipping geo_classify: $HERE/geo_classify.py does not exist (yet)"
        continue
    fi
    cmd_for "$a" >/dev/null
    selected+=("$a")
done

echo "== warming the page cache with the scene and the product (all timings are warm-cache)"
cat "$SCENE" "$PRODUCT"/*.TIF > /dev/null

for rep in $(seq 1 "$REPEATS"); do
    echo "== repetition $rep/$REPEATS"
    for a in "${selected[@]}"; do
        rm -rf "${OUT:?}/$a" "$DATA/cp_copy.tif"
        sync    # flush earlier outputs so no write-back overlaps the next run
        "$PY" "$HERE/measure.py" --label "$a" --run "$rep" --csv "$CSV" \
            --log "$RESULTS/logs/$a.$rep.log" --timeout "$TIMEOUT" --size-px "$SIZE_PX" \
            -- bash -c "$(cmd_for "$a")" || echo "  measure.py failed for $a"
    done
done
rm -f "$DATA/cp_copy.tif"

echo "== verifying outputs of the last repetition"
"$PY" "$HERE/verify.py" "$SCENE" "$OUT" --product "$PRODUCT" --json "$RESULTS/verify.json" \
    | tee "$RESULTS/verify.txt" || echo "  (verify reported a mismatch)"

echo "== results ($RESULTS)"
"$PY" "$HERE/report.py" "$CSV" --md "$RESULTS/table.md" \
    --title "$SHAPE scene ($SIZE), $REPEATS runs each, $(date +%F), $(nproc) cores"
du -sh "$OUT" "$RESULTS" | sed 's/^/  disk: /'
