"""Build hook: put the shipped pipelines, sample data and notebooks into the wheel.

Everything else is declared in pyproject.toml. In a checkout these folders live beside the
package (``pipelines/``, ``sample_rasters/``, ``notebooks/``); a wheel carries a copy as
package data under ``geo/_resources/``, where :func:`geo.resources.resource_dir` finds it, so
``pip install geo-targets`` then ``geo init course`` gives a user everything to start from.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCES = ("pipelines", "sample_rasters", "notebooks")
ROOT = Path(__file__).resolve().parent


class BuildWithResources(build_py):
    """``build_py`` that also copies the resource folders into ``geo/_resources``."""

    def run(self):
        """Build the package, then copy the resources next to it (not for editable installs)."""
        super().run()
        if self.editable_mode:  # a checkout finds them beside the package
            return
        target = Path(self.build_lib) / "geo" / "_resources"
        for name in RESOURCES:
            source = ROOT / name
            if source.is_dir():  # absent when building from an sdist without them
                shutil.copytree(
                    source,
                    target / name,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"),
                )


setup(cmdclass={"build_py": BuildWithResources})
