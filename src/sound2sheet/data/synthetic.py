"""Write a small labelled dataset from synthesized audio (tests and the first-run demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from sound2sheet.data.manifest import ManifestItem, write_manifest
from sound2sheet.data.synth import random_notes, synthesize
from sound2sheet.fileio import atomic_write
from sound2sheet.midi import write_midi
from sound2sheet.notes import NoteEvent


def write_example(out_dir: Path, name: str, notes: Sequence[NoteEvent], duration: float, sample_rate: int = 16000, seed: int = 0) -> ManifestItem:
    """Synthesize ``notes`` to ``audio/<name>.flac`` and write ``midi/<name>.mid`` under ``out_dir``."""
    import soundfile as sf

    audio = synthesize(notes, sample_rate, duration=duration, seed=seed)
    audio_rel, midi_rel = f"audio/{name}.flac", f"midi/{name}.mid"
    atomic_write(out_dir / audio_rel, lambda tmp: sf.write(tmp, audio, sample_rate, format="FLAC"))
    write_midi(notes, out_dir / midi_rel)
    return ManifestItem(audio=audio_rel, midi=midi_rel, id=name, piece=name, timbre="synth", source="synthetic",
                        duration=duration, notes=len(notes))


def make_synthetic_dataset(
    out_dir: str | Path,
    counts: dict[str, int] | None = None,
    duration: float = 6.0,
    pitch_range: tuple[int, int] = (36, 96),
    notes_per_second: float = 4.0,
    seed: int = 0,
    sample_rate: int = 16000,
) -> Path:
    """Random-note clips per split (default 16 train, 2 val, 2 test) with manifests."""
    out_dir = Path(out_dir)
    counts = counts or {"train": 16, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        items = []
        for i in range(count):
            notes = random_notes(rng, duration, pitch_range, notes_per_second)
            items.append(write_example(out_dir, f"{split}_{i:03d}", notes, duration, sample_rate, seed=seed * 1000 + i))
        write_manifest(out_dir, split, items)
    return out_dir
