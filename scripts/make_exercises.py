"""Write the learners' version of each lesson notebook: the `solution` cells removed.

    .venv/bin/python scripts/make_exercises.py --out out/exercises      (= make exercises)

Each notebooks/NN_slug.ipynb becomes OUT/NN_slug.ipynb without outputs and without the
cells tagged `solution`; the check after each exercise then says "no answer yet" until the
learner fills the cell in. Hand out the folder (it finds the sample data when opened from
inside the geo project, or with GEO_SAMPLE_DIR set).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat

from geo.training.notebooks import NOTEBOOK_DIR, exercise_version, lesson_notebooks, read_notebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/exercises"))
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOK_DIR)
    args = parser.parse_args(argv)
    paths = lesson_notebooks(args.notebooks)
    if not paths:
        raise SystemExit(f"no lesson notebooks (NN_slug.ipynb) in {args.notebooks}")
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        handout = exercise_version(read_notebook(path))
        for cell in handout.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        handout.metadata.pop("jupytext", None)  # a standalone notebook, not paired
        removed = len(read_notebook(path).cells) - len(handout.cells)
        nbformat.write(handout, str(args.out / path.name))
        print(f"{args.out / path.name}: {removed} solution cell(s) removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
