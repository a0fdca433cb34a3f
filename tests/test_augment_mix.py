"""Two training crops heard together (sound2sheet.model.feature_augment.mix_power)."""

import dataclasses

import numpy as np
import pytest
import torch

from sound2sheet.model.dataset import PianoDataset
from sound2sheet.model.feature_augment import masked_tail_weights, mix_power

UNITS = 0.025  # feature units per dB, about the AudioSet normalisation's
FLOOR = np.full(6, -1.5, dtype=np.float32)


def _level(db):
    return np.tile(FLOOR + db * UNITS, (10, 1)).astype(np.float32)


def test_powers_add_above_silence():
    loud = _level(60.0)
    # the same source twice at 0 dB: +3 dB (its power above silence doubled)
    twice = mix_power(loud, loud, 0.0, UNITS, FLOOR)
    expected = 10 * np.log10(2 * 10 ** 6 - 1)
    np.testing.assert_allclose((twice - FLOOR) / UNITS, expected, atol=1e-3)
    # a source over the other's silence is unchanged, whichever way round, at any gain
    silent = _level(0.0)
    np.testing.assert_allclose(mix_power(loud, silent, 9.0, UNITS, FLOOR), loud, atol=1e-5)
    np.testing.assert_allclose(mix_power(silent, loud, 0.0, UNITS, FLOOR), loud, atol=1e-5)
    np.testing.assert_allclose(mix_power(silent, silent, 9.0, UNITS, FLOOR), silent, atol=1e-6)
    # a much louder second source dominates, at its gain
    quiet = _level(20.0)
    np.testing.assert_allclose((mix_power(quiet, loud, -6.0, UNITS, FLOOR) - FLOOR) / UNITS, 54.0, atol=0.01)
    # mixing never takes power away
    rng = np.random.default_rng(0)
    a = (FLOOR + rng.uniform(0, 80, (50, 6)) * UNITS).astype(np.float32)
    b = (FLOOR + rng.uniform(0, 80, (50, 6)) * UNITS).astype(np.float32)
    mixed = mix_power(a, b, -9.0, UNITS, FLOOR)
    assert mixed.dtype == np.float32 and (mixed >= np.maximum(a, b - 9 * UNITS) - 1e-4).all()


def test_dataset_mixes_training_crops_and_unions_their_labels(data_config):
    plain = PianoDataset(data_config, "train", crop_frames=100, random_crops=True, seed=2)
    mix_config = dataclasses.replace(data_config, feature_mix_prob=1.0, feature_mix_db=6.0)
    mixed = PianoDataset(mix_config, "train", crop_frames=100, random_crops=True, seed=2)
    changed = 0
    for key in [(0, 0), (1, 0), (2, 1)]:
        a, b = plain[key], mixed[key]
        assert a["start_frame"] == b["start_frame"] and a["n_frames"] == b["n_frames"]
        n = a["n_frames"]
        for roll in ("piano_roll", "onset_roll", "velocity_roll"):
            assert (b[roll] >= a[roll]).all()  # the first crop's labels all stay
            assert (b[roll][n:] == 0).all()
        changed += int((b["piano_roll"] > a["piano_roll"]).any())
        assert torch.isfinite(b["mel"]).all()
        torch.testing.assert_close(b["mel"][:, n:], a["mel"][:, n:])
        torch.testing.assert_close(mixed[key]["mel"], b["mel"])  # reproducible
    assert changed  # the partner's notes joined the labels
    # validation and test are never mixed, and prob 0 is the plain crop
    torch.testing.assert_close(PianoDataset(mix_config, "val")[0]["mel"], PianoDataset(data_config, "val")[0]["mel"])
    never = PianoDataset(dataclasses.replace(data_config, feature_mix_prob=0.0), "train", crop_frames=100,
                         random_crops=True, seed=2)
    torch.testing.assert_close(never[(0, 0)]["mel"], plain[(0, 0)]["mel"])


def test_masked_tail_weights_leave_out_only_the_quiet_crops_late_solo_cells():
    frames, keys = 12, 3
    quiet_frame = np.zeros((frames, keys), np.float32)
    quiet_onset = np.zeros((frames, keys), np.float32)
    loud_frame = np.zeros((frames, keys), np.float32)
    quiet_frame[2:10, 0] = 1  # a quiet note from frame 2, alone on its key
    quiet_onset[1:4, 0] = [0.5, 1.0, 0.5]  # its triangle target, peak on frame 2
    quiet_frame[3:10, 1] = 1
    quiet_onset[2:5, 1] = [0.5, 1.0, 0.5]
    loud_frame[:, 1] = 1  # the louder crop holds the same key: its label is audible
    quiet_frame[0:5, 2] = 1  # sounding from before the crop: counts from frame 0
    w = masked_tail_weights(quiet_frame, quiet_onset, loud_frame, keep_frames=3)
    assert w.shape == (frames, keys) and w.dtype == np.float32
    np.testing.assert_array_equal(w[:, 0], [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1])  # frames 5-9: 3+ after onset
    np.testing.assert_array_equal(w[:, 1], np.ones(frames))
    np.testing.assert_array_equal(w[:, 2], [1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1])
    # a re-strike restarts the count
    quiet_onset[6, 0] = 1.0
    np.testing.assert_array_equal(masked_tail_weights(quiet_frame, quiet_onset, loud_frame, 3)[:, 0],
                                  [1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1])


def test_dataset_masks_the_quieter_crops_tails_when_asked(data_config):
    mix_config = dataclasses.replace(data_config, feature_mix_prob=1.0, feature_mix_db=6.0)
    masked_config = dataclasses.replace(mix_config, feature_mix_keep_ms=50.0)
    mixed = PianoDataset(mix_config, "train", crop_frames=100, random_crops=True, seed=2)
    masked = PianoDataset(masked_config, "train", crop_frames=100, random_crops=True, seed=2)
    left_out = 0
    for key in [(0, 0), (1, 0), (2, 1)]:
        a, b = mixed[key], masked[key]
        assert "frame_weight" not in a  # the plain mixing has no mask
        for name in ("mel", "piano_roll", "onset_roll", "velocity_roll"):
            torch.testing.assert_close(a[name], b[name])  # the same crop, the same labels
        w = b["frame_weight"]
        assert w.shape == b["piano_roll"].shape and set(w.unique().tolist()) <= {0.0, 1.0}
        assert (b["piano_roll"][w == 0] == 1).all()  # only sounding cells are left out
        left_out += int((w == 0).sum())
    assert left_out
    # a whole batch of them collates, and unmixed crops carry all-ones weights
    from sound2sheet.model.dataset import collate_batch

    batch = collate_batch([masked[(0, 0)], masked[(1, 0)]])
    assert batch["frame_weight"].shape == batch["piano_roll"].shape
    never = PianoDataset(dataclasses.replace(masked_config, feature_mix_prob=1e-9), "train", crop_frames=100,
                         random_crops=True, seed=2)
    assert (never[(0, 0)]["frame_weight"] == 1).all()


def test_dataset_asks_no_frame_targets_of_mixed_crops_when_told(data_config):
    mix_config = dataclasses.replace(data_config, feature_mix_prob=0.5, feature_mix_db=6.0)
    onsets_only = dataclasses.replace(mix_config, feature_mix_frame_targets=False)
    mixed = PianoDataset(mix_config, "train", crop_frames=100, random_crops=True, seed=2)
    plain = PianoDataset(data_config, "train", crop_frames=100, random_crops=True, seed=2)
    told = PianoDataset(onsets_only, "train", crop_frames=100, random_crops=True, seed=2)
    seen = {"mixed": 0, "unmixed": 0}
    for key in [(i, e) for e in range(3) for i in range(3)]:
        a, b = mixed[key], told[key]
        for name in ("mel", "piano_roll", "onset_roll", "velocity_roll"):
            torch.testing.assert_close(a[name], b[name])  # the same crops and label unions
        w, n = b["frame_weight"], b["n_frames"]
        was_mixed = not torch.equal(a["mel"], plain[key]["mel"])
        if was_mixed:  # the mixed stretch asks nothing of the frame head; onsets stay targets
            assert (w[:n] == 0).all() and (w[n:] == 1).all()
            seen["mixed"] += 1
        else:
            assert (w == 1).all()
            seen["unmixed"] += 1
    assert seen["mixed"] and seen["unmixed"]


def test_mix_config_is_checked():
    from sound2sheet.errors import ConfigError
    from sound2sheet.model import DataConfig

    with pytest.raises(ConfigError, match="feature_mix_prob"):
        DataConfig(feature_mix_prob=1.5)
    with pytest.raises(ConfigError, match="feature_mix_db"):
        DataConfig(feature_mix_db=-1.0)
    with pytest.raises(ConfigError, match="feature_mix_keep_ms"):
        DataConfig(feature_mix_keep_ms=-5.0)
    with pytest.raises(ConfigError, match="feature_mix_frame_targets"):
        DataConfig(feature_mix_keep_ms=100.0, feature_mix_frame_targets=False)
