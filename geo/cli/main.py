"""``geo`` command: thin wrappers that parse arguments, call the pipeline and print summaries.

User errors (any :class:`geo.errors.GeoError`, unreadable files, a full disk) print
one line on stderr and exit with code 2, never a traceback. An unexpected failure of geo
itself prints one line and exits with code 3 (``geo -v`` shows the traceback).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import sys
import warnings
from pathlib import Path

import click

from geo._version import __version__
from geo.errors import GeoError

EXIT_USER_ERROR = 2
#: The work was cancelled (``--cancel-file``; the shell's code for an interrupted command).
EXIT_CANCELLED = 130
#: geo itself failed (a bug): one line, and the traceback with ``geo -v``.
EXIT_INTERNAL_ERROR = 3
#: Longest message printed for one error or warning (one readable line, whatever the input).
MAX_MESSAGE_CHARS = 600


def one_line(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    r"""Return ``text`` on one line, cut to ``limit`` characters (saying how much was cut).

    >>> one_line("a\n  b")
    'a b'
    >>> one_line("a" * 20 + "b" * 20, limit=20)
    'aaaaaaaaaaaaa [... 22 characters ...] bbbbb'
    """
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    # the start names the file, the end usually says how to fix it: keep both
    head, tail = limit * 2 // 3, limit // 4
    return f"{flat[:head]} [... {len(flat) - head - tail:,} characters ...] {flat[-tail:]}"


def _friendly(func):
    """Turn user errors into one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from rasterio.errors import RasterioError

        if _verbosity() == 0:
            from geo.io._libtiff import silence_libtiff

            silence_libtiff()  # e.g. a line per tile on a full disk; geo says it in one
        from geo.errors import RunCancelled
        from geo.progress import ConsoleReporter, JsonLinesReporter, Reporter, use_reporter

        ctx = click.get_current_context(silent=True)
        root = ctx.find_root().params if ctx is not None else {}
        shown: Reporter = (
            JsonLinesReporter(cancel_file=root.get("cancel_file"))
            if root.get("progress") == "jsonl"
            else ConsoleReporter(quiet=bool(root.get("quiet")))
        )
        with (
            warnings.catch_warnings(record=True) as caught,
            use_reporter(shown),
        ):
            warnings.simplefilter("always")
            try:
                shown.check_cancelled()  # cancelled before it started
                result = func(*args, **kwargs)
            except RunCancelled as exc:
                _echo_warnings(caught)
                click.echo(f"geo: {one_line(str(exc))}", err=True)
                sys.exit(EXIT_CANCELLED)
            except GeoError as exc:
                _fail(caught, str(exc))
            except (RasterioError, OSError) as exc:
                _fail(caught, f"{type(exc).__name__}: {exc}")
            except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
                _echo_warnings(caught)
                raise
            except (MemoryError, RecursionError) as exc:  # pathological input
                _fail(caught, f"{type(exc).__name__}: the input is too large or nested too deep")
            except Exception as exc:
                if _verbosity() > 0:
                    raise
                _echo_warnings(caught)
                click.echo(
                    f"geo: internal error: {one_line(f'{type(exc).__name__}: {exc}')} (this is a "
                    "bug in geo: run again with `geo -v ...` for the traceback and report it)",
                    err=True,
                )
                sys.exit(EXIT_INTERNAL_ERROR)
        _echo_warnings(caught)
        return result

    return wrapper


def _verbosity() -> int:
    ctx = click.get_current_context(silent=True)
    return int(ctx.find_root().params.get("verbose") or 0) if ctx is not None else 0


def _fail(caught, message: str) -> None:
    _echo_warnings(caught)
    click.echo(f"geo: error: {one_line(message)}", err=True)
    sys.exit(EXIT_USER_ERROR)


def _echo_warnings(caught) -> None:
    from geo.errors import GeoWarning

    seen = set()
    for w in caught:
        text = one_line(w.message)
        if issubclass(w.category, GeoWarning) and text not in seen:
            seen.add(text)
            click.echo(f"geo: warning: {text}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
# the package's own version, not installed metadata (stale in an editable install)
@click.version_option(version=__version__, prog_name="geo")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and warnings.")
@click.option(
    "--progress",
    type=click.Choice(["text", "jsonl"]),
    default="text",
    show_default=True,
    help="jsonl: progress as one JSON object a line on stderr, for a program driving geo "
    "(the QGIS plugin); see geo.progress.JsonLinesReporter.",
)
@click.option(
    "--cancel-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --progress jsonl: stop at the next progress point once this file exists "
    "(nothing half-written is left; exit code 130).",
)
def main(verbose: int, quiet: bool, progress: str, cancel_file: Path | None) -> None:
    """Multispectral scenes to ranked, licence-aware drill targets."""
    level = (
        logging.WARNING
        if quiet
        else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    )
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        # GDAL's own messages (hundreds of libtiff lines on a full disk, driver notes) reach
        # Python through these loggers; geo's one-line error says what happened instead
        for name in ("rasterio", "pyogrio", "fiona", "distributed", "numexpr"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _stage_done(event: str, stage: str, seconds: float | None) -> None:
    """Tell the command's reporter of a stage event (the runner's progress hook).

    On a terminal or in a log that is one line per finished stage; with ``--progress
    jsonl`` every event (see :mod:`geo.progress`).
    """
    from geo.progress import reporter

    reporter().stage_event(event, stage, seconds)


_LICENCE_FIELDS_HELP = (
    "Which columns of the licence layer hold the licence fields, e.g. "
    "licence_id=CODE,holder=PARTIES,status=STATUS,expiry=EXPIRY (overrides the pipeline file)."
)


#: Options of ``geo run`` and ``geo export`` (the field set and the GPX route's start).
_FIELD_TOP_OPTION = click.option(
    "--field-top",
    type=click.IntRange(1, 2000),
    default=None,
    help="How many of the best targets go to the field files: report, PDF, GPX, KML "
    "(default: the pipeline's field.top, 50).",
)
_START_OPTION = click.option(
    "--start",
    metavar="LON,LAT",
    default=None,
    help="Where the GPX route starts (camp, airstrip), in decimal degrees, e.g. 27.51,-21.47 "
    "(default: the pipeline's field.start, else the best target).",
)


def _parse_start(text: str) -> tuple[float, float]:
    """``"27.51,-21.47"`` → ``(27.51, -21.47)``; anything else is a usage error (exit 2)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        lon = lat = math.nan
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise click.BadParameter(
            f"expected LON,LAT in decimal degrees (longitude -180..180 first, then latitude "
            f"-90..90), e.g. 27.51,-21.47; got {text!r}.",
            param_hint="'--start'",
        )
    return lon, lat


def _parse_licence_fields(text: str | None) -> dict[str, str]:
    """``"licence_id=CODE,holder=PARTIES"`` -> ``{"licence_id": "CODE", "holder": "PARTIES"}``."""
    from geo.errors import InvalidParameterError

    if not text:
        return {}
    allowed = ("licence_id", "holder", "status", "expiry")
    out: dict[str, str] = {}
    for item in text.split(","):
        key, sep, column = (part.strip() for part in item.partition("="))
        if not sep or key not in allowed or not column or "=" in column:
            raise InvalidParameterError(
                f"--licence-fields: {item.strip()!r} is not FIELD=COLUMN with FIELD one of "
                f"{', '.join(allowed)}; e.g. --licence-fields licence_id=CODE,holder=PARTIES."
            )
        out[key] = column
    return out


def _licence_options(spec, licences: Path | None, fields: dict[str, str]):
    """``spec`` with the command line's licence layer and field mapping applied.

    A licence layer given on the command line is read with the pipeline's layer name only if
    it has a layer of that name (a user's own cadastre seldom does); otherwise its only layer.
    """
    from geo.errors import InvalidParameterError
    from geo.pipeline.spec import LicenceInput

    current = spec.inputs.licences
    if licences is None and current is None:
        if fields:
            raise InvalidParameterError(
                "--licence-fields needs a licence layer: pass --licences or set "
                "inputs.licences in the pipeline file."
            )
        return spec
    if current is None:
        assert licences is not None  # (checked above: one of them is given)
        current = LicenceInput(path=licences)
    opts = current
    update: dict = {"fields": {**opts.fields, **fields}}
    if licences is not None:
        update["path"] = licences
        if opts.layer is not None and opts.layer not in _layer_names(licences):
            update["layer"] = None
    inputs = spec.inputs.model_copy(update={"licences": opts.model_copy(update=update)})
    return spec.model_copy(update={"inputs": inputs})


def _vector_options(spec, occurrences: Path | None, structures: Path | None):
    """``spec`` with the command line's occurrence and structure layers.

    As for licences, a pipeline's layer name is kept only where the new file has a layer of
    that name; otherwise the file's only layer is read (and a file of several layers is
    refused by the reader, naming them).
    """
    from geo.errors import InvalidParameterError
    from geo.pipeline.spec import OccurrenceInput

    if occurrences is not None:
        current = spec.inputs.occurrences or OccurrenceInput(path=occurrences)
        layer = current.layer if current.layer in _layer_names(occurrences) else None
        found = current.model_copy(update={"path": occurrences, "layer": layer})
        spec = spec.model_copy(
            update={"inputs": spec.inputs.model_copy(update={"occurrences": found})}
        )
    if structures is not None:
        names = _layer_names(structures)
        evidence = dict(spec.evidence)
        linear = [
            k
            for k, ev in evidence.items()
            if ev.vector is not None
            and ev.measure in ("distance", "intersection_distance", "density")
        ]
        if not linear:
            raise InvalidParameterError(
                f"--structures {structures}: this pipeline has no evidence layer measured from "
                "faults or contacts (evidence.<name>.vector with measure distance, "
                "intersection_distance or density); add one to the pipeline file."
            )
        for k in linear:
            ev = evidence[k]
            layer = ev.vector_layer if ev.vector_layer in names else None
            evidence[k] = ev.model_copy(update={"vector": structures, "vector_layer": layer})
        spec = spec.model_copy(update={"evidence": evidence})
    return spec


def _layer_names(path: Path) -> list[str]:
    import pyogrio

    try:
        return [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except Exception:  # unreadable: read_licences says why, naming the file
        return []


@main.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.option(
    "--scene", type=click.Path(path_type=Path), help="Scene product (overrides the pipeline file)."
)
@click.option(
    "--licences",
    type=click.Path(path_type=Path),
    help="Licence layer (overrides the pipeline file).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="Output folder (overrides the pipeline file)."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing run folder.")
@click.option(
    "--top",
    type=int,
    default=None,
    help="How many targets to print (default: pipeline's targets.top).",
)
@click.option(
    "--no-export",
    is_flag=True,
    help="Skip the field exports (KML, GPX, report...); `geo export RUN_DIR` writes them later.",
)
@_FIELD_TOP_OPTION
@_START_OPTION
@click.option("--licence-fields", metavar="FIELD=COLUMN,...", help=_LICENCE_FIELDS_HELP)
@click.option(
    "--occurrences",
    type=click.Path(path_type=Path),
    help="Known occurrences, points (overrides the pipeline file's inputs.occurrences).",
)
@click.option(
    "--structures",
    type=click.Path(path_type=Path),
    help="Faults and contacts, lines: read by every evidence layer measured as a distance, "
    "intersection distance or density from a vector (overrides the pipeline file).",
)
@_friendly
def run(
    pipeline: Path,
    scene: Path | None,
    licences: Path | None,
    out: Path | None,
    overwrite: bool,
    top: int | None,
    no_export: bool,
    field_top: int | None,
    start: str | None,
    licence_fields: str | None,
    occurrences: Path | None,
    structures: Path | None,
) -> None:
    """Run PIPELINE (a YAML file, or a shipped pipeline's name) and print the best targets."""
    from geo.pipeline.runner import run_pipeline
    from geo.pipeline.spec import load_spec
    from geo.resources import pipeline_file

    pipeline = pipeline_file(pipeline)
    fields = _parse_licence_fields(licence_fields)
    spec = _licence_options(load_spec(pipeline), licences, fields)
    spec = _vector_options(spec, occurrences, structures)
    if no_export:
        spec = spec.model_copy(update={"export": spec.export.model_copy(update={"formats": []})})
    if field_top is not None:
        spec = spec.model_copy(update={"field": spec.field.model_copy(update={"top": field_top})})
    if start is not None:
        from geo.pipeline.spec import StartPoint

        lon, lat = _parse_start(start)
        point = StartPoint(
            lon=lon, lat=lat, name=spec.field.start.name if spec.field.start else "START"
        )
        spec = spec.model_copy(update={"field": spec.field.model_copy(update={"start": point})})
    result = run_pipeline(
        spec,
        scene_path=scene,
        out=out,
        overwrite=overwrite,
        pipeline_file=pipeline,
        progress=_stage_done,
    )
    n = spec.targets.top if top is None else top
    click.echo(
        f"{len(result.targets)} targets from {result.manifest['scene']['scene_id']}; "
        f"outputs in {result.out_dir}"
    )
    masks = result.manifest["masks"]
    removed = ", ".join(
        f"{rule} {v['fraction']:.2%}" for rule, v in masks["rules"].items() if v["fraction"] > 0
    )
    click.echo(f"valid {masks['valid_fraction']:.1%} of pixels; masked: {removed or 'nothing'}")
    if len(result.targets) and n:
        click.echo(_target_table(result.targets.head(n)))
    _echo_evaluation(result.manifest.get("evaluation"), result.out_dir)


def _echo_evaluation(evaluation: dict | None, out_dir) -> None:
    """One paragraph: how the score ranks the known occurrences (numbers in the manifest)."""
    if not evaluation or not evaluation.get("occurrences_scored"):
        return
    lines = []
    for key, label in (("prediction_rate", "prediction-rate"), ("success_rate", "success-rate")):
        if key in evaluation:
            cap = ", ".join(
                f"{k.removeprefix('top_').removesuffix('pct')} % → {v:.0%}"
                for k, v in evaluation[key]["area_capture"].items()
            )
            lines.append(
                f"{label} AUC {evaluation[key]['auc']:.3f} on {evaluation['occurrences_scored']} "
                f"occurrences; captured in the top area: {cap}"
            )
    for scheme, res in (evaluation.get("holdout") or {}).items():
        lines.append(
            f"hold-out ({scheme.replace('_', '-')}, {res['folds']} folds): prediction-rate AUC "
            f"{res['auc']:.3f}"
        )
    if "roc_auc" in evaluation:
        lines.append(f"ROC-AUC against random background {evaluation['roc_auc']:.3f}")
    t = evaluation.get("targets")
    if t:
        lines.append(
            f"targets hold {t['occurrences_in_targets']} of {t['occurrences']} known occurrences "
            f"on {t['area_fraction']:.1%} of the area (curves: {out_dir}/evaluation.png)"
        )
    click.echo("evaluation: " + "\n            ".join(lines))


def _target_table(targets) -> str:
    place = {
        "licence_id": "licence",
        "licence_status": "status",
        "area_ha": "area_ha",
        "easting": "easting",
        "northing": "northing",
        "lat": "lat",
        "lon": "lon",
    }
    columns = {"rank": "rank", "target_id": "target", "score": "score"}
    if "evidence" in targets:  # targets from the prospectivity score: show what raised each
        columns |= {"score_max": "max", **place, "evidence": "evidence (contribution)"}
    else:
        columns |= {
            **place,
            "iron_intensity": "iron",
            "clay_intensity": "clay",
            "coincidence": "coinc",
            "area": "area",
        }
    return _format_table(targets, columns)


def _format_table(targets, columns: dict) -> str:
    table = targets[list(columns)].rename(columns=columns).copy()
    table["licence"] = table["licence"].fillna("(none)")
    table["status"] = table["status"].fillna("")
    notes = [
        ",".join(part for part in (str(a or ""), str(b or "")) if part and part != "nan")
        for a, b in zip(
            targets.get("licence_flag", [""] * len(targets)),
            targets.get("flags", [""] * len(targets)),
            strict=True,
        )
    ]
    table["notes"] = [n if n else "-" for n in notes]
    return table.to_string(
        index=False,
        float_format=lambda v: f"{v:.3f}",
        formatters={
            "easting": "{:.1f}".format,
            "northing": "{:.1f}".format,
            "lat": "{:.6f}".format,
            "lon": "{:.6f}".format,
            "area_ha": "{:.1f}".format,
        },
    )


@main.command()
@click.argument("scene", type=click.Path(path_type=Path))
@click.option("--roles", help="Plain GeoTIFF: band roles in band order, comma-separated.")
@click.option("--sensor", help="Plain GeoTIFF: sensor name (e.g. landsat_oli).")
@click.option("--scale", type=float, help="Plain GeoTIFF: reflectance = value x scale + offset.")
@click.option("--offset", type=float, help="Plain GeoTIFF: see --scale.")
@click.option("--resolution", type=float, help="Analysis pixel size for multi-resolution products.")
@_friendly
def info(
    scene: Path,
    roles: str | None,
    sensor: str | None,
    scale: float | None,
    offset: float | None,
    resolution: float | None,
) -> None:
    """Print what geo detects in SCENE: sensor, date, grid, bands, scaling, valid fraction."""
    import dask
    import numpy as np

    from geo.io.readers import open_scene
    from geo.sensors import SENSORS

    s = open_scene(
        scene,
        roles=[r.strip() for r in roles.split(",")] if roles else None,
        sensor=sensor,
        scale=scale,
        offset=offset,
        resolution=resolution,
    )
    r, m = s.reflectance, s.metadata
    valid = float(dask.compute(r.notnull().all("band").mean())[0])
    platform = m.get("spacecraft") or r.attrs.get("platform") or "unknown platform"
    click.echo(f"scene      {m.get('scene_id')}")
    click.echo(f"product    {m.get('product')}, level {r.attrs.get('processing_level', 'unknown')}")
    if m.get("processing_baseline"):
        click.echo(
            f"baseline   {m['processing_baseline']} (offsets: {m.get('offset_source', 'n/a')})"
        )
    click.echo(f"sensor     {m.get('sensor')} ({platform})")
    click.echo(
        f"date       {r.attrs.get('date', 'unknown')} {m.get('scene_center_time') or ''}".rstrip()
    )
    click.echo(
        f"values     {r.attrs.get('units', 'reflectance')}"
        + (f", via {m['calibration']}" if m.get("calibration") else "")
    )
    click.echo(f"crs        {r.rio.crs}")
    res = r.rio.resolution()
    click.echo(
        f"grid       {r.shape[2]} x {r.shape[1]} px, {abs(res[0]):g} x {abs(res[1]):g} m, "
        f"bounds {tuple(round(b, 1) for b in r.rio.bounds())}"
    )
    if m.get("cloud_cover") is not None:
        click.echo(f"cloud      {m['cloud_cover']} % (from the product metadata)")
    click.echo(f"valid      {valid:.1%} of pixels have data in every band")
    click.echo(f"qa layers  {', '.join(m.get('qa_layers', [])) or 'none'}")
    if s.spectra is not None:
        sp = s.spectra
        wl = sp["wavelength"].values
        bad = [int(i) for i in np.flatnonzero(~sp["good"].values)]
        runs: list[list[int]] = []
        for i in bad:  # consecutive bad bands as one run: b128-b142
            if runs and runs[-1][1] == i - 1:
                runs[-1][1] = i
            else:
                runs.append([i, i])
        names = [
            sp["band"].values[a] + ("" if a == b else f"-{sp['band'].values[b]}") for a, b in runs
        ]
        click.echo(
            f"spectra    {sp.sizes['band']} bands, {float(wl[0]):.1f}-{float(wl[-1]):.1f} nm, "
            f"{len(bad)} bad (water vapour) bands" + (f": {', '.join(names)}" if names else "")
        )
        if m.get("orthorectification"):
            click.echo(f"ortho      {m['orthorectification']}")
        if r.attrs.get("broadband_of"):
            click.echo(f"broadband  roles simulated as {r.attrs['broadband_of']} bands")
    if r.attrs.get("unusable_bands"):
        click.echo(f"unusable   {r.attrs['unusable_bands']}: {r.attrs.get('unusable_reason', '')}")
    band_table = SENSORS.get(str(m.get("sensor")))
    click.echo(
        "bands      role          band  centre_um  reflectance = DN x mult + add   resampling"
    )
    for role, b in m["bands"].items():
        centre = (
            f"{band_table.band(role).centre_um:.3f}"
            if band_table and role in band_table.roles
            else "?"
        )
        number = b.get("band", b.get("asset", "-"))
        click.echo(
            f"           {role:<12} {number!s:>5}  {centre:>9}  x {b['mult']:.6g} + {b['add']:.6g}"
            f"   {b.get('resampling', 'none (native grid)')}"
        )


@main.command()
@click.option("--list", "list_", is_flag=True, help="List the index catalogue.")
@click.option("--sensor", default=None, help="Only indices with a formula for this sensor.")
@_friendly
def indices(list_: bool, sensor: str | None) -> None:
    """Print the spectral index catalogue (formulas in band roles, targets, references)."""
    from geo.sensors import get_sensor
    from geo.spectral.indices import catalogue

    if sensor is not None:
        get_sensor(sensor)
    for d in catalogue(sensor):
        click.echo(
            f"{d.name:<18} {d.sensor:<12} {d.expression.text:<34} [{d.status}] "
            f"{', '.join(d.targets)} -- {d.reference}"
        )


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--pipeline",
    type=click.Path(path_type=Path),
    help="Pipeline file whose targets, evidence and prospectivity sections to use "
    "(new weights, memberships, method, straddle rule...).",
)
@click.option("--licences", type=click.Path(path_type=Path), help="A new licence layer.")
@click.option("--licence-fields", metavar="FIELD=COLUMN,...", help=_LICENCE_FIELDS_HELP)
@click.option(
    "--weights",
    metavar="NAME=WEIGHT,...",
    help="New weights, others kept: the prospectivity evidence layers' (e.g. "
    "iron=2,clay=1,faults=1), or, for a pipeline without prospectivity, the target score's "
    "components (iron_intensity, clay_intensity, coincidence, area).",
)
@click.option(
    "--method",
    metavar="METHOD",
    help="New prospectivity method (weighted, fuzzy_gamma, fuzzy_and, fuzzy_or, "
    "fuzzy_product, fuzzy_sum, wofe, logistic, random_forest).",
)
@click.option("--top", type=int, default=10, show_default=True, help="How many targets to print.")
@_friendly
def rank(
    run_dir: Path,
    pipeline: Path | None,
    licences: Path | None,
    licence_fields: str | None,
    weights: str | None,
    method: str | None,
    top: int,
) -> None:
    """Re-rank RUN_DIR with new weights, evidence or licences, reusing its alteration rasters.

    The alteration stages (masks, indices, anomalies, zones) are not recomputed; a
    prospectivity score is rebuilt from them and the evidence sources.
    """
    from geo.pipeline.runner import rerank
    from geo.pipeline.spec import load_spec

    fields = _parse_licence_fields(licence_fields)
    from geo.resources import pipeline_file

    pipeline = pipeline_file(pipeline) if pipeline else None
    spec = load_spec(pipeline) if pipeline else None
    if fields or licences is not None:
        spec = _licence_options(spec or _recorded_spec(run_dir), licences, fields)
    if weights is not None or method is not None:
        spec = _scoring_options(spec or _recorded_spec(run_dir), weights, method)
    result = rerank(run_dir, pipeline=spec, pipeline_file=pipeline, progress=_stage_done)
    click.echo(f"re-ranked {len(result.targets)} targets in {run_dir}")
    if len(result.targets) and top:
        click.echo(_target_table(result.targets.head(top)))
    _echo_evaluation(result.manifest.get("evaluation"), run_dir)


def _parse_weights(text: str) -> dict[str, float]:
    """``"iron=2,clay=1"`` -> ``{"iron": 2.0, "clay": 1.0}`` (weights >= 0, finite)."""
    from geo.errors import InvalidParameterError

    out: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = (part.strip() for part in item.partition("="))
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not sep or not name or not math.isfinite(weight) or weight < 0:
            raise InvalidParameterError(
                f"--weights: {item.strip()!r} is not NAME=WEIGHT with a weight >= 0; "
                "e.g. --weights iron=2,clay=1,faults=1."
            )
        out[name] = weight
    return out


def _scoring_options(spec, weights: str | None, method: str | None):
    """``spec`` with ``geo rank``'s new weights and method, validated as a pipeline file is."""
    from geo.errors import InvalidParameterError
    from geo.pipeline.spec import validate_spec

    doc = spec.model_dump(mode="json")
    prospect = doc.get("prospectivity")
    if method is not None:
        if prospect is None:
            raise InvalidParameterError(
                f"--method {method}: this run's pipeline has no prospectivity section (its "
                "targets come from the anomaly zones); re-rank with --weights, or give a "
                "pipeline with prospectivity via --pipeline."
            )
        prospect["method"] = method
    if weights is not None:
        section = prospect if prospect is not None else doc["targets"]
        section["weights"] = {**(section.get("weights") or {}), **_parse_weights(weights)}
    return validate_spec(doc, "geo rank --weights/--method")


def _recorded_spec(run_dir: Path):
    """Return the pipeline a run folder's manifest records (validated: it is untrusted)."""
    import json

    from geo.errors import InputNotFoundError
    from geo.pipeline.spec import validate_spec

    path = run_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputNotFoundError(f"{path}: not a geo run manifest ({exc}).") from None
    pipeline = manifest.get("pipeline") if isinstance(manifest, dict) else None
    return validate_spec((pipeline or {}).get("spec"), f"{path} (pipeline.spec)")


@main.command(name="export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--to",
    "formats",
    default="all",
    show_default=True,
    help="Comma-separated formats: qgis, kml, kmz, gpx, geojson, shp, csv, html, pdf, qfield, geopdf (or all).",
)
@_FIELD_TOP_OPTION
@click.option(
    "--top",
    type=click.IntRange(0, 200),
    default=None,
    help="Targets with a report page (default: the run's export.top, else every field target).",
)
@click.option(
    "--route-top",
    type=click.IntRange(0, 500),
    default=None,
    help="Targets in the GPX route (default: the run's export.route_top, else every field target).",
)
@_START_OPTION
@_friendly
def export_cmd(
    run_dir: Path,
    formats: str,
    field_top: int | None,
    top: int | None,
    route_top: int | None,
    start: str | None,
) -> None:
    """Write field formats for RUN_DIR: GPS, Google Earth, QGIS, GIS tables and the report."""
    from geo.pipeline.export import EXPORT_FORMATS, export_run

    chosen = (
        list(EXPORT_FORMATS)
        if formats.strip() == "all"
        else [f.strip().lower() for f in formats.split(",") if f.strip()]
    )
    from geo.io.runfolder import output_lock, run_root

    # no run or re-ranking changes the folder meanwhile; every write stays inside it
    with output_lock(run_dir, existing=True), run_root(run_dir):
        written = export_run(
            run_dir,
            chosen,
            top=top,
            route_top=route_top,
            field_top=field_top,
            start=_parse_start(start) if start is not None else None,
        )
    for fmt, paths in written.items():
        click.echo(f"{fmt:8s} {', '.join(paths[:4])}{' …' if len(paths) > 4 else ''}")


@main.command()
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--crs", required=True, help="Target CRS, e.g. EPSG:32735 (required: geo never guesses)."
)
@click.option("--resolution", required=True, type=float, help="Target pixel size in CRS units.")
@click.option(
    "--resampling",
    default="bilinear",
    show_default=True,
    type=click.Choice(["nearest", "bilinear", "cubic", "average"]),
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace a previous stack in --out.")
@_friendly
def stack(scenes, crs: str, resolution: float, resampling: str, out: Path, overwrite: bool) -> None:
    """Put SCENES (any readable products, any CRS) on one grid: one COG per scene in OUT."""
    import json

    from geo.io.readers import open_scene
    from geo.io.runfolder import MANIFEST_SCHEMA, MANIFEST_TOOL
    from geo.io.stack import stack_scenes
    from geo.io.writers import RasterLayer, run_folder, write_rasters

    opened = [open_scene(p) for p in scenes]
    stacked = stack_scenes(opened, crs=crs, resolution=resolution, resampling=resampling)
    with run_folder(out, overwrite=overwrite) as tmp:
        names, files = {}, {}
        for scene_id in stacked["scene"].values:
            layer = stacked.sel(scene=scene_id, drop=True).rio.write_crs(stacked.rio.crs)
            # a scene id (any product's, any STAC item's) as a plain file name
            files[str(scene_id)] = re.sub(r"[^A-Za-z0-9_.-]", "_", str(scene_id)).lstrip(".-")
            names[files[str(scene_id)]] = RasterLayer(
                layer.rio.write_transform(stacked.rio.transform())
            )
        write_rasters(names, tmp)
        manifest = {
            "tool": MANIFEST_TOOL,
            "schema": MANIFEST_SCHEMA["stack"],
            "crs": str(stacked.rio.crs),
            "resolution": resolution,
            "resampling": resampling,
            "shape": list(stacked.shape[-2:]),
            "transform": list(stacked.rio.transform())[:6],
            "bands": [str(b) for b in stacked["band"].values],
            "scenes": [
                {
                    "scene_id": s.reflectance.attrs.get("scene_id"),
                    "input": str(p),
                    "sensor": s.reflectance.attrs.get("sensor"),
                    "source_crs": str(s.reflectance.rio.crs),
                    "file": f"{files[str(s.reflectance.attrs.get('scene_id'))]}.tif",
                }
                for s, p in zip(opened, scenes, strict=True)
            ],
            "outputs": sorted([*(f"{f}.tif" for f in files.values()), "manifest.json"]),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    click.echo(
        f"stacked {len(opened)} scenes on {stacked.shape[-1]} x {stacked.shape[-2]} px "
        f"at {resolution:g} in {stacked.rio.crs}: {out}"
    )


@main.command()
@click.argument("pipeline", type=click.Path(path_type=Path))
@click.argument("scenes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--licences",
    type=click.Path(path_type=Path),
    help="Licence layer (overrides the pipeline file).",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Batch output folder.")
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Dask scheduler of a running cluster (tcp://host:port); default: a local cluster.",
)
@click.option("--workers", type=int, help="Local worker processes (default: one per CPU).")
@click.option(
    "--threads",
    type=int,
    help="Threads per worker and per scene (its chunked work and GDAL's COG encoding).",
)
@click.option("--memory-limit", help="Memory limit per local worker, e.g. 4GB.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed scene.")
@click.option(
    "--overlap",
    type=click.Choice(["best", "newest", "least_cloud"]),
    default="best",
    show_default=True,
    help="Which scene's attributes a target seen in several scenes keeps.",
)
@click.option("--exports", is_flag=True, help="Also write the field exports in every scene folder.")
@click.option("--licence-fields", metavar="FIELD=COLUMN,...", help=_LICENCE_FIELDS_HELP)
@click.option("-q", "--quiet", is_flag=True, help="No progress lines (also `geo -q batch`).")
@_friendly
def batch(
    pipeline: Path,
    scenes: tuple[Path, ...],
    licences: Path | None,
    out: Path,
    scheduler: str | None,
    workers: int | None,
    threads: int | None,
    memory_limit: str | None,
    fail_fast: bool,
    overlap: str,
    exports: bool,
    licence_fields: str | None,
    quiet: bool,
) -> None:
    """Run PIPELINE on every scene in SCENES on Dask and merge the targets into OUT.

    Each scene writes OUT/scenes/<name>/; a rerun skips the scenes that are up to date.
    Exit code 1 when some scenes failed (they are listed in OUT/batch.json).
    """
    from geo.pipeline.batch import run_batch
    from geo.pipeline.spec import load_spec

    ctx = click.get_current_context()
    quiet = quiet or bool(ctx.find_root().params.get("quiet"))
    from geo.resources import pipeline_file

    pipeline = pipeline_file(pipeline)
    spec = _licence_options(load_spec(pipeline), licences, _parse_licence_fields(licence_fields))
    # the local scheduler logs every worker start and stop at INFO: keep the terminal for geo
    if not ctx.find_root().params.get("verbose"):
        import distributed  # noqa: F401  (its import sets the levels of its loggers)

        for name in list(logging.root.manager.loggerDict):
            if name == "distributed" or name.startswith("distributed."):
                logging.getLogger(name).setLevel(logging.WARNING)
    result = run_batch(
        spec,
        list(scenes),
        out=out,
        scheduler=scheduler,
        workers=workers,
        threads=threads,
        memory_limit=memory_limit,
        fail_fast=fail_fast,
        overlap=overlap,
        quiet=quiet,
        pipeline_file=pipeline,
        field_exports=exports,
    )
    counts = result.report["counts"]
    summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    merged = result.report.get("merged") or {}
    if not quiet:
        where = (
            f"in {out / 'targets.gpkg'} ({merged['crs']})"
            if merged.get("crs")
            else "(no scene finished: nothing to merge)"
        )
        click.echo(
            f"{len(result.scenes)} scenes: {summary}; {merged.get('count', 0)} merged targets "
            f"{where}; report {out / 'batch.html'}"
        )
        if result.targets is not None and len(result.targets):
            click.echo(_target_table(result.targets.head(spec.targets.top)))
    if result.failed:
        for s in result.failed:
            click.echo(f"geo: scene {s['scene']} failed at {s['stage']}: {s['error']}", err=True)
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON list (for programs).")
@_friendly
def pipelines(as_json: bool) -> None:
    """List the pipelines geo ships (give a name to `geo run` instead of a file)."""
    import json

    from geo.pipeline.spec import load_spec
    from geo.resources import shipped_pipelines

    found = []
    for name, path in shipped_pipelines().items():
        spec = load_spec(path)
        found.append(
            {
                "name": name,
                "file": str(path),
                "title": spec.name,
                "description": " ".join((spec.description or "").split()),
                "prospectivity": spec.prospectivity is not None,
                "needs_occurrences": bool(
                    spec.prospectivity is not None
                    and spec.prospectivity.method in ("wofe", "logistic", "random_forest")
                ),
            }
        )
    if as_json:
        click.echo(json.dumps(found, indent=1))
        return
    for p in found:
        click.echo(f"{p['name']:<24} {p['description']}")


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
@_friendly
def init(folder: Path) -> None:
    """Write a working FOLDER: the pipelines, the sample scene and layers, the notebooks."""
    from geo.workspace import init_workspace

    init_workspace(folder)
    pipelines = folder / "pipelines"
    click.echo(f"wrote {folder}: pipelines/, sample_rasters/, notebooks/, out/ and README.md")
    click.echo(f"next: geo run {pipelines / 'landsat_alteration.yaml'}")


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option(
    "--platform",
    "platform_",
    required=True,
    type=click.Choice(["win_amd64", "macos_arm64", "macos_x86_64", "linux_x86_64"]),
    help="The trainees' computers.",
)
@click.option(
    "--python",
    "python_",
    required=True,
    type=click.Choice(["3.11", "3.12", "3.13"]),
    help="The Python version installed on them.",
)
@click.option(
    "--wheel",
    type=click.Path(path_type=Path),
    help="geo's own wheel (default: built from this checkout, or downloaded from PyPI).",
)
@_friendly
def bundle(out: Path, platform_: str, python_: str, wheel: Path | None) -> None:
    """Write an offline installer into OUT: every wheel for PLATFORM and an install script."""
    from geo.bundle import make_bundle

    make_bundle(out, platform=platform_, python=python_, wheel=wheel)
    script = "install.bat" if platform_ == "win_amd64" else "install.sh"
    n = len(list((out / "wheels").glob("*.whl")))
    click.echo(f"wrote {out}: {n} wheels and {script}; copy the folder to each computer and run it")


@main.command("sample-data")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=None, help="Random seed (default: the bundled sample's).")
@click.option("--overwrite", is_flag=True, help="Replace existing sample files.")
@_friendly
def sample_data(out: Path, seed: int | None, overwrite: bool) -> None:
    """Regenerate the synthetic samples into OUT (Landsat 8 product, EMIT-format granule)."""
    from geo.sampledata import make_landsat_sample
    from geo.sampledata_emit import make_emit_sample

    kwargs = {} if seed is None else {"seed": seed}
    summary = make_landsat_sample(out, overwrite=overwrite, **kwargs)
    emit = make_emit_sample(out, overwrite=overwrite, **kwargs)
    click.echo(
        f"wrote {summary.get('product_id')}, {emit['granule'].name} and their licence/truth "
        f"layers to {out}"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
