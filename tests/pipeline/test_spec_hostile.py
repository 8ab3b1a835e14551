"""Pipeline files are untrusted: hostile and broken YAML, names that would become paths."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from geo.errors import PipelineSpecError
from geo.pipeline._yaml import MAX_BYTES, MAX_NODES
from geo.pipeline.spec import NAME_PATTERN, load_spec
from tests.conftest import PIPELINE

BASE = yaml.safe_load(PIPELINE.read_text(encoding="utf-8"))


def write(tmp_path, doc, name="p.yaml"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    return path


def refused(path, *fragments):
    with pytest.raises(PipelineSpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message and len(message) < 1200, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# ---------------------------------------------------------------- the YAML itself


def _bomb(levels: int, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    lines.append(f"name: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    path = write(tmp_path, _bomb(9))  # 9**9 = 387 million strings from 1 KB
    assert path.stat().st_size < 2000
    refused(path, f"expands to more than {MAX_NODES:,} values")


def test_small_anchors_and_aliases_keep_working(tmp_path):
    doc = PIPELINE.read_text(encoding="utf-8")
    doc = doc.replace("anomalies:", "x-defaults: &robust {method: robust_z, k: 2.5}\nanomalies:", 1)
    path = write(tmp_path, doc)
    with pytest.raises(PipelineSpecError, match="unknown key 'x-defaults'"):
        load_spec(path)  # the alias machinery ran; the extra key is simply not a setting


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    refused(write(tmp_path, "name: &a [1, *a]\n"), "alias")


@pytest.mark.parametrize("depth", [80, 5000])
def test_deep_nesting_is_refused(tmp_path, depth):
    refused(write(tmp_path, "name: " + "[" * depth + "1" + "]" * depth + "\n"), "nested")


def test_duplicate_keys_are_refused_with_the_line(tmp_path):
    text = PIPELINE.read_text(encoding="utf-8") + "\nname: second\n"
    refused(write(tmp_path, text), "duplicate key 'name'", "line ")


def test_a_pipeline_file_that_is_not_utf8_names_the_byte_and_the_fix(tmp_path):
    text = PIPELINE.read_text(encoding="utf-8").replace("name: ", "name: Caf\u00e9 ", 1)
    path = tmp_path / "cp1252.yaml"
    path.write_bytes(text.encode("cp1252"))
    refused(path, "not UTF-8 text (byte 0xe9 on line", "save the file as UTF-8")


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + PIPELINE.read_bytes())
    assert load_spec(path).name == BASE["name"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("name: x\x00y\n", "NUL"),
        ("name: !!python/object/apply:os.system ['echo hacked']\n", "not valid YAML"),
        ("name: !!python/name:os.system\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("", "must be a mapping"),
        ("name: [unclosed\n", "not valid YAML (line"),
        ("\tname: tab\n", "not valid YAML"),
    ],
)
def test_broken_and_hostile_yaml_is_one_line(tmp_path, text, fragment):
    path = tmp_path / "p.yaml"
    path.write_bytes(text.encode("utf-8"))
    refused(path, fragment)


def test_a_huge_file_is_refused_unread(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * MAX_BYTES + b"\nname: x\n")
    refused(path, "too large for a pipeline file")


# ---------------------------------------------------------------- names that become paths


TRAVERSAL = ["./../../x", "../x", "a/b", "a\\b", "con.tif", "x y", "", "_x", "1abc", "é", "a" * 65]


def _edits(bad: str):
    """One edit per key whose names become file or layer names."""
    return {
        "custom_indices key": lambda d: d.update(custom_indices={bad: "red / blue"}),
        "anomalies key": lambda d: d["anomalies"].update({bad: {"method": "robust_z"}}),
        "indices entry": lambda d: d["indices"].append(bad),
        "directed_pca key": lambda d: d.update(
            directed_pca={bad: {"mineral": "iron_oxide", "vegetation": "vegetation_ratio"}}
        ),
        "evidence key": lambda d: d.update(evidence={bad: {"layer": "iron_oxide_z"}}),
        "sam group": lambda d: d.update(sam={"groups": [bad]}),
        "classifier class": lambda d: d.update(
            classifier={"training": "t.gpkg", "anomaly_classes": [bad]}
        ),
        "targets.iron": lambda d: d["targets"].update(iron=[bad]),
    }


@pytest.mark.parametrize("key", list(_edits("x")))
@pytest.mark.parametrize("bad", ["./../../x", "a/b", "..\\..\\evil", "x y"])
def test_every_name_that_becomes_a_file_name_is_checked(tmp_path, key, bad):
    doc = copy.deepcopy(BASE)
    _edits(bad)[key](doc)
    refused(write(tmp_path, doc), "is not a plain name", "it becomes a file name")


@pytest.mark.parametrize("bad", TRAVERSAL)
def test_custom_index_names_must_be_identifiers(tmp_path, bad):
    doc = copy.deepcopy(BASE)
    doc["custom_indices"] = {bad: "red / blue"}
    refused(write(tmp_path, doc), "custom_indices", "is not a plain name")


def test_two_sections_writing_one_raster_are_refused(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["custom_indices"] = {"mask_reasons": "red / blue"}
    refused(write(tmp_path, doc), "writes the raster mask_reasons.tif, which masks writes too")
    doc["custom_indices"] = {"iron_oxide_z": "red / blue"}
    refused(write(tmp_path, doc), "iron_oxide_z.tif")


def test_a_custom_name_may_not_shadow_a_catalogue_index(tmp_path):
    doc = copy.deepcopy(BASE)
    from geo.spectral.indices import index_names

    unused = next(n for n in index_names() if n not in doc["indices"])
    doc["custom_indices"] = {unused: "red / blue"}
    refused(write(tmp_path, doc), f"custom_indices.{unused}: has the name of a catalogue index")
    doc["custom_indices"] = {"ndvi": "red / blue"}  # also listed under indices
    refused(write(tmp_path, doc), "custom_indices.ndvi: writes the raster ndvi.tif")


@pytest.mark.parametrize(
    "formula, fragment",
    [
        ("__import__('os').system('x')", "not allowed"),
        ("red.__class__", "not allowed"),
        ("(lambda: 1)()", "not allowed"),
        ("red if blue else nir", "not allowed"),
        ("swir9 / red", "'swir9', which is not a band role"),
        ("red / ", "is not valid"),
    ],
)
def test_custom_formulas_are_checked_before_any_pixel(tmp_path, formula, fragment):
    doc = copy.deepcopy(BASE)
    doc["custom_indices"] = {"mine": formula}
    refused(write(tmp_path, doc), "custom_indices.mine:", fragment)


# ---------------------------------------------------------------- free text and long values


@pytest.mark.parametrize("bad", ["a\x07bell", "x\x1b[31mred", "nul\x00"])
def test_control_characters_in_text_are_refused(tmp_path, bad):
    doc = copy.deepcopy(BASE)
    doc["name"] = bad
    refused(write(tmp_path, doc), "name: holds the control character")


def test_a_long_value_is_quoted_short(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["zones"]["min_area_ha"] = "x" * 100_000
    message = refused(write(tmp_path, doc), "zones.min_area_ha", "100,002 characters")
    assert len(message) < 600


def test_many_mistakes_are_summarised(tmp_path):
    doc = copy.deepcopy(BASE)
    doc.update({f"unknown_{i}": i for i in range(50)})
    message = refused(write(tmp_path, doc), "and 45 more problem(s)")
    assert message.count("unknown key") == 5


@given(st.text(max_size=70))
def test_name_pattern_accepts_only_plain_identifiers(name):
    ok = NAME_PATTERN.fullmatch(name) is not None
    plain = (
        0 < len(name) <= 64
        and name.isascii()
        and name[0].isalpha()
        and all(c.isalnum() or c == "_" for c in name)
    )
    assert ok == plain
