"""Works from music21's bundled corpus, played on one piano and humanised.

The corpus (chorales, motets, quartets, a few keyboard works) gives real harmony and voice
leading in styles the MIDI performances lack. Scores are quantised and dynamically flat, so
every export gets a human touch: drifting tempo, onset jitter, shortened articulation, a
dynamic curve with per-note variation, and sometimes sustain pedal.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

LOW, HIGH = 21, 108


def _corpus_root() -> Path:
    from music21 import common

    return Path(common.getCorpusFilePath())


def corpus_paths(query: str | None = None, limit: int | None = None) -> list[str]:
    """Corpus files, sorted; ``query`` keeps those whose composer folder or file name contains
    it (case-insensitive), e.g. ``bach``, ``mozart``, ``chorale``."""
    from music21 import corpus

    root = _corpus_root()
    paths = sorted(str(p) for p in corpus.getCorePaths())
    if query:
        q = query.lower()
        paths = [p for p in paths if q in str(Path(p).relative_to(root) if Path(p).is_relative_to(root) else p).lower()]
    return paths[:limit] if limit else paths


def piece_id(path: str) -> str:
    """Stable short name, e.g. ``bach_bwv66.6``."""
    p = Path(path)
    root = _corpus_root()
    rel = p.relative_to(root) if p.is_relative_to(root) else Path(p.name)
    parts = list(rel.with_suffix("").parts)
    return "_".join(parts)


def _to_pretty_midi(path: str, rng: np.random.Generator):
    """music21 writes the MIDI (tempo marks included); pretty_midi reads it back."""
    import music21
    import pretty_midi

    score = music21.converter.parse(path)
    if isinstance(score, music21.stream.Opus):
        if not score.scores:
            return None
        score = score.scores[0]
    if not score.recurse().getElementsByClass(music21.tempo.MetronomeMark):
        score.insert(0, music21.tempo.MetronomeMark(number=float(rng.uniform(70, 120))))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "score.mid"
        score.write("midi", fp=str(out))
        # music21 writes 10080 ticks per quarter, so a long movement passes pretty_midi's 1e7-tick
        # "likely corrupt" guard; this file is ours and known good.
        guard = pretty_midi.pretty_midi.MAX_TICK
        pretty_midi.pretty_midi.MAX_TICK = max(guard, 1e9)
        try:
            return pretty_midi.PrettyMIDI(str(out))
        finally:
            pretty_midi.pretty_midi.MAX_TICK = guard


def _warp(rng: np.random.Generator, end: float):
    """A smooth monotone time warp: local tempo drifts within about +-6 % every few seconds."""
    knots = np.arange(0.0, end + 8.0, 4.0)
    rates = np.clip(1.0 + np.cumsum(rng.normal(0, 0.02, knots.size)), 0.9, 1.1)
    warped = np.concatenate([[0.0], np.cumsum(np.diff(knots) * rates[:-1])])
    return lambda t: np.interp(t, knots, warped)


def humanize(pm, rng: np.random.Generator, max_seconds: float | None = None):
    """One piano track from all pitched parts, with timing, articulation, dynamics and pedal
    varied as a player would; same-key overlaps are cut, out-of-range pitches moved by octaves."""
    import pretty_midi

    raw = [(n.pitch, n.start, n.end) for inst in pm.instruments if not inst.is_drum for n in inst.notes if n.end > n.start]
    if not raw:
        return None
    end = max(e for _, _, e in raw)
    warp = _warp(rng, end)
    level = np.clip(np.cumsum(rng.normal(0, 4, int(end) + 2)) + rng.uniform(55, 95), 25, 120)  # dynamic curve per second
    articulation = rng.uniform(0.8, 1.0)
    notes = []
    for pitch, start, stop in sorted(raw, key=lambda n: (n[1], n[0])):
        while pitch < LOW:
            pitch += 12
        while pitch > HIGH:
            pitch -= 12
        s = float(warp(start)) + float(rng.normal(0, 0.008))
        e = float(warp(start + (stop - start) * articulation))
        velocity = int(np.clip(level[int(start)] + rng.normal(0, 8), 1, 127))
        notes.append([pitch, max(0.0, s), max(e, s + 0.03), velocity])
    last: dict[int, list] = {}
    for n in sorted(notes, key=lambda n: n[1]):
        prev = last.get(n[0])
        if prev is not None and prev[2] > n[1]:
            prev[2] = max(prev[1] + 0.01, n[1] - 0.005)
        last[n[0]] = n
    out = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0, name="Piano")
    limit = max_seconds if max_seconds else float("inf")
    for pitch, s, e, v in notes:
        if s < limit and e > s:
            inst.notes.append(pretty_midi.Note(velocity=v, pitch=pitch, start=s, end=min(e, limit + 2.0)))
    if rng.random() < 0.35:  # pedal over half-bar-ish spans
        t = float(rng.uniform(0, 2))
        total = min(float(warp(end)), limit)
        while t < total:
            span = float(rng.uniform(1.0, 3.0))
            inst.control_changes += [pretty_midi.ControlChange(64, 127, t), pretty_midi.ControlChange(64, 0, t + span)]
            t += span + float(rng.uniform(0.05, 4.0))
    if not inst.notes:
        return None
    out.instruments.append(inst)
    return out


def score_to_midi(path: str, rng: np.random.Generator, max_seconds: float | None = 300.0):
    """A corpus work as humanised piano MIDI, or None if it cannot be parsed or has no notes."""
    try:
        pm = _to_pretty_midi(path, rng)
    except Exception:
        return None
    if pm is None:
        return None
    return humanize(pm, rng, max_seconds)
