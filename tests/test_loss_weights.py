"""The onset loss's extra weight on held keys (TrainingConfig.held_onset_weight)."""

import pytest
import torch

from sound2sheet.errors import ConfigError
from sound2sheet.model import Sound2SheetModel, Trainer
from sound2sheet.model.dataset import create_dataloaders
from sound2sheet.model.trainer import held_key_weights
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
