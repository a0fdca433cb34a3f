"""From per-frame probabilities to note events. Pure numpy; works on any probability roll.

Two decoders share one contract (frame ``f`` is time ``f * hop_s``):

* frame-only: threshold the frame roll, median-filter it along time, every run of active
  frames on a key is a note;
* onset-driven (when onset probabilities are given): a note starts at each local maximum of
  the onset probability above ``onset_threshold`` and lasts while the (filtered) frame roll
  or the onset probability stays active (the frame head often lags an onset by a frame),
  at least one frame and never past the next onset on that key. This separates
  re-struck keys that a pedal-extended frame roll would merge.

Notes shorter than ``min_duration_s`` are dropped in both.
"""

from __future__ import annotations

import numpy as np

from sound2sheet.notes import LOWEST_PIANO_KEY, NoteEvent, sort_notes
from sound2sheet.timing import frame_to_time


def binarize(frame_probs: np.ndarray, threshold: float = 0.5, median_filter_size: int = 1) -> np.ndarray:
    """``[frames, keys]`` probabilities -> bool roll, median-filtered along time when size > 1."""
    active = np.asarray(frame_probs) >= threshold
    if median_filter_size > 1 and active.shape[0] > 0:
        from scipy.ndimage import median_filter

        active = median_filter(active.astype(np.uint8), size=(median_filter_size, 1), mode="nearest").astype(bool)
    return active


def onset_peaks(onset_probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Bool ``[frames, keys]``: local maxima along time at or above ``threshold``.

    On a plateau of equal values the last frame counts, so each plateau gives one peak.
    """
    o = np.asarray(onset_probs, dtype=np.float32)
    prev = np.vstack([np.full((1, o.shape[1]), -np.inf, dtype=np.float32), o[:-1]])
    nxt = np.vstack([o[1:], np.full((1, o.shape[1]), -np.inf, dtype=np.float32)])
    return (o >= threshold) & (o >= prev) & (o > nxt)


def _runs(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and (exclusive) ends of True runs in a 1-D bool array."""
    padded = np.concatenate([[False], column, [False]]).astype(np.int8)
    edges = np.diff(padded)
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def _velocity_at(velocity: np.ndarray | None, frame: int, key: int) -> int | None:
    if velocity is None:
        return None
    return int(np.clip(np.round(float(velocity[frame, key]) * 127.0), 1, 127))


def _note(pitch: int, start: int, end: int, hop_s: float, velocity: int | None, confidence: float) -> NoteEvent:
    return NoteEvent(int(pitch), frame_to_time(start, hop_s), frame_to_time(end, hop_s), velocity, confidence)


def decode_notes(
    frame_probs: np.ndarray,
    onset_probs: np.ndarray | None = None,
    velocity: np.ndarray | None = None,
    *,
    hop_s: float = 0.01,
    frame_threshold: float = 0.5,
    onset_threshold: float = 0.5,
    median_filter_size: int = 3,
    min_duration_s: float = 0.03,
    min_pitch: int = LOWEST_PIANO_KEY,
) -> list[NoteEvent]:
    """Decode one clip.

    Args:
        frame_probs: ``[frames, keys]`` probabilities that a key sounds.
        onset_probs: ``[frames, keys]`` onset probabilities, or None for frame-only decoding.
        velocity: ``[frames, keys]`` velocity / 127 (read at the onset frame), or None.
    Returns:
        Notes sorted by onset then pitch; ``confidence`` is the onset peak probability
        (onset-driven) or the mean frame probability (frame-only).
    """
    frame_probs = np.asarray(frame_probs, dtype=np.float32)
    if frame_probs.ndim != 2:
        raise ValueError(f"frame_probs must be [frames, keys], got shape {frame_probs.shape}")
    n_frames, n_keys = frame_probs.shape
    active = binarize(frame_probs, frame_threshold, median_filter_size)
    min_frames = min_duration_s / hop_s - 1e-6
    notes: list[NoteEvent] = []
    peaks = onset_peaks(onset_probs, onset_threshold) if onset_probs is not None else None
    for key in range(n_keys):
        if peaks is None:
            starts, ends = _runs(active[:, key])
            for a, b in zip(starts, ends):
                if b - a < min_frames:
                    continue
                conf = float(frame_probs[a:b, key].mean())
                notes.append(_note(key + min_pitch, a, b, hop_s, _velocity_at(velocity, a, key), conf))
            continue
        starts = np.flatnonzero(peaks[:, key])
        sounding = active[:, key] | (onset_probs[:, key] >= onset_threshold)
        for i, a in enumerate(starts):
            limit = starts[i + 1] if i + 1 < len(starts) else n_frames
            b = a + 1
            while b < limit and sounding[b]:
                b += 1
            if b - a < min_frames:
                continue
            conf = float(onset_probs[a, key])
            notes.append(_note(key + min_pitch, a, b, hop_s, _velocity_at(velocity, a, key), conf))
    return sort_notes(notes)
