"""Live progress: stage lines and bars on a terminal, plain lines in a pipe, nothing with -q."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest

from geo.progress import ConsoleReporter, Reporter, reporter, use_reporter
from tests.conftest import PIPELINE

STAGES = ("ingest", "masks_indices", "anomalies", "zones", "targets", "export")
ANSI = re.compile(r"\x1b\[")


def _geo(*args, tmp_path):
    return subprocess.run(
        [sys.executable, "-m", "geo", *args, "run", str(PIPELINE), "--no-export",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_pipe_gets_one_plain_line_per_stage_with_its_duration(tmp_path):
    done = _geo(tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("geo: ")]
    assert [line.split()[1] for line in lines] == list(STAGES)
    assert all(re.fullmatch(r"geo: \w+ \d+\.\d s", line) for line in lines), lines
    text = done.stdout + done.stderr
    assert not ANSI.search(text) and "\r" not in text
    assert "rasterio" not in text and "Created" not in text  # no library chatter
    # stderr: warnings only, so a failure is one line whatever stage it happens in
    assert all(line.startswith("geo: warning: ") for line in done.stderr.splitlines())


def test_quiet_prints_no_progress(tmp_path):
    done = _geo("-q", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not [line for line in done.stdout.splitlines() if re.match(r"geo: \w+ \d", line)]


@pytest.mark.skipif(os.name == "nt", reason="pseudo-terminals are POSIX; covered by the unit test")
def test_a_terminal_gets_ticks(tmp_path):
    import pty

    out = tmp_path / "run"
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "geo", "run", str(PIPELINE), "--no-export", "--out", str(out)],
        stdin=follower, stdout=follower, stderr=follower, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(leader)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, text
    for stage in STAGES:
        assert f"✓ {stage} " in text


def test_the_default_reporter_is_silent_and_a_console_one_reports():
    assert type(reporter()) is Reporter
    stream = io.StringIO()  # not a terminal: lines, no bars
    with use_reporter(ConsoleReporter(stream=stream, bars=io.StringIO())):
        reporter().stage("zones", 1.234)
        with reporter().task("chunks", total=2) as advance:
            advance()
            advance()
    assert stream.getvalue() == "geo: zones 1.2 s\n"
    assert type(reporter()) is Reporter
