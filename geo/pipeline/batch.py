"""Run one pipeline over many scenes or tiles on Dask distributed, then merge the targets.

Each scene is one task on a ``distributed`` cluster: a :class:`distributed.LocalCluster`
sized to the machine by default, or any running cluster given by its scheduler address
(so Kubernetes, HPC job queues or cloud clusters work through Dask's own deployers). Inside
a task the scene's own chunked work runs on the worker's local threaded scheduler, never on
the distributed client. Every scene writes ``OUT/scenes/<name>/`` with
:func:`geo.pipeline.runner.run_pipeline` (atomic: a complete run folder or nothing), so the
output folders must be on a file system the workers and this process share.

Layout of ``OUT``::

    scenes/<name>/      one run folder per scene (<name> = the scene folder or file stem)
    targets.gpkg        layers targets (merged, ranked over the whole area), zones, licences
    targets.csv         the merged targets without geometry
    licences.csv        the per-licence summary (when a licence layer is given)
    batch.json          what ran where, per scene: status, seconds, targets, failure stage
    batch.html          the same as a small self-contained table

Resuming: a scene whose folder holds a ``manifest.json`` matching the current inputs (scene
file names and checksums, the pipeline spec, the licence and exclusion file checksums) is
skipped; anything else is run again with ``overwrite``. Hidden ``.<name>.tmp-*`` /
``.<name>.old-*`` folders and ``.partial`` files left by a killed batch are removed first.
One geo process at a time may use an output folder (a lock on ``.OUT.lock`` beside it,
see :func:`geo.io.runfolder.output_lock`); a folder that holds anything but a geo batch is
never written into.

Merging: targets of all successful scenes are reprojected to one CRS, the CRS of the first
scene (in the order given) that has outputs, and targets of *different* scenes that
overlap or lie within ``targets.merge_distance_m`` of each other become one target (one
anomaly seen in two overlapping scenes, or cut at a tile edge). With ``targets.straddle:
split`` only pieces on the same licence merge, so the split at licence lines survives.
The merged target keeps the attributes of one member chosen by ``overlap`` (``best``:
highest score; ``newest``: latest ``date``; ``least_cloud``: lowest ``masked_fraction``;
ties go to the higher score), its geometry is the union of the members and ``area_ha``
is recomputed from it; ``scene_ids`` lists the members' scene names (comma-joined),
``n_scenes`` counts them and ``source_targets`` names the per-scene targets
(``<scene>:<target_id>``). Then all targets are ranked together, licences are re-joined
and the coordinates recomputed.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dask
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import MultiPolygon

from geo.errors import GeoError, InputNotFoundError, InvalidParameterError, OutputExistsError
from geo.io.checksum import file_sha256
from geo.io.runfolder import MANIFEST_SCHEMA, MANIFEST_TOOL, clean_stale, output_lock
from geo.pipeline.spec import PipelineSpec
from geo.progress import ConsoleReporter, Reporter, reporter

__all__ = ["OVERLAP_RULES", "BatchError", "BatchResult", "SceneFailedError", "run_batch"]

logger = logging.getLogger(__name__)

#: How one target seen in several scenes keeps its attributes.
OVERLAP_RULES = ("best", "newest", "least_cloud")
_STATUS_OK = ("ok", "skipped")


class BatchError(GeoError, RuntimeError):
    """A batch cannot start or finish (output folder in use, bad scene list)."""


class SceneFailedError(BatchError):
    """A scene failed in a ``fail_fast`` batch; the message names the scene and stage."""

    def __init__(self, message: str, scene: str | None = None, stage: str | None = None):
        super().__init__(message)
        self.scene = scene
        self.stage = stage


@dataclass
class BatchResult:
    """What a batch produced (also on disk in ``out_dir``).

    ``scenes`` holds one record per scene in the order given (the ``scenes`` entries of
    ``batch.json``); ``targets`` are the merged targets (None when no scene succeeded).
    """

    out_dir: Path
    scenes: list[dict]
    targets: gpd.GeoDataFrame | None
    zones: gpd.GeoDataFrame | None
    licences: gpd.GeoDataFrame | None
    report: dict = field(default_factory=dict)

    @property
    def failed(self) -> list[dict]:
        """The records of the scenes that failed."""
        return [s for s in self.scenes if s["status"] == "failed"]

    @property
    def ok(self) -> bool:
        """True when every scene ran or was skipped as up to date."""
        return all(s["status"] in _STATUS_OK for s in self.scenes)


# --------------------------------------------------------------------------- helpers


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _event(kind: str, **fields) -> None:
    """One machine-readable JSON line per event on the ``geo.pipeline.batch`` logger."""
    logger.info(json.dumps({"event": kind, "at_utc": _now(), **fields}, default=str))


def _scene_name(path: Path) -> str:
    """Name of a scene's output folder: its folder name, or its file name without suffix."""
    path = Path(path)
    name = path.resolve().name if path.name in ("", ".", "..") else path.name
    name = Path(name).stem if Path(name).suffix else name
    if not name or name.startswith("."):
        raise InvalidParameterError(
            f"{path}: cannot name an output folder after this scene path; give the scene's own "
            "folder or file."
        )
    return name


def _spec_json(spec: PipelineSpec) -> dict:
    """Return the spec as the manifest stores it (JSON round trip: tuples become lists...)."""
    return json.loads(json.dumps(spec.model_dump(mode="json"), default=str))


def _licence_path(spec: PipelineSpec, licences) -> Path | None:
    if licences is not None:
        return Path(licences)
    return spec.inputs.licences.path if spec.inputs.licences else None


def _up_to_date(folder: Path, scene: Path, spec: PipelineSpec, spec_json: dict, lic_sha) -> bool:
    """Tell whether ``folder`` holds a finished run of ``spec`` on the current ``scene`` files."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file() or not (folder / "targets.gpkg").is_file():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
        if manifest["pipeline"]["spec"] != spec_json:
            return False
        inputs = manifest["inputs"]
        recorded_lic = (inputs.get("licences") or {}).get("sha256")
        if recorded_lic != lic_sha:
            return False
        ex = spec.inputs.exclusions
        recorded_ex = (inputs.get("exclusions") or {}).get("sha256")
        if (ex is None) != (recorded_ex is None) or (
            ex is not None and file_sha256(ex.path) != recorded_ex
        ):
            return False
        recorded = {
            (Path(f["path"]).name, f["bytes"], f["sha256"]) for f in inputs["scene"]["files"]
        }
        current = _scene_files(scene, spec)
        if {Path(p).name for p in current} != {name for name, _, _ in recorded}:
            return False
        sizes = {name: size for name, size, _ in recorded}
        if any(Path(p).stat().st_size != sizes[Path(p).name] for p in current):
            return False  # cheap check before hashing
        return {(Path(p).name, file_sha256(p)) for p in current} == {(n, s) for n, _, s in recorded}
    except (GeoError, OSError, KeyError, TypeError, ValueError) as exc:
        logger.debug("%s: not up to date (%s)", folder, exc)
        return False


def _scene_files(scene: Path, spec: PipelineSpec) -> list[str]:
    """Return the files a run of ``spec`` reads for ``scene`` (as the runner records them)."""
    from geo.pipeline.runner import open_spec_scene

    s = open_spec_scene(spec, scene)
    return [str(f) for f in s.files]


def _clean_stale(out: Path) -> list[str]:
    """Remove what a killed batch left: dead runs' staging folders and ``.partial`` files."""
    removed = [str(p) for p in clean_stale(out / "scenes")]
    scenes = out / "scenes"
    if scenes.is_dir():
        for p in scenes.iterdir():
            if p.is_dir() and not p.name.startswith("."):  # rerank staging in a run folder
                for q in p.glob(".*.partial"):
                    q.unlink(missing_ok=True)
                    removed.append(str(q))
    for p in [*out.glob(".*.partial"), *out.glob(".*.partial.gpkg")]:
        p.unlink(missing_ok=True)
        removed.append(str(p))
    return removed


@contextmanager
def _batch_folder(out: Path) -> Iterator[None]:
    """Hold the batch folder's lock; check it again, create it, remove a killed batch's leftovers."""
    with output_lock(out):
        _check_batch_folder(out)  # again, now that no other geo process can change it
        out.mkdir(parents=True, exist_ok=True)
        (out / "scenes").mkdir(exist_ok=True)
        removed = _clean_stale(out)
        if removed:
            _event("stale_removed", paths=removed)
        yield


def _check_batch_folder(out: Path) -> None:
    """Refuse to write a batch into a folder that holds anything but a geo batch."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputExistsError(f"{out}: exists and is not a folder; choose another --out.")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if {p.name for p in out.iterdir() if not p.name.startswith(".")} == {"scenes"}:
        return  # a batch killed before it wrote batch.json (only its scene folders)
    try:
        report = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = None
    ours = isinstance(report, dict) and (
        (report.get("tool") == MANIFEST_TOOL and report.get("schema") == MANIFEST_SCHEMA["batch"])
        or ("scenes" in report and "counts" in report and "merged" in report)  # geo < 0.7
    )
    if not ours:
        raise OutputExistsError(
            f"{out}: exists and is not a geo batch folder (no geo batch.json); geo writes a "
            "batch only into a new or empty folder, or one a batch wrote. Choose another --out."
        )


# --------------------------------------------------------------------------- the task


def _run_scene(
    spec: PipelineSpec,
    scene: str,
    out: str,
    licences: str | None,
    pipeline_file: str | None,
    threads: int | None,
) -> dict:
    """One scene on a worker: run the pipeline on the worker's local threaded scheduler.

    Never raises for a scene problem: the failure (stage, type, one-line message) is
    returned, so nothing needs to be unpickled on the client and the batch goes on.
    """
    import warnings

    from geo.errors import GeoWarning
    from geo.pipeline.runner import run_pipeline

    # the run's notes come back in the result; do not print them from the worker
    warnings.filterwarnings("ignore", category=GeoWarning)
    start = time.perf_counter()
    config: dict[str, str | int] = {"scheduler": "threads"}
    if threads:
        config["num_workers"] = threads
    try:
        with dask.config.set(config):
            result = run_pipeline(
                spec,
                scene_path=scene,
                licences_path=licences,
                out=out,
                overwrite=True,
                pipeline_file=pipeline_file,
            )
    except Exception as exc:  # any failure is recorded, the batch goes on
        message = " ".join(str(exc).split()) or type(exc).__name__
        return {
            "status": "failed",
            "seconds": round(time.perf_counter() - start, 2),
            "stage": getattr(exc, "geo_stage", None) or "setup",
            "error_type": type(exc).__name__,
            "error": message,
        }
    usable = (result.manifest.get("usable") or {}).get("usable", True)
    return {
        "status": "ok",
        **({} if usable else {"note": "no usable pixels"}),
        "seconds": round(time.perf_counter() - start, 2),
        "targets": len(result.targets),
        "scene_id": result.manifest.get("scene", {}).get("scene_id"),
        "warnings": list(result.warnings),
    }


# --------------------------------------------------------------------------- run_batch


def _check_arguments(scenes, overlap: str, workers, threads) -> list[str]:
    """Check the batch's arguments; return the scenes' output folder names."""
    if overlap not in OVERLAP_RULES:
        raise InvalidParameterError(
            f"overlap {overlap!r} is not a rule; choose one of {', '.join(OVERLAP_RULES)}."
        )
    scenes = [Path(s) for s in scenes]
    if not scenes:
        raise InvalidParameterError("No scenes given: name at least one scene product.")
    names = [_scene_name(s) for s in scenes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidParameterError(
            f"Several scenes share the name {', '.join(dupes)} (the folder or file stem names "
            "each scene's output folder); rename or link them so each name is unique."
        )
    for value, what in ((workers, "workers"), (threads, "threads")):
        if value is not None and value < 1:
            raise InvalidParameterError(f"{what} must be at least 1; got {value}.")
    return names


def run_batch(
    spec: PipelineSpec,
    scenes: Sequence[str | Path],
    *,
    out: str | Path,
    licences: str | Path | None = None,
    scheduler=None,
    workers: int | None = None,
    threads: int | None = None,
    memory_limit: str | int | None = None,
    fail_fast: bool = False,
    overlap: str = "best",
    quiet: bool = False,
    pipeline_file: str | Path | None = None,
    field_exports: bool = False,
) -> BatchResult:
    """Run ``spec`` on every scene as Dask distributed tasks and merge the targets.

    Parameters
    ----------
    spec : PipelineSpec
        Validated pipeline; its scene path and output folder are ignored.
    scenes : sequence of str or Path
        Scene products (anything ``geo run --scene`` reads). Their folder or file stems
        name the per-scene output folders and must be unique.
    out : str or Path
        Batch output folder (see the module docstring for its layout).
    licences : str or Path, optional
        Licence layer (overrides the pipeline file's).
    scheduler : str or distributed.Client, optional
        Address of a running scheduler (``tcp://host:port``) or a connected client. By
        default a ``LocalCluster`` of ``workers`` processes is started for the batch.
    workers : int, optional
        Local worker processes (default: ``min(len(scenes), cpu_count)``).
    threads : int, optional
        Threads per local worker (default 1) and of each scene's own threaded scheduler
        (default: the CPUs divided among the local workers; the worker machine's CPU count
        on an external cluster).
    memory_limit : str or int, optional
        Memory limit per local worker (``"4GB"``); Dask's default otherwise.
    fail_fast : bool
        Stop at the first failed scene (pending scenes are cancelled) and raise.
    overlap : {"best", "newest", "least_cloud"}
        Which member's attributes a target seen in several scenes keeps.
    quiet : bool
        Do not print one progress line per scene.
    pipeline_file : str or Path, optional
        The pipeline file, recorded in each scene's manifest.
    field_exports : bool
        Keep the pipeline's field exports (KML, GPX, report...) in every scene folder; off
        by default, as a batch is about the merged targets.

    Returns
    -------
    BatchResult

    Raises
    ------
    InvalidParameterError
        No scenes, duplicate scene names or an unknown ``overlap`` rule.
    OutputBusyError
        Another geo process holds the output folder.
    OutputExistsError
        ``out`` holds something other than a geo batch.
    SceneFailedError
        ``fail_fast`` and a scene failed (the batch report is written first).
    """
    names = _check_arguments(scenes, overlap, workers, threads)
    scenes = [Path(s) for s in scenes]
    if not field_exports:
        spec = spec.model_copy(update={"export": spec.export.model_copy(update={"formats": []})})
    out = Path(out)
    lic_path = _licence_path(spec, licences)
    if lic_path is not None and not lic_path.is_file():
        raise InputNotFoundError(f"{lic_path}: licence file not found.")
    _check_batch_folder(out)
    with _batch_folder(out):
        return _batch(
            spec, scenes, names, out, lic_path, scheduler, workers, threads, memory_limit,
            fail_fast, overlap, quiet, pipeline_file,
        )  # fmt: skip


def _batch(
    spec, scenes, names, out, lic_path, scheduler, workers, threads, memory_limit, fail_fast,
    overlap, quiet, pipeline_file,
) -> BatchResult:  # fmt: skip
    started = _now()
    n = len(scenes)
    records = [
        {
            "scene": name,
            "path": str(path),
            "status": "pending",
            "out_dir": str(out / "scenes" / name),
        }
        for name, path in zip(names, scenes, strict=True)
    ]
    # a batch.json from the start: a batch killed midway is still recognisably geo's
    _write_text(
        out / "batch.json",
        json.dumps(
            {
                "tool": MANIFEST_TOOL,
                "schema": MANIFEST_SCHEMA["batch"],
                "pipeline": spec.name,
                "started_utc": started,
                "finished_utc": None,
                "scenes": records,
            },
            indent=2,
        )
        + "\n",
    )
    _event("batch_started", pipeline=spec.name, scenes=n, out=str(out))
    cluster_info = {"scheduler": None, "workers": 0, "threads_per_worker": None}
    failure = None
    shown = reporter()
    if type(shown) is Reporter and not quiet:  # called from Python: print the lines as before
        shown = ConsoleReporter()
    with shown.task("scenes", total=n) as advance:  # a bar over the scenes on a terminal
        report_line = _reporter(n, quiet, shown, advance)
        todo = _not_up_to_date(spec, records, scenes, lic_path, report_line)
        if todo:
            failure = _run_on_cluster(
                spec, todo, out, lic_path, scheduler, workers, threads, memory_limit, fail_fast,
                pipeline_file, cluster_info, report_line, quiet,
            )  # fmt: skip

    merged = zones = summary = None
    merge_info: dict = {}
    if failure is None:
        merged, zones, summary, merge_info = _merge(spec, records, out, lic_path, overlap)
    report = {
        "tool": MANIFEST_TOOL,
        "schema": MANIFEST_SCHEMA["batch"],
        "pipeline": spec.name,
        "pipeline_file": str(pipeline_file) if pipeline_file else None,
        "started_utc": started,
        "finished_utc": _now(),
        **cluster_info,
        "overlap": overlap,
        "licences": str(lic_path) if lic_path else None,
        "counts": {
            s: sum(r["status"] == s for r in records)
            for s in ("ok", "skipped", "failed", "cancelled")
        },
        "merged": merge_info,
        "scenes": records,
    }
    _write_text(out / "batch.json", json.dumps(report, indent=2, default=str) + "\n")
    _write_text(out / "batch.html", _html(report))
    _event("batch_finished", **{k: report[k] for k in ("counts", "merged", "finished_utc")})
    if failure is not None:
        raise SceneFailedError(
            f"{failure['path']}: scene {failure['scene']} failed at {failure['stage']}: "
            f"{failure['error']} (fail-fast: the batch stopped; report in {out / 'batch.json'})",
            scene=failure["scene"],
            stage=failure["stage"],
        )
    return BatchResult(out, records, merged, zones, summary, report)


def _reporter(n: int, quiet: bool, shown: Reporter, advance: Callable[..., None]):
    """Return ``report_line(record)``: one line per finished scene (and a JSON event)."""
    done = 0

    def report_line(rec: dict) -> None:
        nonlocal done
        done += 1
        if rec["status"] == "ok":
            text = f"ok {rec['seconds']:.1f} s, {rec['targets']} targets"
            if rec.get("note"):
                text += f" ({rec['note']})"
        elif rec["status"] == "skipped":
            text = f"skipped (up to date, {rec.get('targets', '?')} targets)"
        else:
            text = f"FAILED at {rec['stage']}: {rec['error']}"
        if not quiet:
            shown.line(f"[{done}/{n}] {rec['scene']} {text}")
        advance()
        _event("scene_finished", index=done, total=n, **rec)

    return report_line


def _not_up_to_date(spec, records, scenes, lic_path, report_line) -> list:
    """Mark the scenes whose folder is up to date as skipped; return the others to run."""
    spec_json = _spec_json(spec)
    lic_sha = file_sha256(lic_path) if lic_path is not None else None
    todo = []
    for rec, path in zip(records, scenes, strict=True):
        t0 = time.perf_counter()
        folder = Path(rec["out_dir"])
        if _up_to_date(folder, path, spec, spec_json, lic_sha):
            manifest = json.loads((folder / "manifest.json").read_text())
            rec.update(
                status="skipped",
                seconds=round(time.perf_counter() - t0, 2),
                targets=manifest.get("targets", {}).get("count"),
                scene_id=manifest.get("scene", {}).get("scene_id"),
            )
            report_line(rec)
        else:
            todo.append((rec, path))
    return todo


def _run_on_cluster(
    spec, todo, out, lic_path, scheduler, workers, threads, memory_limit, fail_fast,
    pipeline_file, cluster_info, report_line, quiet=False,
):  # fmt: skip
    """Submit the scenes; return the first failure's record when ``fail_fast`` stopped."""
    from contextlib import ExitStack

    from distributed import Client

    cpu = os.cpu_count() or 1
    with ExitStack() as stack:
        if scheduler is None:
            n_workers = workers or min(len(todo), cpu)
            cluster = stack.enter_context(
                _local_cluster(n_workers, threads or 1, memory_limit, quiet=quiet)
            )
            client = stack.enter_context(Client(cluster, set_as_default=False))
            inner = threads or max(1, cpu // n_workers)
        elif isinstance(scheduler, str):
            client = stack.enter_context(Client(scheduler, set_as_default=False))
            inner = threads
        else:  # an existing client: the caller owns it
            client = scheduler
            inner = threads
        info = client.scheduler_info()
        nthreads = [w.get("nthreads") for w in info.get("workers", {}).values()]
        cluster_info.update(
            scheduler=info.get("address"),
            workers=len(nthreads),
            threads_per_worker=max(nthreads) if nthreads else None,
            scene_threads=inner,
        )
        _event("cluster", **cluster_info)
        futures = {}
        for rec, path in todo:
            fut = client.submit(
                _run_scene,
                spec,
                str(path),
                rec["out_dir"],
                str(lic_path) if lic_path else None,
                str(pipeline_file) if pipeline_file else None,
                inner,
                key=f"geo-scene-{rec['scene']}-{uuid.uuid4().hex[:8]}",
                pure=False,
            )
            futures[fut] = rec
            rec["status"] = "running"
        failure = None
        for fut in _completed(list(futures), client, reporter().check_cancelled):
            rec = futures[fut]
            if fut.cancelled():
                continue
            try:
                rec.update(fut.result())
            except Exception as exc:  # the worker died (KilledWorker...)
                rec.update(
                    status="failed",
                    stage="worker",
                    error_type=type(exc).__name__,
                    error=" ".join(str(exc).split()) or type(exc).__name__,
                )
            report_line(rec)
            if rec["status"] == "failed" and fail_fast:
                failure = rec
                pending = [f for f in futures if not f.done()]
                client.cancel(pending)
                for f in pending:
                    futures[f]["status"] = "cancelled"
                break
    return failure


def _completed(futures: list, client, check_cancelled: Callable[[], None], poll_s: float = 0.5):
    """Yield ``futures`` as they finish; call ``check_cancelled`` every ``poll_s`` seconds.

    A cancelled batch (``geo --cancel-file``) cancels the scenes still queued or running
    and raises :class:`~geo.errors.RunCancelled`; finished scene folders stay (a rerun
    skips them), a running scene's staging folder is left for the next run to clear.
    """
    from distributed import as_completed

    queue = as_completed(futures, loop=client.loop)
    while not queue.is_empty():
        ready = queue.next_batch(block=False)
        if not ready:
            try:
                check_cancelled()
            except BaseException:
                client.cancel([f for f in futures if not f.done()])
                raise
            time.sleep(poll_s)
            continue
        yield from ready


def _local_cluster(n_workers: int, threads: int, memory_limit=None, *, quiet: bool = False):
    """Start a LocalCluster of ``n_workers`` processes with ``threads`` threads each.

    ``quiet``: the workers log only critical errors (a worker's heartbeat that races the
    scheduler's shutdown logs a traceback at ERROR); a failed or killed scene is reported
    by the batch either way.

    Dask's nannies start workers with ``MALLOC_TRIM_THRESHOLD_=65536`` so that freed memory
    goes back to the OS. Setting it also fixes glibc's mmap threshold at 128 KiB: every
    chunk-sized array is then a fresh mapping whose pages are faulted in again on first
    touch (a 4096² scene took 8-10 s in a worker instead of 5-6 s, and 4 scenes spent 16 s
    in the kernel instead of 4 s). geo returns freed memory itself
    after each stage (``geo._memory``), so the workers keep glibc's adaptive defaults, as
    ``geo run`` does. A value set in the environment still wins; the nannies' other
    variables (one BLAS/OpenMP thread) stay.
    """
    from distributed import LocalCluster

    kwargs = {} if memory_limit is None else {"memory_limit": memory_limit}
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=":0",  # no fixed port: batches may run side by side
            silence_logs=logging.CRITICAL if quiet else logging.ERROR,
            **kwargs,
        )


# --------------------------------------------------------------------------- merge


def _merge(spec, records, out: Path, lic_path, overlap):
    """Merge the successful scenes' targets; write ``OUT/targets.gpkg`` and the CSVs.

    The merged targets are ranked over the whole area by the ranking of a run
    (:func:`geo.pipeline.stages.targets.rank_with_licences`): licences re-joined, ranks,
    coordinates, licence context and straddle flags recomputed.
    """
    from geo.pipeline.stages.ingest import licence_input
    from geo.pipeline.stages.targets import rank_with_licences
    from geo.targets.columns import PROSPECT_COLUMNS, TARGET_COLUMNS
    from geo.targets.licences import summarise_licences

    targets, zones, order = _read_scene_outputs(records)
    if targets is None:
        return None, None, None, {"count": 0, "crs": None, "scenes": []}
    crs = targets.crs
    merged = _merge_overlapping(
        targets, spec.targets.merge_distance_m, overlap, order, spec.targets.straddle == "split"
    )
    _, licences, _ = licence_input(spec, lic_path, crs)
    ranked = rank_with_licences(
        merged.drop(columns=["rank", "target_id"]),
        licences,
        straddle=spec.targets.straddle,
        on_date=dt.date.today().isoformat(),
    )
    ranked["split_with"] = _remap_split_with(ranked)
    extra = [c for c in PROSPECT_COLUMNS if c in ranked]
    extra += [c for c in ranked.columns if c.startswith(("mean_", "contrib_")) and c in ranked]
    columns = [*TARGET_COLUMNS, *extra, "scene_ids", "n_scenes", "source_targets"]
    ranked = ranked[[c for c in columns if c in ranked] + ["geometry"]]
    summary = summarise_licences(licences, ranked, zones) if licences is not None else None
    _write_merged(out, ranked, zones, summary)
    info = {
        "count": len(ranked),
        "crs": str(crs),
        "epsg": crs.to_epsg(),
        "scenes": order,
        "from_several_scenes": int((ranked["n_scenes"] > 1).sum()),
    }
    return ranked, zones, summary, info


def _read_scene_outputs(records):
    """Targets (with ``_scene``) and zones (with ``scene``) of the successful scenes.

    All in the CRS of the first scene with outputs; ``(None, None, [])`` when none has.
    """
    frames, zone_frames, crs, order = [], [], None, []
    for rec in records:
        if rec["status"] not in _STATUS_OK:
            continue
        gpkg = Path(rec["out_dir"]) / "targets.gpkg"
        t = gpd.read_file(gpkg, layer="targets", engine="pyogrio")
        z = gpd.read_file(gpkg, layer="zones", engine="pyogrio")
        if crs is None:
            crs = t.crs or z.crs
        order.append(rec["scene"])
        t = t.to_crs(crs) if t.crs is not None and t.crs != crs else t
        z = z.to_crs(crs) if z.crs is not None and z.crs != crs else z
        t["_scene"] = rec["scene"]
        z.insert(0, "scene", rec["scene"])
        frames.append(t)
        zone_frames.append(z)
    if crs is None:
        return None, None, order
    targets = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    zones = gpd.GeoDataFrame(
        pd.concat(zone_frames, ignore_index=True), geometry="geometry", crs=crs
    )
    return targets, zones, order


def _pick(members: pd.DataFrame, overlap: str) -> int:
    """Index label of the member whose attributes a merged target keeps."""
    score = members["score"].astype("float64").fillna(-np.inf)
    if overlap == "newest":
        key = members["date"].fillna("").astype(str)
        order = sorted(members.index, key=lambda i: (key[i], score[i]), reverse=True)
    elif overlap == "least_cloud":
        cloud = members["masked_fraction"].astype("float64").fillna(np.inf)
        order = sorted(members.index, key=lambda i: (-cloud[i], score[i]), reverse=True)
    else:
        order = sorted(members.index, key=lambda i: score[i], reverse=True)
    return order[0]


def _merge_overlapping(
    targets: gpd.GeoDataFrame, distance: float, overlap: str, order: list[str], same_licence: bool
) -> gpd.GeoDataFrame:
    """Join targets of different scenes that overlap or lie within ``distance``."""
    n = len(targets)
    if n == 0:
        out = targets.drop(columns="_scene").copy()
        for column, dtype in (("scene_ids", "object"), ("n_scenes", "int64")):
            out[column] = pd.Series(dtype=dtype)
        out["source_targets"] = pd.Series(dtype="object")
        return out
    geoms = targets.geometry.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=distance)
    scene = targets["_scene"].to_numpy()
    keep = scene[left] != scene[right]  # within one scene the runner already merged
    if same_licence:
        lic = targets["licence_id"].astype(object).where(targets["licence_id"].notna(), None)
        lic = lic.to_numpy()
        keep &= np.array([lic[a] == lic[b] for a, b in zip(left, right, strict=True)], bool)
    left, right = left[keep], right[keep]
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    _, group = connected_components(graph, directed=False)
    rank_of = {s: i for i, s in enumerate(order)}
    rows = []
    for g in np.unique(group):
        members = targets.iloc[np.flatnonzero(group == g)]
        chosen = members.loc[_pick(members, overlap)].copy()
        scenes = sorted(set(members["_scene"]), key=rank_of.__getitem__)  # every _scene is in order
        union = shapely.union_all(list(members.geometry.values))
        if not isinstance(union, MultiPolygon):
            union = MultiPolygon(
                [p for p in getattr(union, "geoms", [union]) if p.geom_type == "Polygon"]
            )
        chosen["geometry"] = union
        chosen["area_ha"] = round(float(union.area) / 1e4, 6)
        chosen["scene_ids"] = ",".join(scenes)
        chosen["n_scenes"] = len(scenes)
        chosen["source_targets"] = ",".join(
            f"{s}:{t}" for s, t in zip(members["_scene"], members["target_id"], strict=True)
        )
        rows.append(chosen)
    merged = gpd.GeoDataFrame(
        pd.DataFrame(rows).reset_index(drop=True).infer_objects(),
        geometry="geometry",
        crs=targets.crs,
    )
    merged["_src"] = [
        (row["_scene"], row["target_id"]) for _, row in merged.iterrows()
    ]  # for split_with
    return merged.drop(columns="_scene")


def _remap_split_with(ranked: gpd.GeoDataFrame) -> pd.Series:
    """Rewrite ``split_with`` (per-scene target ids) to the merged target ids."""
    if not len(ranked) or "split_with" not in ranked:
        return pd.Series([""] * len(ranked), index=ranked.index, dtype="object")
    new_id = {}
    for tid, sources in zip(ranked["target_id"], ranked["source_targets"], strict=True):
        for src in str(sources).split(","):
            scene, _, old = src.rpartition(":")
            new_id[(scene, old)] = tid
    out = []
    for (scene, _), value in zip(ranked["_src"], ranked["split_with"], strict=True):
        olds = [v for v in str(value or "").split(",") if v and v != "nan"]
        out.append(",".join(sorted({new_id.get((scene, o), "") for o in olds} - {""})))
    return pd.Series(out, index=ranked.index, dtype="object")


def _write_text(path: Path, text: str) -> None:
    partial = path.parent / f".{path.name}.partial"
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _write_merged(out: Path, targets, zones, licences) -> None:
    """``targets.gpkg``, ``targets.csv`` (and ``licences.csv``), each via a temporary name."""
    from geo.io.writers import write_csv, write_vectors

    layers = {"targets": targets, "zones": zones}
    if licences is not None:
        layers["licences"] = licences
    partial = out / ".targets.partial.gpkg"  # GDAL wants the .gpkg extension
    write_vectors(layers, partial)
    os.replace(partial, out / "targets.gpkg")
    for name, frame in (("targets.csv", targets), ("licences.csv", licences)):
        if frame is None:
            continue
        partial = out / f".{name}.partial"
        write_csv(frame, partial)
        os.replace(partial, out / name)


def _html(report: dict) -> str:
    """Render the report as a small self-contained HTML table, one line per scene."""
    esc = html.escape
    rows = []
    for s in report["scenes"]:
        detail = f"{s.get('stage', '')}: {s.get('error', '')}" if s["status"] == "failed" else ""
        seconds = s.get("seconds")
        rows.append(
            f"<tr class='{esc(s['status'])}'><td>{esc(s['scene'])}</td>"
            f"<td>{esc(s['status'])}</td>"
            f"<td class='n'>{'' if seconds is None else f'{seconds:.1f}'}</td>"
            f"<td class='n'>{esc(str(s.get('targets', '')))}</td>"
            f"<td>{esc(detail)}</td><td>{esc(s['out_dir'])}</td></tr>"
        )
    merged = report.get("merged") or {}
    counts = ", ".join(f"{v} {k}" for k, v in report["counts"].items() if v)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>geo batch: {esc(str(report['pipeline']))}</title><style>"
        "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}td.n{text-align:right}"
        "tr.failed td{background:#fde2e2}tr.skipped td{color:#666}tr.cancelled td{color:#999}"
        "</style></head><body>\n"
        f"<h1>geo batch: {esc(str(report['pipeline']))}</h1>\n"
        f"<p>{esc(report['started_utc'])} to {esc(report['finished_utc'])} UTC on "
        f"{esc(str(report.get('scheduler')))} ({report.get('workers')} workers); "
        f"{esc(counts)}; {merged.get('count', 0)} merged targets in "
        f"{esc(str(merged.get('crs')))}.</p>\n"
        "<table><tr><th>scene</th><th>status</th><th>seconds</th><th>targets</th>"
        "<th>failure</th><th>output</th></tr>\n" + "\n".join(rows) + "\n</table></body></html>\n"
    )
