from pathlib import Path

import pytest
import yaml

from geo.errors import InputNotFoundError, PipelineSpecError
from geo.pipeline.spec import load_spec
from tests.conftest import PIPELINE


def write(tmp_path, doc) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return path


def base() -> dict:
    return yaml.safe_load(PIPELINE.read_text())


def test_shipped_pipeline_loads_and_resolves_paths_against_its_folder():
    spec = load_spec(PIPELINE)
    assert (
        spec.inputs.scene.path.resolve()
        == (
            PIPELINE.parent.parent / "sample_rasters" / "LC08_L2SR_171075_20230601_20230607_02_T1"
        ).resolve()
    )
    assert spec.inputs.licences.fields["licence_id"] == "licence_no"
    assert spec.anomalies["iron_oxide"].k == 3.0
    assert spec.masks.to_config().ndvi_max == 0.3


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["masks"].update(ndvi_mx=0.3), "unknown key 'masks.ndvi_mx'"),
        (lambda d: d.update(colour="red"), "unknown key 'colour'"),
        (lambda d: d["anomalies"].update(ndwi={"method": "robust_z"}), "'ndwi' not computed"),
        (
            lambda d: d["anomalies"]["iron_oxide"].update(method="kmeans"),
            "anomalies.iron_oxide.method",
        ),
        (lambda d: d["anomalies"]["iron_oxide"].update(k=-1), "anomalies.iron_oxide.k"),
        (
            lambda d: d.update(indices=["iron_oxide", "clay_hydroxyl", "iron_oxyde"]),
            "unknown index 'iron_oxyde'",
        ),
        (
            lambda d: d["targets"].update(iron=["ferric_iron"]),
            "targets.iron: 'ferric_iron' is neither under anomalies",
        ),
        (lambda d: d["targets"]["weights"].update(colour=1), "targets.weights.colour"),
        (lambda d: d.pop("name"), "missing required key 'name'"),
        (
            lambda d: d["inputs"]["licences"]["fields"].update(owner="x"),
            "inputs.licences.fields.owner",
        ),
    ],
)
def test_mistakes_are_caught_with_the_key_named(tmp_path, edit, message):
    doc = base()
    edit(doc)
    path = write(tmp_path, doc)
    with pytest.raises(PipelineSpecError, match=message) as err:
        load_spec(path)
    assert str(path) in str(err.value)


def test_yaml_syntax_and_not_a_mapping(tmp_path):
    with pytest.raises(PipelineSpecError, match="not valid YAML"):
        load_spec(write(tmp_path, "name: [unclosed"))
    with pytest.raises(PipelineSpecError, match="must be a mapping"):
        load_spec(write(tmp_path, "- a\n- b\n"))


def test_missing_file(tmp_path):
    with pytest.raises(InputNotFoundError, match="pipeline file not found"):
        load_spec(tmp_path / "nope.yaml")
