"""A compact copy of training sets, for a trainer that only a small upload reaches.

A lent GPU machine here takes 64 MiB per call and reaches nothing else, while the sets are
~20 GB of FLAC. Opus at libsndfile's compression level 0.8 (~56 kbit/s at 16 kHz) left the
shipped model's scores on the Iowa validation pieces unchanged (docs/model.md), so a pack
holds a seeded subset of each set's training items, in proportion to its hours, plus its
shortest validation items, as Opus with the MIDI beside it. Several sets go into one pack
directory, one dataset folder each, so a run config names them as usual.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from sound2sheet.data.manifest import ManifestItem, read_manifest, resolve_inside, write_manifest
from sound2sheet.errors import DatasetError
from sound2sheet.fileio import atomic_write, atomic_write_json

OPUS_LEVEL = 0.8


def item_seconds(item: ManifestItem) -> float:
    if item.duration is None:
        raise DatasetError(f"{item.id}: manifest has no duration; rebuild or re-validate the dataset")
    return float(item.duration)


def choose_train_items(sets: dict[str, list[ManifestItem]], hours: float, seed: int) -> dict[str, list[ManifestItem]]:
    """Whole training items per set, seeded, each set's share of ``hours`` in proportion to its own hours.

    Items are taken in a seeded shuffle while they fit the set's share, so every set gets
    at most its share and pieces are not cut.
    """
    totals = {name: sum(item_seconds(i) for i in items) for name, items in sets.items()}
    grand = sum(totals.values())
    if grand <= 0:
        raise DatasetError("the training splits are empty: nothing to pack")
    chosen: dict[str, list[ManifestItem]] = {}
    for name, items in sets.items():
        budget = hours * 3600.0 * totals[name] / grand
        order = list(items)
        random.Random(f"{seed}:{name}").shuffle(order)
        taken, used = [], 0.0
        for item in order:
            if used + item_seconds(item) <= budget:
                taken.append(item)
                used += item_seconds(item)
        chosen[name] = taken
    return chosen


def _transcode(src: Path, dst: Path, level: float) -> None:
    import soundfile as sf

    audio, rate = sf.read(str(src), dtype="float32", always_2d=False)
    atomic_write(dst, lambda tmp: sf.write(tmp, audio, rate, format="OGG", subtype="OPUS", compression_level=level))


def _copy_items(src_dir: Path, dst_dir: Path, items: Iterable[ManifestItem], level: float) -> list[ManifestItem]:
    out = []
    for item in items:
        audio = str(Path(item.audio).with_suffix(".ogg"))
        _transcode(resolve_inside(src_dir, item.audio), resolve_inside(dst_dir, audio), level)
        midi_src = resolve_inside(src_dir, item.midi)
        atomic_write(resolve_inside(dst_dir, item.midi), lambda tmp: shutil.copyfile(midi_src, tmp))
        out.append(replace(item, audio=audio))
    return out


def pack_datasets(
    dataset_dirs: list[Path], out: Path, hours: float, val_per_set: int = 1, level: float = OPUS_LEVEL,
    seed: int = 0, progress: Callable[[str], None] | None = None,
) -> dict:
    """Write ``out/<set name>/`` (Opus audio, MIDI, train/val manifests) and ``out/pack_info.json``.

    Returns the summary written to ``pack_info.json``: per set, items and hours packed.
    """
    if hours <= 0:
        raise DatasetError(f"--hours must be positive, got {hours}")
    if not 0.0 <= level <= 1.0:
        raise DatasetError(f"the Opus compression level must lie in [0, 1], got {level}")
    names = [Path(d).name for d in dataset_dirs]
    if len(set(names)) != len(names):
        raise DatasetError(f"dataset folders must have distinct names in one pack: {names}")
    train = {}
    for d in dataset_dirs:
        if not Path(d).is_dir():
            raise DatasetError(f"{d}: no such dataset directory")
        train[Path(d).name] = read_manifest(d, "train")
    chosen = choose_train_items(train, hours, seed)
    summary: dict = {"opus_compression_level": level, "seed": seed, "hours_asked": hours, "sets": {}}
    for d in dataset_dirs:
        name = Path(d).name
        val = sorted(read_manifest(d, "val"), key=item_seconds)[:val_per_set]
        if progress:
            progress(f"{name}: {len(chosen[name])} training and {len(val)} validation items")
        for split, items in (("train", chosen[name]), ("val", val)):
            write_manifest(out / name, split, _copy_items(Path(d), out / name, items, level))
        summary["sets"][name] = {
            "train_items": len(chosen[name]), "train_hours": round(sum(map(item_seconds, chosen[name])) / 3600, 4),
            "val_items": len(val), "val_hours": round(sum(map(item_seconds, val)) / 3600, 4),
        }
    atomic_write_json(out / "pack_info.json", summary)
    return summary
