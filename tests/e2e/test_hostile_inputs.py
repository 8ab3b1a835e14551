"""The bad-input and hostile-input corpus, through the command line as a user meets it.

Every case is a mistake or an attack someone could hand to ``geo``: a pipeline file, a
scene, a licence layer, an output folder. Each must end with exit code 2 and one line on
stderr (``geo: error: ...``) that names the file at fault, no traceback, and nothing
created or changed outside the run's staging folder (only the hidden ``.NAME.lock`` of an
output folder may remain). Cases whose right answer is a result (not an error) are at the
end of the file, with the result they must give.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import yaml
from click.testing import CliRunner
from shapely.geometry import Point, Polygon, box

from geo.cli.main import main
from tests.conftest import PIPELINE, PRODUCT_ID, SAMPLE

BASE = yaml.safe_load(PIPELINE.read_text(encoding="utf-8"))
PRODUCT = SAMPLE / PRODUCT_ID
LICENCES = SAMPLE / "licences.gpkg"


# ---------------------------------------------------------------- harness


@dataclass
class Case:
    """A hostile input: ``build(tmp)`` returns the argv and the path the message must name."""

    id: str
    build: Callable[[Path], tuple[list, str]]
    fragment: str = ""  # a further piece of the expected message


def _doc(**changes) -> dict:
    doc = copy.deepcopy(BASE)
    doc["inputs"]["scene"]["path"] = str(PRODUCT)
    doc["inputs"]["licences"]["path"] = str(LICENCES)
    doc.pop("output", None)
    for key, value in changes.items():
        target = doc
        *parents, last = key.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return doc


def _pipeline(tmp: Path, doc=None, text: str | None = None, raw: bytes | None = None) -> Path:
    path = tmp / "pipeline.yaml"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(text if text is not None else yaml.safe_dump(doc or _doc()), "utf-8")
    return path


def _run(tmp: Path, pipeline: Path, *extra) -> list:
    return ["run", str(pipeline), "--out", str(tmp / "out"), "--no-export", *map(str, extra)]


def spec_case(id_, fragment="", *, named=None, **changes):
    """A pipeline file with ``changes`` (``a__b=value`` sets ``doc['a']['b']``).

    The message must name the pipeline file, or ``named`` (a missing input it points to).
    """

    def build(tmp):
        # a hostile path points at a canary folder of the test, never at a real one: if a
        # protection regressed, the snapshot comparison sees the canary go, and nothing
        # outside the test is harmed
        canary = tmp / "canary"
        canary.mkdir(exist_ok=True)
        (canary / "keep.txt").write_text("must survive")
        doc = json.loads(json.dumps(_doc(**changes)).replace("{CANARY}", canary.as_posix()))
        path = _pipeline(tmp, doc)
        return _run(tmp, path), named or str(path)

    return Case(id_, build, fragment)


def estimator_case(id_, cls, params, fragment="classifier.estimator.class"):
    """A classifier section naming estimator ``cls`` with ``params``."""
    section = {
        "training": str(SAMPLE / "training.gpkg"),
        "estimator": {"class": cls, "params": params},
    }
    return spec_case(id_, fragment, classifier=section)


def text_case(id_, text=None, raw=None, fragment=""):
    def build(tmp):
        path = _pipeline(tmp, text=text, raw=raw)
        return _run(tmp, path), str(path)

    return Case(id_, build, fragment)


def _product(tmp: Path) -> Path:
    dst = tmp / "input" / PRODUCT_ID
    shutil.copytree(PRODUCT, dst)
    return dst


def scene_case(id_, damage: Callable[[Path], Path], fragment=""):
    """A copy of the sample product damaged by ``damage(product)``, which returns the file to name."""

    def build(tmp):
        product = _product(tmp)
        named = damage(product)
        return _run(tmp, _pipeline(tmp), "--scene", product), str(named)

    return Case(id_, build, fragment)


def _mtl_set(key: str, value: str) -> Callable[[Path], Path]:
    def damage(product: Path) -> Path:
        mtl = product / f"{PRODUCT_ID}_MTL.txt"
        lines = mtl.read_text().splitlines()
        hit = [i for i, line in enumerate(lines) if line.strip().startswith(f"{key} =")]
        assert hit, key
        lines[hit[0]] = f"    {key} = {value}"
        mtl.write_text("\n".join(lines) + "\n")
        (product / f"{PRODUCT_ID}_MTL.json").unlink()  # the text MTL is the one read
        return mtl

    return damage


def _band(product: Path, n: int) -> Path:
    return product / f"{PRODUCT_ID}_SR_B{n}.TIF"


def _truncate(n: int, keep: float) -> Callable[[Path], Path]:
    def damage(product):
        band = _band(product, n)
        data = band.read_bytes()
        band.write_bytes(data[: int(len(data) * keep)])
        return band

    return damage


def _garble_middle(n: int) -> Callable[[Path], Path]:
    def damage(product):
        band = _band(product, n)
        data = bytearray(band.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 4096] = bytes(range(256)) * 16  # compressed tile data garbled
        band.write_bytes(bytes(data))
        return band

    return damage


def _replace_band(n: int, writer: Callable[[Path, dict], None]) -> Callable[[Path], Path]:
    def damage(product):
        band = _band(product, n)
        with rasterio.open(band) as src:
            profile = src.profile
        band.unlink()
        writer(band, profile)
        return band.name

    return damage


def _smaller_band(path, profile):
    profile = {**profile, "width": profile["width"] - 7, "tiled": False}
    profile.pop("blockxsize", None), profile.pop("blockysize", None)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((1, dst.height, dst.width), 8000, profile["dtype"]))


def licence_case(id_, make: Callable[[Path], Path], fragment=""):
    """A licence layer made by ``make(folder)`` given with ``--licences``."""

    def build(tmp):
        folder = tmp / "input"
        folder.mkdir(exist_ok=True)
        path = make(folder)
        doc = _doc()
        doc["inputs"]["licences"].pop("layer", None)
        return _run(tmp, _pipeline(tmp, doc), "--licences", path), str(path)

    return Case(id_, build, fragment)


def _sample_licences() -> gpd.GeoDataFrame:
    return gpd.read_file(LICENCES, layer="licences")


def _gpkg(frame: gpd.GeoDataFrame, name="lic.gpkg", **kwargs) -> Callable[[Path], Path]:
    def make(folder):
        path = folder / name
        frame.to_file(path, driver="GPKG", **kwargs)
        return path

    return make


def _text_file(name: str, content: bytes) -> Callable[[Path], Path]:
    def make(folder):
        path = folder / name
        path.write_bytes(content)
        return path

    return make


def _no_crs_licences(folder):
    path = folder / "nocrs.geojson"
    frame = _sample_licences()
    path.write_text(frame.set_crs(None, allow_override=True).to_json(), "utf-8")
    # GeoJSON without CRS means WGS 84 to GDAL: write a Shapefile without .prj instead
    shp = folder / "nocrs.shp"
    frame.to_file(shp)
    shp.with_suffix(".prj").unlink()
    return shp


def _two_layers(folder):
    path = folder / "two.gpkg"
    frame = _sample_licences()
    frame.to_file(path, layer="a", driver="GPKG")
    frame.to_file(path, layer="b", driver="GPKG")
    return path


def out_case(id_, prepare: Callable[[Path], Path], *flags, fragment=""):
    """An output folder prepared by ``prepare(tmp)``; it must be left exactly as it was."""

    def build(tmp):
        out = prepare(tmp)
        argv = ["run", str(_pipeline(tmp)), "--out", str(out), "--no-export", *flags]
        return argv, str(out)

    return Case(id_, build, fragment)


def _web_app(tmp):
    out = tmp / "site"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"name": "app", "icons": []}))
    (out / "index.html").write_text("<h1>mine</h1>")
    return out


def _run_with_notes(tmp):
    out = tmp / "run"
    out.mkdir()
    (out / "targets.csv").write_text("x")
    (out / "manifest.json").write_text(
        json.dumps(
            {
                "tool": "geo",
                "schema": "geo-run/1",
                "geo_version": "0.7",
                "pipeline": {},
                "outputs": ["targets.csv", "manifest.json"],
            }
        )
    )
    (out / "field notes.docx").write_text("weeks of work")
    return out


def _a_file(tmp):
    out = tmp / "out.txt"
    out.write_text("not a folder")
    return out


def _full_folder(tmp):
    out = tmp / "mine"
    out.mkdir()
    (out / "thesis.pdf").write_text("x")
    return out


def _link(tmp):
    real = tmp / "real"
    real.mkdir()
    (real / "a.txt").write_text("a")
    link = tmp / "link"
    link.symlink_to(real, target_is_directory=True)
    return link


def cli_case(id_, build_argv: Callable[[Path], tuple[list, str]], fragment=""):
    return Case(id_, build_argv, fragment)


def _not_a_run(command):
    def build(tmp):
        folder = tmp / "folder"
        folder.mkdir()
        (folder / "x.txt").write_text("x")
        return [command, str(folder)], str(folder)

    return build


def _hostile_manifest(tmp):
    run = tmp / "run"
    run.mkdir()
    (run / "targets.gpkg").write_bytes(b"")
    doc = _doc()
    doc["custom_indices"] = {"../../escape": "red / blue"}
    (run / "manifest.json").write_text(json.dumps({"pipeline": {"spec": doc}, "scene": {}}))
    return ["rank", str(run)], str(run)


def _batch_into(tmp):
    out = _full_folder(tmp)
    return ["batch", str(_pipeline(tmp)), str(PRODUCT), "--out", str(out)], str(out)


def _batch_dup(tmp):
    a, b = tmp / "a" / PRODUCT_ID, tmp / "b" / PRODUCT_ID
    for p in (a, b):
        p.parent.mkdir()
        p.symlink_to(PRODUCT, target_is_directory=True)
    return ["batch", str(_pipeline(tmp)), str(a), str(b), "--out", str(tmp / "o")], PRODUCT_ID


def _geotiff(tmp, crs="EPSG:32635", count=3):
    path = tmp / "input" / "plain.tif"
    path.parent.mkdir(exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": 64,
        "height": 64,
        "count": count,
        "dtype": "float32",
        "transform": rasterio.transform.from_origin(500000, 7600000, 30, 30),
    }
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((count, 64, 64), 0.2, "float32"))
    return path


def _geotiff_case(crs, roles, scale=None):
    def build(tmp):
        path = _geotiff(tmp, crs=crs)
        doc = _doc(inputs__scene={"roles": roles, "sensor": "landsat_oli", "scale": scale})
        return _run(tmp, _pipeline(tmp, doc), "--scene", path), str(path)

    return build


def _square(x, y, size=1000):
    return box(x, y, x + size, y + size)


CASES: list[Case] = [
    # ---- the pipeline file: YAML
    cli_case("pipeline-missing", lambda t: (_run(t, t / "nope.yaml"), str(t / "nope.yaml"))),
    cli_case("pipeline-is-a-folder", lambda t: (_run(t, t), str(t))),
    text_case("empty-file", text="", fragment="must be a mapping"),
    text_case("top-level-list", text="- a\n- b\n", fragment="must be a mapping"),
    text_case("yaml-syntax", text="name: [unclosed\n", fragment="not valid YAML (line"),
    text_case("tab-indent", text="name: x\n\tindices: []\n", fragment="not valid YAML"),
    text_case(
        "alias-bomb",
        text="a: &a [x,x,x,x,x,x,x,x,x]\n"
        + "".join(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + "name: *i\n",
        fragment="expands to more than",
    ),
    text_case("deep-nesting", text="name: " + "[" * 3000 + "]" * 3000 + "\n", fragment="nested"),
    text_case(
        "duplicate-key", text=PIPELINE.read_text() + "\nindices: [ndvi]\n", fragment="duplicate key"
    ),
    text_case(
        "cp1252-file",
        raw=PIPELINE.read_text().replace("name: ", "name: caf\u00e9-", 1).encode("cp1252"),
        fragment="not UTF-8 text",
    ),
    text_case("utf16-file", raw=PIPELINE.read_text().encode("utf-16"), fragment="not UTF-8"),
    text_case("nul-bytes", raw=b"name: a\x00b\n", fragment="NUL"),
    text_case(
        "python-tag",
        text="name: !!python/object/apply:os.system ['touch /tmp/geo-pwned']\n",
        fragment="not valid YAML",
    ),
    text_case("huge-file", raw=b"#" + b"x" * (2 * 1024 * 1024), fragment="too large"),
    spec_case("unknown-key", "unknown key 'colour'", colour="red"),
    spec_case("wrong-type", "zones.min_area_ha", zones__min_area_ha="big"),
    spec_case("negative-k", "anomalies.iron_oxide.k", anomalies__iron_oxide={"k": -3}),
    spec_case("unknown-index", "unknown index 'iron_oxyde'", indices=["iron_oxyde"]),
    spec_case("version-2", "version", version=2),
    spec_case("control-characters", "control character", name="geo\x1b[31m"),
    spec_case(
        "licence-field-unknown",
        "inputs.licences.fields.owner",
        inputs__licences__fields={"owner": "x"},
    ),
    # ---- names that would become paths
    spec_case(
        "custom-index-traversal", "not a plain name", custom_indices={"./../../x": "red / blue"}
    ),
    spec_case("custom-index-absolute", "not a plain name", custom_indices={"/etc/passwd": "red"}),
    spec_case("custom-index-windows", "not a plain name", custom_indices={"..\\..\\x": "red"}),
    spec_case(
        "evidence-traversal",
        "not a plain name",
        evidence={"../../e": {"layer": "iron_oxide_z"}},
        prospectivity={"method": "fuzzy_or"},
    ),
    spec_case(
        "dpca-traversal",
        "not a plain name",
        directed_pca={"../d": {"mineral": "iron_oxide", "vegetation": "ndvi"}},
    ),
    spec_case("sam-group-traversal", "not a plain name", sam={"groups": ["../../s"]}),
    spec_case(
        "class-traversal",
        "not a plain name",
        classifier={"training": str(SAMPLE / "training.gpkg"), "anomaly_classes": ["../c"]},
    ),
    spec_case("layer-collision", "mask_reasons.tif", custom_indices={"mask_reasons": "red"}),
    # ---- custom formulas
    spec_case("formula-call", "not allowed", custom_indices={"x": "__import__('os').system('id')"}),
    spec_case("formula-attribute", "not allowed", custom_indices={"x": "red.__class__"}),
    spec_case("formula-subscript", "not allowed", custom_indices={"x": "red[0]"}),
    spec_case("formula-lambda", "not allowed", custom_indices={"x": "(lambda: red)()"}),
    spec_case("formula-unknown-band", "swir9", custom_indices={"x": "swir9 / red"}),
    spec_case("formula-syntax", "not valid", custom_indices={"x": "red / / blue"}),
    spec_case(
        "formula-20000-terms", "custom_indices", custom_indices={"x": "+".join(["red"] * 20000)}
    ),
    spec_case(
        "formula-deep", "custom_indices", custom_indices={"x": "(" * 500 + "red" + ")" * 500}
    ),
    spec_case("formula-constant", "custom_indices", custom_indices={"x": "1 + 2"}),
    spec_case("formula-divide-by-zero", "custom_indices.x", custom_indices={"x": "red * (1/0)"}),
    spec_case("formula-imaginary", "custom_indices.x", custom_indices={"x": "red * (0-8)**0.5"}),
    spec_case("formula-band-exponent", "custom_indices.x", custom_indices={"x": "red ** nir"}),
    spec_case("formula-unicode", "custom_indices.x", custom_indices={"x": "réd / blue"}),
    # ---- the classifier: only allowed estimators with plain parameters
    estimator_case(
        "estimator-clear-data-home", "sklearn.datasets.clear_data_home", {"data_home": "{CANARY}"}
    ),
    estimator_case(
        "estimator-fetch-openml", "sklearn.datasets.fetch_openml", {"data_home": "{CANARY}"}
    ),
    estimator_case("estimator-os-system", "os.system", {}),
    estimator_case(
        "estimator-unknown-param",
        "sklearn.ensemble.RandomForestClassifier",
        {"data_home": "{CANARY}"},
        "classifier.estimator.params",
    ),
    estimator_case(
        "estimator-nested-object",
        "RandomForestClassifier",
        {"n_estimators": {"class": "os.system"}},
        "classifier.estimator.params",
    ),
    estimator_case(
        "estimator-huge",
        "RandomForestClassifier",
        {"n_estimators": 10**12},
        "classifier.estimator.params.n_estimators",
    ),
    spec_case(
        "prospectivity-params",
        "prospectivity.estimator_params",
        evidence={"iron": {"layer": "iron_oxide_z"}},
        inputs__occurrences={"path": str(SAMPLE / "occurrences.gpkg")},
        prospectivity={
            "method": "random_forest",
            "estimator_params": {"warm_start_path": "{CANARY}"},
        },
    ),
    # ---- missing inputs named in the pipeline file
    spec_case(
        "scene-missing",
        "not found",
        named="/nonexistent/scene",
        inputs__scene={"path": "/nonexistent/scene"},
    ),
    spec_case(
        "training-missing",
        "training file not found",
        named="/nonexistent/training.gpkg",
        classifier={"training": "/nonexistent/training.gpkg"},
    ),
    spec_case(
        "evidence-raster-missing",
        "evidence.dem",
        named="/nonexistent/dem.tif",
        evidence={"dem": {"raster": "/nonexistent/dem.tif"}},
        prospectivity={"method": "fuzzy_or"},
    ),
    spec_case(
        "aoi-missing",
        "area of interest",
        named="/nonexistent/aoi.gpkg",
        inputs__aoi={"path": "/nonexistent/aoi.gpkg"},
    ),
    # ---- the scene
    cli_case(
        "scene-flag-missing",
        lambda t: (_run(t, _pipeline(t), "--scene", t / "gone"), str(t / "gone")),
    ),
    cli_case(
        "scene-empty-folder",
        lambda t: (
            (t / "empty").mkdir() or _run(t, _pipeline(t), "--scene", t / "empty"),
            str(t / "empty"),
        ),
    ),
    cli_case(
        "scene-text-file",
        lambda t: (
            (t / "x.TIF").write_text("not a tiff")
            and _run(t, _pipeline(t), "--scene", t / "x.TIF"),
            str(t / "x.TIF"),
        ),
    ),
    scene_case(
        "mtl-mult-nan", _mtl_set("REFLECTANCE_MULT_BAND_4", "nan"), "REFLECTANCE_MULT_BAND_4"
    ),
    scene_case(
        "mtl-mult-zero", _mtl_set("REFLECTANCE_MULT_BAND_4", "0"), "REFLECTANCE_MULT_BAND_4"
    ),
    scene_case(
        "mtl-mult-inf", _mtl_set("REFLECTANCE_MULT_BAND_2", "inf"), "REFLECTANCE_MULT_BAND_2"
    ),
    scene_case(
        "mtl-mult-text", _mtl_set("REFLECTANCE_MULT_BAND_2", '"lots"'), "REFLECTANCE_MULT_BAND_2"
    ),
    scene_case("mtl-add-nan", _mtl_set("REFLECTANCE_ADD_BAND_5", "NaN"), "REFLECTANCE_ADD_BAND_5"),
    scene_case(
        "mtl-missing",
        lambda p: ([f.unlink() for f in p.glob("*_MTL.*")], p)[1],
    ),
    scene_case(
        "mtl-json-garbage",
        lambda p: (
            (p / f"{PRODUCT_ID}_MTL.txt").unlink(),
            (p / f"{PRODUCT_ID}_MTL.json").write_text("{not json"),
            p / f"{PRODUCT_ID}_MTL.json",
        )[-1],
    ),
    scene_case("band-missing", lambda p: (_band(p, 6).unlink(), p)[1], "SR_B6"),
    scene_case("band-truncated", _truncate(4, 0.5)),
    scene_case("band-empty-file", _truncate(3, 0.0)),
    scene_case("band-garbled-tile", _garble_middle(5)),
    scene_case("band-other-size", _replace_band(2, _smaller_band)),
    cli_case("geotiff-no-crs", _geotiff_case(None, ["red", "green", "blue"]), "CRS"),
    cli_case("geotiff-roles-count", _geotiff_case("EPSG:32635", ["red", "green"]), "roles"),
    cli_case(
        "geotiff-scale-zero", _geotiff_case("EPSG:32635", ["red", "green", "blue"], 0.0), "scale"
    ),
    # ---- licence layers
    cli_case(
        "licences-missing",
        lambda t: (_run(t, _pipeline(t), "--licences", t / "no.gpkg"), str(t / "no.gpkg")),
    ),
    licence_case("licences-not-vector", _text_file("lic.gpkg", b"plain text, not SQLite")),
    licence_case("licences-zip-garbage", _text_file("lic.zip", b"PK\x03\x04garbage")),
    licence_case(
        "licences-empty-layer",
        _gpkg(gpd.GeoDataFrame({"licence_no": []}, geometry=[], crs="EPSG:4326")),
        "empty",
    ),
    licence_case(
        "licences-points",
        _gpkg(
            gpd.GeoDataFrame(
                {"licence_no": ["A"], "holder_name": ["h"], "status": ["granted"]},
                geometry=[Point(27.5, -21.5)],
                crs="EPSG:4326",
            )
        ),
        "polygons",
    ),
    licence_case("licences-no-crs", _no_crs_licences, "no CRS"),
    licence_case(
        "licences-no-id-column",
        lambda f: _gpkg(_sample_licences().drop(columns="licence_no"))(f),
        "licence_no",
    ),
    licence_case(
        "licences-blank-ids",
        lambda f: _gpkg(_sample_licences().assign(licence_no=["A", "", "C", "D"]))(f),
        "blank",
    ),
    licence_case("licences-two-layers", _two_layers, "layer"),
    licence_case(
        "licences-only-empty-geometries",
        _gpkg(
            gpd.GeoDataFrame(
                {"licence_no": ["A", "B"], "holder_name": ["x", "y"], "status": ["g", "g"]},
                geometry=[Polygon(), None],
                crs="EPSG:32635",
            )
        ),
    ),
    # ---- output folders
    out_case("out-is-a-file", _a_file, "--overwrite", fragment="not a folder"),
    out_case("out-foreign-no-overwrite", _full_folder, fragment="--overwrite"),
    out_case(
        "out-foreign-overwrite", _full_folder, "--overwrite", fragment="not a geo output folder"
    ),
    out_case("out-web-app-manifest", _web_app, "--overwrite", fragment="not a geo output folder"),
    out_case("out-run-with-notes", _run_with_notes, "--overwrite", fragment="field notes.docx"),
    out_case("out-symlink", _link, "--overwrite", fragment="link"),
    cli_case("rank-not-a-run", _not_a_run("rank"), "not a geo run folder"),
    cli_case("export-not-a-run", _not_a_run("export"), "not a geo run folder"),
    cli_case("rank-missing", lambda t: (["rank", str(t / "none")], str(t / "none"))),
    cli_case("rank-hostile-manifest", _hostile_manifest, "not a plain name"),
    cli_case("batch-into-foreign-folder", _batch_into, "not a geo batch folder"),
    cli_case("batch-duplicate-names", _batch_dup, "share the name"),
    cli_case(
        "export-unknown-format",
        lambda t: (["export", str(_run_with_notes(t)), "--to", "docx"], "'docx'"),
    ),
    cli_case(
        "info-missing-scene",
        lambda t: (["info", str(t / "none")], str(t / "none")),
    ),
    cli_case(
        "stack-no-crs-given",
        lambda t: (
            [
                "stack",
                str(t / "none"),
                "--crs",
                "EPSG:999999",
                "--resolution",
                "30",
                "--out",
                str(t / "s"),
            ],
            str(t / "none"),
        ),
    ),
]


_LOCK = re.compile(r"\.[^/]+\.lock")


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "link"
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def _invoke(argv):
    return CliRunner().invoke(main, [str(a) for a in argv], catch_exceptions=False)


def test_the_corpus_is_large_and_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 80


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(tmp_path, case):
    argv, named = case.build(tmp_path)
    before = _snapshot(tmp_path)
    result = _invoke(argv)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if not line.startswith("geo: warning:")]
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output, result.output
    assert len(errors) == 1 and errors[0].startswith("geo: error: "), result.stderr
    assert named in errors[0], f"{named!r} not named in: {errors[0]}"
    assert case.fragment in errors[0], f"{case.fragment!r} not in: {errors[0]}"
    assert len(errors[0]) <= 800
    after = _snapshot(tmp_path)
    added = {k for k in after.keys() - before.keys() if not _LOCK.fullmatch(k.rsplit("/", 1)[-1])}
    assert not added, f"left behind: {sorted(added)}"
    changed = {k for k in before if k in after and after[k] != before[k]}
    assert not changed and not (before.keys() - after.keys()), (
        changed,
        before.keys() - after.keys(),
    )
    assert not Path("/tmp/geo-pwned").exists()


# ---------------------------------------------------------------- inputs whose answer is a result


def test_an_overflowing_constant_is_array_arithmetic_with_a_warning(tmp_path):
    """``red * 9**9**9``: the constant is inf in float arithmetic; the run says so and goes on."""
    doc = _doc(custom_indices={"huge": "red * 9**9**9"}, export={"formats": []}, outputs=["huge"])
    doc["indices"] = ["iron_oxide", "clay_hydroxyl"]
    result = _invoke(["run", str(_pipeline(tmp_path, doc)), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.output
    assert any("huge" in w or "9**9**9" in w for w in result.stderr.splitlines()), result.stderr
    with rasterio.open(tmp_path / "o" / "rasters" / "huge.tif") as src:
        values = src.read(1, masked=True).compressed()
    assert values.size and np.isposinf(values).all()  # red > 0 everywhere valid
