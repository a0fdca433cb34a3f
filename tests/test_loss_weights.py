"""The losses' extra weights: held keys and quiet strikes in the onset loss, long notes' tails and quiet notes'
starts in the frame loss (TrainingConfig.held_onset_weight, ghost_onset_weight, quiet_onset_weight,
late_frame_weight, quiet_frame_weight)."""

import pytest
import torch

from sound2sheet.errors import ConfigError
from sound2sheet.model import Sound2SheetModel, Trainer
from sound2sheet.model.dataset import create_dataloaders
from sound2sheet.model.trainer import (ghost_onset_weights, held_key_weights, late_frame_weights, note_age_frames,
                                      quiet_frame_weights, quiet_onset_weights)
from tests.conftest import tiny_model_config, training_config


def test_held_key_weights_mark_the_frames_after_a_sounding_one():
    roll = torch.zeros(1, 8, 2)
    roll[0, 2:5, 1] = 1.0  # a note on frames 2-4 of key 1
    roll[0, 0, 0] = 1.0  # sounding at the crop's start: its past is unknown
    w = held_key_weights(roll, 3.0)
    assert w.shape == roll.shape
    assert torch.equal(w[0, :, 1], torch.tensor([1.0, 1, 1, 3, 3, 3, 1, 1]))  # its onset frame (2) stays 1
    assert torch.equal(w[0, :, 0], torch.tensor([1.0, 3, 1, 1, 1, 1, 1, 1]))
    assert torch.equal(held_key_weights(roll, 1.0), torch.ones_like(roll))


def test_only_held_cells_weigh_more_in_the_onset_loss(data_config, tmp_path):
    mc = tiny_model_config()
    tc = training_config(tmp_path / "a")
    train, _, _ = create_dataloaders(data_config, mc, tc)
    batch = next(iter(train))
    roll, target = batch["piano_roll"], batch["onset_roll"]
    held = held_key_weights(roll, 2.0) > 1.0
    assert held.any() and (~held).any()
    torch.manual_seed(0)
    logits = torch.randn_like(roll) * 3
    pos_weight = torch.full((roll.shape[-1],), 10.0)
    elements = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight,
                                                                   reduction="none")
    got = {}
    for weight in (1.0, 4.0):
        tc = training_config(tmp_path / str(weight), held_onset_weight=weight, onset_pos_weight=10.0)
        trainer = Trainer(Sound2SheetModel(mc), train, None, mc, tc, data_config)
        got[weight] = trainer.compute_loss({"frame": logits, "onset": logits}, batch)[1]["onset"]
    assert got[1.0] == pytest.approx(float(elements.mean()), rel=1e-5)
    expected = float((elements * torch.where(held, 4.0, 1.0)).mean())
    assert got[4.0] == pytest.approx(expected, rel=1e-5)
    assert got[4.0] > got[1.0] * 1.01  # held cells carry loss, so the weight shows
    with pytest.raises(ConfigError, match="held_onset_weight"):
        training_config(tmp_path, held_onset_weight=0.0)


def _ghost_scene():
    """Key 2 held over frames 0-19; key 5 (above) starts fresh at frame 10; key 0 (below) starts
    fresh at frame 4; key 7 (above) is struck again at frame 15 while sounding; key 2 itself
    is struck again at frame 17."""
    roll, onset = torch.zeros(1, 20, 8), torch.zeros(1, 20, 8)
    roll[0, :, 2] = 1.0
    roll[0, 10:16, 5], onset[0, 10, 5], onset[0, [9, 11], 5] = 1.0, 1.0, 0.5
    roll[0, 4:8, 0], onset[0, 4, 0] = 1.0, 1.0
    roll[0, 12:20, 7], onset[0, 12, 7], onset[0, 15, 7] = 1.0, 1.0, 1.0
    onset[0, 17, 2], onset[0, [16, 18], 2] = 1.0, 0.5
    return roll, onset


def test_ghost_weights_mark_held_keys_below_a_new_note_near_its_onset():
    roll, onset = _ghost_scene()
    w = ghost_onset_weights(roll, onset, 3.0, window=2)
    assert w.shape == roll.shape
    marked = {(int(t), int(k)) for t, k in zip(*torch.nonzero(w[0] > 1.0, as_tuple=True))}
    # key 2 under key 5's onset (frames 8-12), and key 0's last held frame (8); key 7's fresh
    # onset at 12 marks key 2 at 10-14 and key 5 at 12-14 (11 is its soft onset target); key
    # 7's re-strike at 15 is not fresh; key 0's onset has no held key below it; key 2's own
    # re-strike cells (16-18) are onset targets, never marked
    assert marked == {(t, 2) for t in range(8, 15)} | {(t, 5) for t in range(12, 15)} | {(8, 0)}
    assert float(w.max()) == 3.0 and torch.equal(ghost_onset_weights(roll, onset, 1.0), torch.ones_like(roll))


def test_ghost_weight_enters_the_onset_loss(data_config, tmp_path):
    mc = tiny_model_config()
    train, _, _ = create_dataloaders(data_config, mc, training_config(tmp_path / "a"))
    batch = next(iter(train))
    roll, target = _ghost_scene()
    batch = {**batch, "piano_roll": roll.expand(2, -1, -1).contiguous(), "onset_roll": target.expand(2, -1, -1).contiguous()}
    batch["piano_roll"] = torch.nn.functional.pad(batch["piano_roll"], (0, 80))
    batch["onset_roll"] = torch.nn.functional.pad(batch["onset_roll"], (0, 80))
    torch.manual_seed(0)
    logits = torch.randn_like(batch["onset_roll"]) * 3
    pos_weight = torch.full((88,), 10.0)
    elements = torch.nn.functional.binary_cross_entropy_with_logits(logits, batch["onset_roll"], pos_weight=pos_weight,
                                                                   reduction="none")
    tc = training_config(tmp_path / "g", ghost_onset_weight=4.0, held_onset_weight=2.0, onset_pos_weight=10.0)
    trainer = Trainer(Sound2SheetModel(mc), train, None, mc, tc, data_config)
    got = trainer.compute_loss({"frame": logits, "onset": logits}, batch)[1]["onset"]
    both = held_key_weights(batch["piano_roll"], 2.0) * ghost_onset_weights(batch["piano_roll"], batch["onset_roll"], 4.0)
    assert got == pytest.approx(float((elements * both).mean()), rel=1e-5)
    assert got > float((elements * held_key_weights(batch["piano_roll"], 2.0)).mean()) * 1.001
    with pytest.raises(ConfigError, match="ghost_onset_weight"):
        training_config(tmp_path, ghost_onset_weight=0.0)


def test_quiet_onset_weights_favour_quiet_strikes_only():
    onset = torch.zeros(1, 4, 3)
    velocity = torch.zeros(1, 4, 3)
    onset[0, 1, 0], velocity[0, 1, 0] = 1.0, 0.25  # a quiet strike
    onset[0, 2, 1], velocity[0, 2, 1] = 0.5, 1.0  # a loud one (soft target neighbour)
    w = quiet_onset_weights(onset, velocity, 2.0)
    assert w.shape == onset.shape
    assert w[0, 1, 0] == pytest.approx(2.5)
    assert w[0, 2, 1] == pytest.approx(1.0)
    assert torch.equal(w[0, :, 2], torch.ones(4))  # no onset: plain weight
    assert torch.equal(quiet_onset_weights(onset, velocity, 0.0), torch.ones_like(onset))


def test_quiet_onset_weight_enters_the_onset_loss(data_config, tmp_path):
    mc = tiny_model_config()
    train, _, _ = create_dataloaders(data_config, mc, training_config(tmp_path / "a"))
    batch = next(iter(train))
    target, velocity = batch["onset_roll"], batch["velocity_roll"]
    assert (target > 0).any()
    torch.manual_seed(0)
    logits = torch.randn_like(target) * 3
    pos_weight = torch.full((target.shape[-1],), 10.0)
    elements = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight,
                                                                   reduction="none")
    tc = training_config(tmp_path / "q", quiet_onset_weight=2.0, held_onset_weight=3.0, onset_pos_weight=10.0)
    trainer = Trainer(Sound2SheetModel(mc), train, None, mc, tc, data_config)
    got = trainer.compute_loss({"frame": logits, "onset": logits}, batch)[1]["onset"]
    both = held_key_weights(batch["piano_roll"], 3.0) * quiet_onset_weights(target, velocity, 2.0)
    assert got == pytest.approx(float((elements * both).mean()), rel=1e-5)
    assert got > float((elements * held_key_weights(batch["piano_roll"], 3.0)).mean()) * 1.001
    with pytest.raises(ConfigError, match="quiet_onset_weight"):
        training_config(tmp_path, quiet_onset_weight=-1.0)


def test_note_age_counts_from_each_onset_and_restarts_on_a_restrike():
    roll, onset = torch.zeros(1, 10, 3), torch.zeros(1, 10, 3)
    roll[0, 2:9, 0] = 1.0
    onset[0, 2, 0] = 1.0
    onset[0, 6, 0] = 1.0  # re-struck while sounding: a new note
    roll[0, 0:3, 1] = 1.0  # sounding at the crop's start, no onset in the crop
    roll[0, 5:7, 2] = 1.0
    onset[0, 5, 2], onset[0, 6, 2] = 1.0, 0.5  # a soft target neighbour after the onset frame
    age = note_age_frames(roll, onset)
    assert age.shape == roll.shape
    assert age[0, :, 0].tolist() == [0, 0, 0, 1, 2, 3, 0, 1, 2, 0]
    assert age[0, :, 1].tolist() == [0, 1, 2, 0, 0, 0, 0, 0, 0, 0]
    assert age[0, :, 2].tolist() == [0] * 10
    w = late_frame_weights(roll, onset, 3.0, after_frames=2)
    assert w[0, :, 0].tolist() == [1, 1, 1, 1, 3, 3, 1, 1, 3, 1]
    assert torch.equal(late_frame_weights(roll, onset, 1.0, 2), torch.ones_like(roll))


def test_late_frame_weight_enters_the_frame_loss(data_config, tmp_path):
    mc = tiny_model_config()
    train, _, _ = create_dataloaders(data_config, mc, training_config(tmp_path / "a"))
    batch = next(iter(train))
    roll, onset = batch["piano_roll"], batch["onset_roll"]
    after = round(0.05 / mc.hop_s)
    late = late_frame_weights(roll, onset, 2.0, after) > 1.0
    assert late.any() and ((roll >= 0.5) & ~late).any()  # the batch has young and old note cells
    torch.manual_seed(0)
    logits = torch.randn_like(roll) * 3
    elements = torch.nn.functional.binary_cross_entropy_with_logits(logits, roll, reduction="none")
    got = {}
    for weight in (1.0, 4.0):
        tc = training_config(tmp_path / str(weight), late_frame_weight=weight, late_frame_after_ms=50.0)
        trainer = Trainer(Sound2SheetModel(mc), train, None, mc, tc, data_config)
        got[weight] = trainer.compute_loss({"frame": logits}, batch)[1]["frame"]
    assert got[1.0] == pytest.approx(float(elements.mean()), rel=1e-5)
    assert got[4.0] == pytest.approx(float((elements * torch.where(late, 4.0, 1.0)).mean()), rel=1e-5)
    with pytest.raises(ConfigError, match="late_frame_weight"):
        training_config(tmp_path, late_frame_weight=0.0)
    with pytest.raises(ConfigError, match="late_frame_after_ms"):
        training_config(tmp_path, late_frame_after_ms=-1.0)


def test_a_mixed_crops_frame_weight_enters_the_frame_loss_with_the_late_weight(data_config, tmp_path):
    mc = tiny_model_config()
    train, _, _ = create_dataloaders(data_config, mc, training_config(tmp_path / "a"))
    batch = next(iter(train))
    roll, onset = batch["piano_roll"], batch["onset_roll"]
    torch.manual_seed(0)
    logits = torch.randn_like(roll) * 3
    mask = (torch.rand_like(roll) > 0.3).float()  # as a mixed crop's masked tails would be
    elements = torch.nn.functional.binary_cross_entropy_with_logits(logits, roll, reduction="none")
    tc = training_config(tmp_path / "b", late_frame_weight=4.0, late_frame_after_ms=50.0)
    trainer = Trainer(Sound2SheetModel(mc), train, None, mc, tc, data_config)
    got = trainer.compute_loss({"frame": logits}, batch | {"frame_weight": mask})[1]["frame"]
    late = late_frame_weights(roll, onset, 4.0, round(0.05 / mc.hop_s))
    assert got == pytest.approx(float((elements * late * mask).mean()), rel=1e-5)
    # left-out cells do not count at all: any logits there give the same loss
    changed = torch.where(mask == 0, -logits, logits)
    again = trainer.compute_loss({"frame": changed}, batch | {"frame_weight": mask})[1]["frame"]
    assert again == pytest.approx(got, rel=1e-6)


def test_quiet_frame_weights_mark_a_quiet_notes_first_frames():
    roll, onset, vel = torch.zeros(1, 10, 4), torch.zeros(1, 10, 4), torch.zeros(1, 10, 4)
    roll[0, 2:9, 0] = 1.0
    onset[0, 2, 0], vel[0, 2, 0] = 1.0, 0.25  # a quiet note on key 0
    roll[0, 1:6, 1] = 1.0
    onset[0, 1, 1], vel[0, 1, 1] = 1.0, 1.0  # a loud one on key 1
    roll[0, 0:4, 2] = 1.0  # sounding since before the crop: its velocity is unknown
    roll[0, 3:8, 3] = 1.0
    onset[0, 3, 3], vel[0, 3, 3] = 1.0, 0.5
    onset[0, 6, 3], vel[0, 6, 3] = 1.0, 0.0  # re-struck, as quietly as can be
    w = quiet_frame_weights(roll, onset, vel, 2.0, within_frames=3)
    assert w[0, :, 0].tolist() == [1, 1, 2.5, 2.5, 2.5, 1, 1, 1, 1, 1]
    assert torch.equal(w[0, :, 1:3], torch.ones(10, 2))
    assert w[0, :, 3].tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 1, 1]


def test_quiet_frame_weight_enters_the_frame_loss(data_config, tmp_path):
    mc = tiny_model_config()
    train, _, _ = create_dataloaders(data_config, mc, training_config(tmp_path / "a"))
    batch = next(iter(train))
    roll, onset, vel = batch["piano_roll"], batch["onset_roll"], batch["velocity_roll"]
    within = round(0.05 / mc.hop_s)
    quiet = quiet_frame_weights(roll, onset, vel, 3.0, within)
    assert (quiet > 1.0).any() and ((roll >= 0.5) & (quiet == 1.0)).any()
    torch.manual_seed(0)
    logits = torch.randn_like(roll) * 3
    elements = torch.nn.functional.binary_cross_entropy_with_logits(logits, roll, reduction="none")
    tc = training_config(tmp_path / "b", quiet_frame_weight=3.0, quiet_frame_ms=50.0)
    trainer = Trainer(Sound2SheetModel(mc), train, None, mc, tc, data_config)
    got = trainer.compute_loss({"frame": logits}, batch)[1]["frame"]
    assert got == pytest.approx(float((elements * quiet).mean()), rel=1e-5)
    with pytest.raises(ConfigError, match="quiet_frame_weight"):
        training_config(tmp_path, quiet_frame_weight=-1.0)
