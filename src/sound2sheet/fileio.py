"""Atomic file writes: readers never see a half-written checkpoint, manifest or output."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def _temp_affixes(path: Path) -> tuple[str, str]:
    """Prefix and suffix of :func:`atomic_write`'s temporary files for ``path``."""
    return f".{path.name}.", ".tmp"


def stale_temp_files(path: str | Path) -> list[Path]:
    """Temporary files an :func:`atomic_write` of ``path`` left behind when its process was killed."""
    path = Path(path)
    prefix, suffix = _temp_affixes(path)
    return sorted(path.parent.glob(f"{prefix}*{suffix}"))


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, fsync it, rename onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temp_affixes(path)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    return atomic_write(path, write)


def atomic_write_json(path: str | Path, data: Any, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=indent) + "\n")
