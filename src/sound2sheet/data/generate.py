"""Procedural piano pieces: the material real corpora under-supply.

Performances and scores rarely reach the keyboard's extremes, rarely re-strike one key
10-20 times a second, and never cover every dynamic on every key. A transcriber trained
only on them fails exactly there. These pieces are concatenated sections — scales,
arpeggios, block chords, repeated notes, dense clusters, two-hand textures, trills, leaps —
with drifting tempo, dynamics and sustain pedal. They are training material, not music to
validate on.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

LOW, HIGH = 21, 108
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)

# A section writes notes from time t and returns when it ended.
Note = tuple[int, float, float, int]  # pitch, start, end, velocity


class _Writer:
    """Collects notes, keeping a key from sounding twice at once."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.notes: list[Note] = []
        self.key_free: dict[int, float] = {}
        self.pedal: list[tuple[float, float]] = []

    def add(self, pitch: int, start: float, length: float, velocity: float) -> None:
        pitch = int(np.clip(pitch, LOW, HIGH))
        start = max(0.0, start + float(self.rng.normal(0.0, 0.004)))  # humanised timing
        start = max(start, self.key_free.get(pitch, 0.0) + 0.005)
        end = start + max(0.03, length)
        self.notes.append((pitch, start, end, int(np.clip(round(velocity), 1, 127))))
        self.key_free[pitch] = end


def _scale(rng, root: int) -> np.ndarray:
    steps = MAJOR if rng.random() < 0.6 else MINOR
    return np.array([root + 12 * o + s for o in range(-5, 6) for s in steps])


def _register(rng) -> int:
    """A centre pitch, biased toward the extremes a third of the time."""
    r = rng.random()
    if r < 0.17:
        return int(rng.integers(LOW + 3, 40))
    if r < 0.34:
        return int(rng.integers(84, HIGH - 3))
    return int(rng.integers(40, 84))


def _section_scale(w: _Writer, t: float, beat: float, dyn: Callable[[float], float]) -> float:
    rng = w.rng
    scale = _scale(rng, int(rng.integers(0, 12)) + 60)
    centre = _register(rng)
    idx = int(np.argmin(np.abs(scale - centre)))
    count = int(rng.integers(8, 25))
    step = beat / rng.choice([2, 3, 4])
    direction = rng.choice([-1, 1])
    for k in range(count):
        i = np.clip(idx + direction * k, 0, len(scale) - 1)
        w.add(int(scale[i]), t, step * rng.uniform(0.8, 1.1), dyn(k / count))
        t += step
    return t


def _section_arpeggio(w: _Writer, t: float, beat: float, dyn) -> float:
    rng = w.rng
    root = _register(rng)
    chord = [0, 4, 7] if rng.random() < 0.5 else [0, 3, 7]
    if rng.random() < 0.4:
        chord.append(10 if rng.random() < 0.5 else 11)
    pattern = [root + c + 12 * o for o in range(int(rng.integers(1, 4))) for c in chord]
    if rng.random() < 0.5:
        pattern = pattern + pattern[-2:0:-1]
    step = beat / rng.choice([2, 3, 4])
    for k, p in enumerate(pattern * int(rng.integers(1, 3))):
        w.add(p, t, step * rng.uniform(1.0, 3.0), dyn(k / len(pattern)))
        t += step
    return t


def _section_chords(w: _Writer, t: float, beat: float, dyn) -> float:
    rng = w.rng
    for k in range(int(rng.integers(3, 9))):
        root = _register(rng)
        size = int(rng.integers(3, 7))
        pitches = sorted(set(root + int(x) for x in rng.choice(np.arange(-12, 13), size, replace=False)))
        length = beat * rng.choice([0.5, 1, 2])
        for p in pitches:
            w.add(p, t + rng.uniform(0, 0.015), length * rng.uniform(0.7, 1.0), dyn(k / 8) + rng.normal(0, 6))
        t += length
    return t


def _section_repeated(w: _Writer, t: float, beat: float, dyn) -> float:
    """Fast re-strikes of one key (8-20 per second): hard to split without onsets."""
    rng = w.rng
    pitch = _register(rng)
    rate = rng.uniform(8.0, 20.0)
    count = int(rng.integers(8, 30))
    for k in range(count):
        w.add(pitch, t, 0.7 / rate, dyn(k / count) + rng.normal(0, 8))
        t += 1.0 / rate
    return t + 0.05


def _section_cluster(w: _Writer, t: float, beat: float, dyn) -> float:
    """Dense polyphony: up to ten keys at once, staggered entries."""
    rng = w.rng
    centre = _register(rng)
    for k in range(int(rng.integers(2, 5))):
        size = int(rng.integers(6, 11))
        pitches = rng.choice(np.arange(centre - 18, centre + 19), size, replace=False)
        length = beat * rng.uniform(1.0, 3.0)
        for p in pitches:
            w.add(int(p), t + rng.uniform(0, 0.05), length, dyn(k / 4) + rng.normal(0, 10))
        t += length * rng.uniform(0.5, 1.0)
    return t


def _section_two_hands(w: _Writer, t: float, beat: float, dyn) -> float:
    """Left-hand accompaniment under a right-hand melody."""
    rng = w.rng
    scale = _scale(rng, int(rng.integers(0, 12)) + 60)
    bass_root = int(rng.integers(LOW + 7, 52))
    melody = scale[(scale > 60) & (scale < 96)]
    bars = int(rng.integers(2, 5))
    end = t
    for bar in range(bars):
        lh = [bass_root, bass_root + 7, bass_root + 12, bass_root + 7]
        for k, p in enumerate(lh * 2):
            w.add(p, t + k * beat / 2, beat * 0.45, dyn(bar / bars) - 15)
        m = t
        while m < t + 4 * beat - 1e-6:
            length = beat * rng.choice([0.5, 1.0, 1.5])
            w.add(int(rng.choice(melody)), m, length * 0.95, dyn(bar / bars) + 5)
            m += length
        t += 4 * beat
        end = max(end, m)
    return max(t, end)


def _section_trill(w: _Writer, t: float, beat: float, dyn) -> float:
    rng = w.rng
    a = _register(rng)
    b = a + int(rng.choice([1, 2]))
    rate = rng.uniform(10.0, 16.0)
    for k in range(int(rng.integers(10, 30))):
        w.add(a if k % 2 == 0 else b, t, 0.9 / rate, dyn(0.5) + rng.normal(0, 5))
        t += 1.0 / rate
    return t


def _section_leaps(w: _Writer, t: float, beat: float, dyn) -> float:
    """Wide jumps across the whole keyboard, extremes included."""
    rng = w.rng
    for k in range(int(rng.integers(6, 16))):
        p = int(rng.integers(LOW, HIGH + 1)) if rng.random() < 0.7 else int(rng.choice([LOW, LOW + 1, HIGH - 1, HIGH]))
        w.add(p, t, beat * rng.uniform(0.3, 1.0), dyn(k / 16) + rng.normal(0, 10))
        t += beat * rng.choice([0.5, 1.0])
    return t


def _repeat_rate(rng) -> float:
    """Re-strikes per second at performance speed, 2.5-7 a second (``_section_repeated`` covers 8-20)."""
    return float(rng.uniform(2.5, 7.0))


def _section_repeated_chords(w: _Writer, t: float, beat: float, dyn) -> float:
    """Repeated chords (one hand, 1-4 keys) that move a note now and then, often under a melody."""
    rng = w.rng
    rate = _repeat_rate(rng)
    centre = int(rng.integers(36, 76))
    scale = _scale(rng, int(rng.integers(0, 12)) + 60)
    near = scale[(scale >= centre - 7) & (scale <= centre + 7)]
    chord = sorted(rng.choice(near, min(len(near), int(rng.integers(1, 5))), replace=False))
    count = int(rng.integers(8, 33))
    fill = rng.uniform(0.3, 0.95)  # staccato to legato
    melody = scale[(scale > max(chord) + 3) & (scale < HIGH - 2)] if rng.random() < 0.6 else scale[:0]
    until = t
    for k in range(count):
        if k and rng.random() < 0.25:  # move one chord note by a step
            i = int(rng.integers(len(chord)))
            chord[i] = int(np.clip(chord[i] + rng.choice([-2, -1, 1, 2]), LOW, HIGH))
        for p in set(chord):
            w.add(int(p), t + rng.uniform(0, 0.01), fill / rate, dyn(k / count) - 10 + rng.normal(0, 6))
        if len(melody) and t >= until:
            length = rng.integers(1, 5) / rate
            w.add(int(rng.choice(melody)), t, length * 0.95, dyn(k / count) + 8 + rng.normal(0, 6))
            until = t + length
        t += 1.0 / rate
    return t


def _section_repeated_melody(w: _Writer, t: float, beat: float, dyn) -> float:
    """A melody whose notes are struck 1-4 times each, over a held bass (often pedalled)."""
    rng = w.rng
    rate = _repeat_rate(rng)
    scale = _scale(rng, int(rng.integers(0, 12)) + 60)
    lo = int(rng.integers(48, 80))
    tune = scale[(scale >= lo) & (scale <= lo + 14)]
    start, end = t, t + rng.uniform(2.0, 6.0)
    bass = int(rng.integers(LOW + 3, 52))
    while t < end:
        p = int(rng.choice(tune))
        for _ in range(int(rng.integers(1, 5))):
            w.add(p, t, rng.uniform(0.5, 0.95) / rate, dyn((t - start) / (end - start)) + rng.normal(0, 8))
            t += 1.0 / rate
        if rng.random() < 0.3:
            t += 1.0 / rate  # a rest
    for p in (bass, bass + 12) if rng.random() < 0.5 else (bass,):
        w.add(p, start, t - start, dyn(0.0) - 5)
    return t


def _section_repeated_bass(w: _Writer, t: float, beat: float, dyn) -> float:
    """Drumming repeated bass notes or octaves under right-hand chords."""
    rng = w.rng
    rate = _repeat_rate(rng)
    scale = _scale(rng, int(rng.integers(0, 12)) + 60)
    bass = int(rng.integers(LOW, 55))
    octave = rng.random() < 0.5
    count = int(rng.integers(8, 33))
    rh = scale[(scale > 60) & (scale < 90)]
    for k in range(count):
        if k and k % int(rng.integers(4, 9)) == 0:
            bass = int(np.clip(bass + rng.choice([-5, -2, 2, 5, 7]), LOW, 60))
        for p in (bass, bass + 12) if octave else (bass,):
            w.add(p, t, rng.uniform(0.4, 0.9) / rate, dyn(k / count) + rng.normal(0, 8))
        if k % 4 == 0:
            for p in rng.choice(rh, int(rng.integers(2, 4)), replace=False):
                w.add(int(p), t + rng.uniform(0, 0.02), 3.5 / rate, dyn(k / count) + rng.normal(0, 6))
        t += 1.0 / rate
    return t


SECTIONS = (_section_scale, _section_arpeggio, _section_chords, _section_repeated, _section_cluster,
            _section_two_hands, _section_trill, _section_leaps)
# Same-key re-strikes at performance speed (2.5-7 a second) inside textures: the notes dense
# performances are full of and the mixed style rarely writes. Its pieces keep a share of the
# mixed sections, so a set of them is not one texture only.
REPEAT_SECTIONS = (_section_repeated_chords, _section_repeated_melody, _section_repeated_bass)
STYLES = {"mixed": 0.0, "repeats": 0.7}  # style: share of sections drawn from REPEAT_SECTIONS


def _dynamics(rng: np.random.Generator) -> Callable[[float], float]:
    """A velocity contour for one section: level, crescendo or diminuendo, with accents."""
    level = rng.uniform(20, 115)
    slope = rng.choice([0.0, 1.0, -1.0]) * rng.uniform(10, 40)
    return lambda x: level + slope * (x - 0.5) + (25 if rng.random() < 0.08 else 0) + rng.normal(0, 5)


def generate_piece(rng: np.random.Generator, duration: float = 60.0, style: str = "mixed"):
    """A one-instrument piano ``PrettyMIDI`` about ``duration`` seconds long, in one of ``STYLES``."""
    import pretty_midi

    if style not in STYLES:
        raise ValueError(f"unknown generator style {style!r}: expected one of {', '.join(STYLES)}")
    repeat_share = STYLES[style]
    w = _Writer(rng)
    t = 0.3
    bpm = rng.uniform(50, 200)
    while t < duration - 1.0:
        bpm = float(np.clip(bpm * rng.uniform(0.8, 1.25), 50, 200))  # tempo drifts between sections
        beat = 60.0 / bpm
        if repeat_share and rng.random() < repeat_share:
            section = REPEAT_SECTIONS[int(rng.integers(len(REPEAT_SECTIONS)))]
        else:
            section = SECTIONS[int(rng.integers(len(SECTIONS)))]
        start = t
        t = section(w, t, beat, _dynamics(rng))
        if rng.random() < 0.4:  # sustain pedal over this section
            w.pedal.append((start + rng.uniform(0, 0.1), t + rng.uniform(0, 0.3)))
        t += rng.uniform(0.0, 0.6)
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=0, name="Piano")
    for pitch, start, end, vel in sorted(w.notes, key=lambda n: (n[1], n[0])):
        if start < duration:
            inst.notes.append(pretty_midi.Note(velocity=vel, pitch=pitch, start=start, end=min(end, duration + 2.0)))
    for down, up in w.pedal:
        if down < duration:
            inst.control_changes.append(pretty_midi.ControlChange(64, 127, down))
            inst.control_changes.append(pretty_midi.ControlChange(64, 0, min(up, duration + 2.0)))
    pm.instruments.append(inst)
    return pm


def generate_pieces(n: int, seed: int, duration: float = 60.0, style: str = "mixed") -> list:
    """``n`` pieces, deterministic by ``seed``."""
    return [generate_piece(np.random.default_rng([seed, i]), duration, style) for i in range(n)]
