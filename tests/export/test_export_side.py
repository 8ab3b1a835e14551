"""The PDFs and the QField package written in a second process while this one writes the rest.

The files must be those one process writes; the child's progress, warnings and errors must
reach the caller; a cancelled or failed export must leave no child running and nothing
half-written.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import threading

import pytest

from geo.errors import GeoError, GeoWarning, RunCancelled, VectorError
from geo.pipeline import _side
from geo.pipeline._side import MIN_SHEETS, side_formats
from geo.pipeline.export import export_run
from geo.progress import Reporter, use_reporter
from tests.export.conftest import scatter_targets

pytestmark = pytest.mark.slow

FIELD_TOP = 12
FORMATS = ["qgis", "kml", "gpx", "csv", "html", "pdf", "geopdf", "qfield"]


def _pdf_pages(path) -> list[str]:
    """Each page's text, without the minute the report was generated."""
    from pypdf import PdfReader

    stamp = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
    return [stamp.sub("<time>", page.extract_text()) for page in PdfReader(path).pages]


@pytest.fixture
def children(monkeypatch):
    """The child processes the exports start (to check that none is left running)."""
    started: list = []
    original = _side.SideExports.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        started.append(self._proc)

    monkeypatch.setattr(_side.SideExports, "__init__", init)
    return started


@pytest.fixture
def many(run_copy):
    """The sample run with 40 targets (12 in the field set); its field files removed."""
    scatter_targets(run_copy, 40)
    shutil.rmtree(run_copy / "exports")
    for name in ("report.html", "report.pdf"):
        (run_copy / name).unlink()
    return run_copy


class _Steps(Reporter):
    """Records each task's description and steps."""

    def __init__(self):
        self.steps: dict[str, int] = {}

    def task(self, description, total=None):
        from contextlib import contextmanager

        @contextmanager
        def counting():
            self.steps.setdefault(description, 0)

            def advance(n=1):
                self.steps[description] += n

            yield advance

        return counting()


def test_two_processes_write_the_files_one_process_writes(many, tmp_path, children):
    one = tmp_path / "alone" / many.name  # (the QField layer ids derive from the name)
    shutil.copytree(many, one)
    serial = export_run(one, FORMATS, field_top=FIELD_TOP, processes=1)

    steps = _Steps()
    with use_reporter(steps):
        shared = export_run(many, FORMATS, field_top=FIELD_TOP, processes=2)

    assert shared == serial  # the same files, listed in the same order
    assert list(shared) == FORMATS
    # which process wrote what: what a run's manifest records (export_processes)
    assert serial.second_process == ()
    assert shared.second_process == ("pdf", "geopdf", "qfield")
    assert _pdf_pages(many / "exports/targets_map.pdf") == _pdf_pages(
        one / "exports/targets_map.pdf"
    )
    pages, alone = _pdf_pages(many / "report.pdf"), _pdf_pages(one / "report.pdf")
    assert len(pages) == len(alone) == 2 + FIELD_TOP  # cover, table, a page a target
    assert pages[:2] == alone[:2]
    for page, page_alone in zip(pages[2:], alone[2:], strict=True):
        # one process puts the HTML's drawing of each map on the page (a picture); the child
        # draws it on the page (its labels are text): every other text is the same
        assert set(page_alone.splitlines()) <= set(page.splitlines())
        assert " — rank " in page and " — rank " not in page_alone
    project = "exports/qfield/geo_targets.qgs"
    assert (many / project).read_text("utf-8") == (one / project).read_text("utf-8")
    # the child's PDF pages reached this process's reporter, one step a page
    assert steps.steps["report: PDF pages"] == FIELD_TOP
    assert steps.steps["report: target sheets"] == FIELD_TOP
    assert len(children) == 1 and children[0].returncode == 0
    assert not [p for p in many.rglob("*") if ".partial" in p.name]


def test_an_error_in_the_second_process_is_raised_here(many, children):
    # the QField folder cannot be made (a file holds its name): only the child writes there
    (many / "exports").mkdir()
    (many / "exports" / "qfield").write_text("not a folder")
    with pytest.raises(OSError, match="File exists"):
        export_run(many, FORMATS, field_top=FIELD_TOP, processes=2)
    assert len(children) == 1 and children[0].poll() is not None
    assert not [p for p in many.rglob("*") if ".partial" in p.name]
    # what this process wrote before the child's error was told is whole
    assert (many / "exports" / "targets.kml").stat().st_size > 0


class _CancelAtFirstSheet(Reporter):
    def check_cancelled(self):
        raise RunCancelled("cancelled: the test asked")

    def task(self, description, total=None):
        from contextlib import contextmanager

        @contextmanager
        def cancelling():
            def advance(n=1):
                self.check_cancelled()

            yield advance

        return cancelling()


def test_a_cancelled_export_stops_the_second_process_and_leaves_nothing_half_written(
    many, children
):
    with use_reporter(_CancelAtFirstSheet()), pytest.raises(RunCancelled):
        export_run(many, FORMATS, field_top=FIELD_TOP, processes=2)
    assert len(children) == 1 and children[0].poll() is not None
    assert not [p for p in many.rglob("*") if ".partial" in p.name]
    if (many / "report.pdf").exists():  # the child may have finished first: then it is whole
        assert len(_pdf_pages(many / "report.pdf")) == 2 + FIELD_TOP


def test_the_child_s_errors_keep_their_class_and_message():
    err = _side._error("geo.errors", "VectorError", "licences.gpkg: no geometry", "tb")
    assert isinstance(err, VectorError) and str(err) == "licences.gpkg: no geometry"
    err = _side._error("builtins", "MemoryError", "", "tb")
    assert isinstance(err, MemoryError)
    err = _side._error("builtins", "FileExistsError", "[Errno 17] File exists: 'x'", "tb")
    assert isinstance(err, FileExistsError) and str(err) == "[Errno 17] File exists: 'x'"
    # a bug in the child: its traceback comes along
    err = _side._error("builtins", "KeyError", "'x'", "Traceback ... KeyError: 'x'")
    assert isinstance(err, RuntimeError) and not isinstance(err, GeoError)
    assert "KeyError" in str(err) and "Traceback" in str(err)
    # a name from the pipe is looked up in geo.errors only, never imported from elsewhere
    err = _side._error("os", "system", "x", "tb")
    assert isinstance(err, RuntimeError)
    assert _side._category("geo.errors", "GeoWarning").__name__ == "GeoWarning"
    assert _side._category("os", "system") is UserWarning
    assert _side._category("no.such.module", "X") is UserWarning


def test_when_a_second_process_is_used():
    both = ["html", "pdf", "kml"]
    assert side_formats(both, 50, 2) == ["pdf"]
    assert side_formats(both, 50, 1) == []
    assert side_formats(["pdf"], 50, 2) == []  # nothing to share
    assert side_formats(["html", "kml"], 50, 2) == []  # no side format asked
    assert side_formats(both, MIN_SHEETS - 1, None) == []  # not worth a process start
    found: list = []
    thread = threading.Thread(target=lambda: found.append(side_formats(both, 50, None)))
    thread.start()
    thread.join()
    assert found == [[]]  # off the main thread (a batch's scenes side by side): one process


def test_a_script_without_a_main_guard_exports_on_two_processes(many):
    """A trainee's script calling geo at its top level is not run again by the child."""
    script = many.parent / "export_script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from geo.pipeline.export import export_run
            print("script body ran")
            export_run({str(many)!r}, {FORMATS!r}, field_top={FIELD_TOP}, processes=2)
            """
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("script body ran") == 1
    assert len(_pdf_pages(many / "report.pdf")) == 2 + FIELD_TOP
    assert (many / "exports" / "qfield" / "geo_targets.qgs").is_file()


def test_a_child_that_dies_without_a_word_leaves_its_formats_to_this_process(
    many, monkeypatch, children
):
    monkeypatch.setattr(_side, "_BOOTSTRAP", "import sys; sys.exit(3)")  # dies at once
    with pytest.warns(GeoWarning, match=r"exit code 3.*writing pdf, geopdf, qfield in this"):
        written = export_run(many, FORMATS, field_top=FIELD_TOP, processes=2)
    assert list(written) == FORMATS
    assert written.second_process == ()  # all written here in the end
    assert len(_pdf_pages(many / "report.pdf")) == 2 + FIELD_TOP
    assert (many / "exports" / "qfield" / "geo_targets.qgs").is_file()
    assert (many / "exports" / "targets_map.pdf").stat().st_size > 0
    assert len(children) == 1 and children[0].returncode == 3


def test_no_interpreter_to_start_means_one_process(monkeypatch):
    monkeypatch.setattr(sys, "executable", "")
    assert side_formats(["html", "pdf"], 50, None) == []
    assert side_formats(["html", "pdf"], 50, 2) == []
