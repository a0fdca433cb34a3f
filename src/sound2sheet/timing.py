"""The one frame <-> time contract used by labels, model outputs and decoding.

Frame ``f`` stands for time ``f * hop_s`` seconds: the start of its hop. Its analysis window
covers ``[f * hop_s, f * hop_s + win_s)`` (Kaldi framing without centre padding, as
``ASTFeatureExtractor`` computes it). A note event at ``t`` seconds is put on frame
``round(t / hop_s)`` and a frame decodes back to ``f * hop_s``, so a round trip moves a time
by at most half a hop (5 ms at the default 10 ms hop).
"""

from __future__ import annotations

import math

import numpy as np


def time_to_frame(seconds: float, hop_s: float) -> int:
    """Nearest frame of a time (round half to even, like ``numpy.round``)."""
    return int(np.round(seconds / hop_s))


def times_to_frames(seconds: np.ndarray, hop_s: float) -> np.ndarray:
    """Vectorised :func:`time_to_frame`: ``[n]`` seconds -> ``[n]`` int64 frames."""
    return np.round(np.asarray(seconds, dtype=np.float64) / hop_s).astype(np.int64)


def frame_to_time(frame: float, hop_s: float) -> float:
    """Time in seconds that frame ``frame`` stands for (a plain float, rounded to 1 ns so
    ``70 * 0.01`` reads 0.7)."""
    return round(float(frame) * hop_s, 9)


def num_frames(num_samples: int, win_length: int, hop_length: int) -> int:
    """Frames Kaldi framing yields for ``num_samples`` samples (no frame runs past the end)."""
    if num_samples < win_length:
        return 0
    return 1 + (num_samples - win_length) // hop_length


def num_frames_for_duration(seconds: float, sample_rate: int, win_length: int, hop_length: int) -> int:
    """Frames for a clip of ``seconds`` seconds at ``sample_rate``."""
    return num_frames(int(math.floor(seconds * sample_rate + 1e-9)), win_length, hop_length)
