"""MkDocs hooks: the reference pages of the documentation site, generated from the code.

A page of ``docs/`` holds a marker such as ``<!-- geo:pipeline-reference -->``; when the
site is built (``make docs``), :func:`on_page_markdown` replaces it with Markdown made
from the code itself, so nothing in those pages is copied by hand:

=====================  ==================================================================
marker                 generated from
=====================  ==================================================================
pipeline-reference     the pydantic models of ``geo/pipeline/spec.py`` (every key)
sensors                the band tables of ``geo/sensors.py``
indices                the index catalogue ``geo/data/indices.yaml``
mask-rules             ``geo.spectral.masks.MASK_RULES`` (the bits of ``mask_reasons``)
target-columns         ``geo/targets/columns.py`` (meanings below, checked complete)
module-map             the files under ``geo/`` and their module docstrings
api PACKAGE            one mkdocstrings block per public module of PACKAGE
stages                 ``geo.pipeline.stages.STAGES``, when that table exists
=====================  ==================================================================

Anything the code gains without a description (a pipeline key without
``Field(description=...)``, a target column without a meaning here) is logged as a
warning, which fails ``mkdocs build --strict``.

The same file is a griffe extension (:class:`RstToMarkdown`, named in ``mkdocs.yml``) that
turns the reStructuredText bits of geo's numpy docstrings (``:func:`x``` roles, simple
tables, ``::`` literal blocks) into Markdown for the API pages.
"""

from __future__ import annotations

import ast
import logging
import re
import types
import typing
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "geo"
log = logging.getLogger("mkdocs.geo_docs")  # under "mkdocs": warnings count for --strict

_MARKER = re.compile(r"<!--\s*geo:(?P<name>[a-z-]+)(?:\s+(?P<arg>[^\s>]+))?\s*-->")


# --------------------------------------------------------------------------- the hook


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace every ``<!-- geo:NAME [ARG] -->`` marker with its generated Markdown."""

    def expand(match: re.Match) -> str:
        name, arg = match.group("name"), match.group("arg")
        maker = GENERATORS.get(name)
        if maker is None:
            log.warning("%s: unknown marker geo:%s", page.file.src_path, name)
            return match.group(0)
        return maker(arg) if arg else maker()

    return _MARKER.sub(expand, markdown)


def on_config(config):
    """Keep the ``<name>`` placeholders of the commands' help visible on the CLI page."""
    _escape_click_placeholders()
    return config


_PLACEHOLDER = re.compile(r"<([A-Za-z_][A-Za-z0-9_ -]*)>")


def _escape_click_placeholders() -> None:
    """Make mkdocs-click escape ``<name>`` in help texts (Markdown would take it for HTML).

    mkdocs-click writes a command's help into the page as Markdown, where
    ``OUT/scenes/<name>/`` loses ``<name>``. Its description maker is wrapped to escape such
    placeholders outside code spans; without that private function the page still builds.
    """
    try:
        from mkdocs_click import _docs
    except ImportError:
        return
    make = getattr(_docs, "_make_description", None)
    if make is None or getattr(make, "geo_escaped", False):
        return

    def make_description(*args, **kwargs):
        for line in make(*args, **kwargs):
            parts = line.split("`")
            parts[::2] = [_PLACEHOLDER.sub(r"&lt;\1&gt;", part) for part in parts[::2]]
            yield "`".join(parts)

    make_description.geo_escaped = True  # type: ignore[attr-defined]
    _docs._make_description = make_description


# --------------------------------------------------------------------------- reST -> Markdown

_ROLE = re.compile(r":(?:py:)?(?:func|class|data|mod|meth|attr|exc|obj|const):`~?([^`]+)`")
_TABLE_BORDER = re.compile(r"^(\s*)(=+)((?:\s+=+)+)\s*$")


def rst_to_markdown(text: str) -> str:
    r"""Return a numpy docstring with its reStructuredText bits made Markdown.

    Roles become code (``:func:`~geo.io.open_scene``` -> ```open_scene```), reST literals
    Markdown code, simple tables Markdown tables, and a paragraph ending in ``::`` ends
    in ``:``.

    Examples
    --------
    >>> rst_to_markdown("See :func:`~geo.io.readers.open_scene` and ``X``::")
    'See `open_scene` and `X`:'
    """
    text = _ROLE.sub(lambda m: f"`{_short(m.group(1))}`", text)
    text = re.sub(r"``([^`\n]+)``", r"`\1`", text)  # reST literals: Markdown code
    text = re.sub(r"(\S)::$", r"\1:", text, flags=re.MULTILINE)
    text = re.sub(r"^::$", "", text, flags=re.MULTILINE)
    return _tables(text)


def _short(target: str) -> str:
    target = target.strip()
    return target.rsplit(".", 1)[-1] if target.startswith("geo.") and "(" not in target else target


def _tables(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        border = _TABLE_BORDER.match(lines[i])
        if not border:
            out.append(lines[i])
            i += 1
            continue
        spans = [(m.start(), m.end()) for m in re.finditer(r"=+", lines[i])]
        rows: list[list[str]] = []
        borders = 1
        j = i + 1
        while j < len(lines) and borders < 3:
            if _TABLE_BORDER.match(lines[j]):
                borders += 1
            elif lines[j].strip():
                cells = [
                    lines[j][a : (spans[k + 1][0] if k + 1 < len(spans) else None)].strip()
                    for k, (a, _) in enumerate(spans)
                ]
                rows.append(cells)
            j += 1
            if borders == 2 and (j >= len(lines) or not lines[j].strip()):
                break  # a table without a header row: two borders only
        if not rows:
            out.append(lines[i])
            i += 1
            continue
        indent = border.group(1)
        header = rows[0] if borders == 3 else [""] * len(spans)
        body = rows[1:] if borders == 3 else rows
        out.append(indent + "| " + " | ".join(header) + " |")
        out.append(indent + "|" + "---|" * len(spans))
        out.extend(indent + "| " + " | ".join(_cell(c) for c in r) + " |" for r in body)
        i = j
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


try:  # the griffe extension (griffe comes with mkdocstrings-python)
    import griffe

    class RstToMarkdown(griffe.Extension):
        """Griffe extension: geo's docstrings, reST roles and tables made Markdown."""

        def on_instance(self, *, obj, **kwargs) -> None:
            """Rewrite the docstring of every object griffe loads."""
            if obj.docstring is not None:
                obj.docstring.value = rst_to_markdown(obj.docstring.value)

except ImportError:  # pragma: no cover - only the hooks are used without mkdocstrings
    pass


# --------------------------------------------------------------------------- pipeline keys


def pipeline_reference() -> str:
    """Markdown for every key of a pipeline file, walked from :class:`PipelineSpec`."""
    from geo.pipeline.spec import NAME_PATTERN, PipelineSpec

    out = [
        "Every key a pipeline file may hold, read from the pydantic models in "
        "`geo/pipeline/spec.py` when this site was built. *name* means a plain name that "
        f"becomes part of a file name: it must match `{NAME_PATTERN.pattern}` (a letter, then "
        "letters, digits or underscores). `<name>` in a key stands for a name you choose. "
        "Relative paths are resolved against the pipeline file's own folder.",
        "",
    ]
    seen: set[type] = set()
    _section(out, "", PipelineSpec, seen)
    return "\n".join(out)


def _section(out: list[str], path: str, model, seen: set) -> None:
    title = path or "Top level"
    anchor = _anchor(path or "top-level")
    out.append(f"## `{title}` {{#{anchor}}}" if path else f"## Top level {{#{anchor}}}")
    out.append("")
    doc = _model_doc(model)
    if doc:
        out += [doc, ""]
    out += ["| key | type | default | description |", "|---|---|---|---|"]
    nested = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        dotted = f"{path}.{key}" if path else key
        sub, mapping = _submodel(field.annotation)
        child = f"{dotted}.<name>" if mapping else dotted
        if sub is not None:
            nested.append((child, sub))
        if not field.description:
            log.warning("pipeline key %s has no description: add Field(description=...)", dotted)
        kind = _type(field.annotation, field.metadata, link=_anchor(child) if sub else None)
        out.append(
            f"| `{dotted}` | {kind} | {_default(field)} | {_cell(_one_line(field.description))} |"
        )
    out.append("")
    for child, sub in nested:
        _section(out, child, sub, seen)


def _anchor(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")


def _model_doc(model) -> str:
    doc = (model.__doc__ or "").strip()
    if not doc:
        return ""
    lines = doc.split("\n")
    first = lines[0]
    first = re.sub(r"^``[^`]+``(: ?)?", "", first).strip()  # the heading names the key
    rest = "\n".join(line.strip() for line in lines[1:]).strip()
    first = first.strip(" .")
    text = "\n\n".join(part for part in (first[:1].upper() + first[1:], rest) if part)
    return rst_to_markdown(text).rstrip(".") + "." if text else ""


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _submodel(annotation):
    """The section model inside ``annotation`` and whether it sits in a mapping."""
    from pydantic import BaseModel

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if origin in (typing.Union, types.UnionType):
        for a in args:
            sub, mapping = _submodel(a)
            if sub is not None:
                return sub, mapping
    if origin is dict and len(args) == 2:
        sub, _ = _submodel(args[1])
        return sub, sub is not None
    return None, False


def _type(annotation, metadata=(), *, link: str | None = None) -> str:
    if _is_name(metadata):
        text = "name"
    else:
        text = _type_text(annotation, link)
    bounds = _bounds(metadata)
    return f"{text} ({bounds})" if bounds else text


def _is_name(metadata) -> bool:
    """Whether the metadata holds the plain-name validator of ``geo.pipeline.spec.Name``."""
    return any(getattr(getattr(m, "func", None), "__name__", "") == "_plain_name" for m in metadata)


def _type_text(tp, link: str | None, *, nested: bool = False) -> str:
    from pydantic import BaseModel

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        base, *meta = args
        if _is_name(meta):
            return "name"
        inner = _type_text(base, link, nested=nested)
        bounds = _bounds(meta)
        return f"{inner} ({bounds})" if bounds else inner
    text = None
    if origin in (typing.Union, types.UnionType):
        parts = [_type_text(a, link, nested=True) for a in args if a is not type(None)]
        text = " or ".join(parts)
        text = f"{text}, or null" if type(None) in args else text
    elif origin is typing.Literal:
        if len(args) == 1:
            return f"`{args[0]}`"
        text = "one of " + ", ".join(f"`{a}`" for a in args)
    if text is not None:
        return f"({text})" if nested else text
    if origin is list:
        return f"list of {_type_text(args[0], link, nested=True)}"
    if origin is dict:
        key = _type_text(args[0], None, nested=True)
        return f"mapping of {key} to {_type_text(args[1], link, nested=True)}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"[section](#{link})" if link else "section"
    names = {str: "text", int: "integer", float: "number", bool: "true / false", Path: "path"}
    if tp in names:
        return names[tp]
    if tp is dict:
        return "mapping"
    return f"`{getattr(tp, '__name__', tp)}`"


def _bounds(metadata) -> str:
    parts = []
    shortest, longest = 0, None
    for m in metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(m, attr, None)
            if value is not None:
                parts.append(f"{sign} {value:g}")
        if hasattr(m, "metadata") and isinstance(m.metadata, list):  # a nested FieldInfo
            inner = _bounds(m.metadata)
            if inner:
                parts.append(inner)
        low, high = getattr(m, "min_length", None), getattr(m, "max_length", None)
        shortest = max(shortest, low or 0)
        if high is not None:
            longest = high if longest is None else min(longest, high)
    if shortest == 1:
        parts.append("not empty")
    elif shortest > 1:
        parts.append(f"at least {shortest} characters")
    if longest is not None:
        parts.append(f"at most {longest} characters")
    return ", ".join(dict.fromkeys(parts))


def _default(field) -> str:
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "**required**"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(its keys' defaults)"
    if value is None:
        return "null"
    if isinstance(value, Path):
        value = str(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    text = text.strip()
    text = text.removesuffix("...").strip()
    return "`" + ('""' if value == "" else text) + "`"


# --------------------------------------------------------------------------- sensors, indices


def sensor_tables() -> str:
    """Band roles per sensor (one matrix), then each sensor's band table."""
    from geo.sensors import ROLES, SENSORS

    names = list(SENSORS)
    out = [
        "Band numbers per role (empty: the sensor has no such band). Formulas, masks and "
        "methods use the roles, never band numbers.",
        "",
        "| role | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for role in ROLES:
        cells = []
        for n in names:
            s = SENSORS[n]
            cells.append(s.band(role).number if role in s.roles else "")
        if any(cells):
            out.append(f"| `{role}` | " + " | ".join(cells) + " |")
    out.append("")
    for n, s in SENSORS.items():
        out += [
            f"### `{n}`",
            "",
            f"Platforms: {', '.join(s.platforms)}.",
            "",
            "| role | band | centre (µm) | range (µm) | pixel (m) |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| `{b.role}` | {b.number} | {b.centre_um:g} | {b.low_um:g}–{b.high_um:g} | "
            f"{b.gsd_m:g} |"
            for b in s.bands
        ]
        out.append("")
    return "\n".join(out)


_STATUS = {"V": "verified", "C": "derived", "U": "unchecked"}


def index_catalogue() -> str:
    """The index catalogue: formula per sensor with its status, targets and reference."""
    from geo.spectral.indices import catalogue, composites, index_names

    by_name: dict[str, list] = {}
    for d in catalogue():
        by_name.setdefault(d.name, []).append(d)
    out = [
        "Status per sensor: **V** checked against the named source, **C** derived from a "
        "verified band mapping, **U** common practice, unchecked. A sensor that is not listed "
        "lacks the bands; asking for the index there is an error naming them.",
        "",
        "| index | formula (sensors: status) | targets and reference |",
        "|---|---|---|",
    ]
    for name in index_names():
        defs = by_name.get(name, [])
        if not defs:
            continue
        first = defs[0]
        formulas: dict[str, list[str]] = {}
        for d in defs:
            formulas.setdefault(d.expression.text, []).append(f"{d.sensor}: {d.status}")
        formula = "<br>".join(f"`{f}` ({', '.join(s)})" for f, s in formulas.items())
        what = f"`{name}`<br>{_cell(first.title)}" + (
            "<br>*statistics on log*" if first.log_stats else ""
        )
        out.append(
            f"| {what} | {formula} | {', '.join(first.targets)}<br>*{_cell(first.reference)}* |"
        )
    out += ["", "RGB ratio composites:", ""]
    out += [f"- `{k}`: R = `{r}`, G = `{g}`, B = `{b}`" for k, (r, g, b) in composites().items()]
    return "\n".join(out)


_MASK_MEANING = {
    "fill": "no data (fill DN, outside the footprint, Landsat 7 SLC-off gaps; QA_PIXEL bit 0, "
    "SCL 0)",
    "cloud": "cloud (Landsat QA_PIXEL bit 3, Sentinel-2 SCL 8/9)",
    "dilated_cloud": "the product's dilation around cloud (QA_PIXEL bit 1)",
    "cirrus": "cirrus (QA_PIXEL bit 2, SCL 10)",
    "cloud_shadow": "cloud shadow (QA_PIXEL bit 4, SCL 3)",
    "snow": "snow or ice (QA_PIXEL bit 5, SCL 11)",
    "saturated": "a saturated band (QA_RADSAT, SCL 1)",
    "water": "water: the product's water flag and/or MNDWI above `masks.mndwi_max`",
    "vegetation": "green vegetation: NDVI above `masks.ndvi_max`, or SCL 4 when listed in "
    "`masks.qa`",
    "dark": "deep shadow: mean reflectance below `masks.dark_albedo`, or SCL 2 when listed in "
    "`masks.qa`",
    "buffer": "within `masks.buffer_px` pixels of a pixel of a rule in `masks.buffer_rules`",
    "unclassified": "Sentinel-2 SCL 7 (unclassified / cloud low probability), when listed in "
    "`masks.qa`",
    "haze": "the product's haze layer (EnMAP L2A), when listed in `masks.qa`",
}


def mask_rules() -> str:
    """The bits of ``mask_reasons.tif``, in order."""
    from geo.spectral.masks import MASK_RULES, PRODUCT_RULES

    out = [
        "| bit | value | rule | from the product's QA | removes |",
        "|---|---|---|---|---|",
    ]
    for i, rule in enumerate(MASK_RULES):
        meaning = _MASK_MEANING.get(rule)
        if meaning is None:
            log.warning("mask rule %s has no meaning in scripts/docs_hooks.py", rule)
        qa = "yes" if rule in PRODUCT_RULES else "no"
        out.append(f"| {i} | {1 << i} | `{rule}` | {qa} | {meaning or ''} |")
    return "\n".join(out)


# --------------------------------------------------------------------------- output contract

#: Meaning of every column of ``geo/targets/columns.py``; the build warns about a column
#: without one (and about a meaning whose column is gone).
COLUMN_MEANINGS = {
    "target_id": "`T001` is rank 1 (best)",
    "rank": "1 = best, over the whole scene (or batch)",
    "score": "zone targets: the weighted mean of the components, in [0, 1]; prospectivity "
    "targets: the 90th percentile of the target's pixel scores (its best part)",
    "licence_id": "the licence holding most of the target's area; null outside every licence",
    "holder": "that licence's holder",
    "licence_status": "that licence's status (`granted`, `pending`, ...)",
    "area_ha": "anomalous area of the target (overlapping zones counted once)",
    "easting": "a point guaranteed inside the polygon (`representative_point`), scene CRS",
    "northing": "the same point's northing, scene CRS (negative south of the equator in a "
    "north UTM zone, as USGS delivers Landsat)",
    "epsg": "EPSG code of the scene CRS",
    "lon": "the same point in WGS 84, 7 decimals (~1 cm)",
    "lat": "the same point in WGS 84, 7 decimals",
    "iron_intensity": "1 − exp(−z̄/z_scale), z̄ the area-weighted mean z of the target's iron zones",
    "clay_intensity": "the same for the clay zones",
    "coincidence": "1 − exp(−min(A_iron, A_clay)/area_scale_ha): how much of the weaker kind "
    "of evidence is present",
    "area": "1 − exp(−area_ha/area_scale_ha)",
    "licence_overlap_pct": "share of the target inside its licence",
    "straddles_boundary": "true when the target lies partly outside its licence",
    "iron_area_ha": "area of the target's iron zones",
    "clay_area_ha": "area of the target's clay zones",
    "iron_z": "area-weighted mean z of the iron zones",
    "clay_z": "area-weighted mean z of the clay zones",
    "n_zones": "number of zones merged into the target",
    "zone_ids": "their `zone_id`s",
    "kinds": "their kinds (index names)",
    "scene_id": "the scene the target came from",
    "date": "that scene's acquisition date",
    "rank_in_licence": "1 for the best target of its licence (null outside licences)",
    "licence_expiry": "the licence's expiry date, when `inputs.licences.fields.expiry` names it",
    "licence_flag": "why the licence needs attention before drilling: `expired`, `pending`, "
    "... (from its status), or `expired_<date>` when its expiry date is before the run date",
    "masked_fraction": "share of the pixels within two pixels of the target that the masks removed",
    "flags": "`excluded:<name>` (touches an exclusion zone with `action: flag`) and "
    "false-positive risks: `near_vegetation`, `near_water`, `near_cloud`, "
    "`near_cloud_shadow`, `near_dark` (a masked pixel of that kind next to it), `tiny` (under "
    "twice the minimum zone area), `single_evidence` (one kind of zone only; for "
    "prospectivity targets at most one layer raising the score), "
    "`straddles_licence_boundary` (`straddle: flag`)",
    "split_with": "for a target cut at a licence boundary (`straddle: split`), the ids of the "
    "other pieces of the same anomaly",
    "score_method": "the prospectivity method that made the score",
    "score_mean": "mean of the target's pixel scores",
    "score_max": "peak pixel score",
    "score_std": "`wofe`: the posterior's standard deviation at the target",
    "n_evidence": "evidence layers that raised the target's score",
    "evidence": "text, largest first: how much each layer raised the target's mean score "
    "compared with a typical (median) location (`clay +0.32, faults +0.11`)",
    "utm_zone": "the standard UTM zone a GPS shows (`35S`)",
    "utm_easting": "easting in that zone",
    "utm_northing": "northing in that zone (positive, as a GPS shows it)",
    "lat_dms": "latitude in degrees, minutes, seconds",
    "lon_dms": "longitude in degrees, minutes, seconds",
    "datum": "`WGS 84`",
}


def target_columns() -> str:
    """The target table's columns, from ``geo.targets.columns``, with their meanings."""
    from geo.targets import columns

    out = []

    def table(title: str, names) -> None:
        out.extend([title, "", "| column | meaning |", "|---|---|"])
        for n in names:
            meaning = COLUMN_MEANINGS.get(n)
            if meaning is None:
                log.warning("target column %s has no meaning in scripts/docs_hooks.py", n)
            out.append(f"| `{n}` | {_cell(meaning or '')} |")
        out.append("")

    table(
        "Columns of the `targets` layer and `targets.csv`, in this order (`TARGET_COLUMNS`):",
        columns.TARGET_COLUMNS,
    )
    table(
        "Prospectivity targets add (`PROSPECT_COLUMNS`), then `mean_<layer>` and "
        "`contrib_<layer>` for every evidence layer:",
        columns.PROSPECT_COLUMNS,
    )
    table(
        "The field CSV `exports/targets_field.csv` has these columns (`FIELD_COLUMNS`; "
        "`evidence` is appended when the targets have it), the GPS ones computed from "
        "`easting`, `northing` and `epsg`:",
        columns.FIELD_COLUMNS,
    )
    known = {*columns.TARGET_COLUMNS, *columns.PROSPECT_COLUMNS, *columns.FIELD_COLUMNS}
    for gone in sorted(set(COLUMN_MEANINGS) - known):
        log.warning("scripts/docs_hooks.py describes column %s, which columns.py lacks", gone)
    return "\n".join(out)


# --------------------------------------------------------------------------- modules


def _public_modules(package: str, *, recurse: bool = True) -> list[str]:
    """Dotted names of the public modules of ``package``, the package itself first."""
    folder = ROOT.joinpath(*package.split("."))
    names = [package]
    for child in sorted(folder.iterdir()):
        if child.name.startswith("_"):
            continue
        if child.is_dir() and (child / "__init__.py").is_file():
            if recurse:
                names += _public_modules(f"{package}.{child.name}")
        elif child.suffix == ".py":
            names.append(f"{package}.{child.stem}")
    return names


def api(package: str) -> str:
    """One mkdocstrings block per public module of ``package``.

    Packages show their docstring only (what they re-export is documented where it is
    defined). ``geo`` itself stops at its sub-packages, which have pages of their own.
    """
    blocks = []
    for name in _public_modules(package, recurse=package != "geo"):
        if ROOT.joinpath(*name.split("."), "__init__.py").is_file():
            blocks.append(f"::: {name}\n    options:\n      members: false\n")
        else:
            blocks.append(f"::: {name}\n")
    return "\n".join(blocks)


def _summary(path: Path) -> str:
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except SyntaxError:
        return "(does not parse)"
    if not doc:
        return ""
    text = rst_to_markdown(doc.strip().split("\n\n")[0].replace("\n", " "))
    parts = text.split("`")  # dunder names outside code spans are not bold Markdown
    parts[::2] = [part.replace("__", "\\_\\_") for part in parts[::2]]
    return "`".join(parts)


def module_map() -> str:
    """Every package, module and data file under ``geo/``, with its docstring's summary."""
    out = ["| module | what it holds |", "|---|---|"]
    out.append(f"| **`geo/`** | {_cell(_summary(PACKAGE / '__init__.py'))} |")

    def walk(folder: Path, depth: int) -> None:
        for child in sorted(folder.iterdir(), key=lambda p: (p.is_dir(), p.name)):
            if child.name in ("__pycache__",) or child.name.startswith("."):
                continue
            rel = child.relative_to(ROOT).as_posix()
            if child.is_dir():
                init = child / "__init__.py"
                summary = _summary(init) if init.is_file() else _data_summary(child)
                out.append(f"| **`{rel}/`** | {_cell(summary)} |")
                if init.is_file():
                    walk(child, depth + 1)
            elif child.suffix == ".py" and child.name != "__init__.py":
                out.append(f"| `{rel}` | {_cell(_summary(child))} |")

    walk(PACKAGE, 0)
    return "\n".join(out)


def _data_summary(folder: Path) -> str:
    files = sorted(p.name for p in folder.iterdir() if p.is_file())
    return "data files: " + ", ".join(f"`{f}`" for f in files) if files else ""


def stages() -> str:
    """The stage table of the runner, when ``geo.pipeline.stages.STAGES`` exists."""
    try:
        from geo.pipeline.stages import STAGES
    except ImportError:
        return (
            "*(The stage table `geo.pipeline.stages.STAGES` is not in this version; the "
            "runner calls the stages in the order above.)*"
        )
    items = STAGES.values() if isinstance(STAGES, dict) else STAGES
    out = ["| # | stage | what it does |", "|---|---|---|"]
    for i, stage in enumerate(items, 1):
        name = getattr(stage, "name", type(stage).__name__)
        doc = (type(stage).__doc__ or getattr(stage, "__doc__", "") or "").strip()
        summary = rst_to_markdown(doc.split("\n\n")[0].replace("\n", " ")) if doc else ""
        out.append(f"| {i} | `{name}` | {_cell(summary)} |")
    return "\n".join(out)


GENERATORS = {
    "pipeline-reference": pipeline_reference,
    "sensors": sensor_tables,
    "indices": index_catalogue,
    "mask-rules": mask_rules,
    "target-columns": target_columns,
    "module-map": module_map,
    "api": api,
    "stages": stages,
}
