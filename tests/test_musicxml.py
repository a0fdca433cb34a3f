"""MusicXML output: tempo, meter, grid and hand estimation, and a written score that parses back."""

from __future__ import annotations

import pathlib
import random

import music21
import pytest

from sound2sheet import export
from sound2sheet.notes import NoteEvent
from sound2sheet.score import (QuantizedNote, estimate_meter, estimate_tempo, notes_to_score, quantize,
                               split_hands, write_musicxml)


def _grid_notes(spec, bpm, jitter=0.0, seed=0):
    """``spec`` = [(beat, beats, pitch)] -> NoteEvents at ``bpm`` with uniform onset/offset jitter (s)."""
    rng, beat = random.Random(seed), 60.0 / bpm
    out = []
    for start, length, pitch in spec:
        onset = max(0.0, start * beat + rng.uniform(-jitter, jitter))
        out.append(NoteEvent(pitch, onset, (start + length) * beat + rng.uniform(-jitter, jitter), 80))
    return out


def _piece():
    """Four bars of 4/4: a right-hand melody (G5 held from beat 4 of bar 2 over the bar line) over
    a left hand of bass notes on beats 1 and 3 and three-note chords on beats 2 and 4."""
    melody = [(0, 1, 72), (1, 1, 74), (2, 1, 76), (3, 0.5, 77), (3.5, 0.5, 76),
              (4, 1, 74), (5, 1, 72), (6, 1, 74), (7, 2, 79),
              (9, 1, 77), (10, 1, 76), (11, 1, 74),
              (12, 1, 71), (13, 1, 72), (14, 2, 74)]
    left = []
    for bar, (bass, triad) in enumerate([(48, (52, 55, 59)), (41, (48, 53, 57)), (43, (50, 53, 55)), (36, (48, 52, 55))]):
        t = 4 * bar
        left += [(t, 1, bass), (t + 2, 1, bass + 7)] + [(t + b, 1, p) for b in (1, 3) for p in triad]
    return melody, left


def _attacks(score):
    """(offset, midi) of every attack in the parsed score, chords expanded, tie continuations skipped."""
    out = []
    for el in score.flatten().notes:
        for n in (el.notes if el.isChord else [el]):
            tie = n.tie or el.tie
            if tie is None or tie.type == "start":
                out.append((float(el.offset), n.pitch.midi))
    return sorted(out)


def test_round_trip_through_musicxml(tmp_path):
    melody, left = _piece()
    notes = _grid_notes(melody + left, bpm=100, jitter=0.008)
    path = export.write_musicxml(notes, tmp_path / "piece.musicxml", title="Test piece")
    assert path == tmp_path / "piece.musicxml"
    score = music21.converter.parse(path)

    expected = [p for _, p in sorted((b, p) for b, _, p in melody + left)]
    assert [p for _, p in _attacks(score)] == expected
    assert score.metadata.bestTitle == "Test piece"

    staves = list(score.parts)
    assert len(staves) == 2
    assert isinstance(staves[0].recurse().getElementsByClass(music21.clef.Clef).first(), music21.clef.TrebleClef)
    assert isinstance(staves[1].recurse().getElementsByClass(music21.clef.Clef).first(), music21.clef.BassClef)
    assert sorted(p for _, p in _attacks(staves[0])) == sorted(p for _, _, p in melody)
    assert sorted(p for _, p in _attacks(staves[1])) == sorted(p for _, _, p in left)

    held = [n for n in staves[0].recurse().notes if n.isNote and n.pitch.midi == 79]
    assert [n.tie.type for n in held] == ["start", "stop"]
    assert held[1].measureNumber == held[0].measureNumber + 1 == 3

    ts = score.recurse().getElementsByClass(music21.meter.TimeSignature).first()
    assert ts is not None and ts.ratioString == "4/4"
    mark = score.recurse().getElementsByClass(music21.tempo.MetronomeMark).first()
    assert mark is not None and abs(mark.number - 100) <= 2


def _train(bpm, beats=32, jitter=0.01, seed=0):
    """Quarter notes with an eighth-note pickup every third beat and a chord on every bar line."""
    spec = [(b, 0.8, 60 + b % 7) for b in range(beats)]
    spec += [(b + 0.5, 0.4, 67) for b in range(beats) if b % 3 == 1]
    spec += [(b, 1, p) for b in range(0, beats, 4) for p in (48, 52)]
    return _grid_notes(spec, bpm, jitter, seed)


@pytest.mark.parametrize("bpm", [120, 90, 72, 150])
def test_estimate_tempo_on_jittered_onset_trains(bpm):
    for seed in range(3):
        assert abs(estimate_tempo(_train(bpm, seed=seed)) - bpm) <= 2


def test_estimate_tempo_defaults_and_range():
    assert estimate_tempo([]) == 120.0
    assert estimate_tempo([NoteEvent(60, 0.0, 0.5)]) == 120.0
    # a sixteenth-note run at 150 BPM has no beat-level evidence in range: it folds to an octave in range
    fast = _grid_notes([(i / 4, 0.25, 60 + i % 5) for i in range(64)], bpm=150, jitter=0.005)
    assert 40 <= estimate_tempo(fast) <= 208


def test_quantize_snaps_jitter_and_never_gives_zero_duration():
    spec = [(0, 1, 60), (1, 0.5, 62), (1.5, 0.25, 64), (1.75, 0.25, 65), (2, 2, 67), (4, 0.25, 69)]
    notes = _grid_notes(spec, bpm=120, jitter=0.02, seed=3)
    q = quantize(notes, bpm=120, divisions=4, origin=0.0)
    assert [(n.pitch, n.start_q, n.dur_q) for n in q] == [
        (60, 0, 4), (62, 4, 2), (64, 6, 1), (65, 7, 1), (67, 8, 8), (69, 16, 1)]
    assert all(isinstance(n, QuantizedNote) and n.dur_q >= 1 for n in q)
    # a 5 ms blip and a pitch struck again before its release
    q = quantize([NoteEvent(60, 0.0, 0.005), NoteEvent(62, 0.0, 1.0), NoteEvent(62, 0.5, 1.0)], 120, origin=0.0)
    assert [(n.pitch, n.start_q, n.dur_q) for n in q] == [(60, 0, 1), (62, 0, 4), (62, 4, 4)]
    # the default origin ignores a constant delay before the first note
    late = [NoteEvent(n.pitch, n.onset + 1.3, n.offset + 1.3, n.velocity) for n in _grid_notes(spec, bpm=120)]
    assert [n.start_q for n in quantize(late, 120)] == [0, 4, 6, 7, 8, 16]


def test_estimate_meter_prefers_three_only_for_a_clear_waltz():
    waltz = []
    for bar in range(8):
        root = 40 + 5 * (bar % 2)
        waltz += [(3 * bar, 1, root), (3 * bar, 2, 72 + bar % 3), (3 * bar + 2, 1, 74)]
        waltz += [(3 * bar + k, 1, root + 15 + d) for k in (1, 2) for d in (0, 4, 7)]
    march = [(b, 1, 60 + 7 * (b % 2)) for b in range(32)] + [(b, 2, 48 + b % 8) for b in range(0, 32, 2)]
    assert estimate_meter(quantize(_grid_notes(waltz, 120), 120)) == 3
    assert estimate_meter(quantize(_grid_notes(march, 120), 120)) == 4
    assert estimate_meter([]) == 4


def test_split_hands_keeps_a_melody_dipping_below_middle_c_in_the_right_hand():
    melody = [QuantizedNote(p, 4 * i, 4) for i, p in enumerate([67, 64, 62, 60, 59, 60, 64])]
    bass = [QuantizedNote(p, 8 * i, 8) for i, p in enumerate([36, 43, 41, 36])]
    chord = [QuantizedNote(p, 32, 4) for p in (43, 47, 50, 67, 71, 74)]
    right, left = split_hands(melody + bass + chord)
    assert sorted(n.pitch for n in right) == sorted([67, 64, 62, 60, 59, 60, 64, 67, 71, 74])
    assert sorted(n.pitch for n in left) == sorted([36, 43, 41, 36, 43, 47, 50])


def test_empty_input_writes_a_parseable_score(tmp_path):
    path = write_musicxml([], tmp_path / "empty.musicxml")
    score = music21.converter.parse(path)
    assert len(score.parts) == 2
    assert not list(score.recurse().notes)
    assert all(len(p.getElementsByClass(music21.stream.Measure)) == 1 for p in score.parts)
    assert list(score.recurse().getElementsByClass(music21.note.Rest))
    assert notes_to_score([]).metadata.title == "Transcription"


def test_writing_is_atomic(tmp_path, monkeypatch):
    notes = _grid_notes([(b, 1, 60 + b) for b in range(8)], bpm=100)
    target = tmp_path / "out.musicxml"
    write_musicxml(notes, target, title="one")
    write_musicxml(notes, target, title="two")  # replaces the first
    assert [p.name for p in tmp_path.iterdir()] == ["out.musicxml"]
    before = target.read_bytes()
    assert b"two" in before

    def boom(self, data):
        raise OSError("disk full")

    monkeypatch.setattr(pathlib.Path, "write_bytes", boom)
    with pytest.raises(OSError):
        write_musicxml(notes, target, title="three")
    assert [p.name for p in tmp_path.iterdir()] == ["out.musicxml"]
    assert target.read_bytes() == before
