"""The package version (one place; read by geo/__init__.py and the manifests)."""

__version__ = "0.8.0"
