"""Detection scores of an anomaly map against known ground truth (planted or mapped polygons)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import xarray as xr
from rasterio import features

from geo.errors import CRSError

__all__ = ["detection_scores", "polygon_mask"]


def polygon_mask(truth: gpd.GeoDataFrame, template: xr.DataArray) -> np.ndarray:
    """Rasterise polygons (truth, an area of interest) onto ``template``'s grid (centres inside).

    Raises
    ------
    CRSError
        The polygons are not in the template's CRS.
    """
    if truth.crs is None or truth.crs != template.rio.crs:
        raise CRSError(
            f"truth polygons are in {truth.crs}, the raster in {template.rio.crs}; reproject the "
            "polygons first (GeoDataFrame.to_crs)."
        )
    shape = template.shape[-2:]
    if truth.empty:
        return np.zeros(shape, dtype=bool)
    burned = features.rasterize(
        ((g, 1) for g in truth.geometry),
        out_shape=shape,
        transform=template.rio.transform(),
        fill=0,
        dtype="uint8",
    )
    return burned.astype(bool)


def detection_scores(
    predicted: xr.DataArray, truth: gpd.GeoDataFrame, *, valid: xr.DataArray | None = None
) -> dict[str, float | int]:
    """Pixel-wise precision, recall and F1 of a boolean map against truth polygons.

    Only pixels where ``valid`` is True are scored (masked pixels can be neither right nor
    wrong). Precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic mean.

    Examples
    --------
    >>> from shapely.geometry import box
    >>> from geo.testing import make_raster
    >>> pred = make_raster([[1, 1, 0, 0]]) > 0
    >>> truth = gpd.GeoDataFrame(geometry=[box(500_030, -2_380_030, 500_090, -2_380_000)],
    ...                          crs="EPSG:32635")
    >>> s = detection_scores(pred, truth)
    >>> s["tp"], s["fp"], s["fn"], s["precision"], s["recall"]
    (1, 1, 1, 0.5, 0.5)
    """
    truth_px = polygon_mask(truth, predicted)
    pred_px = np.asarray(predicted.values, dtype=bool)
    keep = np.ones_like(pred_px) if valid is None else np.asarray(valid.values, dtype=bool)
    tp = int((pred_px & truth_px & keep).sum())
    fp = int((pred_px & ~truth_px & keep).sum())
    fn = int((~pred_px & truth_px & keep).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }
