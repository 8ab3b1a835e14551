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

from geo.errors import InputNotFoundError, InvalidParameterError, PipelineSpecError
from geo.pipeline._yaml import load_yaml
from geo.prospectivity.combine import KNOWLEDGE_METHODS, MEMBERSHIP_FUNCTIONS, Membership
from geo.spectral.anomaly import METHODS
from geo.spectral.expression import parse_expression
from geo.spectral.indices import ROLES, index_names
from geo.spectral.masks import MASK_RULES, PRODUCT_RULES, MaskConfig
from geo.targets.rank import COMPONENTS, ScoreConfig

__all__ = ["NAME_PATTERN", "PipelineSpec", "load_spec", "validate_spec"]

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

    path: Path | None = None
    roles: list[str] | None = None
    bands: dict[str, str] | None = None
    resolution: Annotated[float, Field(gt=0)] | None = None
    sensor: str | None = None
    scale: float | None = None
    offset: float | None = None


class LicenceInput(_Model):
    """``inputs.licences``: the licence layer and which columns identify a licence."""

    path: Path
    layer: str | None = None
    fields: dict[Literal["licence_id", "holder", "status", "expiry"], str | None] = Field(
        default_factory=dict
    )
    #: Text encoding of the attribute table (e.g. ``cp1252``); by default the file's own,
    #: falling back to cp1252 with a warning when its text is not valid in it.
    encoding: str | None = None


class AoiInput(_Model):
    """``inputs.aoi``: polygons bounding the statistics (thresholds use only pixels inside)."""

    path: Path
    layer: str | None = None


class ExclusionInput(_Model):
    """``inputs.exclusions``: protected areas, settlements, water bodies... (polygons, any CRS).

    ``action: flag`` keeps an intersecting target and adds ``excluded:<name>`` to its flags;
    ``action: remove`` drops it from the ranking.
    """

    path: Path
    layer: str | None = None
    name_column: str | None = None
    action: Literal["flag", "remove"] = "flag"


class OccurrenceInput(_Model):
    """``inputs.occurrences``: known deposits and occurrences (points, any CRS).

    Weights of evidence, logistic regression and random forest are fitted on them; every
    method is evaluated against them (success-/prediction-rate curves).
    """

    path: Path
    layer: str | None = None


class Inputs(_Model):
    """``inputs``."""

    scene: SceneInput | None = None
    licences: LicenceInput | None = None
    aoi: AoiInput | None = None
    exclusions: ExclusionInput | None = None
    occurrences: OccurrenceInput | None = None


class Masks(_Model):
    """``masks``: see :class:`geo.spectral.masks.MaskConfig`."""

    qa: list[Literal[PRODUCT_RULES]] = list(_DEFAULT_MASKS.qa)  # type: ignore[valid-type]
    saturation: bool = True
    ndvi_max: float | None = 0.3
    mndwi_max: float | None = 0.0
    dark_albedo: float | None = 0.04
    buffer_px: Annotated[int, Field(ge=0, le=50)] = 2
    buffer_rules: list[Literal[_BUFFERABLE]] = list(_DEFAULT_MASKS.buffer_rules)  # type: ignore[valid-type]

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
    """One entry of ``anomalies``."""

    method: Literal[METHODS] = "robust_z"  # type: ignore[valid-type]
    k: Annotated[float, Field(gt=0)] = 3.0
    percentile: Annotated[float, Field(gt=0, lt=100)] = 97.5


class Crosta(_Model):
    """``crosta``: feature-oriented PCA (Loughlin 1991) images added as evidence layers.

    Each target ``t`` adds a layer ``crosta_<t>`` (the selected component, signed so the
    target is bright) that ``anomalies`` can threshold (use ``log: false`` semantics: the
    runner never logs these).
    """

    targets: list[Literal["iron_oxide", "hydroxyl"]] = ["iron_oxide", "hydroxyl"]


class DirectedPair(_Model):
    """One directed PCA (Fraser & Green 1987): a mineral ratio and a vegetation ratio."""

    mineral: Name
    vegetation: Name = "vegetation_ratio"


class Sam(_Model):
    """``sam``: spectral angle mapping against the bundled library at the scene's bands.

    Each group in ``groups`` becomes a binary evidence layer ``sam_<group>`` (best match under
    its angle threshold).
    """

    groups: list[Name]
    threshold: Annotated[float, Field(gt=0, lt=1.6)] = 0.10
    thresholds: dict[Name, Annotated[float, Field(gt=0, lt=1.6)]] = Field(default_factory=dict)


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

    class_: str = Field("sklearn.ensemble.RandomForestClassifier", alias="class")
    params: dict = Field(default_factory=dict)

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

    training: Path
    layer: str | None = None
    label_column: str = "class"
    estimator: Estimator = Field(default_factory=Estimator)
    features: Literal["bands", "bands+indices"] = "bands+indices"
    block_size_m: Annotated[float, Field(gt=0)] = 1500.0
    folds: Annotated[int, Field(ge=2, le=20)] = 5
    anomaly_classes: list[Name] = Field(default_factory=list)
    min_probability: Annotated[float, Field(ge=0, le=1)] = 0.5
    seed: int = 0


class KMeans(_Model):
    """``kmeans``: unsupervised clusters of the valid pixels, for exploration (not evidence)."""

    clusters: Annotated[int, Field(ge=2, le=254)] = 8
    sample: Annotated[int, Field(ge=1000)] = 100_000
    seed: int = 0


_DISTANCES = ("distance", "intersection_distance")
_VECTOR_MEASURES = ("distance", "intersection_distance", "density", "category")
_RASTER_MEASURES = ("value", "slope")


class MembershipSpec(_Model):
    """How an evidence layer becomes a fuzzy membership in [0, 1].

    See :class:`geo.prospectivity.combine.Membership`.
    """

    function: Literal[MEMBERSHIP_FUNCTIONS]  # type: ignore[valid-type]
    low: float | None = None
    high: float | None = None
    midpoint: Annotated[float, Field(gt=0)] | None = None
    spread: Annotated[float, Field(gt=0)] | None = None
    values: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    default: Annotated[float, Field(ge=0, le=1)] = 0.0
    missing: Annotated[float, Field(ge=0, le=1)] | None = None

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

    layer: Name | None = None
    raster: Path | None = None
    vector: Path | None = None
    vector_layer: str | None = None
    band: int | str = 1
    measure: Literal[
        "value", "slope", "distance", "intersection_distance", "density", "category"
    ] = "value"
    radius_m: Annotated[float, Field(gt=0)] | None = None
    column: str | None = None
    resampling: Literal["nearest", "bilinear", "cubic", "average"] = "bilinear"
    membership: MembershipSpec | None = None
    favourable: Literal["high", "low"] | None = None

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

    buffer_m: Annotated[float, Field(ge=0)] = 1000.0
    ratio: Annotated[float, Field(gt=0)] = 10.0


class Evaluation(_Model):
    """``prospectivity.evaluation``: how the score is tested against the occurrences."""

    holdout: list[Literal["leave_one_out", "blocks"]] = ["leave_one_out", "blocks"]
    block_size_m: Annotated[float, Field(gt=0)] = 3000.0
    max_leave_one_out: Annotated[int, Field(ge=2)] = 50
    fractions: list[Annotated[float, Field(gt=0, le=1)]] = [0.05, 0.10, 0.20]


_DATA_METHODS = ("wofe", "logistic", "random_forest")


class Prospectivity(_Model):
    """``prospectivity``: how the evidence layers combine into one score.

    Knowledge-driven: ``weighted`` (Σwᵢμᵢ/Σwᵢ), ``fuzzy_and`` / ``fuzzy_or`` /
    ``fuzzy_product`` / ``fuzzy_sum`` / ``fuzzy_gamma`` (on memberships). Data-driven,
    fitted on ``inputs.occurrences``: ``wofe`` (weights of evidence, each layer
    generalised at maximum contrast), ``logistic`` and ``random_forest`` (negatives drawn
    outside ``negatives.buffer_m`` of the occurrences).
    """

    method: Literal[(*KNOWLEDGE_METHODS, *_DATA_METHODS)] = "fuzzy_gamma"  # type: ignore[valid-type]
    gamma: Annotated[float, Field(ge=0, le=1)] = 0.75
    weights: dict[Name, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    classes: Annotated[int, Field(ge=2, le=100)] = 10
    min_studentised: Annotated[float, Field(ge=0)] = 2.0
    negatives: Negatives = Negatives()
    estimator_params: dict = Field(default_factory=dict)
    seed: int = 0
    evaluation: Evaluation = Evaluation()


class Zones(_Model):
    """``zones``."""

    min_area_ha: Annotated[float, Field(ge=0)] = 2.0
    sieve_px: Annotated[int, Field(ge=0)] = 6


class Targets(_Model):
    """``targets``: merging and scoring."""

    merge_distance_m: Annotated[float, Field(ge=0)] = 150.0
    iron: list[Name] = ["iron_oxide"]
    clay: list[Name] = ["clay_hydroxyl"]
    weights: dict[Literal[COMPONENTS], Annotated[float, Field(ge=0)]] = {  # type: ignore[valid-type]
        "iron_intensity": 0.3,
        "clay_intensity": 0.3,
        "coincidence": 0.25,
        "area": 0.15,
    }
    z_scale: Annotated[float, Field(gt=0)] = 3.0
    area_scale_ha: Annotated[float, Field(gt=0)] = 25.0
    top: Annotated[int, Field(ge=0)] = 10
    source: Literal["zones", "prospectivity"] | None = None
    top_area_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.05
    score_threshold: float | None = None
    straddle: Literal["flag", "split"] = "flag"

    def to_config(self) -> ScoreConfig:
        """Return the domain-level score configuration."""
        return ScoreConfig(
            tuple(self.iron), tuple(self.clay), dict(self.weights), self.z_scale, self.area_scale_ha
        )


_EXPORT_FORMATS = ("qgis", "kml", "kmz", "gpx", "geojson", "shp", "csv", "html", "pdf")


class Export(_Model):
    """``export``: the field formats written at the end of every run (all by default)."""

    formats: list[Literal[_EXPORT_FORMATS]] = list(_EXPORT_FORMATS)  # type: ignore[valid-type]
    top: Annotated[int, Field(ge=0, le=200)] = 10  # targets with their own report page
    route_top: Annotated[int, Field(ge=0, le=500)] = 10  # targets in the GPX route


class Processing(_Model):
    """``processing``: chunking of the per-pixel stages."""

    chunk: Annotated[int, Field(ge=64, le=8192)] = 1024
    # 32 MB: decimated and unaligned reads stay fast (a tile row of several bands); a
    # bigger cache mostly holds written blocks (128 MB: +0.3 GB peak on a Landsat scene,
    # no faster)
    gdal_cache_mb: Annotated[int, Field(ge=8, le=65536)] = 32


class PipelineSpec(_Model):
    """A whole pipeline file."""

    name: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    description: Text = ""
    version: Literal[1] = 1
    inputs: Inputs = Inputs()
    output: Path | None = None
    processing: Processing = Processing()
    masks: Masks = Masks()
    indices: list[Name]
    custom_indices: dict[Name, Annotated[str, StringConstraints(max_length=2000)]] = Field(
        default_factory=dict
    )
    anomalies: dict[Name, Anomaly]
    crosta: Crosta | None = None
    directed_pca: dict[Name, DirectedPair] = Field(default_factory=dict)
    sam: Sam | None = None
    classifier: Classifier | None = None
    kmeans: KMeans | None = None
    zones: Zones = Zones()
    evidence: dict[Name, EvidenceSpec] = Field(default_factory=dict)
    prospectivity: Prospectivity | None = None
    targets: Targets = Targets()
    export: Export = Export()

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
                    "nor a sam_<group> / class_<name> layer of this pipeline"
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
        """Names of the binary evidence layers the SAM and classifier sections add."""
        out = {f"sam_{g}" for g in self.sam.groups} if self.sam else set()
        if self.classifier is not None:
            out |= {f"class_{c}" for c in self.classifier.anomaly_classes}
        return out


def _describe(err: dict) -> str:
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
