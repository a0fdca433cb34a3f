"""Weight averaging (TrainingConfig.weight_average): what is scored and saved is the average,
the raw weights resume training exactly."""

import pytest
import torch

from sound2sheet.errors import ConfigError
from sound2sheet.model import Sound2SheetModel, Trainer
from sound2sheet.model.checkpoint import load_checkpoint
from sound2sheet.model.config import TrainingConfig
from tests.test_checkpoint_resume import Interrupted, KilledTrainer, _run


class Recording(Trainer):
    """Keeps a copy of the raw weights after every optimizer step."""

    def train_step(self, batch):
        loss = super().train_step(batch)
        self.seen = getattr(self, "seen", []) + [{k: v.detach().clone() for k, v in self.core.state_dict().items()}]
        return loss


def test_ema_checkpoint_holds_the_average_of_the_trajectory(data_config, tmp_path):
    decay, start = 0.8, 2
    trainer, model = _run(data_config, tmp_path, Recording, num_epochs=1, save_every_steps=0,
                          weight_average="ema", ema_decay=decay, average_start_step=start)
    trainer.train()
    steps = trainer.state.step
    assert steps == 5 and trainer.state.n_averaged == steps - start
    name = next(k for k, v in model.state_dict().items() if v.is_floating_point() and v.ndim == 2)
    expected = trainer.seen[start][name]  # the first update copies the weights after step start + 1
    for weights in trainer.seen[start + 1:]:
        expected = decay * expected + (1 - decay) * weights[name]
    last, best = load_checkpoint(tmp_path / "last.pt"), load_checkpoint(tmp_path / "best_model.pt")
    torch.testing.assert_close(last["model_state_dict"][name], expected)
    torch.testing.assert_close(best["model_state_dict"][name], expected)
    torch.testing.assert_close(last["training_state_dict"][name], trainer.seen[-1][name])  # raw, for resuming
    assert not torch.allclose(expected, trainer.seen[-1][name])
    assert "training_state_dict" not in best  # an inference file carries one set of weights
    # every reader of the checkpoint gets the average
    loaded = Sound2SheetModel.from_pretrained(tmp_path / "last.pt")
    torch.testing.assert_close(loaded.state_dict()[name], expected)


def test_swa_is_the_plain_mean(data_config, tmp_path):
    trainer, model = _run(data_config, tmp_path, Recording, num_epochs=1, save_every_steps=0, weight_average="swa")
    trainer.train()
    name = next(k for k, v in model.state_dict().items() if v.is_floating_point() and v.ndim == 2)
    mean = torch.stack([w[name] for w in trainer.seen]).mean(0)
    torch.testing.assert_close(load_checkpoint(tmp_path / "last.pt")["model_state_dict"][name], mean)


def test_resume_with_an_average_matches_never_stopping(data_config, tmp_path):
    kwargs = dict(weight_average="ema", ema_decay=0.7, average_start_step=3)
    straight, _ = _run(data_config, tmp_path / "a", **kwargs)
    history_a = straight.train()
    killed, _ = _run(data_config, tmp_path / "b", KilledTrainer, **kwargs)
    with pytest.raises(Interrupted):
        killed.train()
    resumed, _ = _run(data_config, tmp_path / "b", resume_from="auto", **kwargs)
    assert resumed.state.n_averaged == KilledTrainer.kill_at - 3
    history_b = resumed.train()
    a, b = load_checkpoint(tmp_path / "a" / "last.pt"), load_checkpoint(tmp_path / "b" / "last.pt")
    for key in ("model_state_dict", "training_state_dict"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
    assert [h["val_loss"] for h in history_b] == pytest.approx([h["val_loss"] for h in history_a], abs=1e-6)


@pytest.mark.parametrize("field,value", [("weight_average", "mean"), ("ema_decay", 1.0), ("average_start_step", -1)])
def test_bad_averaging_settings_are_refused(field, value):
    with pytest.raises(ConfigError, match=field):
        TrainingConfig(**{field: value})


def test_export_model_averages_checkpoints_of_one_architecture(data_config, tmp_path, capsys):
    """``export-model A --average-with B``: the float32 mean of both, provenance naming B;
    another architecture is refused with a one-line error."""
    from sound2sheet.cli import main as cli_main
    from sound2sheet.model.checkpoint import save_checkpoint

    trainer, _ = _run(data_config, tmp_path / "run", num_epochs=1, max_steps=1)
    trainer.train()
    a = load_checkpoint(tmp_path / "run" / "last.pt")
    shifted = {k: v + 1.0 if v.is_floating_point() else v for k, v in a["model_state_dict"].items()}
    save_checkpoint(tmp_path / "b.pt", {**a, "model_state_dict": shifted})
    out = tmp_path / "soup.pt"
    assert cli_main(["export-model", str(tmp_path / "run" / "last.pt"), str(out), "--fp32",
                     "--average-with", str(tmp_path / "b.pt")]) == 0
    soup = torch.load(out, map_location="cpu", weights_only=True)
    for k, v in a["model_state_dict"].items():
        expected = v.float() + 0.5 if v.is_floating_point() else v
        assert torch.allclose(soup["model_state_dict"][k], expected, atol=1e-6), k
    assert soup["provenance"]["averaged_with"] == ["b.pt"]
    other = {**a, "model_config": {**a["model_config"], "classifier_hidden_dim": 7}}
    save_checkpoint(tmp_path / "c.pt", other)
    capsys.readouterr()
    assert cli_main(["export-model", str(tmp_path / "run" / "last.pt"), str(tmp_path / "x.pt"),
                     "--average-with", str(tmp_path / "c.pt")]) == 2
    assert "another architecture" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()
