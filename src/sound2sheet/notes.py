"""The typed note event every module exchanges; dicts appear only at the API edge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

LOWEST_PIANO_KEY = 21  # A0
HIGHEST_PIANO_KEY = 108  # C8


@dataclass(frozen=True)
class NoteEvent:
    """One note: MIDI pitch, onset and offset in seconds, optional velocity and confidence."""

    pitch: int
    onset: float
    offset: float
    velocity: int | None = None
    confidence: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch {self.pitch} is outside MIDI range 0-127")
        if not self.offset > self.onset:
            raise ValueError(f"note offset {self.offset} must be after its onset {self.onset}")
        if self.velocity is not None and not 0 <= self.velocity <= 127:
            raise ValueError(f"velocity {self.velocity} is outside MIDI range 0-127")

    @property
    def duration(self) -> float:
        return self.offset - self.onset

    @property
    def onset_ms(self) -> float:
        return self.onset * 1000.0

    @property
    def offset_ms(self) -> float:
        return self.offset * 1000.0

    def to_dict(self) -> dict[str, Any]:
        """The public dict form: ``{pitch, onset_time_ms, offset_time_ms}`` plus what is known."""
        out: dict[str, Any] = {
            "pitch": self.pitch,
            "onset_time_ms": self.onset_ms,
            "offset_time_ms": self.offset_ms,
        }
        if self.velocity is not None:
            out["velocity"] = self.velocity
        if self.confidence is not None:
            out["confidence"] = self.confidence
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NoteEvent":
        """Inverse of :meth:`to_dict`; also accepts ``onset``/``offset`` in seconds."""
        if "onset_time_ms" in d:
            onset, offset = d["onset_time_ms"] / 1000.0, d["offset_time_ms"] / 1000.0
        else:
            onset, offset = d["onset"], d["offset"]
        return cls(
            pitch=int(d["pitch"]),
            onset=float(onset),
            offset=float(offset),
            velocity=None if d.get("velocity") is None else int(d["velocity"]),
            confidence=None if d.get("confidence") is None else float(d["confidence"]),
        )


def sort_notes(notes: Iterable[NoteEvent]) -> list[NoteEvent]:
    """Notes in canonical order: by onset, then pitch, then offset."""
    return sorted(notes, key=lambda n: (n.onset, n.pitch, n.offset))
