"""A small additive piano-like synthesizer: fast, deterministic, dependency-free audio from notes.

Not a realistic piano (use FluidSynth with a soundfont for training data); it exists so tests
and the first demo can make labelled audio in milliseconds. Each note is a sum of slightly
inharmonic partials with a 3 ms attack, a pitch-dependent exponential decay and a 60 ms
release, plus a short noise burst at the hammer strike.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from sound2sheet.notes import NoteEvent

RELEASE_S = 0.06


def synthesize(notes: Sequence[NoteEvent], sample_rate: int = 16000, duration: float | None = None, seed: int = 0) -> np.ndarray:
    """Mono float32 audio for ``notes``; ``duration`` defaults to the last offset plus release."""
    end = max((n.offset for n in notes), default=0.0) + RELEASE_S
    total = int(round((duration if duration is not None else end) * sample_rate))
    out = np.zeros(total, dtype=np.float64)
    rng = np.random.default_rng(seed)
    nyquist = sample_rate / 2
    for n in notes:
        start = int(round(n.onset * sample_rate))
        if start >= total:
            continue
        hold = max(1, int(round((n.offset - n.onset) * sample_rate)))
        length = min(hold + int(RELEASE_S * sample_rate), total - start)
        t = np.arange(length) / sample_rate
        f0 = 440.0 * 2.0 ** ((n.pitch - 69) / 12.0)
        decay = 0.4 + 3.0 * (108 - n.pitch) / 87.0  # low notes ring longer
        env = np.minimum(1.0, t / 0.003) * np.exp(-t / decay)
        release = np.ones(length)
        if length > hold:
            release[hold:] = np.exp(-(t[hold:] - t[hold]) / (RELEASE_S / 4))
        tone = np.zeros(length)
        for k in range(1, 16):
            fk = k * f0 * np.sqrt(1.0 + 1e-4 * k * k)
            if fk >= nyquist * 0.95:
                break
            tone += np.sin(2 * np.pi * fk * t + rng.uniform(0, 2 * np.pi)) * np.exp(-t * k * 0.8) / k ** 1.1
        burst = int(0.01 * sample_rate)
        noise = np.zeros(length)
        noise[:burst] = rng.standard_normal(min(burst, length))[: min(burst, length)] * np.linspace(1, 0, burst)[: min(burst, length)] * 0.05
        amp = ((n.velocity if n.velocity is not None else 80) / 127.0) ** 1.5
        out[start:start + length] += amp * (tone * env * release + noise)
    peak = np.abs(out).max() if out.size else 0.0
    if peak > 0.9:
        out *= 0.9 / peak
    return out.astype(np.float32)


def random_notes(
    rng: np.random.Generator,
    duration: float,
    pitch_range: tuple[int, int] = (21, 108),
    notes_per_second: float = 4.0,
    min_len: float = 0.1,
    max_len: float = 0.8,
) -> list[NoteEvent]:
    """Random notes (chords and overlaps included) inside ``[0, duration - 0.2]`` seconds."""
    count = max(1, int(rng.poisson(notes_per_second * duration)))
    notes = []
    for _ in range(count):
        onset = float(rng.uniform(0.05, max(0.06, duration - max_len - 0.2)))
        length = float(rng.uniform(min_len, max_len))
        pitch = int(rng.integers(pitch_range[0], pitch_range[1] + 1))
        notes.append(NoteEvent(pitch, round(onset, 3), round(onset + length, 3), int(rng.integers(40, 120))))
    # a key cannot sound twice at once: drop notes overlapping an earlier one on the same key
    kept: list[NoteEvent] = []
    for n in sorted(notes, key=lambda n: n.onset):
        if all(k.pitch != n.pitch or k.offset + 0.02 <= n.onset for k in kept):
            kept.append(n)
    return kept
