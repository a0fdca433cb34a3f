"""Writing transcriptions: MIDI, JSON, PNG (and MusicXML). Every writer is atomic."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any, Sequence

from sound2sheet.fileio import atomic_write_json
from sound2sheet.notes import NoteEvent

FORMATS = ("mid", "json", "png", "musicxml")


def notes_to_json(notes: Sequence[NoteEvent], metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    from sound2sheet.plots import note_name

    return {
        "metadata": {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **(metadata or {})},
        "notes": [
            {"pitch": n.pitch, "name": note_name(n.pitch), "onset": n.onset, "offset": n.offset,
             "onset_ms": n.onset_ms, "offset_ms": n.offset_ms, "velocity": n.velocity, "confidence": n.confidence}
            for n in notes
        ],
    }


def write_json(notes: Sequence[NoteEvent], path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    return atomic_write_json(path, notes_to_json(notes, metadata))


def read_json(path: str | Path) -> list[NoteEvent]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [NoteEvent.from_dict(n) for n in data["notes"]]


def write_midi(notes: Sequence[NoteEvent], path: str | Path, default_velocity: int = 80) -> Path:
    from sound2sheet.midi import write_midi as _write

    return _write(notes, path, program=0, default_velocity=default_velocity)


def write_png(notes: Sequence[NoteEvent], path: str | Path, title: str = "", duration: float | None = None) -> Path:
    from sound2sheet.plots import plot_notes

    return plot_notes(notes, path, title=title, duration=duration)


def write_musicxml(notes: Sequence[NoteEvent], path: str | Path, title: str = "", bpm: float | None = None) -> Path:
    from sound2sheet.score import write_musicxml as _write

    return _write(notes, path, title=title, bpm=bpm)
