"""Bringing one's own licence layer: --licence-fields, the alias fallback, another layer name."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

from geo.cli.main import _parse_licence_fields, main
from geo.errors import InvalidParameterError
from tests.conftest import PIPELINE, SAMPLE


@pytest.fixture
def cadastre(tmp_path):
    """The sample licences as a portal delivers them: other column and layer names."""
    frame = gpd.read_file(SAMPLE / "licences.gpkg", layer="licences").rename(
        columns={"licence_no": "CODE", "holder_name": "PARTIES", "status": "STATE_NOW"}
    )
    path = tmp_path / "cadastre.gpkg"
    frame.to_file(path, layer="mining_titles", driver="GPKG")
    return path


def _run(tmp_path, *extra):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(PIPELINE), "--no-export", "--out", str(out), *map(str, extra)]
    )
    return result, out


def test_licence_fields_map_a_cadastre_without_editing_the_pipeline(tmp_path, cadastre):
    result, out = _run(
        tmp_path,
        "--licences",
        cadastre,
        "--licence-fields",
        "licence_id=CODE,holder=PARTIES,status=STATE_NOW",
    )
    assert result.exit_code == 0, result.stderr
    licences = pd.read_csv(out / "licences.csv")
    assert sorted(licences["licence_id"]) == [
        "PL 012/2021",
        "PL 013/2021",
        "PL 044/2017",
        "PL 087/2019",
    ]
    assert set(licences["status"]) == {"granted", "pending", "expired"}
    targets = pd.read_csv(out / "targets.csv")
    assert targets["licence_id"].notna().sum() >= 1


def test_an_alias_column_is_used_with_a_warning(tmp_path, cadastre):
    """CODE is a documented alias of licence_id; PARTIES of holder; STATE_NOW is not a status alias."""
    result, _ = _run(tmp_path, "--licences", cadastre, "--licence-fields", "status=STATE_NOW")
    assert result.exit_code == 0, result.stderr
    assert "using 'CODE', the layer's only column named like one" in result.stderr
    assert "using 'PARTIES'" in result.stderr


def test_without_a_matching_column_the_error_names_the_fix(tmp_path, cadastre):
    result, out = _run(tmp_path, "--licences", cadastre)  # STATE_NOW: no status alias
    assert result.exit_code == 2
    assert "'status'" in result.stderr and "STATE_NOW" in result.stderr and not out.exists()


@pytest.mark.parametrize(
    "text", ["licence_id", "owner=X", "licence_id=", "=CODE", "licence_id=CODE;holder=X"]
)
def test_malformed_licence_fields_are_refused(text):
    with pytest.raises(InvalidParameterError, match="--licence-fields"):
        _parse_licence_fields(text)


def test_licence_fields_parse():
    assert _parse_licence_fields(" licence_id = CODE , expiry=END ") == {
        "licence_id": "CODE",
        "expiry": "END",
    }
