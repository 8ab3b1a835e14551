"""The index catalogue on real laboratory spectra (USGS splib06/07 at each sensor's bands).

Each sensor's library (geo/data/library_<sensor>.csv, derived by scripts/derive_endmembers.py
from the USGS spectra and the official response functions) is evaluated with the catalogue
formulas; the mineral rankings that make each index useful must hold. Where physics says an
index is fooled (vegetation on the 2.2 um ratios), the test says so too: that is why the
vegetation mask runs first.
"""

import pytest
import xarray as xr

from geo.spectral.indices import compute_indices
from geo.spectral.sam import load_library

META = ("name", "group", "record", "library")


def index_values(sensor, name):
    lib = load_library(sensor)
    roles = [c for c in lib.columns if c not in META]
    cube = xr.DataArray(
        lib[roles].to_numpy().T[:, None, :].astype("float32"),
        dims=("band", "y", "x"),
        coords={"band": roles},
        attrs={"sensor": sensor},
    )
    values = compute_indices(cube, [name]).sel(index=name).values[0]
    return dict(zip(lib["name"], values, strict=True))


def ranks_above(values, high, low):
    worst_high = min(values[h] for h in high)
    best_low = max(values[lo] for lo in low)
    return worst_high > best_low, (worst_high, best_low)


@pytest.mark.parametrize("sensor", ["landsat_oli", "landsat_etm", "sentinel2_msi"])
def test_iron_oxide_ranks_iron_minerals_above_clay_vegetation_and_soils(sensor):
    v = index_values(sensor, "iron_oxide")
    ok, detail = ranks_above(
        v,
        ["hematite", "goethite", "jarosite"],
        [
            "kaolinite",
            "alunite",
            "muscovite",
            "green_vegetation",
            "dry_vegetation",
            "playa_soil",
            "soil",
        ],
    )
    assert ok, detail


def test_ferric_iron_on_aster_ranks_iron_minerals_first():
    v = index_values("aster", "ferric_iron")
    ok, detail = ranks_above(
        v,
        ["hematite", "goethite", "jarosite"],
        ["kaolinite", "alunite", "muscovite", "green_vegetation", "playa_soil"],
    )
    assert ok, detail


@pytest.mark.parametrize("sensor", ["landsat_oli", "sentinel2_msi", "aster"])
def test_clay_ratio_ranks_kaolinite_and_alunite_above_iron_oxides(sensor):
    v = index_values(sensor, "clay_hydroxyl")
    ok, detail = ranks_above(v, ["kaolinite", "alunite"], ["hematite", "goethite", "calcite"])
    assert ok, detail


@pytest.mark.parametrize("sensor", ["landsat_oli", "sentinel2_msi", "aster"])
def test_green_vegetation_fools_the_clay_ratio_so_it_is_masked_first(sensor):
    v = index_values(sensor, "clay_hydroxyl")
    assert v["green_vegetation"] > v["alunite"]  # leaf water absorbs at 2.2 um too
    ndvi = index_values(sensor, "ndvi")
    assert (
        ndvi["green_vegetation"] > 0.6 > max(ndvi[m] for m in ("kaolinite", "alunite", "muscovite"))
    )


def test_aster_phyllic_ranks_muscovite_above_iron_and_vegetation():
    v = index_values("aster", "phyllic")
    ok, detail = ranks_above(
        v,
        ["muscovite", "montmorillonite"],
        ["hematite", "green_vegetation", "dry_vegetation", "calcite"],
    )
    assert ok, detail


@pytest.mark.parametrize("index", ["carbonate_chlorite_epidote", "mgoh_content"])
def test_aster_mgoh_carbonate_indices_rank_calcite_chlorite_epidote_high(index):
    v = index_values("aster", index)
    ok, detail = ranks_above(
        v,
        ["calcite", "chlorite", "epidote"],
        ["kaolinite", "alunite", "muscovite", "hematite", "green_vegetation"],
    )
    assert ok, detail


@pytest.mark.parametrize(
    ("index", "mineral"),
    [("ninomiya_kli", "kaolinite"), ("ninomiya_ali", "alunite"), ("ninomiya_ohi_a", "kaolinite")],
)
def test_ninomiya_indices_rank_their_mineral_first(index, mineral):
    v = index_values("aster", index)
    assert max(v, key=lambda k: v[k] if v[k] == v[k] else -1) == mineral


def test_ninomiya_calcite_index_ranks_carbonates_and_mgoh_above_aloh_and_iron():
    v = index_values("aster", "ninomiya_cli")
    ok, detail = ranks_above(
        v,
        ["calcite", "dolomite", "chlorite", "epidote"],
        ["kaolinite", "alunite", "muscovite", "hematite"],
    )
    assert ok, detail


def test_csiro_ferric_oxide_composition_separates_hematite_from_goethite():
    v = index_values("aster", "ferric_oxide_composition")
    assert v["hematite"] > v["goethite"]


@pytest.mark.parametrize("index", ["s2_hematite_goethite", "s2_hematite_jarosite", "s2_iron_mixed"])
def test_sentinel2_iron_indices_rank_iron_minerals_above_clays_and_soils(index):
    v = index_values("sentinel2_msi", index)
    ok, detail = ranks_above(
        v, ["hematite", "jarosite"], ["kaolinite", "alunite", "muscovite", "playa_soil", "sand"]
    )
    assert ok, detail


def test_composites_are_made_of_catalogue_indices():
    from geo.spectral.indices import catalogue, composites

    names = {d.name for d in catalogue()}
    for parts in composites().values():
        assert len(parts) == 3 and set(parts) <= names


@pytest.mark.parametrize(
    ("index", "mineral"),
    [("ninomiya_kli", "kaolinite"), ("ninomiya_ali", "alunite"), ("phyllic", "muscovite")],
)
def test_aster_aloh_indices_rank_their_mineral_above_hematite_and_vegetation(index, mineral):
    v = index_values("aster", index)
    ok, detail = ranks_above(
        v, [mineral], ["hematite", "goethite", "green_vegetation", "dry_vegetation"]
    )
    assert ok, detail
