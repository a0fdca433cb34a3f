"""Dataset directory layout and manifests.

A dataset directory holds one manifest per split, ``train.jsonl``, ``val.jsonl`` and
``test.jsonl``: one JSON object per line with at least

* ``audio``: audio file path relative to the dataset directory (WAV/FLAC/OGG, any rate),
* ``midi``: ground-truth MIDI path relative to the dataset directory,

and optionally ``id``, ``piece`` (source piece; splits never share one), ``timbre``,
``source``, ``duration`` (seconds) and ``notes``. Paths must stay inside the dataset
directory; absolute paths and ``..`` escapes are refused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sound2sheet.errors import DatasetError
from sound2sheet.fileio import atomic_write_text

SPLITS = ("train", "val", "test")


@dataclass
class ManifestItem:
    """One (audio, MIDI) pair; paths relative to the dataset directory."""

    audio: str
    midi: str
    id: str = ""
    piece: str = ""
    timbre: str = ""
    source: str = ""
    duration: float | None = None
    notes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = Path(self.audio).stem

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return {k: v for k, v in d.items() if v not in (None, "")}


_KNOWN = {"audio", "midi", "id", "piece", "timbre", "source", "duration", "notes"}


def manifest_path(dataset_dir: str | Path, split: str) -> Path:
    return Path(dataset_dir) / f"{split}.jsonl"


def resolve_inside(dataset_dir: str | Path, relative: str) -> Path:
    """``dataset_dir / relative``, refusing absolute paths and ``..`` escapes."""
    root = Path(dataset_dir).resolve()
    rel = Path(relative)
    if rel.is_absolute():
        raise DatasetError(f"manifest path {relative!r} is absolute; paths must be relative to {root}")
    full = (root / rel).resolve()
    if full != root and root not in full.parents:
        raise DatasetError(f"manifest path {relative!r} escapes the dataset directory {root}")
    return full


def read_manifest(dataset_dir: str | Path, split: str) -> list[ManifestItem]:
    """Items of one split; an absent manifest is an empty split."""
    path = manifest_path(dataset_dir, split)
    if not path.exists():
        return []
    items = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            audio, midi = raw["audio"], raw["midi"]
            if not (isinstance(audio, str) and isinstance(midi, str) and audio and midi):
                raise ValueError("audio and midi must be non-empty path strings")
        except (ValueError, KeyError) as exc:
            raise DatasetError(f"{path}:{lineno}: malformed manifest line ({exc})") from None
        for rel in (audio, midi):
            try:
                resolve_inside(dataset_dir, rel)
            except DatasetError as exc:  # say which manifest line to fix
                raise DatasetError(f"{path}:{lineno}: {exc}") from None
        extra = {k: v for k, v in raw.items() if k not in _KNOWN}
        items.append(
            ManifestItem(
                audio=audio, midi=midi, id=str(raw.get("id", "")), piece=str(raw.get("piece", "")),
                timbre=str(raw.get("timbre", "")), source=str(raw.get("source", "")),
                duration=raw.get("duration"), notes=raw.get("notes"), extra=extra,
            )
        )
    return items


def write_manifest(dataset_dir: str | Path, split: str, items: Iterable[ManifestItem]) -> Path:
    """Write one split's manifest atomically."""
    lines = [json.dumps(item.to_json(), sort_keys=True) for item in items]
    return atomic_write_text(manifest_path(dataset_dir, split), "\n".join(lines) + ("\n" if lines else ""))


def split_summary(items: Iterable[ManifestItem]) -> dict[str, Any]:
    """Items, distinct pieces, hours and notes of a split's manifest items (what
    ``dataset_info.json`` records per split, hours to 4 places as the builder writes them;
    missing durations and counts count as 0)."""
    items = list(items)
    return {"items": len(items), "pieces": len({i.piece for i in items}),
            "hours": round(sum(i.duration or 0.0 for i in items) / 3600, 4), "notes": sum(i.notes or 0 for i in items)}


def check_files(dataset_dir: str | Path, items: Iterable[ManifestItem]) -> list[str]:
    """Relative paths named by ``items`` that do not exist."""
    missing = []
    for item in items:
        for rel in (item.audio, item.midi):
            if not resolve_inside(dataset_dir, rel).is_file():
                missing.append(rel)
    return missing
