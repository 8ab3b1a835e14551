"""Detection quality on the bundled sample's planted truth, per method and alteration type.

The floors are stated in the README; a change that drops a method below them fails here.
"""

import geopandas as gpd
import pytest
import rioxarray

from geo.pipeline.runner import run_pipeline
from geo.pipeline.spec import load_spec
from geo.targets.evaluate import detection_scores

from .conftest import PIPELINE, SAMPLE

pytestmark = pytest.mark.slow

TRUTH_KINDS = {"iron_oxide": ["porphyry_core", "iron_cap"], "aloh_clay": ["porphyry_halo", "argillic"]}
#: method layer -> (alteration type, F1 floor)
FLOORS = {
    "iron_oxide_anomaly": ("iron_oxide", 0.80),
    "clay_hydroxyl_anomaly": ("aloh_clay", 0.75),
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("detect") / "run"
    with pytest.warns(UserWarning):
        run_pipeline(load_spec(PIPELINE), out=out)
    return out


def layer(run_dir, name):
    return rioxarray.open_rasterio(run_dir / "rasters" / f"{name}.tif").squeeze("band", drop=True)


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_f1_floor(run_dir, name):
    kind, floor = FLOORS[name]
    truth = gpd.read_file(SAMPLE / "truth.gpkg", layer="planted")
    truth = truth[truth["kind"].isin(TRUTH_KINDS[kind])]
    valid = layer(run_dir, "mask_reasons") == 0
    scores = detection_scores(layer(run_dir, name) == 1, truth, valid=valid)
    assert scores["f1"] >= floor, f"{name} vs {kind} truth: {scores}"
