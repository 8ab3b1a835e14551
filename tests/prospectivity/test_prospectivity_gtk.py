"""End to end on real data: GTK IOCG occurrences, structures and lithology of Central Lapland.

Vector evidence → binary patterns by weights-of-evidence generalisation on half of the
occurrences → posterior → prediction rate on the other half (held out). Skips without
``../shared/data``. The AUC is printed (``pytest -s``) and must beat a random map.
"""

import numpy as np
import pytest
from rasterio import features

from geo.prospectivity import (
    area_capture,
    conditional_independence,
    curve_auc,
    success_rate_curve,
    wofe_generalise,
    wofe_posterior,
    wofe_weights,
)
from geo.prospectivity.evidence import (
    distance_to_lines,
    distance_to_points,
    line_intersections,
    points_to_mask,
    rasterize_attribute,
)
from geo.testing import make_raster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gtk(shared_data):
    import geopandas as gpd

    folder = shared_data / "vectors" / "eis_toolkit_gtk_iocg_finland"
    area = gpd.read_file(folder / "EIS_IOCG_target_area.shp")
    minx, miny, maxx, maxy = area.total_bounds
    res = 500.0
    shape = (int(np.ceil((maxy - miny) / res)), int(np.ceil((maxx - minx) / res)))
    grid = make_raster(np.zeros(shape), res=res, origin=(minx, maxy), crs="EPSG:3067")
    inside = features.rasterize(
        area.geometry, out_shape=shape, transform=grid.rio.transform(), dtype="uint8"
    )
    structures = gpd.read_file(folder / "IOCG_CLB_Structures_1M.shp")
    occurrences = (
        gpd.read_file(folder / "IOCG_Deps_Prosp_Occs_2.shp")
        .sort_values("Name")
        .reset_index(drop=True)
    )
    lithology = gpd.read_file(folder / "IOCG_CLB_Lith_Asstn_1M.shp")
    return grid, inside.astype(bool), structures, occurrences, lithology


def test_wofe_prediction_rate_on_held_out_occurrences(gtk):
    grid, valid, structures, occurrences, lithology = gtk
    train_points, test_points = occurrences.iloc[::2], occurrences.iloc[1::2]
    train = points_to_mask(train_points, grid).values.astype(bool) & valid
    test = points_to_mask(test_points, grid).values.astype(bool) & valid & ~train
    assert train.sum() >= 5 and test.sum() >= 5

    # continuous evidence, binned to 250 m so the cumulative classes are few and stable
    d_faults = np.round(distance_to_lines(structures, grid).values / 250) * 250
    d_nodes = np.round(distance_to_points(line_intersections(structures), grid).values / 250) * 250
    patterns, weights = {}, {}
    for name, dist in (("near_faults", d_faults), ("near_intersections", d_nodes)):
        cut, table = wofe_generalise(dist, train, valid=valid, ascending=True, min_studentised=1.0)
        patterns[name] = (dist <= cut) & valid
        weights[name] = wofe_weights(patterns[name], train, valid=valid)
        assert weights[name]["contrast"] > 0  # occurrences favour the vicinity of structures

    codes, legend = rasterize_attribute(lithology, grid, "ROCK_NAME_")
    best, best_c = None, -np.inf
    for code in legend:
        pattern = (codes.values == code) & valid
        if pattern.sum() and (pattern & train).sum():
            w = wofe_weights(pattern, train, valid=valid)
            if np.isfinite(w["contrast"]) and w["contrast"] > best_c:
                best, best_c = code, w["contrast"]
    patterns["favourable_rock"] = (codes.values == best) & valid
    weights["favourable_rock"] = wofe_weights(patterns["favourable_rock"], train, valid=valid)

    table = conditional_independence(patterns, train, valid=valid, alpha=0.01)  # warns by name
    assert len(table) == 3 and {"chi2", "p_value", "violated"} <= set(table.columns)

    prior = float(train.sum() / valid.sum())
    posterior, std = wofe_posterior(patterns, weights, prior, valid=valid)
    posterior = np.where(valid, posterior, np.nan)
    assert np.nanmax(posterior) > prior > np.nanmin(posterior)
    assert np.all(np.isfinite(std[valid]))

    success = curve_auc(*success_rate_curve(posterior, train, valid=valid))
    prediction = curve_auc(*success_rate_curve(posterior, test, valid=valid))
    capture = area_capture(posterior, test, valid=valid)
    print(
        f"\nGTK IOCG WofE (faults, intersections, rock {legend[best]!r}): success-rate AUC {success:.3f}, "
        f"prediction-rate AUC on {int(test.sum())} held-out occurrences {prediction:.3f}, "
        f"captured in top 5/10/20 % of area: {[round(v, 2) for v in capture.values()]}"
    )
    assert prediction > 0.6, "the held-out occurrences should rank well above a random map (0.5)"
    assert success >= prediction - 0.15


def test_wofe_hold_outs_on_the_gtk_occurrences(gtk):
    """The pipeline's WofE path (fit_wofe + hold-outs) on real data: 10 km blocks."""
    from geo.prospectivity.combine import fit_wofe
    from geo.prospectivity.modelling import holdout_prediction_rate

    grid, valid, structures, occurrences, _ = gtk
    deposits = points_to_mask(occurrences, grid).values.astype(bool) & valid
    layers = {
        "faults": distance_to_lines(structures, grid).values,
        "intersections": distance_to_points(line_intersections(structures), grid).values,
    }
    ascending = {"faults": True, "intersections": True}

    def fit_score(train):
        model = fit_wofe(layers, train, valid=valid, ascending=ascending, min_studentised=1.0)
        return np.where(valid, model.posterior(layers), np.nan)

    full = fit_score(deposits)
    success = curve_auc(*success_rate_curve(full, deposits, valid=valid))
    blocks = holdout_prediction_rate(
        fit_score, deposits, valid=valid, scheme="blocks", block_size_px=20
    )
    print(
        f"\nGTK IOCG WofE on {int(deposits.sum())} occurrence cells: success-rate AUC {success:.3f}, "
        f"blocked (10 km) hold-out prediction-rate AUC {blocks.auc:.3f} over {blocks.n_folds} folds"
    )
    assert blocks.n_folds >= 5
    assert blocks.auc > 0.6, "held-out occurrences should rank above a random map (0.5)"
    assert success >= blocks.auc - 0.05  # fitting on every occurrence cannot do much worse
