"""The per-crop room on cached features (sound2sheet.model.feature_augment.random_room)."""

import dataclasses

import numpy as np
import pytest
import torch

from sound2sheet.model.dataset import PianoDataset
from sound2sheet.model.feature_augment import ROOM_DRR_DB, random_room

UNITS = 0.025  # feature units per dB, about the AudioSet normalisation's
HOP = 0.01


def _tone_then_silence(rows=8, on=50, off=150, level_db=60.0):
    x = np.zeros((off + 100, rows), dtype=np.float32)
    x[on:off] = level_db * UNITS
    return x


def test_a_steady_tone_gains_a_fixed_level_and_its_release_rings_on():
    x = _tone_then_silence()
    y = random_room(x, np.random.default_rng(0), 1.0, HOP, UNITS)
    gain_db = (y - x) / UNITS
    # inside a long steady tone the tail has caught up: the same gain, within the DRR range
    steady = gain_db[140]
    assert 10 * np.log10(1 + 10 ** (-ROOM_DRR_DB[1] / 10)) - 1e-3 <= steady.min()
    assert steady.max() <= 10 * np.log10(2) + 1e-3
    # after the release the tail decays: above the dry floor, falling frame by frame
    after = gain_db[151:200]
    assert (after > 0.5).all() and (np.diff(after, axis=0) < 1e-6).all()
    # the top row rings shorter than the bottom row
    assert gain_db[190, -1] < gain_db[190, 0]


def test_rt60_sets_how_long_the_release_rings():
    x = _tone_then_silence()
    def ring(rt60_max):
        gains = [(random_room(x, np.random.default_rng(s), rt60_max, HOP, UNITS) - x)[170, 0] / UNITS for s in range(20)]
        return np.mean(gains)
    assert ring(2.0) > ring(0.3) + 3.0


def test_empty_and_reproducible():
    assert random_room(np.zeros((0, 4), np.float32), np.random.default_rng(0), 1.0, HOP, UNITS).shape == (0, 4)
    x = _tone_then_silence()
    a = random_room(x, np.random.default_rng(3), 1.0, HOP, UNITS)
    np.testing.assert_array_equal(a, random_room(x, np.random.default_rng(3), 1.0, HOP, UNITS))
    assert a.dtype == np.float32


def test_dataset_applies_the_room_to_training_crops_only(data_config):
    plain = PianoDataset(data_config, "train", crop_frames=100, random_crops=True, seed=2)
    room_config = dataclasses.replace(data_config, feature_room_prob=1.0, feature_rt60_max_s=1.5)
    room = PianoDataset(room_config, "train", crop_frames=100, random_crops=True, seed=2)
    for key in [(0, 0), (1, 0)]:
        a, b = plain[key], room[key]
        assert a["start_frame"] == b["start_frame"]
        torch.testing.assert_close(a["piano_roll"], b["piano_roll"])
        n = a["n_frames"]
        assert (b["mel"][:, :n] >= a["mel"][:, :n] - 1e-5).all()  # a room only adds power
        assert (b["mel"][:, :n] - a["mel"][:, :n]).max() > 0.01
        torch.testing.assert_close(b["mel"][:, n:], a["mel"][:, n:])
        torch.testing.assert_close(room[key]["mel"], b["mel"])
    torch.testing.assert_close(PianoDataset(room_config, "val")[0]["mel"], PianoDataset(data_config, "val")[0]["mel"])
    never = PianoDataset(dataclasses.replace(data_config, feature_room_prob=0.0), "train", crop_frames=100,
                         random_crops=True, seed=2)
    torch.testing.assert_close(never[(0, 0)]["mel"], plain[(0, 0)]["mel"])


def test_room_config_is_checked():
    from sound2sheet.errors import ConfigError
    from sound2sheet.model import DataConfig

    with pytest.raises(ConfigError, match="feature_room_prob"):
        DataConfig(feature_room_prob=1.5)
    with pytest.raises(ConfigError, match="feature_rt60_max_s"):
        DataConfig(feature_rt60_max_s=0.0)
