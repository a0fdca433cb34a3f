"""Training-time augmentation on cached log-mel features: a fresh random EQ, gain and room
per crop.

The dataset's renders already carry one fixed room/EQ/noise treatment each; drawing another
smooth spectral curve and another room for every crop multiplies the timbres and rooms the
model sees at no rendering cost, which is what generalising to unseen pianos and rooms needs.
Gain and EQ are additive in the log domain, so they are exact here (up to the fbank's floor).
The room is an approximation: a late reverberant tail added in the power domain, band by
band (incoherent sum, no early reflections or comb colouring), which is what a room does to a
25 ms power spectrum once the direct sound has passed.
"""

from __future__ import annotations

import numpy as np

EQ_KNOTS = 6  # control points across the mel axis: smooth curves, tilts and broad bumps


def random_mel_eq(mel: np.ndarray, rng: np.random.Generator, eq_db: float, gain_db: float,
                  units_per_db: float | np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
    """``mel [frames, n_features]`` (normalised log features) plus one random curve over frequency.

    The curve interpolates ``EQ_KNOTS`` values drawn from ``±eq_db`` evenly over the mel axis
    and adds a gain from ``±gain_db``. ``positions [n_features]`` place each row on that axis
    (0-1; default: the rows are the mel bins); ``units_per_db`` (scalar or per row) converts dB
    to the features' units (see :attr:`~sound2sheet.core.AudioProcessor.feature_units_per_db`).
    Returns a new array.
    """
    n_rows = mel.shape[1]
    positions = np.linspace(0.0, 1.0, n_rows) if positions is None else np.asarray(positions)
    knots = rng.uniform(-eq_db, eq_db, EQ_KNOTS) if eq_db > 0 else np.zeros(EQ_KNOTS)
    curve_db = np.interp(positions, np.linspace(0.0, 1.0, EQ_KNOTS), knots)
    if gain_db > 0:
        curve_db = curve_db + rng.uniform(-gain_db, gain_db)
    return mel + (curve_db * units_per_db).astype(mel.dtype)[None, :]


FLOOR_TOLERANCE = 2e-3  # float16 steps near the fbank floor (|x| ~ 1.3) are ~1e-3


def shift_level(mel: np.ndarray, gain_db: float, units_per_db: float | np.ndarray,
                floor: np.ndarray) -> np.ndarray:
    """``mel [frames, n_features]`` as if its audio had been ``gain_db`` louder.

    A gain is a shift in the log domain; what sat at a row's ``floor [n_features]`` (digital
    silence; within ``FLOOR_TOLERANCE``, as the float16 cache rounds it) stays there, and
    nothing goes below it, as for audio scaled before the fbank. Returns a new array.
    """
    shifted = mel + (gain_db * np.asarray(units_per_db, dtype=np.float32)).astype(mel.dtype)[None, :]
    floor = np.asarray(floor, dtype=mel.dtype)[None, :]
    return np.where(mel <= floor + FLOOR_TOLERANCE, mel, np.maximum(shifted, floor))


ROOM_DRR_DB = (0.0, 12.0)  # direct-to-reverberant ratio: distant ... close microphone
ROOM_HIGH_DECAY = 0.5  # the top of the spectrum rings this fraction shorter than the bottom


def random_room(mel: np.ndarray, rng: np.random.Generator, rt60_max_s: float, hop_s: float,
                units_per_db: float | np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
    """``mel [frames, n_features]`` (normalised log-power features) heard in a random room.

    Each row's power ``P`` gets an exponentially decaying tail ``r`` (60 dB over its RT60,
    drawn from ``[0.1, rt60_max_s]`` s and ``ROOM_HIGH_DECAY`` shorter at the top of the
    ``positions`` axis) at a direct-to-reverberant ratio from ``ROOM_DRR_DB``: ``P + r / DRR``.
    A steady tone gains ``10 log10(1 + 1/DRR)`` dB; a note's release rings on. The tail starts
    as if the first frame had always been there. Returns a new array.
    """
    n_frames, n_rows = mel.shape
    if n_frames == 0:
        return mel.copy()
    positions = np.linspace(0.0, 1.0, n_rows) if positions is None else np.asarray(positions)
    rt60 = rng.uniform(0.1, max(0.1, rt60_max_s)) * (1.0 - ROOM_HIGH_DECAY * positions)
    wet = 10.0 ** (-rng.uniform(*ROOM_DRR_DB) / 10.0)
    nats = (np.log(10.0) / 10.0) / np.asarray(units_per_db, dtype=np.float64)  # log-power per feature unit
    x = mel.astype(np.float64)
    power = np.maximum(np.exp((x - x.max(axis=0)) * nats), 1e-30)  # scaled per row: only ratios matter
    keep = 10.0 ** (-6.0 * hop_s / rt60)  # a tail's power left after one frame
    tail = np.empty_like(power)
    state = power[0].copy()
    for t in range(n_frames):
        state = keep * state + (1.0 - keep) * power[t]
        tail[t] = state
    return (x + np.log1p(wet * tail / power) / nats).astype(mel.dtype)


def mix_power(mel: np.ndarray, other: np.ndarray, gain_db: float, units_per_db: float | np.ndarray,
              floor: np.ndarray) -> np.ndarray:
    """``mel`` and ``other`` ``[frames, n_features]`` (normalised log-power features) heard
    together, ``other`` ``gain_db`` louder: their powers add, as two sources' do (phases
    ignored, as a 25 ms power spectrum mostly allows).

    Power is counted above each row's ``floor [n_features]`` (digital silence), so silence with
    silence stays silence and a source over the other's silence is unchanged. Returns a new array.
    """
    nats = (np.log(10.0) / 10.0) / np.asarray(units_per_db, dtype=np.float64)  # log-power per feature unit
    floor = np.asarray(floor, dtype=np.float64)[None, :]
    a = np.maximum((mel.astype(np.float64) - floor) * nats, 0.0)  # log of power in floor units: >= 0
    b = np.maximum((other.astype(np.float64) - floor) * nats, 0.0)
    with np.errstate(divide="ignore"):  # other's silence: log(0) = -inf, which logaddexp ignores
        extra = gain_db * np.log(10.0) / 10.0 + np.log(np.expm1(b))  # log of other's power above silence
    return (floor + np.logaddexp(a, extra) / nats).astype(mel.dtype)


def masked_tail_weights(quiet_frame: np.ndarray, quiet_onset: np.ndarray, loud_frame: np.ndarray,
                        keep_frames: int) -> np.ndarray:
    """Frame-loss weights ``[frames, keys]`` for two crops heard together: 0 on the cells where
    only the quieter crop's note sounds and has sounded ``keep_frames`` or more since its onset,
    1 elsewhere. Under a louder crop a quiet note's end is masked, so its label says "on" where
    nothing of it can be heard; asked to follow it, the frame head learned to hold every note
    too long (docs/experiments.md #56). Its attack stays a target. A note already sounding at
    the crop's start counts from the first frame (its past is unknown).

    ``quiet_frame``, ``quiet_onset``, ``loud_frame``: that crop's frame and onset rolls, ``[frames, keys]``.
    """
    sounding = quiet_frame >= 0.5
    t = np.arange(sounding.shape[0])[:, None]
    reset = (quiet_onset >= 1.0) | ~sounding  # an onset's peak frame, or silence
    last_reset = np.maximum.accumulate(np.where(reset, t, 0), axis=0)
    late = sounding & (t - last_reset >= keep_frames)
    return np.where(late & (loud_frame < 0.5), 0.0, 1.0).astype(np.float32)
