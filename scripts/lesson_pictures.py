"""Execute each lesson notebook and save the figure of its `picture` cell for the READMEs.

    .venv/bin/python scripts/lesson_pictures.py                 # every notebooks/NN_*.ipynb
    .venv/bin/python scripts/lesson_pictures.py notebooks/01_opening_a_scene.ipynb

Writes docs/lessons/NN_slug.png (PNG, under 200 KB: larger pictures are reduced to a
palette of 256 colours, then scaled down). Lesson files go to a temporary folder; the
notebooks themselves are not modified. Rerunnable.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from geo.training.notebooks import (
    NOTEBOOK_DIR,
    cell_tags,
    execute_notebook,
    lesson_notebooks,
    read_notebook,
)

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 200_000


def _png(cell) -> bytes:
    pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]  # fmt: skip
    if len(pngs) != 1:
        raise SystemExit(f"the picture cell drew {len(pngs)} figures; it must draw exactly one")
    return base64.b64decode(pngs[-1])


def _small(data: bytes) -> bytes:
    """The PNG itself if small enough, else palette-quantised and, if needed, scaled down."""
    if len(data) <= MAX_BYTES:
        return data
    image = Image.open(io.BytesIO(data)).convert("RGB")
    while True:
        buffer = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buffer, "PNG", optimize=True)  # fmt: skip
        if buffer.tell() <= MAX_BYTES:
            return buffer.getvalue()
        image = image.resize((int(image.width * 0.85), int(image.height * 0.85)), Image.LANCZOS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lesson notebook")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "lessons")
    args = parser.parse_args(argv)
    paths = args.notebooks or lesson_notebooks(NOTEBOOK_DIR)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for path in paths:
        nb = read_notebook(path)
        pictures = [c for c in nb.cells if "picture" in cell_tags(c)]
        if len(pictures) != 1:
            print(f"{path.name}: {len(pictures)} cells tagged 'picture' (need exactly 1); skipped")
            failed.append(path.name)
            continue
        start = time.perf_counter()
        try:
            with tempfile.TemporaryDirectory(prefix="geo-lesson-") as tmp:
                execute_notebook(nb, cwd=path.resolve().parent, output_root=tmp)
        except Exception as exc:  # report and go on with the other lessons
            print(f"{path.name}: failed to execute: {type(exc).__name__}: {str(exc)[-400:]}")
            failed.append(path.name)
            continue
        data = _small(_png(pictures[0]))
        target = args.out / f"{path.stem}.png"
        target.write_bytes(data)
        print(f"{path.name}: {time.perf_counter() - start:.1f} s → {target} ({len(data) / 1000:.0f} KB)")  # fmt: skip
    if failed:
        print(f"not done: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
