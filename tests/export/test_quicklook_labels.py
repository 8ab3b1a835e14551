"""Readable maps: labels clear of symbols, lines and each other; axes in the standard UTM zone."""

from __future__ import annotations

import itertools
import time

import geopandas as gpd
import numpy as np
import pytest
import rioxarray
import shapely
from matplotlib.transforms import Bbox

from geo.errors import InvalidParameterError
from geo.export.quicklook import (
    _LabelLayer,
    _place_labels,
    map_labels,
    render_quicklook,
    render_score_map,
    standard_utm_formatter,
)


def _layers(run_dir):
    gpkg = run_dir / "targets.gpkg"
    return {
        name: gpd.read_file(gpkg, layer=name)
        for name in ("targets", "zones", "licences", "occurrences", "structures")
    }


@pytest.fixture(scope="module")
def sample_maps(prospect_run, tmp_path_factory):
    """The quicklook and score map of the sample run, redrawn from its outputs and saved."""
    run = prospect_run.out_dir
    layers = _layers(run)
    colour = rioxarray.open_rasterio(run / "rasters" / "true_colour.tif")
    refl = colour.where(colour != 0).astype("float32").assign_coords(band=["red", "green", "blue"])
    reasons = rioxarray.open_rasterio(run / "rasters" / "mask_reasons.tif").squeeze(
        "band", drop=True
    )
    score = rioxarray.open_rasterio(run / "rasters" / "prospectivity.tif").squeeze(
        "band", drop=True
    )
    quick = render_quicklook(
        refl,
        invalid=reasons != 0,
        zones=layers["zones"],
        targets=layers["targets"],
        licences=layers["licences"],
        structures=layers["structures"],
        occurrences=layers["occurrences"],
        title="sample",
    )
    scoremap = render_score_map(
        score,
        cutoff=0.42,
        targets=layers["targets"],
        licences=layers["licences"],
        structures=layers["structures"],
        occurrences=layers["occurrences"],
    )
    out = tmp_path_factory.mktemp("maps")
    figures = {"quicklook": quick, "prospectivity": scoremap}
    for name, fig in figures.items():
        fig.savefig(out / f"{name}.png", bbox_inches="tight")
        fig.canvas.draw()  # the label boxes below are those of this draw
    return figures, layers, out


def _boxes(fig):
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in map_labels(fig)]


def _overlapping(boxes):
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if ba.overlaps(bb)]


def _covered_points(boxes, px):
    return [(name, tuple(p)) for name, box in boxes for p in px if box.contains(*p)]


@pytest.mark.parametrize("name", ["quicklook", "prospectivity"])
def test_sample_map_labels_are_clear_of_each_other_and_of_stars(sample_maps, name):
    figures, layers, _ = sample_maps
    fig = figures[name]
    boxes = _boxes(fig)
    # every target (8) and licence (4) of the sample is labelled: none was dropped
    assert sorted(t for t, _ in boxes) == sorted(
        [str(r) for r in layers["targets"]["rank"]] + list(layers["licences"]["licence_id"])
    )
    assert _overlapping(boxes) == []
    ax = fig.axes[0]
    occ = layers["occurrences"]
    stars = ax.transData.transform(np.column_stack([occ.geometry.x, occ.geometry.y]))
    assert len(stars) == 8
    assert _covered_points(boxes, stars) == []
    # every label inside the map frame
    frame = ax.bbox
    for text, box in boxes:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, text
        assert frame.y0 <= box.y0 and box.y1 <= frame.y1, text


def test_sample_labels_off_the_faults_and_licence_labels_in_their_licence(sample_maps):
    figures, layers, _ = sample_maps
    fig = figures["quicklook"]
    ax = fig.axes[0]
    to_data = ax.transData.inverted()
    faults = shapely.union_all(layers["structures"].geometry.values)
    licences = dict(zip(layers["licences"]["licence_id"], layers["licences"].geometry, strict=True))
    for text, box in _boxes(fig):
        (x0, y0), (x1, y1) = to_data.transform([(box.x0, box.y0), (box.x1, box.y1)])
        assert not shapely.box(x0, y0, x1, y1).intersects(faults), text
        if text in licences:
            assert licences[text].contains(shapely.Point((x0 + x1) / 2, (y0 + y1) / 2)), text


def test_target_labels_touch_their_target_or_get_a_leader(sample_maps):
    """Ranks 1, 2 and 8 sit on occurrence stars: their labels move off them; a label that
    does not touch its target's box gets a leader line from the target's point."""
    figures, layers, _ = sample_maps
    fig = figures["quicklook"]
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    targets = layers["targets"].set_index(layers["targets"]["rank"].astype(str))
    (leaders,) = [c for c in ax.collections if c.get_zorder() == 6]
    starts = {tuple(np.round(seg[0], 3)) for seg in leaders.get_segments()}
    reach = renderer.points_to_pixels(3.0 + 2.0) + 1  # leader threshold + halo pad, in pixels
    led = set()
    for text in map_labels(fig):
        rank = text.get_text()
        if rank not in targets.index:
            continue
        row = targets.loc[rank]
        box = text.get_window_extent(renderer)
        anchor = ax.transData.transform((row.easting, row.northing))
        if rank in {"1", "2", "8"}:
            assert not box.contains(*anchor), rank  # moved off its star
        footprint = Bbox(ax.transData.transform(np.reshape(row.geometry.bounds, (2, 2))))
        if (round(row.easting, 3), round(row.northing, 3)) in starts:
            led.add(rank)
        else:
            assert box.expanded(1, 1).padded(reach).overlaps(footprint), rank
    assert len(leaders.get_segments()) == len(led)


def test_sample_axes_show_standard_utm_northings(sample_maps):
    figures, _, out = sample_maps
    for name, fig in figures.items():
        ax = fig.axes[0]
        assert ax.get_ylabel() == (
            "Northing (m), UTM 35S (scene grid EPSG:32635 + 10,000,000 m)"
        ), name
        assert ax.get_xlabel() == "Easting (m), UTM 35S, WGS 84"
        fig.canvas.draw()
        ylabels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
        assert ylabels and all(not s.startswith(("-", "\u2212")) for s in ylabels)
        for tick, text in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True):
            if text.get_text():
                assert int(text.get_text().replace(",", "")) == round(tick + 10_000_000)
        assert (out / f"{name}.png").stat().st_size > 50_000


# --------------------------------------------------------------------------- UTM axes


def test_standard_utm_formatter_hand_checked():
    bounds = (540_000, -2_390_000, 560_000, -2_370_000)
    grid = standard_utm_formatter("EPSG:32635", bounds)
    assert grid.zone == "35S" and grid.northing_offset == 10_000_000
    # -2,287,500 + 10,000,000 = 7,712,500 (zone 35S), as a GPS there shows it
    assert grid.northing(-2_287_500) == "7,712,500"
    assert grid.easting(554_850) == "554,850"
    assert "UTM 35S" in grid.ylabel and "UTM 35S" in grid.xlabel
    km = standard_utm_formatter(32635, bounds, unit="km")
    assert km.northing(-2_287_500) == "7,712.5" and km.easting(554_000) == "554"
    assert km.ylabel.startswith("Northing (km), UTM 35S")


def test_standard_utm_formatter_zones():
    # already in the south zone: positive northings kept, no offset
    south = standard_utm_formatter("EPSG:32735", (540_000, 7_610_000, 560_000, 7_630_000))
    assert (south.zone, south.northing_offset) == ("35S", 0.0)
    assert south.northing(7_712_500) == "7,712,500"
    assert south.ylabel == "Northing (m), UTM 35S"
    # a northern scene in its north zone
    north = standard_utm_formatter("EPSG:32633", (400_000, 5_000_000, 410_000, 5_010_000))
    assert (north.zone, north.northing(5_000_000)) == ("33N", "5,000,000")
    # a northern map in a south zone: back to zone N
    flipped = standard_utm_formatter("EPSG:32733", (400_000, 10_100_000, 410_000, 10_110_000))
    assert (flipped.zone, flipped.northing(10_105_000)) == ("33N", "105,000")
    # another datum, named in the label
    nad = standard_utm_formatter("EPSG:26917", (500_000, 4_000_000, 510_000, 4_010_000))
    assert nad.zone == "17N" and nad.xlabel == "Easting (m), UTM 17N, NAD83"
    # not UTM: own coordinates, named by the CRS
    merc = standard_utm_formatter("EPSG:3857", (0, 0, 10, 10))
    assert merc.zone is None and merc.northing(-5) == "-5" and "EPSG:3857" in merc.xlabel
    assert standard_utm_formatter(None, (0, 0, 1, 1)).ylabel == "Northing (m)"


def test_standard_utm_formatter_errors():
    with pytest.raises(InvalidParameterError, match=r"'crs'.*EPSG:32635.*Got 'not a crs"):
        standard_utm_formatter("not a crs <b>", (0, 0, 1, 1))
    with pytest.raises(InvalidParameterError, match=r"'bounds'.*left < right"):
        standard_utm_formatter("EPSG:32635", (10, 0, 0, 1))
    with pytest.raises(InvalidParameterError, match=r"'bounds'.*left < right"):
        standard_utm_formatter("EPSG:32635", (0, 0, float("nan"), 1))
    with pytest.raises(InvalidParameterError, match=r"'bounds'.*\(left, bottom, right, top\)"):
        standard_utm_formatter("EPSG:32635", (0, 0, 1))
    with pytest.raises(InvalidParameterError, match=r"'unit'.*'m' or 'km'.*'ft'"):
        standard_utm_formatter("EPSG:32635", (0, 0, 1, 1), unit="ft")


# --------------------------------------------------------------------------- a full scene


def _full_scene(n_targets=1400, n_occ=300, seed=0):
    """A 185 km Landsat-like scene with many targets, occurrences, licences and faults."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    # 185 km a side (a Landsat scene), drawn from 1,000 pixels: the map's cost does not
    # grow with the pixels (they are decimated to ~1,100 first), only with the layers
    left, top, size, pixel = 400_000.0, -2_200_000.0, 1000, 185.0
    x = left + pixel * (np.arange(size) + 0.5)
    y = top - pixel * (np.arange(size) + 0.5)
    small = rng.random((3, 50, 50)).astype("float32")
    data = np.repeat(np.repeat(small, 20, axis=1), 20, axis=2)
    refl = xr.DataArray(
        data, dims=("band", "y", "x"), coords={"band": ["red", "green", "blue"], "y": y, "x": x}
    ).rio.write_crs("EPSG:32635")
    span = size * pixel
    cx = left + rng.random(n_targets) * span
    cy = top - rng.random(n_targets) * span
    radius = rng.uniform(60, 400, n_targets)
    targets = gpd.GeoDataFrame(
        {
            "rank": np.arange(1, n_targets + 1),
            "easting": cx,
            "northing": cy,
        },
        geometry=shapely.buffer(shapely.points(cx, cy), radius, quad_segs=4),
        crs="EPSG:32635",
    )
    # an occurrence on each of the best 10 targets' centres, the rest anywhere
    ox = np.concatenate([cx[:10], left + rng.random(n_occ - 10) * span])
    oy = np.concatenate([cy[:10], top - rng.random(n_occ - 10) * span])
    occurrences = gpd.GeoDataFrame(geometry=shapely.points(ox, oy), crs="EPSG:32635")
    lx, ly = np.meshgrid(left + np.arange(6) * 30_000, top - 30_000 - np.arange(6) * 30_000)
    licences = gpd.GeoDataFrame(
        {"licence_id": [f"PL {i:03d}/2017" for i in range(lx.size)]},
        geometry=shapely.box(lx.ravel(), ly.ravel(), lx.ravel() + 28_000, ly.ravel() + 28_000),
        crs="EPSG:32635",
    )
    ends = rng.random((20, 4)) * span
    faults = gpd.GeoDataFrame(
        geometry=shapely.linestrings(
            np.stack(
                [
                    np.column_stack([left + ends[:, 0], top - ends[:, 1]]),
                    np.column_stack([left + ends[:, 2], top - ends[:, 3]]),
                ],
                axis=1,
            )
        ),
        crs="EPSG:32635",
    )
    return refl, targets, occurrences, licences, faults


def test_full_scene_labels_fast_and_clear(tmp_path):
    refl, targets, occurrences, licences, faults = _full_scene()
    start = time.perf_counter()
    fig = render_quicklook(
        refl,
        targets=targets,
        licences=licences,
        structures=faults,
        occurrences=occurrences,
        label_top=30,
    )
    fig.savefig(tmp_path / "full.png", bbox_inches="tight")
    elapsed = time.perf_counter() - start
    ax = fig.axes[0]
    (layer,) = [a for a in ax.artists if isinstance(a, _LabelLayer)]
    renderer = fig.canvas.get_renderer()
    start = time.perf_counter()
    _place_labels(ax, renderer, layer)
    placing = time.perf_counter() - start
    print(f"render + save {elapsed:.2f} s, of it placing the labels {placing:.2f} s (x2)")
    assert placing < 1.0  # ~0.2 s alone: the labels are not the map's cost
    assert elapsed < 10  # the whole map on a loaded 2-core machine (~1.3 s alone)
    fig.canvas.draw()
    boxes = _boxes(fig)
    texts = [t for t, _ in boxes]
    assert set(map(str, range(1, 31))) <= set(texts)  # the best 30 all found a place
    assert len(texts) >= 30 + 30  # and most of the 36 licences
    assert _overlapping(boxes) == []
    stars = ax.transData.transform(
        np.column_stack([occurrences.geometry.x, occurrences.geometry.y])
    )
    assert _covered_points(boxes, stars) == []
    assert isinstance(boxes[0][1], Bbox)


def test_long_and_hostile_licence_ids_are_cut_and_drawn_as_text(tmp_path):
    refl, targets, occurrences, licences, _ = _full_scene(n_targets=5, n_occ=12)
    licences = licences.copy()
    licences.loc[0, "licence_id"] = "=cmd|' /C calc'!A0 $\\frac$ " + "x" * 5000
    licences.loc[1, "licence_id"] = "PL\x00\x1b 7"
    fig = render_quicklook(refl, targets=targets, licences=licences, occurrences=occurrences)
    fig.savefig(tmp_path / "hostile.png")  # a mathtext parse error would raise here
    texts = {t.get_text() for t in fig.axes[0].texts}
    long = [t for t in texts if t.startswith("=cmd")]
    assert long == ["=cmd|' /C calc'!A0 \\$\\frac\\$ " + "x" * 12 + "\u2026"]
    assert "PL\ufffd\ufffd 7" in texts
