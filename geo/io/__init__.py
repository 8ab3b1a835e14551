"""Everything that touches disk: scene readers, vector readers, writers."""

from geo.io.scene import Scene, open_scene

__all__ = ["Scene", "open_scene"]
