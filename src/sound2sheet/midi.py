"""MIDI <-> note events, with the sustain-pedal rule the benchmarks' ground truth uses."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from sound2sheet.errors import MidiError, first_line
from sound2sheet.fileio import atomic_write
from sound2sheet.notes import NoteEvent, sort_notes

MIDI_RESOLUTION = 1000
MIDI_TEMPO = 120.0
SUSTAIN_CC = 64
PEDAL_DOWN = 64  # CC64 value at or above which the pedal counts as down


def _load(path: str | Path):
    import pretty_midi

    path = Path(path)
    if not path.exists():
        raise MidiError(f"MIDI file not found: {path}")
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:
        raise MidiError(f"cannot parse MIDI file {path}: {first_line(exc)}") from None


def pedal_intervals(control_changes: Iterable, end_time: float) -> list[tuple[float, float]]:
    """``[(down, up), ...]`` seconds while CC64 >= 64, from one instrument's control changes."""
    intervals, down_at = [], None
    for cc in sorted((c for c in control_changes if c.number == SUSTAIN_CC), key=lambda c: c.time):
        if cc.value >= PEDAL_DOWN and down_at is None:
            down_at = cc.time
        elif cc.value < PEDAL_DOWN and down_at is not None:
            intervals.append((down_at, cc.time))
            down_at = None
    if down_at is not None:
        intervals.append((down_at, max(end_time, down_at)))
    return intervals


def apply_sustain(notes: Sequence[NoteEvent], intervals: Sequence[tuple[float, float]]) -> list[NoteEvent]:
    """Extend each note released under the pedal to the pedal's release; a re-struck key cuts
    the previous note at the new onset (the MAESTRO convention used by the dev-set labels)."""
    downs = np.array([d for d, _ in intervals]) if intervals else np.zeros(0)
    extended = []
    for n in notes:
        offset = n.offset
        if len(downs):
            i = int(np.searchsorted(downs, n.offset, side="right")) - 1
            if i >= 0 and intervals[i][0] <= n.offset < intervals[i][1]:
                offset = max(offset, intervals[i][1])
        extended.append((n, offset))
    by_pitch: dict[int, list[tuple[NoteEvent, float]]] = defaultdict(list)
    for item in extended:
        by_pitch[item[0].pitch].append(item)
    out = []
    for items in by_pitch.values():
        items.sort(key=lambda it: it[0].onset)
        for k, (n, offset) in enumerate(items):
            if k + 1 < len(items):
                nxt = items[k + 1][0].onset
                if nxt > n.onset:
                    offset = min(offset, nxt)
            offset = max(offset, n.onset + 1e-3)
            out.append(NoteEvent(n.pitch, n.onset, offset, n.velocity, n.confidence))
    return sort_notes(out)


def has_sustain_pedal(path: str | Path) -> bool:
    """Whether any track has sustain-pedal (CC64) events; a clear MidiError if unreadable."""
    return any(cc.number == SUSTAIN_CC for inst in _load(path).instruments for cc in inst.control_changes)


def read_midi_labels(path: str | Path, sustain_pedal: bool = True) -> tuple[list[NoteEvent], list[tuple[float, float]]]:
    """One read of a MIDI file: its non-drum notes (offsets pedal-extended when
    ``sustain_pedal``) and its sustain-pedal ``(down, up)`` intervals, all tracks merged."""
    pm = _load(path)
    end = pm.get_end_time()
    notes: list[NoteEvent] = []
    spans: list[tuple[float, float]] = []
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        inst_notes = [
            NoteEvent(n.pitch, float(n.start), float(max(n.end, n.start + 1e-3)), int(n.velocity))
            for n in inst.notes
        ]
        inst_pedal = pedal_intervals(inst.control_changes, end)
        if sustain_pedal:
            inst_notes = apply_sustain(inst_notes, inst_pedal)
        notes.extend(inst_notes)
        spans.extend(inst_pedal)
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return sort_notes(notes), merged


def read_midi_notes(path: str | Path, sustain_pedal: bool = True) -> list[NoteEvent]:
    """All non-drum notes of a MIDI file, offsets pedal-extended when ``sustain_pedal``."""
    return read_midi_labels(path, sustain_pedal)[0]


def notes_to_pretty_midi(
    notes: Iterable[NoteEvent], program: int = 0, default_velocity: int = 80, pedal: Sequence[tuple[float, float]] = ()
):
    """A one-track ``pretty_midi.PrettyMIDI`` (acoustic grand by default).

    1000 ticks per beat at 120 BPM makes a tick 0.5 ms, so 10 ms frame times are stored exactly.
    """
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(resolution=MIDI_RESOLUTION, initial_tempo=MIDI_TEMPO)
    inst = pretty_midi.Instrument(program=program, name="Piano")
    for n in sort_notes(notes):
        vel = default_velocity if n.velocity is None else n.velocity
        inst.notes.append(pretty_midi.Note(velocity=int(vel), pitch=n.pitch, start=n.onset, end=n.offset))
    for down, up in pedal:
        inst.control_changes.append(pretty_midi.ControlChange(SUSTAIN_CC, 127, down))
        inst.control_changes.append(pretty_midi.ControlChange(SUSTAIN_CC, 0, up))
    pm.instruments.append(inst)
    return pm


def write_midi(notes: Iterable[NoteEvent], path: str | Path, program: int = 0, default_velocity: int = 80) -> Path:
    """Write notes to a MIDI file atomically."""
    pm = notes_to_pretty_midi(notes, program=program, default_velocity=default_velocity)
    return atomic_write(path, lambda tmp: pm.write(tmp))


def read_pedal_intervals(path: str | Path) -> list[tuple[float, float]]:
    """Sustain-pedal ``(down, up)`` intervals of a MIDI file (all non-drum tracks merged)."""
    return read_midi_labels(path, sustain_pedal=False)[1]
