import json

import pytest
import torch

from sound2sheet.errors import CheckpointError
from sound2sheet.model import Sound2SheetModel, Trainer
from sound2sheet.model.checkpoint import load_checkpoint, load_model_weights
from sound2sheet.model.dataset import create_dataloaders
from tests.conftest import tiny_model_config, training_config


class Interrupted(Exception):
    pass


class KilledTrainer(Trainer):
    """Dies before optimizer step ``kill_at + 1``, like a SIGKILL between steps."""

    kill_at = 7

    def train_step(self, batch):
        if self.state.step == self.kill_at:
            raise Interrupted
        return super().train_step(batch)


def _run(data_config, ckdir, trainer_cls=Trainer, **overrides):
    mc = tiny_model_config(dropout=0.1)  # dropout: the RNG state must be restored too
    tc = training_config(ckdir, **{"num_epochs": 3, "save_every_steps": 1, **overrides})
    train, val, _ = create_dataloaders(data_config, mc, tc)
    torch.manual_seed(123)
    model = Sound2SheetModel(mc)
    trainer = trainer_cls(model, train, val, mc, tc, data_config)
    return trainer, model


def test_resume_mid_epoch_matches_never_stopping(data_config, tmp_path):
    straight, model_a = _run(data_config, tmp_path / "a")
    history_a = straight.train()
    assert straight.state.step == 15  # 18 crops / batch 4 = 5 steps x 3 epochs

    killed, _ = _run(data_config, tmp_path / "b", KilledTrainer)
    with pytest.raises(Interrupted):
        killed.train()
    saved = load_checkpoint(tmp_path / "b" / "last.pt")
    assert saved["train_state"]["step"] == 7 and saved["train_state"]["batch_in_epoch"] == 2

    resumed, model_c = _run(data_config, tmp_path / "b", resume_from="auto")
    assert resumed.state.step == 7
    history_c = resumed.train()
    for (name, a), (_, c) in zip(model_a.state_dict().items(), model_c.state_dict().items()):
        assert torch.equal(a, c), name
    assert [h["train_loss"] for h in history_c] == pytest.approx([h["train_loss"] for h in history_a], abs=1e-6)
    assert [h["val_loss"] for h in history_c] == pytest.approx([h["val_loss"] for h in history_a], abs=1e-6)


def test_checkpoints_are_plain_and_round_trip(data_config, tmp_path):
    trainer, model = _run(data_config, tmp_path, save_every_steps=0, num_epochs=1)
    history = trainer.train()
    for name in ("best_model.pt", "last.pt"):
        ckpt = torch.load(tmp_path / name, weights_only=True)
        assert set(ckpt) >= {"model_state_dict", "model_config", "data_config", "encoder_config", "train_state"}
        assert isinstance(ckpt["model_config"], dict) and ckpt["model_config"]["encoder_size"] == "tiny"
    assert {"optimizer_state_dict", "scheduler_state_dict", "rng_state"} <= set(torch.load(tmp_path / "last.pt", weights_only=True))
    assert json.loads((tmp_path / "history.json").read_text())[0]["train_loss"] == pytest.approx(history[0]["train_loss"])
    assert {"val_frame_precision", "val_frame_recall", "val_frame_f1", "val_frame_accuracy", "val_note_onset_f1"} <= set(history[0])

    loaded = Sound2SheetModel.from_pretrained(tmp_path / "last.pt")
    assert loaded.data_config.crop_seconds == data_config.crop_seconds and not loaded.training
    mel = torch.randn(1, 128, 300)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(mel), model(mel))


def test_bad_checkpoints_give_clear_errors(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a Sound2Sheet checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")
    small = Sound2SheetModel(tiny_model_config())
    wide = Sound2SheetModel(tiny_model_config(classifier_hidden_dim=64))
    with pytest.raises(CheckpointError, match="does not fit this model configuration"):
        load_model_weights(wide, small.state_dict())


def test_mixed_precision_step_runs_on_cpu(data_config, tmp_path):
    trainer, _ = _run(data_config, tmp_path, num_epochs=1, use_mixed_precision=True, amp_dtype="bf16", steps_per_epoch=2)
    assert trainer.amp_dtype == torch.bfloat16
    history = trainer.train()
    assert torch.isfinite(torch.tensor(history[0]["train_loss"]))


def test_compiled_training_takes_the_eager_steps_and_saves_plain_checkpoints(data_config, tmp_path):
    results = {}
    for compiled in (False, True):
        mc = tiny_model_config()  # no dropout: compiled code draws its own random numbers
        tc = training_config(tmp_path / str(compiled), num_epochs=1, steps_per_epoch=3, warmup_steps=1, compile=compiled)
        train, val, _ = create_dataloaders(data_config, mc, tc)
        torch.manual_seed(123)
        trainer = Trainer(Sound2SheetModel(mc), train, val, mc, tc, data_config)
        history = trainer.train()
        saved = load_checkpoint(tmp_path / str(compiled) / "last.pt")["model_state_dict"]
        results[compiled] = (history[0]["train_loss"], saved)
    (eager_loss, eager), (compiled_loss, compiled) = results[False], results[True]
    assert compiled.keys() == eager.keys()  # no "_orig_mod." prefixes
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-3)
    for name in eager:
        torch.testing.assert_close(compiled[name].float(), eager[name].float(), atol=2e-4, rtol=1e-3)
    torch.manual_seed(123)
    start = Sound2SheetModel(tiny_model_config()).state_dict()
    assert max(float((eager[n].float() - start[n].float()).abs().max()) for n in eager) > 2e-3  # it trained


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run on a lent device)")
@pytest.mark.parametrize("amp_dtype", ["fp16", "bf16"])
def test_mixed_precision_trains_and_resumes_on_cuda(data_config, tmp_path, amp_dtype):
    trainer, _ = _run(data_config, tmp_path, num_epochs=2, use_mixed_precision=True, amp_dtype=amp_dtype,
                      steps_per_epoch=3, device="cuda")
    assert trainer.amp_dtype == {"fp16": torch.float16, "bf16": torch.bfloat16}[amp_dtype]
    assert trainer.scaler.is_enabled() == (amp_dtype == "fp16")  # loss scaling only for fp16
    history = trainer.train()
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history)
    resumed, _ = _run(data_config, tmp_path, num_epochs=3, use_mixed_precision=True, amp_dtype=amp_dtype,
                      steps_per_epoch=3, device="cuda", resume_from="auto")
    assert resumed.state.step == 6 and torch.isfinite(torch.tensor(resumed.train()[-1]["train_loss"]))


def test_exported_model_is_slim_and_predicts_the_same(data_config, tmp_path):
    from sound2sheet.cli import main as cli_main

    trainer, model = _run(data_config, tmp_path / "run", num_epochs=1, max_steps=2)
    trainer.train()
    out = tmp_path / "slim.pt"
    assert cli_main(["export-model", str(tmp_path / "run"), str(out), "--inference", "onset_threshold=0.4"]) == 0
    slim = torch.load(out, map_location="cpu", weights_only=True)
    assert "optimizer_state_dict" not in slim and slim["provenance"]["step"] == 2
    assert all(v.dtype == torch.float16 for v in slim["model_state_dict"].values() if v.is_floating_point())
    assert out.stat().st_size < 0.6 * (tmp_path / "run" / "best_model.pt").stat().st_size
    full = Sound2SheetModel.from_pretrained(tmp_path / "run" / "best_model.pt")
    half = Sound2SheetModel.from_pretrained(out)
    assert next(half.parameters()).dtype == torch.float32 and half.data_config == full.data_config
    assert half.inference_config.onset_threshold == 0.4 and full.inference_config.onset_threshold == 0.5
    assert cli_main(["export-model", str(tmp_path / "run"), str(tmp_path / "x.pt"), "--inference", "onset_treshold=0.4"]) == 2
    mel = torch.randn(1, 128, 300)
    a, b = full.probabilities(mel), half.probabilities(mel)
    assert max(float(abs(a[k] - b[k]).max()) for k in a) < 2e-2
    # re-exporting the export with new decoding keeps its weights and its training run's provenance
    again = tmp_path / "again.pt"
    assert cli_main(["export-model", str(out), str(again), "--inference", "reonset_threshold=0.8"]) == 0
    twice = torch.load(again, map_location="cpu", weights_only=True)
    assert twice["provenance"] == slim["provenance"] and twice["inference_config"]["onset_threshold"] == 0.4
    assert twice["inference_config"]["reonset_threshold"] == 0.8
    assert all(torch.equal(twice["model_state_dict"][k], v) for k, v in slim["model_state_dict"].items())


def test_resuming_with_fewer_epochs_anneals_over_the_new_length(data_config, tmp_path):
    first, _ = _run(data_config, tmp_path, num_epochs=4, save_every_steps=0, lr_schedule="cosine")
    first.config.num_epochs = 1  # stop after one epoch of a 4-epoch schedule
    first.train()
    step = first.state.step
    resumed, _ = _run(data_config, tmp_path, num_epochs=2, save_every_steps=0, lr_schedule="cosine", resume_from="auto")
    fresh, _ = _run(data_config, tmp_path / "fresh", num_epochs=2, save_every_steps=0, lr_schedule="cosine")
    expected = fresh._schedule()(step) * fresh.config.learning_rate
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(expected)
    assert resumed.scheduler.get_last_lr()[0] == pytest.approx(expected)
    resumed.train()
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(fresh.config.learning_rate * fresh.config.min_lr_ratio, rel=0.05)


def test_a_model_trained_at_one_level_is_transcribed_at_it(data_config, tmp_path):
    """DataConfig.normalize_peak travels into the checkpoint's InferenceConfig."""
    import dataclasses

    trainer, _ = _run(dataclasses.replace(data_config, normalize_peak=0.2), tmp_path, num_epochs=1, max_steps=1)
    trainer.train()
    assert Sound2SheetModel.from_pretrained(tmp_path / "last.pt").inference_config.normalize_peak == 0.2
    plain, _ = _run(data_config, tmp_path / "plain", num_epochs=1, max_steps=1)
    assert plain.inference_config.normalize_peak == 0.9  # off in training: the inference default
