"""Run and hand out the lesson notebooks: the exercise version, and execution with this Python.

Used by the test suite (``tests/training/test_notebooks.py``), ``scripts/make_exercises.py``
(``make exercises``) and ``scripts/lesson_pictures.py``. Needs the ``test`` extra
(``nbformat``, ``nbclient``, ``ipykernel``); imported lazily so ``geo`` itself does not.

Cell tags (the course's convention): ``exercise`` (the learner fills it in), ``solution``
(the next cell, removed from the handed-out version), ``picture`` (the lesson's key figure,
one per notebook).
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "NOTEBOOK_DIR",
    "cell_tags",
    "execute_notebook",
    "exercise_version",
    "lesson_notebooks",
    "read_notebook",
]

#: The notebooks' folder in a source checkout (next to the ``geo`` package).
NOTEBOOK_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def lesson_notebooks(folder: str | Path = NOTEBOOK_DIR) -> list[Path]:
    """Return the lesson notebooks (``NN_slug.ipynb``) in ``folder``, in lesson order."""
    return sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb") if p.is_file())


def read_notebook(path: str | Path):
    """Read a notebook (nbformat 4)."""
    import nbformat

    return nbformat.read(str(path), as_version=4)


def cell_tags(cell) -> set[str]:
    """Return the tags of a notebook cell."""
    return set(cell.get("metadata", {}).get("tags", []))


def exercise_version(nb):
    """Return a copy of ``nb`` without its ``solution`` cells: what the learners get."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if "solution" not in cell_tags(c)]
    return out


def _kernel_manager(env: Mapping[str, str]):
    """Return a kernel manager that starts ``sys.executable -m ipykernel_launcher``.

    The ``python3`` kernelspec that ipykernel installs names plain ``python``, which on a
    machine with several Pythons may not be the one geo is installed in; this avoids it.
    """
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = KernelSpec(
        argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name="Python 3 (geo)",
        language="python",
        env=dict(env),
        resource_dir="",
    )

    class _ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name, *args, **kwargs):
            return spec

    return KernelManager(kernel_name="python3", kernel_spec_manager=_ThisPython())


def execute_notebook(
    nb,
    *,
    cwd: str | Path = NOTEBOOK_DIR,
    output_root: str | Path | None = None,
    timeout: int = 300,
    env: Mapping[str, str] | None = None,
):
    """Execute ``nb`` in place in a fresh kernel of this Python, working folder ``cwd``.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook; its cells receive their outputs.
    cwd : path
        The kernel's working folder (the notebooks' own folder, as in Jupyter).
    output_root : path, optional
        Sets ``GEO_LESSON_OUT`` so :func:`geo.training.output_dir` writes there.
    timeout : int
        Seconds allowed per cell.
    env : mapping, optional
        More environment variables for the kernel.

    Returns
    -------
    nbformat.NotebookNode
        ``nb``, executed.

    Raises
    ------
    nbclient.exceptions.CellExecutionError
        A cell raised; the message holds the traceback and the error name
        (``CheckFailed`` for a wrong answer).
    """
    from nbclient import NotebookClient

    kernel_env = {"MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    if output_root is not None:
        kernel_env["GEO_LESSON_OUT"] = str(output_root)
    kernel_env.update(env or {})
    full_env = {**os.environ, **kernel_env}
    client = NotebookClient(
        nb,
        km=_kernel_manager(full_env),
        timeout=timeout,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(cwd=str(cwd))
    return nb
