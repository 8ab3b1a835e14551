import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from rasterio import features
from shapely.geometry import LineString, Point, box

from geo.errors import CRSError, InvalidParameterError, VectorError
from geo.prospectivity.evidence import (
    distance_to_lines,
    distance_to_points,
    line_density,
    line_intersections,
    points_to_mask,
    rasterize_attribute,
    slope_degrees,
)
from geo.testing import make_raster

UTM = "EPSG:32635"
X0, Y0 = 500_000.0, 7_000_000.0
GTK = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "vectors"
    / "eis_toolkit_gtk_iocg_finland"
)


def grid(ny=20, nx=30, res=10.0, crs=UTM):
    return make_raster(np.zeros((ny, nx)), res=res, origin=(X0, Y0), crs=crs)


def series(geoms, crs=UTM):
    return gpd.GeoSeries(geoms, crs=crs)


def test_distance_to_vertical_line_within_half_pixel():
    t = grid()
    x_line = X0 + 123.0  # inside column 12, off its centre
    d = distance_to_lines(series([LineString([(x_line, Y0 + 50), (x_line, Y0 - 500)])]), t)
    expected = np.broadcast_to(np.abs(t.x.values - x_line), t.shape)
    assert d.dtype == np.float32 and d.dims == ("y", "x") and d.rio.crs == t.rio.crs
    assert d.rio.transform() == t.rio.transform()
    assert np.abs(d.values - expected).max() <= 5.0 + 1e-6
    assert d.values[:, 0] == pytest.approx(np.full(20, 120.0))  # 12 pixels from the line's column


def test_distance_to_far_line_is_exact():
    t = grid()
    x_line = X0 - 5_000.0  # 500 px off the grid, beyond the halo: exact shapely distance
    d = distance_to_lines(series([LineString([(x_line, Y0), (x_line, Y0 - 200)])]), t)
    expected = np.broadcast_to(t.x.values - x_line, t.shape)
    np.testing.assert_allclose(d.values, expected, rtol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_distance_matches_shapely_with_lines_inside_across_and_beyond_the_halo(seed):
    """Every pixel within half a pixel diagonal of the exact distance to the nearest line."""
    rng = np.random.default_rng(seed)
    t = grid(ny=150, nx=170, res=10.0)  # the halo is 64 px = 640 m around the 1.7 x 1.5 km grid
    lines = []
    for _ in range(4):
        x, y = X0 + rng.uniform(-3000, 4700), Y0 - rng.uniform(-3000, 4500)
        a, n = rng.uniform(0, np.pi), rng.uniform(100, 3000)
        lines.append(LineString([(x, y), (x + n * np.cos(a), y + n * np.sin(a))]))
    d = distance_to_lines(series(lines), t).values
    xs, ys = np.meshgrid(t.x.values, t.y.values)
    exact = shapely.distance(shapely.points(xs, ys), shapely.MultiLineString(lines))
    assert np.abs(d - exact).max() <= np.hypot(10, 10) / 2 + 1e-3


def test_distance_to_points_hand_values():
    t = grid(ny=3, nx=3)
    d = distance_to_points(series([Point(X0 + 5, Y0 - 5)]), t)
    np.testing.assert_allclose(d.values[0], [0, 10, 20])
    np.testing.assert_allclose(d.values[:, 0], [0, 10, 20])
    assert d.values[2, 2] == pytest.approx(np.hypot(20, 20))


def test_two_crossing_lines_one_intersection():
    lines = series(
        [
            LineString([(X0, Y0 - 100), (X0 + 200, Y0 + 100)]),
            LineString([(X0, Y0 + 60), (X0 + 200, Y0 + 20)]),
        ]
    )
    pts = line_intersections(lines)
    assert len(pts) == 1 and pts.crs == lines.crs and pts["n_lines"].tolist() == [2]
    # y = x - 100 and y = 60 - x / 5 (relative to X0, Y0) -> x = 400/3, y = 100/3
    assert pts.geometry.iloc[0].coords[0] == pytest.approx((X0 + 400 / 3, Y0 + 100 / 3))


def test_intersections_deduplicate_and_skip_end_joins():
    star = series(
        [
            LineString([(-10, 0), (10, 0)]),
            LineString([(0, -10), (0, 10)]),
            LineString([(-10, -10), (10, 10)]),
            LineString([(10, 0), (20, 5)]),  # continues line 0 end to end
        ]
    )
    pts = line_intersections(star)
    assert [p.coords[0] for p in pts.geometry] == [(0.0, 0.0)]
    assert pts["n_lines"].tolist() == [3]
    assert len(line_intersections(star, include_end_joins=True)) == 2
    parallel = series([LineString([(0, 0), (1, 0)]), LineString([(0, 1), (1, 1)])])
    assert line_intersections(parallel).empty


def test_line_density_matches_analytical_value():
    res, r = 100.0, 1_000.0
    t = grid(ny=60, nx=60, res=res)
    y_line = Y0 - 3_000.0 - 20.0  # 20 m off the centres of row 29
    lines = series([LineString([(X0 - 10_000, y_line), (X0 + 16_000, y_line)])])
    dens = line_density(lines, t, radius_m=r)
    dy = np.abs(t.y.values - y_line)[:, None]
    chord = 2 * np.sqrt(np.clip(r**2 - dy**2, 0, None))
    expected = np.broadcast_to(chord / (np.pi * r**2) * 1e3, t.shape)  # km/km²
    assert dens.attrs["units"] == "km/km2" and dens.dtype == np.float32
    assert dens.values[29, 30] == pytest.approx(2e3 / (np.pi * r), rel=0.1)
    near = dy[:, 0] < 0.8 * r
    np.testing.assert_allclose(dens.values[near], expected[near], rtol=0.1)
    assert np.all(dens.values[dy[:, 0] > r + res] == 0)


def test_line_density_counts_lines_just_outside_the_grid():
    t = grid(ny=10, nx=10, res=100.0)
    outside = series([LineString([(X0 - 50, Y0 + 1000), (X0 - 50, Y0 - 2000)])])
    dens = line_density(outside, t, radius_m=300.0)
    assert dens.values[:, 0].min() > 0 and np.all(dens.values[:, 5:] == 0)


def test_geographic_layer_gives_same_distances_as_utm(caplog):
    t = grid(ny=40, nx=40, res=50.0)
    utm = series(
        [LineString([(X0 + 300, Y0 + 100), (X0 + 1700, Y0 - 2100)]), Point(0, 0).buffer(1).boundary]
    )
    utm = series(shapely.segmentize(utm.to_numpy(), 20.0))
    wgs = utm.to_crs("EPSG:4326")
    with caplog.at_level(logging.INFO, logger="geo.prospectivity.evidence"):
        from_wgs = distance_to_lines(wgs, t)
    assert "Reprojecting lines from EPSG:4326" in caplog.text
    np.testing.assert_allclose(from_wgs.values, distance_to_lines(utm, t).values, atol=1.0)
    assert wgs.crs.to_epsg() == 4326  # input untouched
    with pytest.raises(CRSError, match="reproject=True"):
        distance_to_lines(wgs, t, reproject=False)


def test_crs_errors():
    t = grid()
    line = LineString([(X0, Y0), (X0 + 100, Y0 - 100)])
    with pytest.raises(CRSError, match="no CRS"):
        distance_to_lines(series([line], crs=None), t)
    with pytest.raises(CRSError, match="no CRS"):
        line_intersections(series([line, line], crs=None))
    with pytest.raises(CRSError, match="template has no CRS"):
        distance_to_lines(series([line]), grid(crs=None))
    with pytest.raises(CRSError, match="projected in metres"):
        distance_to_lines(series([line]), make_raster(np.zeros((2, 2)), crs="EPSG:4326"))


def test_input_validation():
    t = grid()
    line = series([LineString([(X0, Y0), (X0 + 100, Y0 - 100)])])
    with pytest.raises(VectorError, match="no geometries"):
        distance_to_lines(series([]), t)
    with pytest.raises(VectorError, match="LineString or MultiLineString"):
        distance_to_lines(series([Point(X0, Y0)]), t)
    with pytest.raises(VectorError, match="Point or MultiPoint"):
        points_to_mask(line, t)
    with pytest.raises(VectorError, match="GeoDataFrame or GeoSeries"):
        distance_to_lines([LineString([(0, 0), (1, 1)])], t)
    for bad in (0, -5.0, float("nan"), "2km", True):
        with pytest.raises(InvalidParameterError, match="radius_m"):
            line_density(line, t, radius_m=bad)
    polys = gpd.GeoDataFrame({"rock": ["a"]}, geometry=[box(X0, Y0 - 50, X0 + 50, Y0)], crs=UTM)
    with pytest.raises(VectorError, match=r"column 'lith'.*\['rock', 'geometry'\]"):
        rasterize_attribute(polys, t, "lith")
    with pytest.raises(InvalidParameterError, match=r"\(y, x\)"):
        distance_to_lines(line, make_raster(np.zeros((2, 3, 3)), crs=UTM))


def test_rasterize_attribute_and_points_mask():
    t = grid(ny=2, nx=4)
    geol = gpd.GeoDataFrame(
        {"rock": ["schist", "granite", None]},
        geometry=[
            box(X0, Y0 - 20, X0 + 20, Y0),
            box(X0 + 20, Y0 - 10, X0 + 30, Y0),
            box(X0, Y0 - 20, X0 + 40, Y0),
        ],
        crs=UTM,
    )
    geol.loc[3] = ["basalt", None]  # a row with no geometry is skipped
    codes, legend = rasterize_attribute(geol, t, "rock")
    assert legend == {1: "granite", 2: "schist"} and codes.name == "rock"
    np.testing.assert_array_equal(codes.values, [[2, 2, 1, np.nan], [2, 2, np.nan, np.nan]])
    pts = gpd.GeoDataFrame(
        geometry=[Point(X0 + 15, Y0 - 15), Point(X0 + 16, Y0 - 14), Point(0, 0)], crs=UTM
    )
    np.testing.assert_array_equal(points_to_mask(pts, t).values, [[0, 0, 0, 0], [0, 1, 0, 0]])


def test_slope_of_tilted_plane():
    x = np.arange(12) * 30.0
    dem = make_raster(np.tile(0.1 * x, (8, 1)) + 250.0, res=30.0)
    slope = slope_degrees(dem)
    np.testing.assert_allclose(slope.values, np.degrees(np.arctan(0.1)), rtol=1e-5)
    assert slope.dtype == np.float32 and slope.attrs["units"] == "degree"
    dem_y = make_raster(np.tile(0.1 * x[:8, None], (1, 12)), res=30.0)  # tilted along y
    np.testing.assert_allclose(slope_degrees(dem_y).values, 5.710593, rtol=1e-5)


def _prediction_rate(score: np.ndarray, deposit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative (area, deposit) fractions, cells ranked by score, ties taken together."""
    levels, inverse = np.unique(-score, return_inverse=True)
    area = np.bincount(inverse, minlength=len(levels)).cumsum() / score.size
    deps = np.bincount(inverse, weights=deposit, minlength=len(levels)).cumsum() / deposit.sum()
    return np.r_[0.0, area], np.r_[0.0, deps]


def test_gtk_iocg_structures_real_data(caplog):
    if not GTK.is_dir():
        pytest.skip(f"GTK IOCG data not available at {GTK}")
    area = gpd.read_file(GTK / "EIS_IOCG_target_area.shp")
    structures = gpd.read_file(GTK / "IOCG_CLB_Structures_1M.shp")
    occurrences = gpd.read_file(GTK / "IOCG_Deps_Prosp_Occs_2.shp")
    assert area.crs.to_epsg() == 3067 and len(structures) == 85 and len(occurrences) == 26
    minx, miny, maxx, maxy = area.total_bounds
    res = 500.0
    ny, nx = int(np.ceil((maxy - miny) / res)), int(np.ceil((maxx - minx) / res))
    t = make_raster(np.zeros((ny, nx)), res=res, origin=(minx, maxy), crs="EPSG:3067")
    inside = features.rasterize(
        area.geometry, out_shape=t.shape, transform=t.rio.transform(), fill=0, dtype="uint8"
    ).astype(bool)

    with caplog.at_level(logging.INFO, logger="geo.prospectivity.evidence"):
        d_lines = distance_to_lines(structures, t).values[inside]
    assert "Reprojecting" not in caplog.text  # the .prj's EPSG:3067 matches the grid's

    nodes = line_intersections(structures)
    d_nodes = distance_to_points(nodes, t).values[inside]
    occ = points_to_mask(occurrences, t).values[inside]
    n_occ = int(occ.sum())

    auc = {}
    for label, dist in (("structures", d_lines), ("intersections", d_nodes)):
        area_frac, dep_frac = _prediction_rate(-dist, occ)
        auc[label] = float(np.sum(np.diff(area_frac) * (dep_frac[1:] + dep_frac[:-1]) / 2))
        capture = {q: float(np.interp(q, area_frac, dep_frac)) for q in (0.05, 0.1, 0.2)}
        print(
            f"\nGTK {label}: {n_occ} occurrence cells of {inside.sum()} cells; mean distance "
            f"occurrences {dist[occ > 0].mean():.0f} m vs all cells {dist.mean():.0f} m; "
            f"AUC {auc[label]:.3f}; deposits captured in top 5/10/20 % area: "
            + ", ".join(f"{v:.2f}" for v in capture.values())
        )
        assert 0 < auc[label] < 1
        # What the data show (218 vs 2012 m and 1778 vs 5820 m; AUC 0.85 and 0.85 at 500 m):
        # the occurrences sit nearer the 1:1M structures and their intersections than cells do.
        assert dist[occ > 0].mean() < 0.5 * dist.mean() and auc[label] > 0.75
    print(f"GTK: {len(nodes)} structure intersections")
    assert n_occ == 17  # 17 of the 26 points fall inside the target area, each in its own cell
    assert len(nodes) > 0


def test_feature_transform_equals_scipys_public_one():
    from scipy import ndimage

    from geo.prospectivity.evidence import _feature_transform

    burned = (np.random.default_rng(0).random((300, 200)) < 0.01).astype("uint8")
    want = ndimage.distance_transform_edt(
        burned == 0, sampling=(30.0, 20.0), return_distances=False, return_indices=True
    )
    got = _feature_transform(burned, (30.0, 20.0))
    assert got.dtype == np.int32 and np.array_equal(got, want)


@pytest.mark.parametrize(
    ("density", "window"),
    [
        (0.01, 10**9),  # dense features: every tile from a grown window
        (0.0005, 10**9),  # sparse: wide windows
        (0.0005, 40 * 40),  # windows capped: strips by the separable transform
        (0.0, 10**9),  # a single burned pixel in a corner
        (0.0, 40 * 40),  # ... by the separable transform
        (0.002, 32 * 32),  # some strips one way, some the other
    ],
)
def test_tiled_distance_transform_equals_one_whole_grid_transform(density, window, monkeypatch):
    """Strip by strip (grown windows, or the separable transform) = one whole-grid EDT."""
    from scipy import ndimage

    import geo.prospectivity.evidence as ev

    monkeypatch.setattr(ev, "_EDT_COARSE", 4)
    monkeypatch.setattr(ev, "_EDT_WINDOW_PX", window)
    rng = np.random.default_rng(7)
    pad, sampling = 3, (30.0, 20.0)
    burned = (rng.random((137 + 2 * pad, 211 + 2 * pad)) < density).astype("uint8")
    burned[-1, 0] = 1
    want = ndimage.distance_transform_edt(burned == 0, sampling=sampling)[pad:-pad, pad:-pad]
    out = np.full((137, 211), np.inf, dtype="float32")
    ev._tiled_edt(burned, sampling, pad, out, tile=32)
    np.testing.assert_allclose(out, want.astype("float32"), rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("n_points", [1, 5, 40, 64, "stacked"])
def test_few_points_envelope_equals_one_whole_grid_transform(n_points, monkeypatch):
    """Few burned pixels (points): their columns' envelope, strip by strip = scipy's EDT."""
    from scipy import ndimage

    import geo.prospectivity.evidence as ev

    pad, sampling = 3, (30.0, 20.0)
    burned = np.zeros((97 + 2 * pad, 61 + 2 * pad), dtype="uint8")
    if n_points == "stacked":  # points sharing a column, a row, and on the halo's edges
        burned[[10, 40, 41, 40, 0, 102], [20, 20, 20, 50, 0, 66]] = 1
    else:
        rng = np.random.default_rng(n_points)
        burned[
            rng.integers(0, burned.shape[0], n_points), rng.integers(0, burned.shape[1], n_points)
        ] = 1
    want = ndimage.distance_transform_edt(burned == 0, sampling=sampling)[pad:-pad, pad:-pad]
    got = np.concatenate(
        [strip for _, _, strip in ev._few_edt_strips(burned, sampling, pad, rows=16)]
    )
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want.astype("float32"), rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("kind", ["lines", "points"])
def test_distance_written_strip_by_strip_equals_the_in_memory_one(kind, tmp_path, monkeypatch):
    """With ``path`` the distance goes to a GeoTIFF strip by strip and comes back lazily."""
    import geo.prospectivity.evidence as ev

    monkeypatch.setattr(ev, "_EDT_TILE_PX", 16)  # several strips on a small grid
    t = grid(ny=70, nx=45)
    if kind == "lines":
        layer = series([LineString([(X0 + 33, Y0 + 40), (X0 + 400, Y0 - 650)])])
        fn = distance_to_lines
    else:
        layer = series([Point(X0 + 55, Y0 - 95), Point(X0 + 5000, Y0 - 300)])  # one off the grid
        fn = distance_to_points
    want = fn(layer, t)
    got = fn(layer, t, path=tmp_path / "d.tif", chunk=32)
    assert got.chunks is not None and got.dtype == np.float32
    assert got.rio.crs == t.rio.crs and got.rio.transform() == t.rio.transform()
    np.testing.assert_array_equal(got.values, want.values)
    assert np.array_equal(got.x.values, t.x.values) and np.array_equal(got.y.values, t.y.values)


def test_point_pixels_are_the_cells_points_to_mask_marks():
    from geo.prospectivity.evidence import point_pixels

    t = grid(ny=9, nx=13)
    rng = np.random.default_rng(2)
    pts = series(
        [Point(X0 + x, Y0 - y) for x, y in rng.uniform(-20, 140, size=(30, 2))]  # some outside
    )
    rows, cols = point_pixels(pts, t)
    mask = np.zeros(t.shape, bool)
    mask[rows, cols] = True
    assert np.array_equal(mask, points_to_mask(pts, t).values == 1)
    assert len(rows) == mask.sum()  # each cell once
