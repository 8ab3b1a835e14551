"""The training notebooks (notebooks/NN_slug.ipynb): form, pairing, and execution.

Static checks run always; executing the notebooks is marked ``notebooks`` (deselect with
``-m "not notebooks"``). Executions write under a pytest temporary folder
(``GEO_LESSON_OUT``), never into the repository.
"""

from __future__ import annotations

import ast
import re
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
jupytext = pytest.importorskip("jupytext")
pytest.importorskip("nbclient")

from geo.training.notebooks import (  # noqa: E402
    NOTEBOOK_DIR,
    cell_tags,
    execute_notebook,
    exercise_version,
    lesson_notebooks,
    read_notebook,
)

NOTEBOOKS = lesson_notebooks(NOTEBOOK_DIR)
IDS = [p.stem for p in NOTEBOOKS]
#: Seconds one lesson may take on 2 cores (the issue's budget), with slack for a busy machine.
BUDGET_S = 90


def _code(cell) -> str:
    """Cell source without IPython magics/shell lines, for the Python parser."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines()
    )


def _error(nb):
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return i, out
    return None, None


def test_there_are_lessons():
    assert NOTEBOOKS, f"no NN_slug.ipynb in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs(path):
    nb = read_notebook(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} has outputs stored"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has a count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_paired_py_in_sync(path):
    py = path.with_suffix(".py")
    assert py.is_file(), f"{py.name} missing: pair with `jupytext --set-formats ipynb,py:percent`"
    text = py.read_text(encoding="utf-8")
    assert "formats: ipynb,py:percent" in text, f"{py.name}: no jupytext pairing header"
    a, b = jupytext.read(py), jupytext.read(path)

    def cells(nb):
        return [(c.cell_type, c.source.strip(), sorted(cell_tags(c))) for c in nb.cells]

    assert cells(a) == cells(b), (
        f"{path.name} and {py.name} differ: run `jupytext --sync {py}` (the .py is the source)"
    )
    assert b.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_path_tricks(path):
    for i, cell in enumerate(read_notebook(path).cells):
        if cell.cell_type != "code":
            continue
        src = cell.source
        assert not re.search(r"sys\.path|os\.chdir|PYTHONPATH", src), (
            f"{path.name} cell {i}: import the installed package, do not edit paths"
        )
        assert "sample_rasters" not in src, (
            f"{path.name} cell {i}: use geo.training.sample_dir(), not a literal path"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercise_structure(path):
    nb = read_notebook(path)
    cells = nb.cells
    pictures = [i for i, c in enumerate(cells) if "picture" in cell_tags(c)]
    assert len(pictures) == 1, f"{path.name}: {len(pictures)} 'picture' cells, need exactly 1"
    exercises = [i for i, c in enumerate(cells) if "exercise" in cell_tags(c)]
    assert exercises, f"{path.name}: no cell tagged 'exercise'"
    for i in exercises:
        assert i + 2 < len(cells), f"{path.name}: exercise cell {i} is at the end"
        assert "solution" in cell_tags(cells[i + 1]), (
            f"{path.name}: exercise cell {i} is not followed by a 'solution' cell"
        )
        check = cells[i + 2]
        assert check.cell_type == "code" and re.search(r"lesson\d\.check_", check.source), (
            f"{path.name}: the cell after solution {i + 1} does not call a lesson check"
        )
    solutions = [i for i, c in enumerate(cells) if "solution" in cell_tags(c)]
    assert [i - 1 for i in solutions] == exercises, f"{path.name}: a solution without exercise"
    handout = exercise_version(nb)
    assert not any("solution" in cell_tags(c) for c in handout.cells)
    nbformat.validate(handout)
    for i, cell in enumerate(handout.cells):
        if cell.cell_type == "code":
            try:
                ast.parse(_code(cell))
            except SyntaxError as exc:  # pragma: no cover - the message is the point
                pytest.fail(f"{path.name} exercise version, cell {i}: {exc}")


def test_kernel_is_this_python(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import sys, os; print(sys.executable); print(os.getcwd())")]  # fmt: skip
    execute_notebook(nb, output_root=tmp_path)
    exe, cwd = nb.cells[0].outputs[0]["text"].split()
    assert Path(exe).resolve() == Path(sys.executable).resolve()
    assert Path(cwd).resolve() == NOTEBOOK_DIR.resolve()


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_with_solutions(path, tmp_path):
    nb = read_notebook(path)
    start = time.perf_counter()
    execute_notebook(nb, cwd=path.parent, output_root=tmp_path / "out")
    seconds = time.perf_counter() - start
    index, error = _error(nb)
    assert error is None, f"{path.name} cell {index}: {error['ename']}: {error['evalue']}"
    for i, cell in enumerate(nb.cells):
        if re.search(r"lesson\d\.check_", cell.source) and cell.cell_type == "code":
            text = "".join(o.get("text", "") for o in cell.outputs)
            assert "✔" in text, f"{path.name} cell {i}: the check did not confirm the answer"
    picture = next(c for c in nb.cells if "picture" in cell_tags(c))
    images = [o for o in picture.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, (
        f"{path.name}: the picture cell drew {len(images)} figures (need 1; a module that "
        "calls matplotlib.use('Agg') after pyplot is imported switches inline plots off)"
    )
    print(f"{path.name}: {seconds:.1f} s")
    assert seconds < BUDGET_S, f"{path.name} took {seconds:.0f} s (budget 60 s on 2 cores)"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercise_version_stops_at_first_check(path, tmp_path):
    """Handed out without solutions, the first check says "no answer yet" (checks can fail)."""
    from nbclient.exceptions import CellExecutionError

    handout = exercise_version(read_notebook(path))
    first = next(i for i, c in enumerate(handout.cells) if "exercise" in cell_tags(c))
    handout.cells = handout.cells[: first + 2]  # up to and including the first check
    with pytest.raises(CellExecutionError) as info:
        execute_notebook(handout, cwd=path.parent, output_root=tmp_path / "out")
    index, error = _error(handout)
    assert index == first + 1, f"{path.name}: failed in cell {index}, not at the first check"
    assert error["ename"] == "CheckFailed", info.value
    assert "no answer yet" in error["evalue"]
