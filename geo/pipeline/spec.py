"""Pipeline files (YAML) → a validated, frozen :class:`PipelineSpec`.

Every mistake is caught before a pixel is read: unknown keys, wrong types, index
names missing from the catalogue, anomalies on indices that are not computed, and
score kinds without anomalies. Messages name the file and the dotted key.
Relative paths in the file are resolved against the file's own folder.

A pipeline file is untrusted input (it travels between people): it is read with a
bounded, safe YAML loader (:mod:`geo.pipeline._yaml`); every name that becomes part of a
file name (custom indices, evidence layers, SAM groups, classes...) must be a plain
identifier (:data:`NAME_PATTERN`); custom formulas are parsed by the safe expression
parser; the classifier is chosen from an allow-list of estimators with plain parameters.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from geo.errors import InputNotFoundError, InvalidParameterError, PipelineSpecError
from geo.pipeline._formats import DEFAULT_GDAL_CACHE_MB, EXPORT_FORMATS
from geo.pipeline._yaml import load_yaml
from geo.prospectivity.combine import KNOWLEDGE_METHODS, MEMBERSHIP_FUNCTIONS, Membership
from geo.spectral.anomaly import METHODS
from geo.spectral.expression import parse_expression
from geo.spectral.indices import ROLES, index_names
from geo.spectral.masks import MASK_RULES, PRODUCT_RULES, MaskConfig
from geo.spectral.minerals import ASSEMBLAGE_CLASSES as ASSEMBLAGES
from geo.targets.rank import COMPONENTS, ScoreConfig

__all__ = [
    "EXPORT_FORMATS",
    "NAME_PATTERN",
    "PipelineSpec",
    "StartPoint",
    "load_spec",
    "validate_spec",
]

#: User-chosen names that become file or layer names: an ASCII letter, then letters,
#: digits or underscores (at most 64 characters).
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
#: Longest error message quoting a value from the file (longer values are cut).
_QUOTE_CHARS = 80


def _plain_name(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{_quote(value)} is not a plain name: use letters, digits and underscores, "
            "starting with a letter, at most 64 characters (it becomes a file name)"
        )
    return value


#: A name that becomes (part of) a file or layer name.
Name = Annotated[str, AfterValidator(_plain_name)]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain_text(value: str) -> str:
    found = _CONTROL.search(value)
    if found:
        raise ValueError(
            f"holds the control character {found.group()!r} at position {found.start()}; "
            "use plain text"
        )
    return value


#: Free text shown to people (titles, descriptions): bounded, no control characters.
Text = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_plain_text)]


def _quote(value: object) -> str:
    """``repr`` of a value from the file, cut to a readable length."""
    text = repr(value)
    return (
        text
        if len(text) <= _QUOTE_CHARS
        else f"{text[:_QUOTE_CHARS]}... ({len(text):,} characters)"
    )


_DEFAULT_MASKS = MaskConfig()
_BUFFERABLE = tuple(r for r in MASK_RULES if r != "buffer")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SceneInput(_Model):
    """``inputs.scene``: the product (or ``--scene``), plus how to read it."""

    path: Path | None = Field(
        default=None,
        description="The scene product: a Landsat folder, `*_MTL.txt`, `*_MTL.json` or USGS "
        "`.tar`; a Sentinel-2 `.SAFE` folder, `MTD_MSIL*.xml` or ESA `.zip`; an ASTER folder or "
        "`.zip`; a STAC item `.json` with local assets; a folder of band files with a "
        "`bands.yaml` sidecar; or a multi-band GeoTIFF. `--scene` overrides it.",
    )
    roles: list[str] | None = Field(
        default=None,
        description="Multi-band GeoTIFF: the band roles in band order "
        "(`[blue, green, red, nir, swir1, swir2]`); overrides the file's band descriptions.",
    )
    bands: dict[str, str] | None = Field(
        default=None,
        description="One file per band, `{role: file}` (`{red: B4.tif, ...}`), relative to the "
        "scene folder.",
    )
    resolution: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="Pixel size in metres of the analysis grid for products whose bands come at "
        "several resolutions: Sentinel-2 (default 20), ASTER (default 30), STAC items.",
    )
    sensor: str | None = Field(
        default=None,
        description="Multi-band GeoTIFF or band files: the sensor (`landsat_oli`, `landsat_etm`, "
        "`landsat_tm`, `sentinel2_msi`, `aster`), which chooses the catalogue formulas.",
    )
    scale: float | None = Field(
        default=None,
        description="Multi-band GeoTIFF or band files: reflectance = value x scale + offset "
        "(overrides the file's own scale).",
    )
    offset: float | None = Field(
        default=None, description="Multi-band GeoTIFF or band files: see `scale`."
    )


class LicenceInput(_Model):
    """``inputs.licences``: the licence layer and which columns identify a licence."""

    path: Path = Field(
        description="Licence polygons in any vector format GDAL reads (GeoPackage, Shapefile, "
        "GeoJSON...) and any CRS; reprojected explicitly to the scene's. `--licences` overrides it."
    )
    layer: str | None = Field(
        default=None, description="Layer name; required when the file holds several layers."
    )
    fields: dict[Literal["licence_id", "holder", "status", "expiry"], str | None] = Field(
        default_factory=dict,
        description="Which columns of the layer hold the licence number, holder, status and "
        "expiry date (`{licence_id: licence_no, holder: holder_name}`); `holder` and `status` "
        "may be null when the layer has no such column.",
    )
    encoding: str | None = Field(
        default=None,
        description="Text encoding of the attribute table (`cp1252`, `latin-1`...); by default "
        "the file's own, falling back to cp1252 with a warning when its text is not valid in it.",
    )


class AoiInput(_Model):
    """``inputs.aoi``: polygons bounding the statistics (thresholds use only pixels inside)."""

    path: Path = Field(description="Area-of-interest polygons, any CRS.")
    layer: str | None = Field(
        default=None, description="Layer name; required when the file holds several layers."
    )


class ExclusionInput(_Model):
    """``inputs.exclusions``: protected areas, settlements, water bodies... (polygons, any CRS).

    ``action: flag`` keeps an intersecting target and adds ``excluded:<name>`` to its flags;
    ``action: remove`` drops it from the ranking.
    """

    path: Path = Field(
        description="Exclusion polygons (protected areas, settlements, water bodies...), any CRS."
    )
    layer: str | None = Field(
        default=None, description="Layer name; required when the file holds several layers."
    )
    name_column: str | None = Field(
        default=None,
        description="Column naming each zone in the `excluded:<name>` flag; by default "
        "`<file stem>#<row>`.",
    )
    action: Literal["flag", "remove"] = Field(
        default="flag",
        description="`flag` keeps an intersecting target and adds `excluded:<name>` to its "
        "`flags`; `remove` drops it from the ranking.",
    )


class OccurrenceInput(_Model):
    """``inputs.occurrences``: known deposits and occurrences (points, any CRS).

    Weights of evidence, logistic regression and random forest are fitted on them; every
    method is evaluated against them (success-/prediction-rate curves).
    """

    path: Path = Field(description="Known deposits and occurrences: points, any CRS.")
    layer: str | None = Field(
        default=None, description="Layer name; required when the file holds several layers."
    )


class Inputs(_Model):
    """``inputs``: the files a run reads (any CRS; each reprojected to the scene's explicitly)."""

    scene: SceneInput | None = Field(
        default=None, description="The scene product and how to read it (or `--scene`)."
    )
    licences: LicenceInput | None = Field(
        default=None,
        description="The licence layer (or `--licences`); without it no target has a licence.",
    )
    aoi: AoiInput | None = Field(
        default=None,
        description="Polygons bounding the statistics: thresholds use only pixels inside.",
    )
    exclusions: ExclusionInput | None = Field(
        default=None, description="Areas where targets are flagged or removed."
    )
    occurrences: OccurrenceInput | None = Field(
        default=None,
        description="Known deposits and occurrences: fitted on by `wofe`, `logistic` and "
        "`random_forest`; every prospectivity score is evaluated against them.",
    )


class Masks(_Model):
    """``masks``: which pixels are removed before any statistic.

    Every removed pixel keeps the rules that removed it: bit *i* of ``rasters/mask_reasons.tif``
    is rule *i* of :data:`geo.spectral.masks.MASK_RULES` (see
    :class:`geo.spectral.masks.MaskConfig`).
    """

    qa: list[Literal[PRODUCT_RULES]] = Field(  # type: ignore[valid-type]  # runtime-built Literal: fine for pydantic, not for mypy
        default=list(_DEFAULT_MASKS.qa),
        description="Rules from the product's own QA that remove a pixel (Landsat QA_PIXEL and "
        "QA_RADSAT bits, Sentinel-2 SCL classes). QA water joins the `water` rule whenever the "
        "MNDWI rule is on.",
    )
    saturation: bool = Field(
        default=True,
        description="Remove pixels the product flags as saturated (Landsat QA_RADSAT, Sentinel-2 "
        "SCL class 1).",
    )
    ndvi_max: float | None = Field(
        default=0.3,
        description="Remove vegetation: NDVI above this (typical 0.3-0.4); null turns the rule off.",
    )
    mndwi_max: float | None = Field(
        default=0.0,
        description="Remove water: MNDWI (Xu 2006) above this; null turns the rule off.",
    )
    dark_albedo: float | None = Field(
        default=0.04,
        description="Remove deep shadow: mean reflectance of the visible-to-SWIR bands below "
        "this; null turns the rule off.",
    )
    buffer_px: Annotated[int, Field(ge=0, le=50)] = Field(
        default=2,
        description="Also remove pixels within this many pixels of one flagged by a rule in "
        "`buffer_rules` (rule `buffer`): mixed edge pixels whose ratios mimic alteration.",
    )
    buffer_rules: list[Literal[_BUFFERABLE]] = Field(  # type: ignore[valid-type]  # runtime-built Literal: fine for pydantic, not for mypy
        default=list(_DEFAULT_MASKS.buffer_rules), description="Rules whose pixels are buffered."
    )

    def to_config(self) -> MaskConfig:
        """Return the domain-level mask configuration."""
        return MaskConfig(
            qa=tuple(self.qa),
            saturation=self.saturation,
            ndvi_max=self.ndvi_max,
            mndwi_max=self.mndwi_max,
            dark_albedo=self.dark_albedo,
            buffer_px=self.buffer_px,
            buffer_rules=tuple(self.buffer_rules),
        )


class Anomaly(_Model):
    """One entry of ``anomalies``: how one layer is thresholded over the valid pixels."""

    method: Literal[METHODS] = Field(  # type: ignore[valid-type]  # runtime-built Literal: fine for pydantic, not for mypy
        default="robust_z",
        description="`robust_z` (median + k x 1.4826 x MAD), `mean_std` (mean + k x sigma), "
        "`percentile`, `otsu` (a cross-check: it assumes two comparable modes) or "
        "`concentration_area` (C-A fractal, Cheng et al. 1994); on log(index) for catalogue ratios.",
    )
    k: Annotated[float, Field(gt=0)] = Field(
        default=3.0, description="`robust_z`, `mean_std`: a pixel is anomalous where its z >= k."
    )
    percentile: Annotated[float, Field(gt=0, lt=100)] = Field(
        default=97.5,
        description="`percentile`: a pixel is anomalous where the index is at or above this "
        "percentile of the valid pixels.",
    )


class Crosta(_Model):
    """``crosta``: feature-oriented PCA (Loughlin 1991) images added as evidence layers.

    Each target ``t`` adds a layer ``crosta_<t>`` (the selected component, signed so the
    target is bright) that ``anomalies`` can threshold (on the component itself, never its
    logarithm).
    """

    targets: list[Literal["iron_oxide", "hydroxyl"]] = Field(
        default=["iron_oxide", "hydroxyl"],
        description="Components to compute, each from its sensor's 4-band subset; each adds a "
        "layer `crosta_<target>`, and `crosta_composite` (R = H, G = H+F, B = F) is written too.",
    )


class DirectedPair(_Model):
    """One directed PCA (Fraser & Green 1987): a mineral ratio and a vegetation ratio."""

    mineral: Name = Field(
        description="Index holding the mineral signal (e.g. `clay_hydroxyl`); listed under "
        "`indices` or `custom_indices`."
    )
    vegetation: Name = Field(
        default="vegetation_ratio",
        description="Index holding the vegetation signal both ratios share (nir / red by "
        "default); listed under `indices` or `custom_indices`.",
    )


class Sam(_Model):
    """``sam``: spectral angle mapping against the bundled library at the scene's bands.

    Each group in ``groups`` becomes a binary evidence layer ``sam_<group>`` (best match under
    its angle threshold).
    """

    groups: list[Name] = Field(
        description="Mineral groups of the bundled library that become binary evidence layers "
        "`sam_<group>`."
    )
    threshold: Annotated[float, Field(gt=0, lt=1.6)] = Field(
        default=0.10, description="Largest spectral angle of a match, in radians."
    )
    thresholds: dict[Name, Annotated[float, Field(gt=0, lt=1.6)]] = Field(
        default_factory=dict, description="Angle thresholds per group, overriding `threshold`."
    )


class Minerals(_Model):
    """``minerals``: mineral maps of an imaging-spectrometer scene (EMIT, EnMAP, PRISMA).

    Each pixel's best mineral by feature fitting against the bundled USGS library convolved
    to the scene's own bands, in two groups as NASA's EMIT mineral product: the ~1 µm
    (``vnir``: ferric and ferrous iron) and ~2 µm (``swir``: Al-OH, Fe-OH, Mg-OH, carbonate)
    features. Writes ``mineral_vnir`` / ``mineral_swir`` (uint8 codes, 0 none, 255 masked,
    legends beside them), per-feature band depth ``bd_<feature>`` and position
    ``pos_<feature>`` (nm), and per assemblage ``assemblage_<name>`` (the band depth of the
    pixel's mineral where it belongs to the assemblage, 0 elsewhere): each assemblage is a
    zone kind and a raster for the evidence.
    """

    groups: list[Literal["vnir", "swir"]] = Field(
        default=["vnir", "swir"], description="Which mineral maps: `vnir` (~1 µm), `swir` (~2 µm)."
    )
    min_depth: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.04,
        description="Shallowest continuum-removed band depth that names a mineral (below: none).",
    )
    min_fit: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.9,
        description="Lowest fit (correlation of the continuum-removed feature shapes) that "
        "names a mineral.",
    )
    features: list[Name] = Field(
        default_factory=list,
        description="Diagnostic features whose band depth and position rasters are written "
        "(`bd_<feature>`, `pos_<feature>`; `geo.spectral.continuum.FEATURES`).",
    )
    assemblages: list[Literal[ASSEMBLAGES]] = Field(  # type: ignore[valid-type]  # runtime-built Literal: fine for pydantic, not for mypy
        default=list(ASSEMBLAGES),
        description="Assemblages that become zones and `assemblage_<name>` evidence rasters.",
    )


#: Parameters of an estimator when the pipeline file gives none.
_ESTIMATOR_DEFAULTS = {"RandomForestClassifier": {"n_estimators": 200}}


class Estimator(_Model):
    """A classifier from geo's allow-list (:data:`geo.classify.estimators.ESTIMATORS`).

    ``class`` is a class name (``RandomForestClassifier``) or its scikit-learn path
    (``sklearn.ensemble.RandomForestClassifier``); ``params`` are checked against the
    estimator's own parameters, as plain values within geo's limits. Nothing else is
    loaded or called.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    class_: str = Field(
        default="sklearn.ensemble.RandomForestClassifier",
        alias="class",
        description="A classifier on geo's allow-list, by class name (`RandomForestClassifier`) "
        "or scikit-learn path (`sklearn.ensemble.RandomForestClassifier`).",
    )
    params: dict = Field(
        default_factory=dict,
        description="Keyword arguments of the estimator, checked against its own parameters as "
        "plain values within geo's limits; a random forest gets `n_estimators: 200` when none "
        "are given.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_params(cls, data):
        if isinstance(data, dict) and "params" not in data:
            name = str(data.get("class", data.get("class_", "RandomForestClassifier")))
            return {**data, "params": dict(_ESTIMATOR_DEFAULTS.get(name.rpartition(".")[2], {}))}
        return data

    @model_validator(mode="after")
    def _allowed(self) -> Estimator:
        from geo.classify.estimators import check_estimator  # scikit-learn: only when used

        check_estimator(self.class_, self.params)  # InvalidParameterError is a ValueError
        return self


class Classifier(_Model):
    """``classifier``: supervised classification from training polygons or points.

    Each class in ``anomaly_classes`` becomes a binary evidence layer ``class_<name>``
    (predicted with probability ≥ ``min_probability``).
    """

    training: Path = Field(
        description="Training polygons or points (any CRS) with a class label per geometry."
    )
    layer: str | None = Field(
        default=None, description="Layer name; required when the file holds several layers."
    )
    label_column: str = Field(default="class", description="Column holding each geometry's class.")
    estimator: Estimator = Field(
        default_factory=Estimator, description="The scikit-learn classifier and its parameters."
    )
    features: Literal["bands", "bands+indices"] = Field(
        default="bands+indices",
        description="What the classifier sees: the reflectance bands, or the bands and every "
        "index under `indices`.",
    )
    block_size_m: Annotated[float, Field(gt=0)] = Field(
        default=1500.0,
        description="Edge of the square blocks that group the training polygons for spatial "
        "cross-validation (each polygon kept whole, in the block holding most of its pixels).",
    )
    folds: Annotated[int, Field(ge=2, le=20)] = Field(
        default=5, description="Cross-validation folds (at most the number of blocks)."
    )
    anomaly_classes: list[Name] = Field(
        default_factory=list,
        description="Classes that become binary evidence layers `class_<name>`.",
    )
    min_probability: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.5,
        description="A pixel of an anomaly class counts only where its predicted probability "
        "is at least this.",
    )
    seed: int = Field(
        default=0, description="Random seed of the estimator and the folds: runs repeat exactly."
    )


class KMeans(_Model):
    """``kmeans``: unsupervised clusters of the valid pixels, for exploration (not evidence)."""

    clusters: Annotated[int, Field(ge=2, le=254)] = Field(
        default=8, description="Number of clusters."
    )
    sample: Annotated[int, Field(ge=1000)] = Field(
        default=100_000, description="Valid pixels drawn at random to fit the clusters."
    )
    seed: int = Field(default=0, description="Random seed of the sample and the fit.")


_DISTANCES = ("distance", "intersection_distance")
_VECTOR_MEASURES = ("distance", "intersection_distance", "density", "category")
_RASTER_MEASURES = ("value", "slope")


class MembershipSpec(_Model):
    """How an evidence layer becomes a fuzzy membership in [0, 1].

    See :class:`geo.prospectivity.combine.Membership`.
    """

    function: Literal[MEMBERSHIP_FUNCTIONS] = Field(  # type: ignore[valid-type]  # runtime-built Literal: fine for pydantic, not for mypy
        description="`identity` (values already in [0, 1], e.g. a probability or a 0/1 "
        "anomaly), `linear` (0 at `low`, 1 at `high`), `large` / `small` (ArcGIS FuzzyLarge / "
        "FuzzySmall with `midpoint` and `spread`), `gaussian` (`midpoint`, `spread`) or "
        "`categories` (category -> membership in `values`)."
    )
    low: float | None = Field(
        default=None,
        description="`linear`: the value with membership 0 (`high` < `low` decreases, e.g. a "
        "distance).",
    )
    high: float | None = Field(default=None, description="`linear`: the value with membership 1.")
    midpoint: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="`large`, `small`, `gaussian`: the value with membership 0.5 (1 for "
        "`gaussian`).",
    )
    spread: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="`large`, `small`, `gaussian`: how fast the membership changes."
    )
    values: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict,
        description="`categories`: membership per category (an attribute value of a vector, or "
        "a class code of a raster).",
    )
    default: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.0, description="`categories`: membership of the categories not in `values`."
    )
    missing: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None,
        description="Membership of cells without evidence (e.g. 0.5 for 'unknown' under a "
        "cloud); by default they stay no-data and leave the score undefined there.",
    )

    @model_validator(mode="after")
    def _check(self) -> MembershipSpec:
        try:  # category names are only known once the vector is read: check with dummy codes
            self.to_membership({k: float(i + 1) for i, k in enumerate(self.values)})
        except Exception as exc:  # InvalidParameterError: report it as a spec error
            raise ValueError(str(exc)) from None
        return self

    def to_membership(self, codes: dict[str, float] | None = None) -> Membership:
        """Domain object; ``codes`` maps category names to the raster codes."""
        values = {}
        for key, mu in self.values.items():
            if codes is not None:  # category names of a vector attribute → raster codes
                values[codes[key]] = mu
            else:  # a raster of class codes: the keys are the codes
                values[float(key)] = mu
        return Membership(
            self.function,
            low=self.low,
            high=self.high,
            midpoint=self.midpoint,
            spread=self.spread,
            values=values,
            default=self.default,
            missing=self.missing,
        )


class EvidenceSpec(_Model):
    """One entry of ``evidence``: where a layer comes from and how it scores.

    Exactly one source: ``layer`` (a raster this run writes, e.g. ``iron_oxide_z``,
    ``clay_hydroxyl_anomaly``, ``crosta_hydroxyl``, ``sam_angle``, ``class_probability``
    with ``band``), ``raster`` (a GeoTIFF in any CRS, e.g. geophysics or a DEM; reprojected
    to the scene grid with ``resampling``) or ``vector`` (faults, contacts, occurrences,
    geology; any CRS, reprojected). ``measure`` says what is taken from it.
    """

    layer: Name | None = Field(
        default=None,
        description="A raster this run writes (`iron_oxide_z`, `clay_hydroxyl_anomaly`, "
        "`crosta_hydroxyl`, `sam_angle`, `class_probability`...).",
    )
    raster: Path | None = Field(
        default=None,
        description="A GeoTIFF in any CRS (geophysics, a DEM, a geology raster of class "
        "codes), warped to the scene grid with `resampling`.",
    )
    vector: Path | None = Field(
        default=None,
        description="A vector file in any CRS (faults, contacts, geology), reprojected to the "
        "scene's.",
    )
    vector_layer: str | None = Field(default=None, description="Layer of `vector` to read.")
    band: int | str = Field(
        default=1,
        description="Band of `raster` (a number), or for `layer: class_probability` the class "
        "name.",
    )
    measure: Literal[
        "value", "slope", "distance", "intersection_distance", "density", "category"
    ] = Field(
        default="value",
        description="What is taken from the source: `value` or `slope` (degrees, of a DEM) "
        "from a raster; `distance` (metres to the nearest feature), `intersection_distance` "
        "(to the nearest crossing of two lines), `density` (line length per area within "
        "`radius_m`, km/km2) or `category` (the attribute `column`) from a vector.",
    )
    radius_m: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="`density`: search radius in metres."
    )
    column: str | None = Field(default=None, description="`category`: the attribute to rasterise.")
    resampling: Literal["nearest", "bilinear", "cubic", "average"] = Field(
        default="bilinear",
        description="How `raster` is warped to the scene grid (`nearest` for class codes).",
    )
    membership: MembershipSpec | None = Field(
        default=None,
        description="How the values become a fuzzy membership in [0, 1]; without one the raw "
        "values feed the model.",
    )
    favourable: Literal["high", "low"] | None = Field(
        default=None,
        description="Which end of the values is favourable when no membership says so; by "
        "default `low` for distances without a membership, `high` otherwise.",
    )

    @model_validator(mode="after")
    def _check(self) -> EvidenceSpec:
        sources = [k for k in ("layer", "raster", "vector") if getattr(self, k) is not None]
        if len(sources) != 1:
            raise ValueError(
                "give exactly one of layer (a raster of this run), raster (a file) or vector "
                f"(a file); got {', '.join(sources) or 'none'}"
            )
        if self.vector is not None and self.measure not in _VECTOR_MEASURES:
            raise ValueError(
                f"measure {self.measure!r} does not apply to a vector; use one of "
                f"{', '.join(_VECTOR_MEASURES)}"
            )
        if self.vector is None and self.measure not in _RASTER_MEASURES:
            raise ValueError(
                f"measure {self.measure!r} needs a vector; rasters take {', '.join(_RASTER_MEASURES)}"
            )
        if self.measure == "slope" and self.raster is None:
            raise ValueError("measure 'slope' needs a DEM given as raster")
        if self.measure == "density" and self.radius_m is None:
            raise ValueError("measure 'density' needs radius_m (search radius in metres)")
        if self.measure == "category" and self.column is None:
            raise ValueError("measure 'category' needs column (the attribute to rasterize)")
        if self.membership is not None and self.membership.function == "categories":
            if self.measure not in ("category", "value"):
                raise ValueError(
                    "membership 'categories' applies to a vector attribute (measure 'category') "
                    "or a raster of class codes (measure 'value')"
                )
            if self.vector is None:
                bad = [k for k in self.membership.values if not _is_number(k)]
                if bad:
                    raise ValueError(
                        f"membership values {', '.join(map(repr, bad))}: a raster's categories are "
                        "its class codes (numbers)"
                    )
        elif self.measure == "category":
            raise ValueError(
                "measure 'category' needs membership {function: categories, values: {<category>: "
                "<0..1>}}: category codes have no order of their own"
            )
        return self

    def is_favourable_low(self) -> bool:
        """Small values favourable (distances by default)."""
        if self.favourable is not None:
            return self.favourable == "low"
        return self.measure in _DISTANCES and self.membership is None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Negatives(_Model):
    """``prospectivity.negatives``: non-deposit cells drawn outside a buffer of the deposits."""

    buffer_m: Annotated[float, Field(ge=0)] = Field(
        default=1000.0,
        description="Negatives are drawn only farther than this from every occurrence.",
    )
    ratio: Annotated[float, Field(gt=0)] = Field(
        default=10.0, description="Negative cells drawn per occurrence cell."
    )


class Evaluation(_Model):
    """``prospectivity.evaluation``: how the score is tested against the occurrences."""

    holdout: list[Literal["leave_one_out", "blocks"]] = Field(
        default=["leave_one_out", "blocks"],
        description="Hold-out tests of the fitted methods: `leave_one_out` (each fold refits "
        "without one occurrence) and `blocks` (spatial blocks of `block_size_m` held out in "
        "turn).",
    )
    block_size_m: Annotated[float, Field(gt=0)] = Field(
        default=3000.0, description="Edge of the square blocks of the `blocks` hold-out, in metres."
    )
    max_leave_one_out: Annotated[int, Field(ge=2)] = Field(
        default=50,
        description="Leave-one-out is skipped above this many occurrences (the blocked hold-out "
        "still runs).",
    )
    fractions: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default=[0.05, 0.10, 0.20],
        description="Area fractions at which the share of occurrences captured by the best "
        "part of the score is reported.",
    )


_DATA_METHODS = ("wofe", "logistic", "random_forest")


class Prospectivity(_Model):
    """``prospectivity``: how the evidence layers combine into one score.

    Knowledge-driven: ``weighted`` (Σwᵢμᵢ/Σwᵢ), ``fuzzy_and`` / ``fuzzy_or`` /
    ``fuzzy_product`` / ``fuzzy_sum`` / ``fuzzy_gamma`` (on memberships). Data-driven,
    fitted on ``inputs.occurrences``: ``wofe`` (weights of evidence, each layer
    generalised at maximum contrast), ``logistic`` and ``random_forest`` (negatives drawn
    outside ``negatives.buffer_m`` of the occurrences).
    """

    method: Literal[(*KNOWLEDGE_METHODS, *_DATA_METHODS)] = Field(  # type: ignore[valid-type]  # runtime-built Literal: fine for pydantic, not for mypy
        default="fuzzy_gamma",
        description="How the evidence combines: `weighted`, `fuzzy_and`, `fuzzy_or`, "
        "`fuzzy_product`, `fuzzy_sum`, `fuzzy_gamma` (knowledge-driven), or `wofe`, "
        "`logistic`, `random_forest` (fitted on `inputs.occurrences`).",
    )
    gamma: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0.75, description="`fuzzy_gamma`: the score is FAS^gamma x FAP^(1-gamma)."
    )
    weights: dict[Name, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict,
        description="`weighted`: weight per evidence layer (layers not named weigh 1).",
    )
    classes: Annotated[int, Field(ge=2, le=100)] = Field(
        default=10,
        description="`wofe`: quantile classes a continuous layer is cut into before it is "
        "generalised to a binary pattern at maximum contrast.",
    )
    min_studentised: Annotated[float, Field(ge=0)] = Field(
        default=2.0, description="`wofe`: least studentised contrast of a pattern."
    )
    negatives: Negatives = Field(
        default=Negatives(),
        description="`logistic`, `random_forest`: how non-deposit cells are drawn.",
    )
    estimator_params: dict = Field(
        default_factory=dict,
        description="`logistic`, `random_forest`: estimator parameters, checked like "
        "`classifier.estimator.params`.",
    )
    seed: int = Field(default=0, description="Random seed of the negatives and the fitted models.")
    evaluation: Evaluation = Field(
        default=Evaluation(), description="How the score is tested against the occurrences."
    )


class Zones(_Model):
    """``zones``: anomaly rasters to alteration-zone polygons."""

    min_area_ha: Annotated[float, Field(ge=0)] = Field(
        default=2.0, description="Zones smaller than this (hectares) are dropped."
    )
    sieve_px: Annotated[int, Field(ge=0)] = Field(
        default=6,
        description="Clumps of anomalous pixels (8-connected) smaller than this are removed "
        "before vectorising, and holes that small filled; 0 or 1 turns the sieve off.",
    )


class Targets(_Model):
    """``targets``: where targets come from, how they are merged, scored and ranked."""

    merge_distance_m: Annotated[float, Field(ge=0)] = Field(
        default=150.0, description="Zones (or prospective areas) closer than this join one target."
    )
    iron: list[Name] = Field(
        default=["iron_oxide"],
        description="Layers counted as iron evidence: names under `anomalies`, or "
        "`sam_<group>` / `class_<name>` layers or `minerals` assemblages of this pipeline.",
    )
    clay: list[Name] = Field(
        default=["clay_hydroxyl"], description="Layers counted as clay evidence, like `iron`."
    )
    weights: dict[Literal[COMPONENTS], Annotated[float, Field(ge=0)]] = Field(  # type: ignore[valid-type]  # runtime-built Literal: fine for pydantic, not for mypy
        default={
            "iron_intensity": 0.3,
            "clay_intensity": 0.3,
            "coincidence": 0.25,
            "area": 0.15,
        },
        description="Weights of the score components of zone targets; the score is their "
        "weighted mean.",
    )
    z_scale: Annotated[float, Field(gt=0)] = Field(
        default=3.0, description="Intensity components: 1 - exp(-z / z_scale), z the mean z-score."
    )
    area_scale_ha: Annotated[float, Field(gt=0)] = Field(
        default=25.0,
        description="`coincidence` and `area` components: 1 - exp(-A / area_scale_ha).",
    )
    top: Annotated[int, Field(ge=0)] = Field(
        default=10,
        description="How many targets `geo run` prints (every target is in the outputs).",
    )
    source: Literal["zones", "prospectivity"] | None = Field(
        default=None,
        description="Where targets come from: anomaly `zones`, or the best part of the "
        "`prospectivity` score; by default `prospectivity` when the pipeline has that section.",
    )
    top_area_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.05,
        description="Prospectivity targets: the best this fraction of the scored area (ties "
        "kept whole).",
    )
    score_threshold: float | None = Field(
        default=None,
        description="Prospectivity targets: a fixed score cutoff instead of `top_area_fraction`.",
    )
    straddle: Literal["flag", "split"] = Field(
        default="flag",
        description="A target crossing a licence boundary: `flag` it, or `split` it into one "
        "piece per licence.",
    )

    def to_config(self) -> ScoreConfig:
        """Return the domain-level score configuration."""
        return ScoreConfig(
            tuple(self.iron), tuple(self.clay), dict(self.weights), self.z_scale, self.area_scale_ha
        )


class Export(_Model):
    """``export``: the field formats written at the end of every run (all by default)."""

    formats: list[Literal[EXPORT_FORMATS]] = Field(  # type: ignore[valid-type]  # runtime-built Literal: fine for pydantic, not for mypy
        default=list(EXPORT_FORMATS),
        description="Field formats written at the end of the run (`--no-export` writes none).",
    )
    top: Annotated[int, Field(ge=0, le=200)] | None = Field(
        default=None,
        description="Targets with their own sheet in the report and page in the PDF: the best "
        "of the field set (`field`); by default all of it (at most 200), never more than "
        "`field.top`.",
    )
    route_top: Annotated[int, Field(ge=0, le=500)] | None = Field(
        default=None,
        description="Targets in the GPX route: the best of the field set (`field`); by "
        "default all of it (at most 500), never more than `field.top`.",
    )


class StartPoint(_Model):
    """``field.start``: where the field team sets off (camp, airstrip), in WGS 84 degrees."""

    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] = Field(
        description="Longitude in decimal degrees (east positive)."
    )
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] = Field(
        description="Latitude in decimal degrees (north positive)."
    )
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9 _\-]{1,14}$")] = Field(
        default="START",
        description="Waypoint name on the GPS (letters, digits, space, `_`, `-`; at most 14).",
    )


class FieldDelivery(_Model):
    """``field``: the targets that go to the field (phones, handheld GPS, printed sheets)."""

    top: Annotated[int, Field(ge=1, le=2000)] = Field(
        default=50,
        description="How many of the best targets go to the field: the report's table, map "
        "and sheets, the PDF pages, the GPX waypoints and route, and the KML/KMZ placemarks "
        "hold these (handheld GPS units hold 1,000 to 2,000 waypoints); the GeoPackage, "
        "`targets.csv`, the field CSV, GeoJSON and Shapefiles keep every target. "
        "`--field-top` overrides it.",
    )
    per_licence: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="At most this many field targets in one licence, taken in rank order "
        "(the targets outside every licence count as one licence); by default no cap.",
    )
    start: StartPoint | None = Field(
        default=None,
        description="Where the GPX route starts (`{lon: 27.5, lat: -21.5, name: CAMP}`; "
        "`--start LON,LAT`): the route then visits the field targets from there in a short "
        "order. By default it starts at the best target.",
    )


class Processing(_Model):
    """``processing``: chunking of the per-pixel stages."""

    chunk: Annotated[int, Field(ge=64, le=8192)] = Field(
        default=1024, description="Chunk edge in pixels (snapped to the files' tiles)."
    )
    gdal_cache_mb: Annotated[int, Field(ge=8, le=65536)] = Field(
        default=DEFAULT_GDAL_CACHE_MB, description="GDAL's block cache in MB."
    )


class Outputs(_Model):
    """``outputs``: which rasters a run writes under ``rasters/``, and how they are compressed.

    ``default`` writes what a user needs to check and reuse the result: ``mask_reasons``,
    every anomaly layer's ``<layer>_anomaly`` and ``<layer>_z``, the index each one is fitted
    on, every index another part of the pipeline reads (evidence ``layer``, directed PCA,
    the classifier's ``bands+indices``), every index of a pipeline without anomalies (its
    indices are its result), and the true-colour basemap when a field format draws it (all
    but ``kml``, ``gpx``, ``geojson``, ``shp`` and ``csv``). ``all`` writes every index and the
    basemap; a list names the layers to write besides those the pipeline needs. The
    manifest's ``rasters`` section lists what was written and why. Write ``outputs: all`` or
    ``outputs: [ndvi, gossan]`` as a shorthand for ``outputs: {rasters: ...}``.
    """

    rasters: Literal["default", "all"] | list[Name] = Field(
        default="default",
        description="`default`, `all`, or a list of index layers (and `true_colour`) to write "
        "besides those the pipeline needs.",
    )
    compression: Literal["zstd", "deflate"] = Field(  # geo.io.writers.CODECS
        default="zstd",
        description="Codec of the rasters: `zstd` (level 1: measured 2-4x faster to write and "
        "read than `deflate` at about the same size; GDAL 2.3+, QGIS 3.22+ and ArcGIS Pro 2.8+ "
        "read it) or `deflate` (level 1 with predictor, for the oldest readers).",
    )
    z_max_error: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description="Write the `<layer>_z` z-scores with LERC, each value within this absolute "
        "error (e.g. 0.001; lossy, about half the size); by default lossless.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"rasters": value} if isinstance(value, str | list) else value


class PipelineSpec(_Model):
    """A whole pipeline file: the top-level keys."""

    name: Annotated[Text, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Name of the pipeline, recorded in the manifest."
    )
    description: Text = Field(default="", description="Free text about the pipeline.")
    version: Literal[1] = Field(default=1, description="Version of the pipeline-file format.")
    inputs: Inputs = Field(default=Inputs(), description="The files the run reads.")
    output: Path | None = Field(default=None, description="Output folder; `--out` overrides it.")
    processing: Processing = Field(
        default=Processing(), description="Chunking and caching of the per-pixel stages."
    )
    outputs: Outputs = Field(
        default=Outputs(),
        description="Which rasters are written under `rasters/` (by default what is needed to "
        "check and reuse the result; `all`: every index) and their compression.",
    )
    masks: Masks = Field(
        default=Masks(), description="Which pixels are removed before any statistic."
    )
    indices: list[Name] = Field(description="Catalogue indices to compute (`geo indices --list`).")
    custom_indices: dict[Name, Annotated[str, StringConstraints(max_length=2000)]] = Field(
        default_factory=dict,
        description='Your own formulas in band roles (`{my_ratio: "(swir1 + nir) / 2 / red"}`), '
        "read by a small safe parser (never `eval`).",
    )
    anomalies: dict[Name, Anomaly] = Field(
        description="Thresholds per layer: an index, a custom index, `crosta_<target>` or "
        "`dpca_<name>`; each adds `<layer>_z` and `<layer>_anomaly`."
    )
    crosta: Crosta | None = Field(
        default=None, description="Crosta / feature-oriented PCA (Loughlin 1991) components."
    )
    directed_pca: dict[Name, DirectedPair] = Field(
        default_factory=dict,
        description="Directed PCA (Fraser & Green 1987) per name; each adds `dpca_<name>`.",
    )
    sam: Sam | None = Field(
        default=None,
        description="Spectral angle mapping against the bundled library (Kruse et al. 1993).",
    )
    minerals: Minerals | None = Field(
        default=None,
        description="Mineral maps of an imaging-spectrometer scene (EMIT, EnMAP, PRISMA).",
    )
    classifier: Classifier | None = Field(
        default=None, description="Supervised classification from training polygons or points."
    )
    kmeans: KMeans | None = Field(
        default=None, description="Unsupervised clusters, for exploration (not evidence)."
    )
    zones: Zones = Field(
        default=Zones(), description="Anomaly rasters to alteration-zone polygons."
    )
    evidence: dict[Name, EvidenceSpec] = Field(
        default_factory=dict, description="Evidence layers of the prospectivity score, by name."
    )
    prospectivity: Prospectivity | None = Field(
        default=None, description="How the evidence layers combine into one score."
    )
    targets: Targets = Field(
        default=Targets(), description="How targets are made, scored and ranked."
    )
    export: Export = Field(default=Export(), description="Field formats written by the run.")
    field: FieldDelivery = Field(
        default=FieldDelivery(),
        description="Which targets go to the field files (the best `top`, capped per licence "
        "if asked).",
    )

    @property
    def target_source(self) -> str:
        """``prospectivity`` when targets come from the combined score, else ``zones``."""
        if self.targets.source is not None:
            return self.targets.source
        return "prospectivity" if self.prospectivity is not None else "zones"

    def run_layers(self) -> set[str]:
        """Names of the single-band rasters this pipeline writes under ``rasters/``."""
        return {name for name, _ in self._layer_sources()}

    def _layer_sources(self) -> list[tuple[str, str]]:
        """Every raster this pipeline writes under ``rasters/``, with the key that makes it."""
        out = [("mask_reasons", "masks"), ("true_colour", "the basemap")]
        out += [(n, "indices") for n in self.indices]
        out += [(n, f"custom_indices.{n}") for n in self.custom_indices]
        for name in self.anomalies:
            out += [(f"{name}_z", f"anomalies.{name}"), (f"{name}_anomaly", f"anomalies.{name}")]
        if self.crosta is not None:
            out += [(f"crosta_{t}", "crosta") for t in self.crosta.targets]
            out.append(("crosta_composite", "crosta"))
        out += [(f"dpca_{n}", f"directed_pca.{n}") for n in self.directed_pca]
        if self.sam is not None:
            out += [("sam_group", "sam"), ("sam_angle", "sam")]
        m = self.minerals
        if m is not None:
            out += [(f"mineral_{g}", "minerals") for g in m.groups]
            out += [(f"fit_{g}", "minerals") for g in m.groups]
            out += [(f"bd_{f}", "minerals.features") for f in m.features]
            out += [(f"pos_{f}", "minerals.features") for f in m.features]
            out += [(f"assemblage_{a}", "minerals.assemblages") for a in m.assemblages]
        if self.classifier is not None:
            out += [("classes", "classifier"), ("class_probability", "classifier")]
        if self.kmeans is not None:
            out.append(("kmeans_clusters", "kmeans"))
        return out

    @model_validator(mode="after")
    def _check_layer_names(self) -> PipelineSpec:
        seen: dict[str, str] = {}
        for name, source in self._layer_sources():
            if name in seen and seen[name] != source:
                raise ValueError(
                    f"{source}: writes the raster {name}.tif, which {seen[name]} writes too; "
                    "rename one of them"
                )
            seen.setdefault(name, source)
        known = set(index_names())
        for name, text in self.custom_indices.items():
            if name in known:
                raise ValueError(
                    f"custom_indices.{name}: has the name of a catalogue index; list it under "
                    "indices or give the formula another name"
                )
            try:
                parse_expression(text, allowed=set(ROLES))
            except InvalidParameterError as exc:
                raise ValueError(f"custom_indices.{name}: {exc}") from None
        return self

    @model_validator(mode="after")
    def _check_outputs(self) -> PipelineSpec:
        listed = self.outputs.rasters
        if isinstance(listed, list):
            layers = self.run_layers()
            unknown = [n for n in listed if n not in layers]
            if unknown:
                raise ValueError(
                    f"outputs.rasters: {', '.join(map(repr, unknown))} is not a raster this "
                    f"pipeline writes; it writes {', '.join(sorted(layers))}"
                )
        return self

    @model_validator(mode="after")
    def _check_prospectivity(self) -> PipelineSpec:
        layers = self.run_layers()
        for name, ev in self.evidence.items():
            if ev.layer is not None and ev.layer not in layers:
                raise ValueError(
                    f"evidence.{name}.layer: {ev.layer!r} is not a raster this pipeline writes; "
                    f"it writes {', '.join(sorted(layers))}"
                )
        p = self.prospectivity
        if p is not None:
            if not self.evidence:
                raise ValueError("prospectivity: needs at least one entry under evidence")
            unknown = sorted(set(p.weights) - set(self.evidence))
            if unknown:
                raise ValueError(
                    f"prospectivity.weights: {', '.join(map(repr, unknown))} is not under "
                    f"evidence ({', '.join(self.evidence)})"
                )
            if p.method in _DATA_METHODS and self.inputs.occurrences is None:
                raise ValueError(
                    f"prospectivity.method {p.method!r} is fitted on known occurrences; set "
                    "inputs.occurrences (points)"
                )
        if self.targets.source == "prospectivity" and p is None:
            raise ValueError("targets.source 'prospectivity' needs a prospectivity section")
        return self

    @model_validator(mode="after")
    def _cross_check(self) -> PipelineSpec:
        known = set(index_names())
        unknown = [n for n in self.indices if n not in known]
        if unknown:
            raise ValueError(
                f"indices: unknown index {', '.join(map(repr, unknown))}; the catalogue has "
                f"{', '.join(sorted(known))} (or define it under custom_indices)"
            )
        computed = set(self.indices) | set(self.custom_indices)
        if self.crosta is not None:
            computed |= {f"crosta_{t}" for t in self.crosta.targets}
        for name, pair in self.directed_pca.items():
            absent = [
                n
                for n in (pair.mineral, pair.vegetation)
                if n not in set(self.indices) | set(self.custom_indices)
            ]
            if absent:
                raise ValueError(
                    f"directed_pca.{name}: {', '.join(map(repr, absent))} not computed; add it to indices"
                )
            computed.add(f"dpca_{name}")
        missing = [n for n in self.anomalies if n not in computed]
        if missing:
            raise ValueError(
                f"anomalies: {', '.join(map(repr, missing))} not computed; add it to indices "
                "(or enable crosta for crosta_* layers)"
            )
        evidence = set(self.anomalies) | self.binary_layers()
        for key in ("iron", "clay"):
            absent = [n for n in getattr(self.targets, key) if n not in evidence]
            if absent:
                raise ValueError(
                    f"targets.{key}: {', '.join(map(repr, absent))} is neither under anomalies "
                    "nor a sam_<group> / class_<name> layer or minerals assemblage of this pipeline"
                )
        p = self.prospectivity
        if p is not None and p.method in ("logistic", "random_forest") and p.estimator_params:
            from geo.classify.estimators import check_estimator_params

            check_estimator_params(
                "LogisticRegression" if p.method == "logistic" else "RandomForestClassifier",
                p.estimator_params,
                key="prospectivity.estimator_params",
            )
        return self

    def binary_layers(self) -> set[str]:
        """Names of the binary evidence layers the SAM, classifier and minerals sections add."""
        out = {f"sam_{g}" for g in self.sam.groups} if self.sam else set()
        if self.minerals is not None:
            out |= set(self.minerals.assemblages)
        if self.classifier is not None:
            out |= {f"class_{c}" for c in self.classifier.anomaly_classes}
        return out


def _describe(err: ErrorDetails) -> str:
    loc = [str(p) for p in err["loc"]]
    if loc and loc[-1] == "[key]":  # a mapping key failed: our validators quote the key
        loc = loc[:-2] if err["type"] == "value_error" else loc[:-1]
    where = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"unknown key {where!r}"
    if err["type"] == "missing":
        return f"missing required key {where!r}"
    if err["type"] == "value_error" and not err["loc"]:  # cross-key checks name their keys
        return str(err["msg"]).removeprefix("Value error, ").rstrip(".")
    if err["type"] == "value_error":  # our own validators quote the value themselves
        return f"{where}: {str(err['msg']).removeprefix('Value error, ').rstrip('.')}"
    return f"{where}: {err['msg']} (got {_quote(err.get('input'))})"


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline file.

    Raises
    ------
    InputNotFoundError
        The file does not exist.
    PipelineSpecError
        YAML syntax errors and any validation failure; the message names the file and key.
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: pipeline file not found.")
    doc = load_yaml(path)
    if not isinstance(doc, dict):
        raise PipelineSpecError(
            f"{path}: a pipeline file must be a mapping of keys; got {type(doc).__name__}."
        )
    return _resolve_paths(validate_spec(doc, path), path.parent)


def validate_spec(doc: object, source: str | Path) -> PipelineSpec:
    """Validate a pipeline document (a pipeline file's, or one a run's manifest recorded).

    Raises
    ------
    PipelineSpecError
        Any validation failure; the message names ``source`` and the first five problems.
    """
    if not isinstance(doc, dict):
        raise PipelineSpecError(
            f"{source}: a pipeline must be a mapping of keys; got {type(doc).__name__}."
        )
    try:
        return PipelineSpec.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors()
        problems = "; ".join(_describe(e) for e in errors[:5])
        if len(errors) > 5:
            problems += f"; and {len(errors) - 5} more problem(s)"
        raise PipelineSpecError(f"{source}: {problems}.") from None


def _resolve_paths(spec: PipelineSpec, base: Path) -> PipelineSpec:
    def rel(p: Path | None) -> Path | None:
        return None if p is None else Path(os.path.normpath(p if p.is_absolute() else base / p))

    inputs = spec.inputs
    scene = (
        inputs.scene.model_copy(update={"path": rel(inputs.scene.path)}) if inputs.scene else None
    )
    licences = (
        inputs.licences.model_copy(update={"path": rel(inputs.licences.path)})
        if inputs.licences
        else None
    )
    classifier = (
        spec.classifier.model_copy(update={"training": rel(spec.classifier.training)})
        if spec.classifier
        else None
    )
    aoi = inputs.aoi.model_copy(update={"path": rel(inputs.aoi.path)}) if inputs.aoi else None
    exclusions = (
        inputs.exclusions.model_copy(update={"path": rel(inputs.exclusions.path)})
        if inputs.exclusions
        else None
    )
    occurrences = (
        inputs.occurrences.model_copy(update={"path": rel(inputs.occurrences.path)})
        if inputs.occurrences
        else None
    )
    evidence = {
        name: ev.model_copy(update={"raster": rel(ev.raster), "vector": rel(ev.vector)})
        for name, ev in spec.evidence.items()
    }
    return spec.model_copy(
        update={
            "inputs": Inputs(
                scene=scene,
                licences=licences,
                aoi=aoi,
                exclusions=exclusions,
                occurrences=occurrences,
            ),
            "output": rel(spec.output),
            "classifier": classifier,
            "evidence": evidence,
        }
    )
