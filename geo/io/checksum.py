"""Checksums of input files, for the run manifest and for skipping up-to-date batch scenes."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_record", "file_sha256"]


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 of a file's bytes as hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(path: str | Path) -> dict:
    """Return ``{"path", "bytes", "sha256"}`` of a file, as the manifest lists its inputs."""
    return {"path": str(path), "bytes": Path(path).stat().st_size, "sha256": file_sha256(path)}
