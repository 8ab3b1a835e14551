"""Principal components for alteration mapping: Crosta / FPCS and directed PCA.

All functions are pure: xarray in, xarray out, no file I/O. Statistics come from one
chunk-wise pass over the scene (:func:`streaming_covariance`); the component images
stay lazy, so a full scene never sits in memory.

Methods (``../shared/DOMAIN.md`` §3):

- **Crosta technique / FPCS** (Crosta & Moore 1989; Loughlin 1991): PCA on four selected
  bands (:data:`CROSTA_SUBSETS`). The mineral component is the one whose loadings on the
  target's absorption band and its reflectance band have opposite signs; it is signed so
  that the target mineral is bright.
- **Directed PCA** (Fraser & Green 1987): a 2-input PCA on a mineral ratio and a
  vegetation ratio; the opposite-sign component holds the mineral signal with the shared
  vegetation signal removed.

Eigenvector signs out of a solver are arbitrary. :func:`fit_pca` fixes them (largest
absolute loading positive) only to make tables reproducible; the Crosta and directed-PCA
selections then apply their own sign rule, so the result never depends on the solver's sign.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

from geo._validation import select_bands
from geo.errors import GridMismatchError, InvalidParameterError

__all__ = [
    "CROSTA_SUBSETS",
    "MIN_PIXELS",
    "ComponentResult",
    "CrostaResult",
    "CrostaSubset",
    "PCAResult",
    "crosta",
    "crosta_composite",
    "directed_pca",
    "fit_pca",
    "streaming_covariance",
]

#: Fewest valid pixels a PCA is fitted on.
MIN_PIXELS = 100


@dataclass(frozen=True)
class CrostaSubset:
    """The four bands of one Crosta PCA and the two that drive component selection.

    Attributes
    ----------
    roles : tuple of str
        The four band roles the PCA runs on.
    absorption : str
        Role where the target mineral absorbs (its loading ends up negative).
    reflectance : str
        Role where the target mineral reflects (its loading ends up positive).
    status : str
        Evidence grade as in DOMAIN.md: ``"C"`` corroborated, ``"U"`` unverified.
    """

    roles: tuple[str, str, str, str]
    absorption: str
    reflectance: str
    status: str


# Landsat TM/ETM+: F = TM 1,3,4,5 and H = TM 1,4,5,7 (Loughlin 1991; Crosta & Moore 1989) [C];
# OLI: F = 2,4,5,6 and H = 2,5,6,7 [C]. Selection: F on TM1 (blue) vs TM3 (red), H on TM5
# (swir1) vs TM7 (swir2); sign rule: red (F) or swir1 (H) loading positive. DOMAIN.md §3.
_LANDSAT_F = CrostaSubset(("blue", "red", "nir", "swir1"), "blue", "red", "C")
_LANDSAT_H = CrostaSubset(("blue", "nir", "swir1", "swir2"), "swir2", "swir1", "C")

#: Crosta band subsets per sensor and target (``"iron_oxide"`` = F, ``"hydroxyl"`` = H).
#: Sentinel-2 uses the Landsat roles (B2, B4, B8, B11 / B2, B8, B11, B12) [U: same broad bands].
#: ASTER follows Crosta et al. (2003): the group's absorption band plus a reflectance shoulder
#: [U]; H targets the Al-OH group (kaolinite/alunite: absorption near 2.165–2.205 µm, shoulder
#: at 1.65 µm), F uses the VNIR iron-oxide slope plus one SWIR band.
CROSTA_SUBSETS: dict[str, dict[str, CrostaSubset]] = {
    "landsat_oli": {"iron_oxide": _LANDSAT_F, "hydroxyl": _LANDSAT_H},
    "landsat_tm": {"iron_oxide": _LANDSAT_F, "hydroxyl": _LANDSAT_H},
    "landsat_etm": {"iron_oxide": _LANDSAT_F, "hydroxyl": _LANDSAT_H},
    "sentinel2_msi": {
        "iron_oxide": CrostaSubset(_LANDSAT_F.roles, "blue", "red", "U"),
        "hydroxyl": CrostaSubset(_LANDSAT_H.roles, "swir2", "swir1", "U"),
    },
    "aster": {
        "iron_oxide": CrostaSubset(("green", "red", "nir", "swir1"), "green", "red", "U"),
        "hydroxyl": CrostaSubset(
            ("swir1", "swir2165", "swir2205", "swir2260"), "swir2165", "swir1", "U"
        ),
    },
}


@dataclass(frozen=True)
class PCAResult:
    """A fitted PCA of some band roles (recorded in the manifest).

    Attributes
    ----------
    roles : tuple of str
        Input roles, in the order of the eigenvector rows.
    mean, std : numpy.ndarray
        Per-role mean and standard deviation (ddof=1) over the fitting pixels.
    eigenvalues : numpy.ndarray
        Component variances, descending (in standardised units if ``standardized``).
    eigenvectors : numpy.ndarray
        ``(n_roles, n_components)``; column ``j`` holds the loadings of PC ``j + 1``.
    explained_variance_ratio : numpy.ndarray
        ``eigenvalues / eigenvalues.sum()``.
    n_pixels : int
        Number of pixels the statistics used.
    standardized : bool
        The PCA ran on the correlation matrix (inputs scaled by ``std``).
    """

    roles: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    explained_variance_ratio: np.ndarray
    n_pixels: int
    standardized: bool

    @property
    def components(self) -> list[str]:
        """Component labels ``["PC1", "PC2", ...]``."""
        return [f"PC{j + 1}" for j in range(len(self.eigenvalues))]

    def loadings_table(self) -> pd.DataFrame:
        """Return the loadings as a DataFrame, roles × ``PC1..PCn``.

        Examples
        --------
        >>> p = PCAResult(("a", "b"), np.zeros(2), np.ones(2), np.array([2.0, 1.0]),
        ...               np.eye(2), np.array([2 / 3, 1 / 3]), 100, False)
        >>> p.loadings_table()
           PC1  PC2
        a  1.0  0.0
        b  0.0  1.0
        """
        return pd.DataFrame(self.eigenvectors, index=list(self.roles), columns=self.components)


@dataclass(frozen=True)
class ComponentResult:
    """One signed principal component chosen from a PCA, and its image.

    Attributes
    ----------
    pca : PCAResult
        The fitted PCA (loadings as fitted, before ``sign``).
    component : int
        1-based number of the chosen component (4 means PC4).
    sign : int
        +1 or −1, applied to the component so that the target is bright.
    image : xarray.DataArray
        Lazy ``(y, x)`` float32 component scores ``sign · PCk``, on the input grid, NaN
        where any input band is NaN or the pixel is not valid.
    """

    pca: PCAResult
    component: int
    sign: int
    image: xr.DataArray

    @property
    def loadings(self) -> dict[str, float]:
        """Signed loadings of the chosen component, by role."""
        vec = self.sign * self.pca.eigenvectors[:, self.component - 1]
        return dict(zip(self.pca.roles, vec.tolist(), strict=True))

    def loadings_table(self) -> pd.DataFrame:
        """Return the PCA loadings table plus a ``selected`` column (the signed component)."""
        table = self.pca.loadings_table()
        table["selected"] = list(self.loadings.values())
        return table

    def zscore(self) -> xr.DataArray:
        """Return the image in units of its standard deviation over the fitting pixels (lazy).

        Component scores have mean 0 and variance equal to the eigenvalue over the pixels the
        PCA was fitted on, so this needs no further pass. A Crosta image is roughly symmetric:
        for robust thresholds pass ``image`` to
        :func:`geo.spectral.anomaly.fit_threshold` with ``log=False``.
        """
        scale = float(np.sqrt(self.pca.eigenvalues[self.component - 1]))
        out = self.image / (scale if scale > 0 else np.nan)
        return out.astype("float32").rename(f"{self.image.name}_z")


@dataclass(frozen=True)
class CrostaResult(ComponentResult):
    """A Crosta (FPCS) component: :class:`ComponentResult` plus the subset it used.

    Attributes
    ----------
    target : str
        ``"iron_oxide"`` (F) or ``"hydroxyl"`` (H).
    sensor : str
        Sensor key of :data:`CROSTA_SUBSETS`.
    subset : CrostaSubset
        Bands and selection roles used.
    """

    target: str
    sensor: str
    subset: CrostaSubset


# --------------------------------------------------------------------------------------------
# Kernels (numpy only)


def _chunk_moments(
    block: np.ndarray, valid: np.ndarray | None
) -> tuple[int, np.ndarray, np.ndarray]:
    """Count, mean and centred cross-product sums of the pixels valid in all bands.

    ``block`` is ``(k, ...)``; ``valid`` is a bool array of the trailing shape or None.
    """
    k = block.shape[0]
    x = block.reshape(k, -1).astype("float64")
    ok = np.isfinite(x).all(axis=0)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool).ravel()
    x = x[:, ok]
    n = x.shape[1]
    if n == 0:
        return 0, np.zeros(k), np.zeros((k, k))
    mean = x.mean(axis=1)
    d = x - mean[:, None]
    return n, mean, d @ d.T


def _combine_moments(
    parts: list[tuple[int, np.ndarray, np.ndarray]],
) -> tuple[int, np.ndarray, np.ndarray]:
    """Merge per-chunk moments (Chan, Golub & LeVeque 1979 pairwise update)."""
    n, mean, m2 = parts[0]
    for nb, mb, m2b in parts[1:]:
        if nb == 0:
            continue
        total = n + nb
        delta = mb - mean
        mean = mean + delta * (nb / total)
        m2 = m2 + m2b + np.outer(delta, delta) * (n * nb / total)
        n = total
    return n, mean, m2


def _eigen(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors of a symmetric matrix, largest |loading| > 0."""
    values, vectors = np.linalg.eigh(matrix)
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    big = vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])]
    return values, vectors * np.where(big < 0, -1.0, 1.0)


def _select_component(
    vectors: np.ndarray, roles: tuple[str, ...], absorption: str, reflectance: str
) -> tuple[int, int]:
    """Pick the Crosta component and its sign; return ``(0-based index, sign)``.

    Candidates are PC2 onwards (PC1 is the albedo component) whose ``absorption`` and
    ``reflectance`` loadings have opposite signs; the largest ``|difference|`` wins, and an
    exact tie goes to the higher-variance (lower-numbered) component. The sign makes the
    ``reflectance`` loading positive.
    """
    a, r = vectors[roles.index(absorption)], vectors[roles.index(reflectance)]
    opposite = (a * r) < 0
    opposite[0] = False
    if not opposite.any():
        table = ", ".join(
            f"PC{j + 1}: {absorption}={a[j]:+.3f} {reflectance}={r[j]:+.3f}" for j in range(len(a))
        )
        raise InvalidParameterError(
            f"No component after PC1 has opposite-sign loadings on {absorption!r} and "
            f"{reflectance!r} ({table}); the scene shows no usable contrast for this target. "
            "Check the valid mask (vegetation, water, cloud) or use a larger area."
        )
    score = np.where(opposite, np.abs(a - r), -np.inf)
    j = int(np.argmax(score))
    return j, (1 if r[j] > 0 else -1)


# --------------------------------------------------------------------------------------------
# Public API


def _select_roles(cube: xr.DataArray, roles: tuple[str, ...]) -> xr.DataArray:
    return select_bands(
        cube, roles, what="PCA", hint="Read the scene with those bands, or choose other roles."
    )


def _check_grid(a: xr.DataArray, b: xr.DataArray, names: tuple[str, str]) -> None:
    same = a.sizes["y"] == b.sizes["y"] and a.sizes["x"] == b.sizes["x"]
    if not same or not (np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)):
        raise GridMismatchError(
            f"{names[0]!r} and {names[1]!r} must share one pixel grid; got shape "
            f"{(a.sizes['y'], a.sizes['x'])} vs {(b.sizes['y'], b.sizes['x'])} or different "
            f"coordinates. Align them first with `b.rio.reproject_match(a)`."
        )


def streaming_covariance(
    cube: xr.DataArray, roles, valid: xr.DataArray | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean vector and covariance matrix of some bands, in one chunk-wise pass.

    Each dask chunk yields its pixel count, mean and centred sums of products (float64);
    the partial results are merged exactly with the pairwise update of Chan et al. (1979),
    so memory stays at one chunk per worker whatever the scene size.

    Parameters
    ----------
    cube : xarray.DataArray
        ``(band, y, x)`` with role names on ``band``; numpy or dask backed.
    roles : sequence of str
        Band roles to use, in order.
    valid : xarray.DataArray of bool, optional
        ``(y, x)`` pixels that may enter the statistics (mask and area of interest).

    Returns
    -------
    mean : numpy.ndarray
        ``(k,)`` float64 means over pixels finite in all ``roles`` and valid.
    cov : numpy.ndarray
        ``(k, k)`` float64 covariance (ddof=1, as ``np.cov``); NaN if fewer than 2 pixels.
    n : int
        Number of pixels used.

    Raises
    ------
    BandError
        A role is missing from ``cube`` or repeated.
    GridMismatchError
        ``valid`` is not on the grid of ``cube``.

    Examples
    --------
    >>> from geo.testing import make_raster
    >>> cube = make_raster([[[1, 2, 3, np.nan]], [[2, 4, 6, 1]]], bands=["red", "nir"])
    >>> mean, cov, n = streaming_covariance(cube, ["red", "nir"])
    >>> mean.tolist(), cov.tolist(), n
    ([2.0, 4.0], [[1.0, 2.0], [2.0, 4.0]], 3)
    """
    roles = tuple(roles)
    sel = _select_roles(cube, roles)
    data = sel.data if isinstance(sel.data, dsa.Array) else dsa.from_array(sel.data)
    data = data.rechunk({0: -1})
    blocks = data.to_delayed()[0]
    if valid is None:
        masks = np.full(blocks.shape, None, dtype=object)
    else:
        _check_grid(sel, valid, ("cube", "valid"))
        mask = valid.transpose("y", "x").data
        mask = mask if isinstance(mask, dsa.Array) else dsa.from_array(mask)
        masks = mask.astype(bool).rechunk(data.chunks[1:]).to_delayed()
    chunk = dask.delayed(_chunk_moments, pure=True)
    parts = dask.compute(*[chunk(b, m) for b, m in zip(blocks.ravel(), masks.ravel(), strict=True)])
    n, mean, m2 = _combine_moments(list(parts))
    if n == 0:
        mean = np.full(len(roles), np.nan)
    cov = m2 / (n - 1) if n > 1 else np.full((len(roles), len(roles)), np.nan)
    return mean, cov, int(n)


def fit_pca(
    cube: xr.DataArray,
    roles,
    *,
    valid: xr.DataArray | None = None,
    standardize: bool = False,
) -> PCAResult:
    """Fit a PCA of some band roles on the valid pixels.

    Parameters
    ----------
    cube : xarray.DataArray
        ``(band, y, x)`` with role names on ``band``.
    roles : sequence of str
        Band roles, in order (the rows of the eigenvectors).
    valid : xarray.DataArray of bool, optional
        ``(y, x)`` pixels that may enter the statistics.
    standardize : bool
        Use the correlation matrix instead of the covariance (inputs of different units).

    Returns
    -------
    PCAResult
        Eigenvectors signed so that each component's largest absolute loading is positive.

    Raises
    ------
    BandError
        A role is missing or repeated.
    InvalidParameterError
        Fewer than :data:`MIN_PIXELS` valid pixels, or a band with no spread when
        ``standardize`` is set.

    Examples
    --------
    >>> from geo.testing import make_raster
    >>> x = np.arange(200.0).reshape(1, 10, 20)
    >>> cube = make_raster(np.concatenate([x, 2 * x]), bands=["red", "nir"])
    >>> p = fit_pca(cube, ["red", "nir"])
    >>> p.explained_variance_ratio.round(6).tolist(), p.eigenvectors[:, 0].round(3).tolist()
    ([1.0, 0.0], [0.447, 0.894])
    """
    roles = tuple(roles)
    mean, cov, n = streaming_covariance(cube, roles, valid)
    if n < MIN_PIXELS:
        raise InvalidParameterError(
            f"Only {n} pixels are valid in all of {', '.join(roles)}; at least {MIN_PIXELS} are "
            "needed for a PCA. The scene may be almost entirely masked (cloud, water, "
            "vegetation) or outside the area of interest."
        )
    std = np.sqrt(np.diag(cov))
    matrix = cov
    if standardize:
        flat = [r for r, s in zip(roles, std, strict=True) if not s > 0]
        if flat:
            raise InvalidParameterError(
                f"Band(s) {', '.join(flat)} have no spread over the valid pixels, so they "
                "cannot be standardised. Drop them or use standardize=False."
            )
        matrix = cov / np.outer(std, std)
    values, vectors = _eigen(matrix)
    values = np.clip(values, 0.0, None)
    total = values.sum()
    ratio = values / total if total > 0 else np.full_like(values, np.nan)
    return PCAResult(roles, mean, std, values, vectors, ratio, n, standardize)


def _component_image(
    sel: xr.DataArray, pca: PCAResult, j: int, sign: int, valid, name: str
) -> xr.DataArray:
    weights = sign * pca.eigenvectors[:, j]
    if pca.standardized:
        weights = weights / pca.std
    offset = float(weights @ pca.mean)
    w = xr.DataArray(weights, dims="band", coords={"band": list(pca.roles)})
    out = (sel.astype("float64") * w).sum("band", skipna=False) - offset
    if valid is not None:
        out = out.where(valid)
    out = out.where(np.isfinite(out)).astype("float32").rename(name)
    out.attrs = {k: v for k, v in sel.attrs.items() if k in ("sensor", "scene_id", "date")}
    return out.rio.write_nodata(np.nan, encoded=False)


def crosta(
    cube: xr.DataArray,
    target: str,
    *,
    sensor: str | None = None,
    valid: xr.DataArray | None = None,
) -> CrostaResult:
    """Crosta feature-oriented PCA (FPCS) for iron oxide (F) or hydroxyl (H).

    Runs a covariance PCA on the target's 4-band subset (:data:`CROSTA_SUBSETS`), picks the
    component whose loadings on the absorption and reflectance roles have opposite signs and
    the largest absolute difference (never PC1; an exact tie goes to the lower-numbered
    component), and signs it so that the target is bright: the reflectance loading (red for F,
    swir1 for H) is made positive, per the DOMAIN.md §3 sign rule.

    Parameters
    ----------
    cube : xarray.DataArray
        ``(band, y, x)`` surface reflectance with role names on ``band``.
    target : {"iron_oxide", "hydroxyl"}
        F or H image.
    sensor : str, optional
        Key of :data:`CROSTA_SUBSETS`; defaults to ``cube.attrs["sensor"]``.
    valid : xarray.DataArray of bool, optional
        ``(y, x)`` pixels for the statistics and the output (NaN elsewhere).

    Returns
    -------
    CrostaResult
        ``image`` is a lazy ``(y, x)`` float32 DataArray named ``crosta_<target>`` on the
        input grid (CRS and transform kept), NaN where an input band is NaN or not valid.

    Raises
    ------
    InvalidParameterError
        Unknown sensor or target, too few valid pixels, or no component qualifies (the
        message lists the loadings).
    BandError
        The cube lacks one of the subset's roles.
    """
    sensor = sensor or cube.attrs.get("sensor")
    if sensor not in CROSTA_SUBSETS:
        raise InvalidParameterError(
            f"The 'sensor' for a Crosta PCA must be one of {', '.join(CROSTA_SUBSETS)}; got "
            f"{sensor!r}. Pass sensor= or set cube.attrs['sensor']."
        )
    subsets = CROSTA_SUBSETS[sensor]
    if target not in subsets:
        raise InvalidParameterError(
            f"The 'target' of a Crosta PCA must be one of {', '.join(subsets)}; got {target!r}."
        )
    subset = subsets[target]
    sel = _select_roles(cube, subset.roles)
    pca = fit_pca(cube, subset.roles, valid=valid)
    j, sign = _select_component(
        pca.eigenvectors, subset.roles, subset.absorption, subset.reflectance
    )
    image = _component_image(sel, pca, j, sign, valid, f"crosta_{target}")
    image.attrs.update(crosta_target=target, component=f"PC{j + 1}", sign=sign)
    return CrostaResult(pca, j + 1, sign, image, target=target, sensor=sensor, subset=subset)


def crosta_composite(h: ComponentResult, f: ComponentResult) -> xr.DataArray:
    """Build the H / H+F / F quicklook composite (R = H, G = H + F, B = F).

    Each image is first standardised (:meth:`ComponentResult.zscore`); bright red shows
    anomalous hydroxyl, bright blue iron oxide, and bright green or white both.

    Parameters
    ----------
    h, f : ComponentResult
        Hydroxyl and iron-oxide Crosta results on the same grid.

    Returns
    -------
    xarray.DataArray
        Lazy ``(band, y, x)`` float32 with ``band = ["H", "H+F", "F"]``; NaN where either
        input is NaN.

    Raises
    ------
    GridMismatchError
        The two images are not on one grid.
    """
    _check_grid(h.image, f.image, ("h", "f"))
    zh, zf = h.zscore(), f.zscore()
    out = xr.concat([zh, zh + zf, zf], dim="band", coords="minimal", compat="override")
    out = out.assign_coords(band=["H", "H+F", "F"]).astype("float32").rename("crosta_composite")
    return out.rio.write_nodata(np.nan, encoded=False)


def directed_pca(
    ratio_a: xr.DataArray,
    ratio_b: xr.DataArray,
    *,
    valid: xr.DataArray | None = None,
    standardize: bool = True,
) -> ComponentResult:
    """Directed PCA (Fraser & Green 1987) of a mineral ratio and a vegetation ratio.

    A 2-input PCA; the component whose two loadings have opposite signs holds the mineral
    signal with the vegetation signal both ratios share removed. It is signed so that the
    mineral ratio loads positively (mineral-rich pixels bright).

    Parameters
    ----------
    ratio_a : xarray.DataArray
        ``(y, x)`` mineral ratio (e.g. OLI swir1/swir2 for clays).
    ratio_b : xarray.DataArray
        ``(y, x)`` vegetation ratio on the same grid (e.g. nir/red).
    valid : xarray.DataArray of bool, optional
        ``(y, x)`` pixels for the statistics and the output.
    standardize : bool
        PCA on the correlation matrix (default: the two ratios have different spreads).

    Returns
    -------
    ComponentResult
        PCA roles ``("mineral", "vegetation")``; ``image`` named ``directed_pca``.

    Raises
    ------
    GridMismatchError
        The ratios are not on one grid.
    InvalidParameterError
        Too few valid pixels, or neither component has opposite-sign loadings (the two
        ratios are uncorrelated).
    """
    _check_grid(ratio_a, ratio_b, ("ratio_a", "ratio_b"))
    roles = ("mineral", "vegetation")
    cube = xr.concat([ratio_a, ratio_b], dim="band", coords="minimal", compat="override")
    cube = cube.assign_coords(band=list(roles))
    pca = fit_pca(cube, roles, valid=valid, standardize=standardize)
    vec = pca.eigenvectors
    opposite = np.flatnonzero(vec[0] * vec[1] < 0)
    if opposite.size == 0:
        raise InvalidParameterError(
            f"No directed-PCA component has opposite-sign loadings (mineral {vec[0].round(3)}, "
            f"vegetation {vec[1].round(3)}); the two ratios are uncorrelated, so there is no "
            "shared vegetation signal to remove. Use the mineral ratio directly."
        )
    j = int(opposite[0])
    sign = 1 if vec[0, j] > 0 else -1
    image = _component_image(cube, pca, j, sign, valid, "directed_pca")
    image.attrs.update(component=f"PC{j + 1}", sign=sign)
    return ComponentResult(pca, j + 1, sign, image)
