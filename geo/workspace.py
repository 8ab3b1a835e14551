"""``geo init``: a ready working folder with the pipelines, the sample scene and the course.

::

    course/
      README.md            what is here and the first commands
      pipelines/           the shipped pipelines; their relative paths point at ../sample_rasters
      sample_rasters/      the synthetic Landsat 8 sample, licences, occurrences, structures...
      notebooks/           the seven lessons (the solutions version; `make exercises` in a clone
                           writes the learners' version)
      out/                 where the pipelines write (``output: ../out/...``)

After ``pip install geo-targets`` and ``geo init course``, ``geo run
course/pipelines/landsat_prospectivity.yaml`` works from any folder on any system: every path
in a pipeline file is resolved against the file's own folder. The folder is built beside its
final place and moved there only when complete; an existing folder with anything in it is
never touched.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from geo._version import __version__
from geo.errors import OutputExistsError
from geo.resources import RESOURCES, resource_dir

__all__ = ["init_workspace"]

_README = """\
# geo working folder

Made by `geo init` (geo {version}). Everything here is yours to change.

- `pipelines/`: ready pipelines; relative paths in them are resolved against their folder.
- `sample_rasters/`: a synthetic Landsat 8 Collection 2 Level-2 scene of eastern Botswana with
  licences, known occurrences, faults, training polygons and the ground truth.
- `notebooks/`: the training course, seven lessons (open them with JupyterLab from this folder).
- `out/`: where the pipelines write their runs.

First commands (from any folder):

    geo run {folder}/pipelines/landsat_alteration.yaml
    geo run {folder}/pipelines/landsat_prospectivity.yaml --out {folder}/out/prospectivity
    geo run {folder}/pipelines/landsat_alteration.yaml --scene MY_SCENE --licences MY_LICENCES.gpkg --out {folder}/out/mine

Open `out/sample/report.html` in a browser, `out/sample/targets.gpkg` in QGIS, and
`out/sample/exports/` on a GPS or in Google Earth.
"""

#: Files of the resource folders that a working copy does not need.
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.py")


def init_workspace(folder: str | Path) -> Path:
    """Write a working folder with the pipelines, the sample data and the notebooks.

    Parameters
    ----------
    folder : str or Path
        The folder to create; it may exist only if empty.

    Returns
    -------
    Path
        ``folder``.

    Raises
    ------
    OutputExistsError
        ``folder`` exists and is not an empty folder (nothing in it is changed).
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise OutputExistsError(
            f"{folder}: exists and is not empty; geo init writes only a new or empty folder. "
            "Choose another name."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.init-{uuid.uuid4().hex[:8]}"
    try:
        for name in RESOURCES:
            source = resource_dir(name)
            # the notebooks ship as .ipynb; their jupytext .py twins stay in the repository
            skip = _SKIP if name == "notebooks" else shutil.ignore_patterns("__pycache__")
            shutil.copytree(source, staging / name, ignore=skip)
        (staging / "out").mkdir()
        readme = _README.format(version=__version__, folder=folder.as_posix())
        (staging / "README.md").write_text(readme, encoding="utf-8")
        if folder.exists():
            folder.rmdir()  # empty, checked above
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
