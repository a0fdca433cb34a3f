"""benchmarks/robustness.py's treatments: same length, deterministic, and each does what it says."""

import numpy as np
import pytest

from sound2sheet.notes import NoteEvent
from tests.conftest import load_benchmark

robustness = load_benchmark("robustness")

SR = 16000


@pytest.fixture(scope="module")
def tone():
    t = np.arange(SR * 2) / SR
    y = (0.5 * np.sin(2 * np.pi * 440 * t) * (t < 1.0)).astype(np.float32)
    return y


@pytest.mark.parametrize("condition", list(robustness.CONDITIONS))
def test_treatments_keep_length_and_are_reproducible(tone, condition):
    a = robustness.treat(tone, SR, condition, seed=0)
    assert a.shape == tone.shape and np.isfinite(a).all()
    np.testing.assert_array_equal(a, robustness.treat(tone, SR, condition, seed=0))
    if condition == "clean":
        np.testing.assert_array_equal(a, tone)
    else:
        assert not np.allclose(a, tone)


def test_a_hall_rings_after_the_tone_and_quiet_is_quieter(tone):
    hall = robustness.treat(tone, SR, "hall-1.5s", seed=0)
    assert np.sqrt(np.mean(hall[SR + 1600:SR + 4800] ** 2)) > 1e-3  # 100-300 ms after the tone stops
    quiet = robustness.treat(tone, SR, "quiet", seed=0)
    assert np.abs(quiet).max() == pytest.approx(np.abs(tone).max() * 10 ** (-30 / 20), rel=1e-4)


def test_reference_is_cut_at_the_crop():
    notes = [NoteEvent(60, 1.0, 3.0, 80), NoteEvent(62, 9.0, 12.0, 80), NoteEvent(64, 10.5, 11.0, 80)]
    cut = robustness.crop_reference(notes, 10.0)
    assert [(n.pitch, n.onset, n.offset) for n in cut] == [(60, 1.0, 3.0), (62, 9.0, 10.0)]


def test_unknown_condition_is_named():
    from sound2sheet.data.conditions import treat

    with pytest.raises(ValueError, match="unknown condition 'attic'"):
        treat(np.zeros(100, np.float32), SR, "attic", seed=0)
