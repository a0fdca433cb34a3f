"""Notes -> a readable two-staff piano score (MusicXML via music21).

Timed notes need a tempo, meter, rhythmic grid, two hands, chords and key-aware spelling to read as
sheet music; each step is a small pure function. music21 is imported lazily (it is slow to load).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from sound2sheet.fileio import atomic_write
from sound2sheet.notes import NoteEvent

if TYPE_CHECKING:
    from music21 import key, pitch, stream

MIN_BPM, MAX_BPM, DEFAULT_BPM = 40.0, 208.0, 120.0
CHORD_TOLERANCE_S = 0.03  # onsets closer than this are one attack (a chord)
MAX_HAND_SPAN = 15  # semitones (a tenth): more than one hand can hold


@dataclass(frozen=True)
class QuantizedNote:
    """A note on the grid: ``start_q`` and ``dur_q`` count grid steps (``divisions`` per quarter)."""

    pitch: int
    start_q: int
    dur_q: int
    velocity: int | None = None

    @property
    def end_q(self) -> int:
        return self.start_q + self.dur_q


def _attacks(notes: Sequence[NoteEvent]) -> tuple[np.ndarray, np.ndarray]:
    """Onset times with near-simultaneous notes merged, and each attack's note count as weight."""
    t = np.sort(np.array([n.onset for n in notes], dtype=float))
    if len(t) == 0:
        return t, t
    group = np.cumsum(np.concatenate([[True], np.diff(t) > CHORD_TOLERANCE_S])) - 1
    count = np.bincount(group).astype(float)
    return np.bincount(group, weights=t) / count, count


def estimate_tempo(notes: Sequence[NoteEvent], min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM) -> float:
    """Beat tempo (BPM) from the autocorrelation of the onset train: a histogram of *all* pairwise
    inter-onset intervals, smoothed by a 15 ms Gaussian so jitter still adds up. A steady train fits
    60, 120 and 240 BPM alike, so a log-normal prior around 120 BPM (an octave wide) picks the
    octave. Fewer than three attacks give ``DEFAULT_BPM``."""
    times, weight = _attacks(notes)
    if len(times) < 3:
        return DEFAULT_BPM
    res, max_lag = 0.001, 60.0 / min_bpm + 0.1
    hist = np.zeros(int(max_lag / res) + 2)
    for k in range(1, len(times)):  # times are sorted: lags only grow with k
        lag = times[k:] - times[:-k]
        keep = lag < max_lag
        if not keep.any():
            break
        np.add.at(hist, np.round(lag[keep] / res).astype(int), (weight[k:] * weight[:-k])[keep])
    acf = np.convolve(hist, np.exp(-0.5 * (np.arange(-45, 46) * res / 0.015) ** 2), mode="same")  # 15 ms blur
    bpms = np.arange(min_bpm, max_bpm + 1e-9, 0.1)
    strength = np.interp(60.0 / bpms / res, np.arange(len(acf)), acf)
    score = strength * np.exp(-0.5 * np.log2(bpms / DEFAULT_BPM) ** 2)
    return DEFAULT_BPM if score.max() <= 0 else round(float(bpms[np.argmax(score)]), 1)


def beat_origin(notes: Sequence[NoteEvent], bpm: float, divisions: int = 4) -> float:
    """Time (s) of the first beat, at or just before the first onset. The grid phase is the circular
    mean of onset phases per grid step (so off-beat notes agree with on-beat ones); the beat is the
    grid step that most attacks fall on. One early or late first note cannot shift the whole grid."""
    times, weight = _attacks(notes)
    if len(times) == 0:
        return 0.0
    beat, step = 60.0 / bpm, 60.0 / bpm / divisions
    z = np.sum(weight * np.exp(2j * np.pi * times / step))
    if abs(z) < 0.3 * weight.sum():  # no steady grid (e.g. rubato): trust the first note
        return float(times[0])
    fine = float(np.angle(z)) / (2 * np.pi) * step
    slot = np.round((times - fine) / step).astype(int) % divisions
    phase = fine + step * int(np.argmax(np.bincount(slot, weights=weight, minlength=divisions)))
    return phase + math.floor((times[0] - phase) / beat + 0.5 / divisions) * beat


def quantize(notes: Sequence[NoteEvent], bpm: float, divisions: int = 4,
             origin: float | None = None) -> list[QuantizedNote]:
    """Snap onsets and offsets to a grid of ``divisions`` steps per beat (4: sixteenths), counted
    from ``origin`` (default :func:`beat_origin`). Durations are at least one step; a repeated
    pitch is cut where it is struck again (staff notation cannot overlap a pitch with itself)."""
    if origin is None:
        origin = beat_origin(notes, bpm, divisions)
    step = 60.0 / bpm / divisions
    raw = []
    for n in notes:
        start = max(0, round((n.onset - origin) / step))
        raw.append(QuantizedNote(n.pitch, start, max(1, round((n.offset - origin) / step) - start), n.velocity))
    out: list[QuantizedNote] = []
    for q in sorted(raw, key=lambda q: (q.pitch, q.start_q, -q.dur_q)):
        prev = out[-1] if out and out[-1].pitch == q.pitch else None
        if prev is not None and q.start_q == prev.start_q:
            continue  # duplicate attack: keep the longer one (sorted first)
        if prev is not None and prev.end_q > q.start_q:
            out[-1] = replace(prev, dur_q=q.start_q - prev.start_q)
        out.append(q)
    return sorted(out, key=lambda q: (q.start_q, q.pitch))


def estimate_meter(notes: Sequence[QuantizedNote], divisions: int = 4) -> int:
    """Beats per bar, 4 or 3. Bars repeat their patterns, so compare how alike beats are 3 apart
    with 2 and 4 apart (cosine of per-beat pitch-onset vectors, on-beat notes counted double);
    3/4 only on a clear win (>25 %) over at least 12 beats, otherwise the common 4/4."""
    n_beats = max((q.start_q for q in notes), default=0) // divisions + 1
    if n_beats < 12:
        return 4
    f = np.zeros((n_beats, 128))
    for q in notes:
        f[q.start_q // divisions, q.pitch] += 1.0 + (q.start_q % divisions == 0)
    f /= np.linalg.norm(f, axis=1, keepdims=True) + 1e-9
    sim = {lag: float(np.mean(np.sum(f[lag:] * f[:-lag], axis=1))) for lag in (2, 3, 4)}
    return 3 if sim[3] > 1.25 * max(sim[2], sim[4]) else 4


def split_hands(notes: Sequence[QuantizedNote]) -> tuple[list[QuantizedNote], list[QuantizedNote]]:
    """(right, left). Each set of notes struck together is cut at one pitch (lower part -> left
    hand). The cut minimises, per hand, the distance of its notes from where that hand has recently
    played (running means starting at G4 and C3) plus its span (hands stay compact; more than a
    tenth is ruled out). That is "middle C splits the hands", made continuity-aware: a melody
    dipping below C4 stays in the right hand, and a left-hand chord reaching above C4 stays left."""
    centre = {"right": 67.0, "left": 48.0}
    hands: dict[str, list[QuantizedNote]] = {"right": [], "left": []}

    def cost(part: list[QuantizedNote], hand: str) -> float:
        span = part[-1].pitch - part[0].pitch if part else 0
        return sum(abs(q.pitch - centre[hand]) for q in part) + span + 100.0 * (span > MAX_HAND_SPAN)

    for _, group in groupby(sorted(notes, key=lambda q: (q.start_q, q.pitch)), key=lambda q: q.start_q):
        ps = list(group)
        cut = min(range(len(ps) + 1), key=lambda i: cost(ps[:i], "left") + cost(ps[i:], "right"))
        for hand, part in (("left", ps[:cut]), ("right", ps[cut:])):
            if part:
                hands[hand].extend(part)
                centre[hand] = 0.7 * centre[hand] + 0.3 * float(np.mean([q.pitch for q in part]))
    return hands["right"], hands["left"]


def _spell(midi: int, scale_names: dict[int, str], sharps: int) -> "pitch.Pitch":
    """A pitch named as in the key's scale, else with sharps in sharp keys and flats in flat keys."""
    from music21 import pitch

    p = pitch.Pitch(midi=midi)
    if midi % 12 in scale_names:
        p.name = scale_names[midi % 12]
    elif p.accidental is not None and p.accidental.alter * sharps < 0:  # C# in F major -> D-
        p = p.getEnharmonic()
    p.octave += round((midi - p.ps) / 12)  # B#3 is C4: keep the sounding pitch
    return p


def _assign_voices(notes: Sequence[QuantizedNote]) -> list[list[list]]:
    """Greedy voices for one staff, as ``[start_q, dur_q, notes]`` events: notes sharing start and
    length form one chord; an event takes the first voice free at its start. With both voices
    busy, the one ending first is cut short (or joined as a chord, if it starts at the same time)."""
    voices: list[list[list]] = [[], []]
    slots = groupby(sorted(notes, key=lambda q: (q.start_q, q.dur_q, q.pitch)), key=lambda q: (q.start_q, q.dur_q))
    for (start, dur), group in slots:
        free = [v for v in voices if not v or v[-1][0] + v[-1][1] <= start]
        voice = free[0] if free else min(voices, key=lambda v: v[-1][0] + v[-1][1])
        if not free and voice[-1][0] == start:
            voice[-1][2].extend(group)
            continue
        if not free:
            voice[-1][1] = start - voice[-1][0]
        voice.append([start, dur, list(group)])
    return [v for v in voices if v]


def _staff(notes: Sequence[QuantizedNote], head: list, beats: int, key_sig: "key.Key", total_q: int,
           divisions: int) -> "stream.PartStaff":
    """One staff. Each voice gets music21's notation pass alone (bars, rests, ties, beams), then
    the voices are merged bar by bar; a second voice appears only in bars where it has notes."""
    from music21 import chord, key, meter, note, stream

    scale = key_sig.getScale().getPitches("C4", "B4")
    if key_sig.mode == "minor":  # harmonic minor: the leading tone is G# in A minor, not A-
        scale.append(key_sig.tonic.transpose("-m2"))
    names = {p.pitchClass: p.name for p in scale}
    bars = []
    for i, events in enumerate(_assign_voices(notes) or [[]]):
        s = stream.Stream([*(head if i == 0 else []), key.KeySignature(key_sig.sharps), meter.TimeSignature(f"{beats}/4")])
        for start, dur, members in events:
            pitches = [_spell(q.pitch, names, key_sig.sharps) for q in sorted(members, key=lambda q: q.pitch)]
            el = note.Note(pitches[0]) if len(pitches) == 1 else chord.Chord(pitches)
            el.quarterLength = Fraction(dur, divisions)
            velocities = [q.velocity for q in members if q.velocity is not None]
            if velocities:
                el.volume.velocity = round(float(np.mean(velocities)))
            s.insert(Fraction(start, divisions), el)
        s.makeRests(refStreamOrTimeRange=[0, Fraction(total_q, divisions)], fillGaps=True, inPlace=True)
        bars.append(list(s.makeNotation().getElementsByClass(stream.Measure)))
    staff = stream.PartStaff()
    for i, bar in enumerate(bars[0]):
        extra = [v[i] for v in bars[1:] if i < len(v) and v[i].notes]
        for number, source in enumerate([bar] + extra, 1) if extra else ():
            voice = stream.Voice(id=str(number))
            for el in list(source.notesAndRests):
                voice.insert(el.getOffsetBySite(source), el)
                source.remove(el)
            bar.insert(0, voice)
        staff.append(bar)
    return staff


def notes_to_score(notes: Sequence[NoteEvent], title: str = "", bpm: float | None = None,
                   divisions: int = 4) -> "stream.Score":
    """A piano score: estimated (or given) tempo and meter, a key from the Krumhansl-Schmuckler
    profile, notes on a ``divisions``-per-beat grid, and treble and bass staves joined by a brace."""
    from music21 import clef, instrument, key, layout, metadata, note, stream, tempo

    bpm = estimate_tempo(notes) if bpm is None else float(bpm)
    qs = quantize(notes, bpm, divisions)
    beats = estimate_meter(qs, divisions)
    bar = beats * divisions
    total_q = max(bar, -(-max((q.end_q for q in qs), default=0) // bar) * bar)  # whole bars
    probe = stream.Stream([note.Note(q.pitch, quarterLength=Fraction(q.dur_q, divisions)) for q in qs])
    key_sig = probe.analyze("key") if qs else key.Key("C")

    score = stream.Score()
    score.metadata = metadata.Metadata(title=title or "Transcription")
    score.metadata.transcriber = "sound2sheet"
    right, left = split_hands(qs)
    mark = tempo.MetronomeMark(number=round(bpm), referent=note.Note(type="quarter"))
    staves = []
    for hand_notes, head in ((right, [clef.TrebleClef(), mark]), (left, [clef.BassClef()])):
        staff = _staff(hand_notes, head, beats, key_sig, total_q, divisions)
        staff.insert(0, instrument.Piano())
        staves.append(staff)
        score.insert(0, staff)
    score.insert(0, layout.StaffGroup(staves, name="Piano", abbreviation="Pno.", symbol="brace"))
    return score


def write_musicxml(notes: Sequence[NoteEvent], path: str | Path, title: str = "",
                   bpm: float | None = None) -> Path:
    """Write :func:`notes_to_score` as MusicXML (one piano part, two staves), atomically."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    data = GeneralObjectExporter(notes_to_score(notes, title=title, bpm=bpm)).parse()
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
