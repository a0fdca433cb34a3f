"""Training-time augmentation on cached log-mel features: a fresh random EQ and gain per crop.

The dataset's renders already carry one fixed room/EQ/noise treatment each; drawing another
smooth spectral curve for every crop multiplies the timbres the model sees at no rendering
cost, which is what generalising to unseen pianos and rooms needs. Gain and EQ are additive in
the log domain, so they are exact here (up to the fbank's floor), not an approximation.
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
