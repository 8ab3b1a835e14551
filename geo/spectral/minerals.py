"""Mineral identification from imaging-spectrometer reflectance by feature fitting.

The approach follows USGS Tetracorder (Clark et al. 2003, J. Geophys. Res. 108(E12), 5131,
doi:10.1029/2002JE001847) and the EMIT L2B mineral product built on it (Green et al. 2023,
EMIT L2B Algorithm Theoretical Basis Document, NASA JPL): every pixel is compared with each
library spectrum *in that mineral's diagnostic wavelength windows only*, after continuum
removal, so brightness, slope and other minerals' features outside the windows do not matter.

For a candidate record ``r`` with windows ``W_r`` (nm):

1. the library (:data:`LIBRARY_FILE`, USGS splib06/splib07 at 2 nm, see
   ``scripts/derive_hyperspectral_library.py``) is convolved to the product's own band centres
   and FWHM (:func:`geo.spectral.resample.convolve_to_bands`);
2. in each window, pixel and reference are continuum removed (upper convex hull,
   :mod:`geo.spectral.continuum`) over the product's good bands, and the windows' absorption
   values ``1 - CR`` are concatenated into one vector per spectrum;
3. the pixel vector ``o`` is fitted by least squares as ``o ≈ a + b·f`` on the reference vector
   ``f``: the **fit** is the correlation coefficient of that regression (1 = same shape;
   Tetracorder's fit is likewise a least-squares shape match), and the **depth** is
   ``b·D_r``, the reference's band depth in its first (diagnostic) window scaled by ``b``;
4. the pixel takes the candidate with the highest fit in its group, and is "none" (code 0)
   when that fit is below ``fit_floor`` (default :data:`FIT_FLOOR`) or the depth below
   ``depth_floor`` (default :data:`DEPTH_FLOOR`), or ``b <= 0``.

Windows include bands where a look-alike absorbs and the candidate does not (kaolinite and
white mica carry the alunite 1.76 µm window): a pixel's extra absorption there lowers the fit,
which is Tetracorder's "not feature" idea in least-squares form. Because the fit is a shape
correlation, a mineral diluted by a spectrally flat material (quartz, feldspar) keeps its fit
and loses depth.

Two groups are mapped, as in the EMIT L2B product (DOMAIN.md §7):

- ``"vnir"`` (~1 µm Fe³⁺ crystal-field band, 0.70-1.30 µm window): hematite (~0.86-0.90),
  jarosite (~0.92), goethite (~0.93-0.95), told apart by the position and width of that band
  (and green vegetation, with its visible window, to keep plants out of the iron map). The
  visible charge-transfer edge is left out on purpose: its continuum-removed shape changes
  with dilution by bright material and made mixtures fail;
- ``"swir"`` (~2 µm vibrational features): kaolinite, alunite, pyrophyllite, white mica
  (muscovite/sericite and illite: their 1.9 µm water difference lies in the atmospheric
  water band, so space-borne data cannot split them; EMIT groups "illite+muscovite" too),
  montmorillonite, jarosite, chlorite, epidote, calcite, dolomite (and dry vegetation,
  whose cellulose/lignin features otherwise pass for clays).

Codes are fixed for every scene (:func:`mineral_legend`): 0 = none, 255 = masked (a NaN band
used by the group, or the caller's mask), so maps from different granules share one legend.

Floors: the defaults (fit 0.90, depth 0.04) keep a flat spectrum with noise at "none" at the
signal-to-noise ratios of EMIT/EnMAP/PRISMA (no false mineral in 4000 flat spectra of
reflectance 0.4 at SNR 100 in the SWIR and 200 in the VNIR; at a depth floor of 0.03 about 1 in
1000 became jarosite, whose 2.26 µm window holds only 7-10 bands), while every library
mineral, alone or diluted to 60 % by a flat material, is still named; both are checked in
``tests/spectral/test_minerals.py``. Spectra of the same mineral from other samples can fit
below 0.90 (the library's two hematites correlate at ~0.75-0.85 over the Fe³⁺ band, its two
montmorillonites and some micas are as different): lower ``fit_floor`` to map more, at the cost
of more look-alike confusion.

Alteration assemblages (:data:`ASSEMBLAGES`) name the zones a geologist reads in porphyry and
epithermal systems (Lowell & Guilbert 1970, Econ. Geol. 65, 373-408; Sillitoe 2010, Econ. Geol.
105, 3-41; Pour & Hashim 2012, Ore Geol. Rev. 44, 1-9; Clark et al. 2003 for the mineral
groups): advanced argillic (alunite, pyrophyllite), argillic (kaolinite, montmorillonite),
phyllic (white mica), propylitic (chlorite, epidote), carbonate (calcite, dolomite) and
ferric iron (hematite, goethite, jarosite).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from geo.errors import GridMismatchError, InvalidParameterError
from geo.spectral.continuum import (
    continuum_removed,
    in_batches,
    increasing_bands,
    spectral_axis,
)
from geo.spectral.resample import convolve_to_bands

__all__ = [
    "ASSEMBLAGES",
    "ASSEMBLAGE_CLASSES",
    "DEPTH_FLOOR",
    "FIT_FLOOR",
    "GROUP_MINERALS",
    "LIBRARY_FILE",
    "MASKED",
    "NONE",
    "MineralMatcher",
    "assemblage_legend",
    "assemblage_map",
    "identify_minerals",
    "library_at_bands",
    "load_hyperspectral_library",
    "mineral_legend",
    "white_mica_position",
]

LIBRARY_FILE = "library_usgs_hyperspectral.csv"
RECORDS_FILE = "library_usgs_hyperspectral_records.csv"
#: Default minimum fit (correlation of the continuum-removed shapes) for a mineral to be named.
FIT_FLOOR = 0.90
#: Default minimum band depth (first diagnostic window, continuum removed) to name a mineral.
DEPTH_FLOOR = 0.04
NONE = 0
MASKED = 255

# Diagnostic windows (nm). Positions from DOMAIN.md §7 and the library itself (see the module
# docstring): Al-OH 2.16-2.22, alunite 1.76 and 2.32, Fe-OH 2.25-2.27, Mg-OH/CO3 2.30-2.35,
# white-mica 2.35/2.44, Fe3+ 0.85-0.95 with the visible charge-transfer edge below 0.75.
_ALOH = (2120.0, 2250.0)
_ALUN = (1720.0, 1800.0)
_ALUN_232 = (2280.0, 2360.0)
_MICA_235 = (2300.0, 2420.0)
_FEOH = (2225.0, 2295.0)
_MGOH_CO3 = (2200.0, 2420.0)
_CELLULOSE = (2020.0, 2220.0)
_FE3 = (700.0, 1300.0)
_VIS = (420.0, 780.0)

#: Minerals of each group in code order (code = position + 1), with their windows; the first
#: window is the diagnostic one whose depth is reported.
GROUP_MINERALS: dict[str, dict[str, tuple[tuple[float, float], ...]]] = {
    "vnir": {
        "hematite": (_FE3,),
        "goethite": (_FE3,),
        "jarosite": (_FE3,),
        "green_vegetation": (_VIS, _FE3),
    },
    "swir": {
        "kaolinite": (_ALOH, _ALUN),
        "alunite": (_ALOH, _ALUN, _ALUN_232),
        "pyrophyllite": (_ALOH, _ALUN_232),
        "white_mica": (_ALOH, _MICA_235, _ALUN),
        "montmorillonite": (_ALOH, _MICA_235, _ALUN),
        "jarosite": (_FEOH,),
        "chlorite": (_MGOH_CO3,),
        "epidote": (_MGOH_CO3,),
        "calcite": (_MGOH_CO3,),
        "dolomite": (_MGOH_CO3,),
        "dry_vegetation": (_CELLULOSE, _MGOH_CO3),
    },
}
#: Library minerals that map to another class of a group (illite is a white mica here).
_ALIASES = {"illite": "white_mica"}

#: Alteration assemblage of each mapped mineral (see the module docstring for references).
#: A pixel carries one best mineral, so kaolinite alone reads argillic; kaolinite beside
#: alunite or pyrophyllite (advanced argillic) is a zone-level reading, not a pixel one.
#: ``illite`` is listed for completeness: the maps fold illite records into white mica.
ASSEMBLAGES: dict[str, str] = {
    "alunite": "advanced_argillic",
    "pyrophyllite": "advanced_argillic",
    "kaolinite": "argillic",
    "montmorillonite": "argillic",
    "illite": "argillic",
    "white_mica": "phyllic",
    "chlorite": "propylitic",
    "epidote": "propylitic",
    "calcite": "carbonate",
    "dolomite": "carbonate",
    "hematite": "ferric_iron",
    "goethite": "ferric_iron",
    "jarosite": "ferric_iron",
}
#: Assemblage classes in code order (code = position + 1; 0 none, 255 masked).
ASSEMBLAGE_CLASSES: tuple[str, ...] = (
    "advanced_argillic",
    "argillic",
    "phyllic",
    "propylitic",
    "carbonate",
    "ferric_iron",
)


@functools.cache
def _read_tables() -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    base = resources.files("geo") / "data"
    with (base / LIBRARY_FILE).open(encoding="utf-8") as stream:
        spectra = pd.read_csv(stream, comment="#")
    with (base / RECORDS_FILE).open(encoding="utf-8") as stream:
        records = pd.read_csv(stream, comment="#", keep_default_na=False)
    wavelength = spectra.pop("wavelength_nm").to_numpy(dtype="float64")
    return wavelength, spectra, records


def load_hyperspectral_library() -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Return the packaged USGS library at 2 nm.

    Returns
    -------
    wavelength : numpy.ndarray
        ``(n,)`` nm, 400-2500 every 2 nm.
    spectra : pandas.DataFrame
        One float column per record key (reflectance 0-1, NaN outside a record's range).
    records : pandas.DataFrame
        Columns ``key, mineral, sam_group, record, library, range_nm, note``.

    Examples
    --------
    >>> wl, spectra, records = load_hyperspectral_library()
    >>> float(wl[0]), float(wl[-1]), "kaolinite_cm9" in spectra
    (400.0, 2500.0, True)
    """
    wavelength, spectra, records = _read_tables()
    return wavelength.copy(), spectra.copy(), records.copy()


def library_at_bands(wavelength, fwhm, band_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Return the packaged library convolved to a product's band centres and FWHM.

    Parameters
    ----------
    wavelength, fwhm : array_like
        ``(B,)`` band centres and FWHM in nm (from the product).
    band_names : sequence of str, optional
        Column names of the bands (e.g. the cube's ``band`` coordinate ``"b001"``...);
        defaults to ``"b001"``, ``"b002"``...

    Returns
    -------
    pandas.DataFrame
        Shaped like :func:`geo.spectral.sam.load_library`: ``name`` (record key), ``group``
        (SAM group), ``record``, ``library``, then one column per band (NaN where the record
        does not cover the band, e.g. SWIR-only records in the VNIR).
    """
    wavelength = np.asarray(wavelength, dtype="float64")
    names = (
        [f"b{i + 1:03d}" for i in range(wavelength.size)]
        if band_names is None
        else [str(b) for b in band_names]
    )
    if len(names) != wavelength.size:
        raise InvalidParameterError(
            f"The 'band_names' parameter must name {wavelength.size} bands; got {len(names)}."
        )
    src, spectra, records = _read_tables()
    values = convolve_to_bands(src, spectra.to_numpy(dtype="float64").T, wavelength, fwhm)
    table = pd.DataFrame(values, columns=names)
    labels = pd.DataFrame(
        {
            "name": records["key"],
            "group": records["sam_group"],
            "record": records["record"],
            "library": records["library"],
        }
    )
    return pd.concat([labels, table], axis=1)


def mineral_legend(group: str) -> pd.DataFrame:
    """Code table of a group's mineral map.

    Parameters
    ----------
    group : {"swir", "vnir"}

    Returns
    -------
    pandas.DataFrame
        Columns ``code`` (int), ``mineral`` and ``group`` (the alteration assemblage of
        :data:`ASSEMBLAGES`, ``"none"`` for vegetation), with 0 = ``none`` first and
        255 = ``masked`` last.

    Examples
    --------
    >>> mineral_legend("vnir")["mineral"].tolist()
    ['none', 'hematite', 'goethite', 'jarosite', 'green_vegetation', 'masked']
    """
    minerals = _group_minerals(group)
    rows = [(NONE, "none", "none")]
    rows += [(i + 1, m, ASSEMBLAGES.get(m, "none")) for i, m in enumerate(minerals)]
    rows.append((MASKED, "masked", "none"))
    return pd.DataFrame(rows, columns=["code", "mineral", "group"])


def _group_minerals(group: str) -> list[str]:
    if group not in GROUP_MINERALS:
        raise InvalidParameterError(
            f"The 'group' parameter must be one of {', '.join(GROUP_MINERALS)}; got {group!r}."
        )
    return list(GROUP_MINERALS[group])


def _in_window(wavelength: np.ndarray, good: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    return np.flatnonzero(good & (wavelength >= window[0]) & (wavelength <= window[1]))


@dataclass
class MineralMatcher:
    """Feature-fitting identifier of one group at one product's bands.

    Build once per band set (it convolves the library), then call :meth:`match` on pixel
    spectra. Library records that do not cover a window at these bands are left out and listed
    in ``dropped``.

    Parameters
    ----------
    wavelength, fwhm : array_like
        ``(B,)`` band centres and FWHM in nm, as in the product.
    good : array_like of bool, optional
        ``(B,)`` good-band flags (False = bad / water-vapour band, never used). Detector
        overlap bands are used once (:func:`geo.spectral.continuum.increasing_bands`).
    group : {"swir", "vnir"}
        Mineral group to identify.
    exclude : sequence of str, optional
        Record keys to leave out of the candidates (e.g. for hold-out tests).

    Attributes
    ----------
    minerals : list of str
        The group's minerals in code order.
    candidates : list of str
        Record keys used, in the order of the internal reference stack.
    dropped : dict of str to str
        Record keys left out and why.
    bands_used : numpy.ndarray
        Indices of the bands that enter any window.

    Examples
    --------
    Kaolinite CM9 at EMIT-like bands is kaolinite (code 1 of the SWIR group):

    >>> from geo.spectral.resample import band_set
    >>> bs = band_set("emit")
    >>> m = MineralMatcher(bs.wavelength, bs.fwhm, bs.good, group="swir")
    >>> lib = library_at_bands(bs.wavelength, bs.fwhm).set_index("name")
    >>> code, fit, depth = m.match(lib.loc["kaolinite_cm9"].iloc[3:].to_numpy(float))
    >>> m.minerals[int(code) - 1], round(float(fit), 3)
    ('kaolinite', 1.0)
    """

    wavelength: np.ndarray
    fwhm: np.ndarray
    good: np.ndarray | None = None
    group: str = "swir"
    exclude: Sequence[str] = ()
    minerals: list[str] = field(init=False)
    candidates: list[str] = field(init=False)
    dropped: dict[str, str] = field(init=False)
    bands_used: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.wavelength = np.asarray(self.wavelength, dtype="float64")
        self.fwhm = np.asarray(self.fwhm, dtype="float64")
        if self.wavelength.ndim != 1 or self.wavelength.shape != self.fwhm.shape:
            raise InvalidParameterError(
                "The 'wavelength' and 'fwhm' parameters must be 1-D with one value per band; got "
                f"shapes {self.wavelength.shape} and {self.fwhm.shape}."
            )
        good = (
            np.ones(self.wavelength.size, dtype=bool)
            if self.good is None
            else np.asarray(self.good, dtype=bool)
        )
        if good.shape != self.wavelength.shape:
            raise InvalidParameterError(
                f"The 'good' parameter must hold {self.wavelength.size} flags; got {good.size}."
            )
        self.good = increasing_bands(self.wavelength, good)
        self.minerals = _group_minerals(self.group)
        src, spectra, records = _read_tables()
        references = convolve_to_bands(
            src, spectra.to_numpy(dtype="float64").T, self.wavelength, self.fwhm
        )
        windows = GROUP_MINERALS[self.group]
        self._windows: list[np.ndarray] = []
        window_key: dict[tuple[float, float], int] = {}
        for mineral in self.minerals:
            for window in windows[mineral]:
                if window not in window_key:
                    window_key[window] = len(self._windows)
                    self._windows.append(_in_window(self.wavelength, self.good, window))
        self.candidates, self.dropped = [], {}
        self._codes: list[int] = []
        self._ref_windows: list[list[int]] = []
        self._ref_vectors: list[np.ndarray] = []
        self._ref_depth: list[float] = []
        excluded = set(self.exclude)
        for key, mineral in zip(records["key"], records["mineral"], strict=True):
            mineral = _ALIASES.get(mineral, mineral)
            if mineral not in windows or key in excluded:
                continue
            ids = [window_key[w] for w in windows[mineral]]
            short = [
                w for w, i in zip(windows[mineral], ids, strict=True) if self._windows[i].size < 3
            ]
            if short:
                raise InvalidParameterError(
                    f"The product has fewer than 3 good bands in the {short[0][0]:g}-"
                    f"{short[0][1]:g} nm window needed for {mineral}; it cannot map the "
                    f"{self.group} group."
                )
            reference = references[spectra.columns.get_loc(key)]
            pieces = [reference[self._windows[i]] for i in ids]
            if not all(np.all(np.isfinite(p)) for p in pieces):
                self.dropped[key] = "does not cover its windows at these bands"
                continue
            absorption = [
                1.0 - continuum_removed(self.wavelength[self._windows[i]], p)
                for i, p in zip(ids, pieces, strict=True)
            ]
            self.candidates.append(key)
            self._codes.append(self.minerals.index(mineral) + 1)
            self._ref_windows.append(ids)
            self._ref_vectors.append(np.concatenate(absorption))
            self._ref_depth.append(float(np.max(absorption[0])))
        if not self.candidates:
            raise InvalidParameterError(
                f"No library record covers the {self.group} windows at these bands."
            )
        used = [self._windows[i] for ids in self._ref_windows for i in ids]
        self.bands_used = np.unique(np.concatenate(used))

    def match(
        self,
        pixels,
        *,
        fit_floor: float = FIT_FLOOR,
        depth_floor: float = DEPTH_FLOOR,
        return_record: bool = False,
    ):
        """Best mineral of each pixel spectrum.

        Parameters
        ----------
        pixels : array_like
            ``(..., B)`` reflectance at the matcher's bands.
        fit_floor, depth_floor : float
            Below either, the pixel is "none" (code 0).
        return_record : bool
            Also return the index (into :attr:`candidates`) of the best record.

        Returns
        -------
        code : numpy.ndarray
            ``(...)`` uint8 code (see :func:`mineral_legend`): 0 none, 255 masked (a NaN in a
            used band).
        fit, depth : numpy.ndarray
            ``(...)`` float32 fit and depth of the best candidate (NaN where masked; reported
            also where the pixel stays "none", for inspection).
        record : numpy.ndarray
            Only with ``return_record``: ``(...)`` int, -1 where masked.
        """
        if not 0 <= fit_floor <= 1 or not 0 <= depth_floor < 1:
            raise InvalidParameterError(
                "The 'fit_floor' parameter must be in [0, 1] and 'depth_floor' in [0, 1); got "
                f"{fit_floor!r} and {depth_floor!r}."
            )
        values = np.asarray(pixels, dtype="float64")
        if values.shape[-1] != self.wavelength.size:
            raise InvalidParameterError(
                f"The pixels must have {self.wavelength.size} bands on their last axis; got "
                f"shape {values.shape}."
            )
        shape = values.shape[:-1]
        flat = values.reshape(-1, values.shape[-1])
        masked = ~np.all(np.isfinite(flat[:, self.bands_used]), axis=1)
        flat = np.where(masked[:, None], 1.0, flat)
        absorption = [
            1.0 - continuum_removed(self.wavelength[idx], flat[:, idx]) for idx in self._windows
        ]
        n_pix, n_ref = flat.shape[0], len(self.candidates)
        fits = np.full((n_pix, n_ref), -np.inf)
        depths = np.zeros((n_pix, n_ref))
        for j, (ids, ref) in enumerate(zip(self._ref_windows, self._ref_vectors, strict=True)):
            obs = np.concatenate([absorption[i] for i in ids], axis=1)
            obs_c = obs - obs.mean(axis=1, keepdims=True)
            ref_c = ref - ref.mean()
            ref_ss = float(ref_c @ ref_c)
            cross = obs_c @ ref_c
            obs_ss = np.einsum("ij,ij->i", obs_c, obs_c)
            with np.errstate(divide="ignore", invalid="ignore"):
                fit = cross / np.sqrt(obs_ss * ref_ss)
                slope = cross / ref_ss
            fit = np.where(np.isfinite(fit) & (slope > 0), fit, -np.inf)
            fits[:, j] = fit
            depths[:, j] = slope * self._ref_depth[j]
        best = np.argmax(fits, axis=1)
        rows = np.arange(n_pix)
        best_fit = fits[rows, best]
        best_depth = depths[rows, best]
        named = (best_fit >= fit_floor) & (best_depth >= depth_floor)
        codes = np.asarray(self._codes)[best]
        code = np.where(masked, MASKED, np.where(named, codes, NONE)).astype("uint8")
        fit_out = np.where(masked, np.nan, np.where(np.isfinite(best_fit), best_fit, 0.0))
        depth_out = np.where(masked, np.nan, np.where(np.isfinite(best_fit), best_depth, 0.0))
        result = (
            code.reshape(shape),
            fit_out.astype("float32").reshape(shape),
            depth_out.astype("float32").reshape(shape),
        )
        if return_record:
            return (*result, np.where(masked, -1, best).reshape(shape))
        return result


def identify_minerals(
    spectra: xr.DataArray,
    group: str,
    *,
    fit_floor: float = FIT_FLOOR,
    depth_floor: float = DEPTH_FLOOR,
    mask: xr.DataArray | None = None,
) -> xr.Dataset:
    """Map the best mineral of one group in every pixel of a spectra cube.

    Parameters
    ----------
    spectra : xarray.DataArray
        ``(band, y, x)`` reflectance with ``wavelength`` and ``fwhm`` (nm) and optionally
        ``good`` coordinates on ``band`` (the hyperspectral readers' ``Scene.spectra``); numpy
        or dask backed, all bands in one chunk.
    group : {"swir", "vnir"}
        Mineral group.
    fit_floor, depth_floor : float
        Floors below which a pixel is "none" (defaults :data:`FIT_FLOOR`, :data:`DEPTH_FLOOR`).
    mask : xarray.DataArray of bool, optional
        ``(y, x)`` True where pixels are excluded (clouds, water, vegetation...): code 255.

    Returns
    -------
    xarray.Dataset
        On the cube's grid, lazy if dask backed: ``mineral`` uint8 code (0 none, 255 masked,
        ``attrs["legend"]`` = :func:`mineral_legend` records, ``attrs["codes"]`` code -> name),
        ``fit`` and ``depth`` float32 of the best candidate (NaN where masked).

    Raises
    ------
    BandError
        No ``wavelength``/``fwhm`` coordinate or unsorted wavelengths.
    InvalidParameterError
        Unknown group, floors out of range, wrong dims, or a product lacking the windows.
    GridMismatchError
        ``mask`` is not on the cube's grid.
    """
    if spectra.dims != ("band", "y", "x"):
        raise InvalidParameterError(
            f"The spectra cube must have dims ('band', 'y', 'x'); got {spectra.dims}."
        )
    wavelength, good = spectral_axis(spectra)
    if "fwhm" not in spectra.coords:
        raise InvalidParameterError(
            "The spectra cube needs an 'fwhm' coordinate on 'band' (nm) to convolve the library."
        )
    fwhm = np.asarray(spectra["fwhm"].values, dtype="float64")
    fwhm = np.where(np.isfinite(fwhm) & (fwhm > 0), fwhm, 1.0)
    matcher = MineralMatcher(wavelength, fwhm, good, group=group)
    cube = spectra.chunk({"band": -1}) if spectra.chunks else spectra
    # NaN in bands the group does not use must not mask a pixel: fill them with 1
    unused = np.ones(wavelength.size, dtype=bool)
    unused[matcher.bands_used] = False

    def batch(pixels: np.ndarray) -> np.ndarray:
        pixels = np.where(unused, 1.0, pixels)
        code, fit, depth = matcher.match(pixels, fit_floor=fit_floor, depth_floor=depth_floor)
        return np.stack([code.astype("float32"), fit, depth], axis=-1)

    def kernel(block: np.ndarray) -> np.ndarray:
        return in_batches(batch, block, 3)  # bounded temporaries whatever the chunk size

    stacked = xr.apply_ufunc(
        kernel,
        cube,
        input_core_dims=[["band"]],
        output_core_dims=[["out"]],
        dask="parallelized",
        output_dtypes=["float32"],
        dask_gufunc_kwargs={"output_sizes": {"out": 3}},
    )
    stacked = stacked.drop_vars([c for c in stacked.coords if "band" in stacked[c].dims])
    code = stacked.isel(out=0, drop=True).astype("uint8")
    fit = stacked.isel(out=1, drop=True)
    depth = stacked.isel(out=2, drop=True)
    if mask is not None:
        if mask.shape != code.shape or not (
            np.array_equal(mask["y"].values, code["y"].values)
            and np.array_equal(mask["x"].values, code["x"].values)
        ):
            raise GridMismatchError("The 'mask' must be a (y, x) array on the spectra grid.")
        excluded = mask.astype(bool)
        code = code.where(~excluded, MASKED).astype("uint8")
        fit = fit.where(~excluded)
        depth = depth.where(~excluded)
    legend = mineral_legend(group)
    code.attrs.update(
        {
            "legend": legend.to_dict("records"),
            "codes": dict(zip(legend["code"].tolist(), legend["mineral"], strict=True)),
            "fit_floor": fit_floor,
            "depth_floor": depth_floor,
            "group": group,
        }
    )
    return xr.Dataset(
        {
            "mineral": code.rio.write_nodata(MASKED, encoded=False),
            "fit": fit.rio.write_nodata(np.nan, encoded=False),
            "depth": depth.rio.write_nodata(np.nan, encoded=False),
        },
        attrs={"group": group, "candidates": matcher.candidates, "dropped": matcher.dropped},
    )


def white_mica_position(pos_aloh: xr.DataArray, swir_mineral: xr.DataArray) -> xr.DataArray:
    """Al-OH absorption position (nm) where the SWIR map says white mica, NaN elsewhere.

    Around 2190-2195 nm the mica is Na-rich (paragonitic), ~2200-2205 nm K-muscovite, and
    2210-2225 nm phengitic (Fe/Mg-substituted); the shift is geology (DOMAIN.md §7; Duke 1994,
    Geology 22, 621-624).

    Parameters
    ----------
    pos_aloh : xarray.DataArray
        ``pos_aloh_22`` of :func:`geo.spectral.continuum.feature_maps`.
    swir_mineral : xarray.DataArray
        ``mineral`` of :func:`identify_minerals` for the SWIR group.
    """
    mica = list(GROUP_MINERALS["swir"]).index("white_mica") + 1
    return pos_aloh.where(swir_mineral == mica).rename("pos_white_mica")


def assemblage_legend() -> pd.DataFrame:
    """Code table of :func:`assemblage_map`: columns ``code``, ``assemblage``.

    Examples
    --------
    >>> assemblage_legend()["assemblage"].tolist()[:3]
    ['none', 'advanced_argillic', 'argillic']
    """
    rows = [(NONE, "none")] + [(i + 1, a) for i, a in enumerate(ASSEMBLAGE_CLASSES)]
    rows.append((MASKED, "masked"))
    return pd.DataFrame(rows, columns=["code", "assemblage"])


def _assemblage_lut(group: str) -> np.ndarray:
    lut = np.zeros(256, dtype="uint8")
    for i, mineral in enumerate(GROUP_MINERALS[group]):
        assemblage = ASSEMBLAGES.get(mineral)
        if assemblage is not None:
            lut[i + 1] = ASSEMBLAGE_CLASSES.index(assemblage) + 1
    lut[MASKED] = MASKED
    return lut


def _assemblages_of(minerals: xr.DataArray, group: str) -> xr.DataArray:
    """Assemblage codes of a mineral map of ``group`` (a lookup per pixel, chunk-wise)."""
    lut = _assemblage_lut(group)
    return xr.apply_ufunc(
        lambda c: lut[c], minerals.astype("uint8"), dask="parallelized", output_dtypes=["uint8"]
    )


def assemblage_map(
    swir_mineral: xr.DataArray, vnir_mineral: xr.DataArray | None = None
) -> xr.DataArray:
    """Alteration assemblage class of every pixel from the mineral maps.

    The SWIR mineral decides (advanced argillic, argillic, phyllic, propylitic, carbonate;
    SWIR jarosite gives ferric iron). Where the SWIR map is none, vegetation or masked, a VNIR
    ferric mineral gives ``ferric_iron``. A pixel masked in every given map stays 255.

    Parameters
    ----------
    swir_mineral : xarray.DataArray
        ``mineral`` of :func:`identify_minerals` (group ``"swir"``).
    vnir_mineral : xarray.DataArray, optional
        ``mineral`` of the ``"vnir"`` group, on the same grid.

    Returns
    -------
    xarray.DataArray
        uint8 codes of :func:`assemblage_legend` (lazy if the inputs are).
    """
    out = _assemblages_of(swir_mineral, "swir")
    if vnir_mineral is not None:
        if vnir_mineral.shape != swir_mineral.shape:
            raise GridMismatchError(
                "The 'vnir_mineral' map must be on the grid of 'swir_mineral'; got shapes "
                f"{vnir_mineral.shape} and {swir_mineral.shape}."
            )
        vnir = _assemblages_of(vnir_mineral, "vnir")
        swir_open = (out == NONE) | (out == MASKED)
        fill = swir_open & (vnir != NONE) & ~((out == NONE) & (vnir == MASKED))
        out = xr.where(fill, vnir, out).astype("uint8")
    legend = assemblage_legend()
    out.attrs = {"codes": dict(zip(legend["code"].tolist(), legend["assemblage"], strict=True))}
    return out.rename("assemblage").rio.write_nodata(MASKED, encoded=False)
