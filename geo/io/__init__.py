"""Everything that touches disk: scene readers, vector readers, writers, output folders."""

from geo.io.readers import open_scene
from geo.io.scene import Scene

__all__ = ["Scene", "open_scene"]
