"""Resampled copies of a dataset: new pianos made from the recorded ones.

A recording read 2^(k/12) times faster sounds k semitones higher: every partial, the
stretch of the partials (inharmonicity), the hammer noise and the decay move together, as on a
smaller (k > 0) or larger (k < 0) instrument. The copy keeps a real piano's sound, which the
procedural pianos did not (docs/experiments.md #26), yet no render has that piano. The labels
move with the audio: pitch + k, every note and pedal time divided by 2^(k/12).

Each item gets one shift, drawn (seeded by its id) from those that keep all its notes on the
keyboard; an item no shift fits is skipped. Items keep their split and piece, so splits still
never share a piece.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from sound2sheet.data.manifest import SPLITS, ManifestItem, read_manifest, resolve_inside, split_summary, write_manifest
from sound2sheet.errors import DatasetError
from sound2sheet.fileio import atomic_write, atomic_write_json
from sound2sheet.notes import HIGHEST_PIANO_KEY, LOWEST_PIANO_KEY, NoteEvent

DEFAULT_SHIFTS = (-2, -1, 1, 2)


def shift_ratio(semitones: int) -> float:
    """How much faster the audio is read for a shift of ``semitones``."""
    return 2.0 ** (semitones / 12.0)


def fitting_shifts(pitches: Iterable[int], shifts: Sequence[int]) -> list[int]:
    """The shifts that keep every pitch on the 88 keys (all of them when there are no notes)."""
    pitches = list(pitches)
    if not pitches:
        return list(shifts)
    low, high = min(pitches), max(pitches)
    return [k for k in shifts if low + k >= LOWEST_PIANO_KEY and high + k <= HIGHEST_PIANO_KEY]


def transpose_labels(
    notes: Sequence[NoteEvent], pedal: Sequence[tuple[float, float]], semitones: int,
) -> tuple[list[NoteEvent], list[tuple[float, float]]]:
    """Notes and pedal ``(down, up)`` intervals of the audio read ``shift_ratio(semitones)`` times faster."""
    r = shift_ratio(semitones)
    moved = [replace(n, pitch=n.pitch + semitones, onset=n.onset / r, offset=n.offset / r) for n in notes]
    return moved, [(a / r, b / r) for a, b in pedal]


def transpose_audio(audio: np.ndarray, sample_rate: int, semitones: int) -> np.ndarray:
    """``audio`` (mono, ``[samples]``) read ``shift_ratio(semitones)`` times faster, at the same rate."""
    import soxr

    if semitones == 0:
        return np.asarray(audio, dtype=np.float32)
    # samples declared at rate * r and resampled back to rate: 1/r as long, every frequency * r
    return soxr.resample(np.asarray(audio, dtype=np.float32), sample_rate * shift_ratio(semitones), sample_rate,
                         quality="HQ").astype(np.float32)


def choose_shift(item_id: str, pitches: Iterable[int], shifts: Sequence[int], seed: int) -> int | None:
    """The item's shift: seeded by its id, so a resumed or repeated build picks the same one."""
    fits = fitting_shifts(pitches, shifts)
    return random.Random(f"{seed}:{item_id}").choice(fits) if fits else None


def _transpose_item(src: Path, out: Path, item: ManifestItem, labels: tuple[list[NoteEvent], list[tuple[float, float]]],
                    semitones: int) -> ManifestItem:
    """Write one item's shifted audio and MIDI (``labels``: its notes and pedal, as read once
    when its shift was chosen) unless both are there; its manifest entry."""
    import soundfile as sf

    from sound2sheet.midi import notes_to_pretty_midi

    tag = f"{semitones:+d}st"
    new_id = f"{item.id}--{tag}"
    audio_rel, midi_rel = f"audio/{new_id}.flac", f"midi/{new_id}.mid"
    moved, moved_pedal = transpose_labels(*labels, semitones)
    audio_path, midi_path = resolve_inside(out, audio_rel), resolve_inside(out, midi_rel)
    info = sf.info(str(resolve_inside(src, item.audio)))
    if not (audio_path.is_file() and midi_path.is_file()):  # atomic writes: a file there is whole
        audio, rate = sf.read(str(resolve_inside(src, item.audio)), dtype="float32", always_2d=True)
        # the resampler's ringing may overshoot a full-scale peak; 16-bit PCM must not wrap
        shifted = np.clip(transpose_audio(audio.mean(axis=1), rate, semitones), -1.0, 1.0)
        atomic_write(audio_path, lambda tmp: sf.write(tmp, shifted, rate, format="FLAC", subtype="PCM_16"))
        pm = notes_to_pretty_midi(moved, pedal=moved_pedal)
        atomic_write(midi_path, lambda tmp: pm.write(tmp))
    duration = info.frames / info.samplerate / shift_ratio(semitones)
    return replace(item, audio=audio_rel, midi=midi_rel, id=new_id,
                   timbre=f"{item.timbre or 'unknown'}{tag}", duration=round(duration, 4), notes=len(moved),
                   extra={**item.extra, "transpose_semitones": semitones, "transposed_from": item.id})


def transpose_dataset(
    sources: Sequence[Path], out: Path, shifts: Sequence[int] = DEFAULT_SHIFTS, seed: int = 0,
    splits: Sequence[str] = ("train",), progress: Callable[[list], Iterable] | None = None,
) -> dict:
    """Write ``out`` (audio, MIDI, manifests, ``dataset_info.json``): one shifted copy of each
    item of the ``sources``' ``splits`` (by default the training items only: a set that joins
    training through ``DataConfig.extra_train_dirs``). Resumable: items whose files are there
    are not redone.

    Returns the summary written to ``dataset_info.json``.
    """
    out = Path(out)
    shifts = [int(k) for k in shifts]
    if not shifts or 0 in shifts:
        raise DatasetError(f"give non-zero semitone shifts (a shift of 0 is a plain copy), got {shifts}")
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise DatasetError(f"unknown split(s) {unknown}; choose from {list(SPLITS)}")
    from sound2sheet.midi import read_midi_labels

    jobs: list[tuple[Path, str, ManifestItem, tuple, int]] = []
    skipped: list[str] = []
    for src in map(Path, sources):
        if not src.is_dir() or not any(read_manifest(src, s) for s in SPLITS):
            raise DatasetError(f"{src}: not a dataset directory with manifests")
        if out.resolve() == src.resolve():
            raise DatasetError(f"{out}: the transposed copy needs a directory of its own")
        for split in splits:
            for item in read_manifest(src, split):
                labels = read_midi_labels(resolve_inside(src, item.midi), sustain_pedal=False)
                k = choose_shift(item.id, [n.pitch for n in labels[0]], shifts, seed)
                if k is None:
                    skipped.append(item.id)
                else:
                    jobs.append((src, split, item, labels, k))
    ids = [item.id for _, _, item, _, _ in jobs]
    if len(set(ids)) != len(ids):
        raise DatasetError("the sources share item ids; transpose them into separate directories")
    done: dict[str, list[ManifestItem]] = {s: [] for s in SPLITS}
    for src, split, item, labels, k in (progress(jobs) if progress else jobs):
        done[split].append(_transpose_item(src, out, item, labels, k))
    for split in SPLITS:
        write_manifest(out, split, done[split])

    every = [i for s in SPLITS for i in done[s]]
    from sound2sheet import __version__

    info = {
        "tool": "sound2sheet", "version": __version__, "transposed_from": [str(s) for s in sources], "shifts": shifts, "seed": seed,
        "splits": {s: split_summary(done[s]) for s in SPLITS}, "total": split_summary(every),
        "timbres": dict(sorted(Counter(i.timbre for i in every).items())),
        "sources": dict(sorted(Counter(i.source for i in every).items())),
        "skipped": skipped,
    }
    atomic_write_json(out / "dataset_info.json", info)
    return info
