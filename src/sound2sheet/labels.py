"""Piano-roll targets from note events: one pure function, used for training crops and whole files.

Frame rule (see :mod:`sound2sheet.timing`): a note sounding from ``onset`` to ``offset``
seconds is active on frames ``round(onset / hop) <= f < round(offset / hop)``, and on at least
its onset frame. Its onset target is a triangle peaking at 1 on frame ``o = round(onset / hop)``
and falling to ``1 - d / (onset_radius + 1)`` at ``d`` frames from ``o`` (radius 0: a single
frame). Soft neighbours give the sparse onset head more signal while the peak, which
decoding picks, stays on the onset frame. The offset target is the same triangle on the
note's first silent frame ``round(offset / hop)`` (at least one frame after its onset): where
the dampers fall, or the key is struck again.
A crop starting at ``start_frame`` sees exactly the rows of the whole-file roll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from sound2sheet.notes import LOWEST_PIANO_KEY, NoteEvent
from sound2sheet.timing import times_to_frames


@dataclass
class PianoRolls:
    """Targets for ``n`` frames: each array is float32 ``[n, num_keys]``."""

    frame: np.ndarray  # 1 while the key sounds
    onset: np.ndarray  # triangle around each onset frame, peak 1
    velocity: np.ndarray  # velocity / 127 where the onset target is > 0, else 0
    offset: np.ndarray  # triangle around each note's first silent frame, peak 1


def notes_to_rolls(
    notes: Sequence[NoteEvent],
    n_frames: int,
    hop_s: float,
    start_frame: int = 0,
    min_pitch: int = LOWEST_PIANO_KEY,
    num_keys: int = 88,
    onset_radius: int = 1,
) -> PianoRolls:
    """Rows ``start_frame .. start_frame + n_frames`` of the whole-file rolls.

    Notes outside ``min_pitch .. min_pitch + num_keys - 1`` are ignored; notes without
    velocity count as velocity 0 in the velocity target.
    """
    frame = np.zeros((n_frames, num_keys), dtype=np.float32)
    onset = np.zeros_like(frame)
    velocity = np.zeros_like(frame)
    offset = np.zeros_like(frame)
    if not notes or n_frames <= 0:
        return PianoRolls(frame, onset, velocity, offset)
    pitch = np.fromiter((n.pitch for n in notes), dtype=np.int64, count=len(notes)) - min_pitch
    on = times_to_frames([n.onset for n in notes], hop_s)
    off = np.maximum(times_to_frames([n.offset for n in notes], hop_s), on + 1)
    vel = np.array([(n.velocity or 0) / 127.0 for n in notes], dtype=np.float32)
    on, off = on - start_frame, off - start_frame
    in_range = (pitch >= 0) & (pitch < num_keys)
    keep = in_range & (off > 0) & (on < n_frames)
    for k, a, b, v in zip(pitch[keep], on[keep], off[keep], vel[keep]):
        frame[max(a, 0):min(b, n_frames), k] = 1.0
        for f, weight in _triangle(a, onset_radius, n_frames):
            if weight > onset[f, k]:
                onset[f, k] = weight
                velocity[f, k] = v
    ends = in_range & (off + onset_radius >= 0) & (off - onset_radius < n_frames)
    for k, b in zip(pitch[ends], off[ends]):
        for f, weight in _triangle(b, onset_radius, n_frames):
            offset[f, k] = max(offset[f, k], weight)
    return PianoRolls(frame, onset, velocity, offset)


def _triangle(center: int, radius: int, n_frames: int) -> list[tuple[int, float]]:
    """``(frame, weight)`` of the soft target around ``center``: 1 there, ``1 - d / (radius + 1)``
    at ``d`` frames from it, only frames inside ``0 .. n_frames - 1``."""
    return [(center + d, 1.0 - abs(d) / (radius + 1)) for d in range(-radius, radius + 1)
            if 0 <= center + d < n_frames]


def pedal_roll(
    intervals: Sequence[tuple[float, float]], n_frames: int, hop_s: float, start_frame: int = 0,
) -> np.ndarray:
    """Sustain-pedal target: float32 ``[n_frames]``, 1 on frames ``round(down / hop) <= f <
    round(up / hop)`` of each ``(down, up)`` interval (:func:`sound2sheet.midi.pedal_intervals`),
    rows ``start_frame ..`` of the whole-file roll (the same frame rule as notes)."""
    roll = np.zeros(max(n_frames, 0), dtype=np.float32)
    if not len(intervals) or n_frames <= 0:
        return roll
    down = times_to_frames([a for a, _ in intervals], hop_s) - start_frame
    up = times_to_frames([b for _, b in intervals], hop_s) - start_frame
    for a, b in zip(down, up):
        roll[max(a, 0):min(b, n_frames)] = 1.0
    return roll
