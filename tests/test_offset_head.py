"""The offset head (ModelConfig.offset_dim): its targets reach the loss, its stack is detached."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sound2sheet.decoding import decode_notes

from sound2sheet.model import Sound2SheetModel
from sound2sheet.model.classifier import PRIOR_LOGITS
from sound2sheet.model.dataset import PianoDataset, collate_batch
from tests.conftest import tiny_model_config, training_config


def _offset_grads(model: Sound2SheetModel, mel: torch.Tensor, allowed: tuple[str, ...]) -> dict:
    """Backpropagate the offset logits' sum; assert that only parameters under ``allowed`` got a
    gradient (the stacks read the heads detached) and return every parameter's gradient."""
    model.forward_heads(mel)["offset"].sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is None or not g.any() for n, g in grads.items() if not n.startswith(allowed))
    return grads


def test_an_offset_stack_warm_starts_unchanged_and_sends_no_gradient_into_the_note_heads():
    torch.manual_seed(0)
    old = Sound2SheetModel(tiny_model_config(refine_layers=2, refine_dim=16)).eval()
    new = Sound2SheetModel(tiny_model_config(refine_layers=2, refine_dim=16, offset_dim=8)).eval()
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert missing and all(k.startswith("classifier.offset_net.") for k in missing) and not unexpected
    mel = torch.randn(2, 128, 300)
    with torch.no_grad():
        a, b = old.forward_heads(mel), new.forward_heads(mel)
    assert set(b) == set(a) | {"offset"}
    for head in a:
        torch.testing.assert_close(a[head], b[head])
    assert b["offset"].shape == (2, 300, 88) and torch.all(b["offset"] == PRIOR_LOGITS["offset"])
    new.train()
    grads = _offset_grads(new, mel, ("classifier.offset_net.",))
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("classifier.offset_net."))
    with pytest.raises(ValueError, match="offset_dim"):
        tiny_model_config(offset_dim=8)  # no refiner to take the shape of


def test_the_offset_loss_is_the_weighted_bce_against_the_offset_roll(data_config, tmp_path):
    from sound2sheet.model import Trainer
    from sound2sheet.model.dataset import create_dataloaders

    mc = tiny_model_config(refine_layers=2, refine_dim=16, offset_dim=8)
    tc = training_config(tmp_path / "ckpt", num_epochs=1, batch_size=2, offset_loss_weight=0.7, onset_pos_weight=4.0)
    train, _, _ = create_dataloaders(data_config, mc, tc)
    ds = PianoDataset(data_config, "train", crop_frames=100)
    batch = collate_batch([ds[0], ds[1]])
    assert batch["offset_roll"].shape == batch["piano_roll"].shape and batch["offset_roll"].max() == 1.0
    model = Sound2SheetModel(mc)
    trainer = Trainer(model, train, None, mc, tc, data_config)
    heads = model.forward_heads(batch["mel"])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        heads["offset"], batch["offset_roll"], pos_weight=torch.full((88,), 4.0))
    total, parts = trainer.compute_loss(heads, batch)
    assert parts["offset"] == pytest.approx(0.7 * float(expected.detach()), rel=1e-5)
    no_offset = {k: v for k, v in heads.items() if k != "offset"}
    assert float(total.detach()) == pytest.approx(float(trainer.compute_loss(no_offset, batch)[0].detach())
                                                  + parts["offset"], rel=1e-5)


def _decaying_note(frames=200, key=5):
    """One note struck at frame 10 whose frame probability sinks below 0.5 at frame 80 and below
    0.1 at frame 150: the hold (0.1) keeps it to 150, the threshold alone ends it at 80."""
    frame = np.zeros((frames, 12), np.float32)
    onset = np.zeros_like(frame)
    frame[10:80, key], frame[80:150, key], onset[10, key] = 0.9, 0.3, 0.95
    return frame, onset


@pytest.mark.parametrize("peak_at, window_ms, end", [
    (None, 50, 150),  # no offset peak: the hold decides
    (120, 50, 120),  # a peak while held: the note ends there
    (60, 50, 150),  # a peak while the note is still loud and long before it goes quiet: no effect
    (75, 50, 80),  # a peak just before it goes quiet, within the window: ends where it goes quiet
    (75, 30, 150),  # ... outside a shorter window: no effect
])
def test_an_offset_peak_ends_a_held_note(peak_at, window_ms, end):
    frame, onset = _decaying_note()
    offset = np.zeros_like(frame)
    if peak_at is not None:
        offset[peak_at - 1:peak_at + 2, 5] = [0.4, 0.8, 0.4]
    kwargs = dict(hop_s=0.01, median_filter_size=1, min_duration_s=0.0, hold_threshold=0.1, hold_after_s=0.3,
                  offset=offset, offset_threshold=0.5, offset_window_s=window_ms / 1000)
    notes = decode_notes(frame, onset, **kwargs)
    assert [(n.pitch, round(n.onset / 0.01), round(n.offset / 0.01)) for n in notes] == [(26, 10, end)]
    # off (threshold 0, or no hold to cut back), the offsets change nothing
    assert decode_notes(frame, onset, **{**kwargs, "offset_threshold": None})[0].offset == pytest.approx(1.5)
    no_hold = {**kwargs, "hold_threshold": None}
    assert decode_notes(frame, onset, **no_hold)[0].offset == pytest.approx(0.8)



def _assert_chunked_equals_whole(model: Sound2SheetModel, audio_seed: int) -> None:
    """Transcribing 9 s of noise in 2 s chunks gives the notes of decoding it whole, with an
    offset rule that cuts some of them."""
    from sound2sheet.core.audio import AudioProcessor
    from sound2sheet.inference import Transcriber
    from sound2sheet.model import DataConfig, InferenceConfig

    model.data_config = DataConfig()
    audio = np.random.default_rng(audio_seed).normal(0, 0.1, int(16000 * 9.0)).astype(np.float32)
    probs = model.probabilities(AudioProcessor.from_config(model.data_config).to_mel_spectrogram(audio))
    levels = dict(classification_threshold=float(np.quantile(probs["frame"], 0.7)),
                  onset_threshold=float(np.quantile(probs["onset"], 0.995)), normalize_peak=0.0,
                  hold_threshold=float(np.quantile(probs["frame"], 0.05)), hold_after_ms=0.0)
    cfg = InferenceConfig(**levels, offset_threshold=float(np.quantile(probs["offset"], 0.5)), offset_window_ms=30.0)
    whole = model.decode(probs, cfg)[0]
    assert whole and whole != model.decode(probs, InferenceConfig(**levels))[0]  # the offsets cut some notes
    chunked = Transcriber(model, cfg, chunk_frames=200).transcribe_array(audio, 16000).notes
    assert [(n.pitch, round(n.onset, 2), round(n.offset, 2)) for n in chunked] == \
        [(n.pitch, round(n.onset, 2), round(n.offset, 2)) for n in whole]


def test_chunked_transcription_with_an_offset_head_equals_decoding_the_whole_file():
    from sound2sheet.model import InferenceConfig

    torch.manual_seed(1)
    model = Sound2SheetModel(tiny_model_config(refine_layers=2, refine_dim=16, offset_dim=8)).eval()
    with torch.no_grad():  # outputs that vary: notes come and go, offset peaks here and there
        model.classifier.out.bias.zero_()
        model.classifier.offset_net.out.weight.normal_(0, 2.0)
        model.classifier.offset_net.out.bias.zero_()
    _assert_chunked_equals_whole(model, audio_seed=2)
    with pytest.raises(ValueError, match="offset_threshold"):
        InferenceConfig(offset_threshold=1.0)


def _with_key_stack(seed: int = 0) -> tuple[Sound2SheetModel, Sound2SheetModel]:
    """A model with an offset head, and the same weights with a per-key offset stack whose
    output layer is randomised (a trained one's is not zero)."""
    torch.manual_seed(seed)
    old = Sound2SheetModel(tiny_model_config(refine_layers=2, refine_dim=16, offset_dim=8)).eval()
    new = Sound2SheetModel(tiny_model_config(refine_layers=2, refine_dim=16, offset_dim=8, offset_key_dim=4)).eval()
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert missing and all(k.startswith("offset_keys.") for k in missing) and not unexpected
    return old, new


def test_a_per_key_offset_stack_warm_starts_unchanged_is_detached_and_shares_its_weights_across_keys():
    old, new = _with_key_stack()
    mel = torch.randn(1, 128, 300)
    with torch.no_grad():
        a, b = old.forward_heads(mel), new.forward_heads(mel)
        for head in a:  # a zero output layer: the offset logits too are as before
            torch.testing.assert_close(a[head], b[head])
        new.offset_keys.out.weight.normal_(0, 1.0)
        b = new.forward_heads(mel)
    assert not torch.allclose(a["offset"], b["offset"])
    for head in ("frame", "onset", "velocity"):
        torch.testing.assert_close(a[head], b[head])
    # one set of weights for every key: key 40's correction from key 3's probabilities is key 3's
    logits = {h: torch.randn(1, 300, 88) for h in ("frame", "onset", "offset")}
    swapped = {h: v[..., [40 if k == 3 else 3 if k == 40 else k for k in range(88)]] for h, v in logits.items()}
    with torch.no_grad():
        c, d = new._offset_by_key(logits), new._offset_by_key(swapped)
    torch.testing.assert_close(c[..., 3], d[..., 40])
    torch.testing.assert_close(c[..., 50], d[..., 50])
    new.KEY_SPAN_FRAMES = 40  # short spans (their reach from real input) give the same output
    with torch.no_grad():
        torch.testing.assert_close(new._offset_by_key(logits), c)
    del new.KEY_SPAN_FRAMES
    new.train()
    new.offset_keys.out.weight.grad = None
    grads = _offset_grads(new, mel, ("classifier.offset_net.", "offset_keys."))
    assert grads["offset_keys.inp.weight"] is not None and grads["offset_keys.inp.weight"].abs().sum() > 0
    with pytest.raises(ValueError, match="offset_key_dim"):
        tiny_model_config(refine_layers=2, refine_dim=16, offset_key_dim=4)  # no offset head to correct


def test_chunked_transcription_with_a_per_key_offset_stack_equals_decoding_the_whole_file():
    from sound2sheet.inference import Transcriber
    from sound2sheet.model import DataConfig, InferenceConfig

    _, model = _with_key_stack(seed=3)
    with torch.no_grad():
        model.classifier.out.bias.zero_()
        model.offset_keys.out.weight.normal_(0, 2.0)
    model.data_config = DataConfig()
    transcriber = Transcriber(model, InferenceConfig(), chunk_frames=200)
    assert transcriber.context >= model.encoder.overlap + 2 * model.config.refine_radius_frames
    _assert_chunked_equals_whole(model, audio_seed=4)


def _grown(shape: dict, inputs: torch.Tensor, seed: int, **added) -> tuple[Sound2SheetModel, Sound2SheetModel]:
    """A model of ``shape`` whose per-key offset stack looks trained (a random output layer),
    and its weights in one with the ``added`` fields, whose zero-initialised layers of the same
    names leave every output as it was."""
    torch.manual_seed(seed)
    old = Sound2SheetModel(tiny_model_config(**shape)).eval()
    new = Sound2SheetModel(tiny_model_config(**shape, **added)).eval()
    with torch.no_grad():
        old.offset_keys.out.weight.normal_(0, 1.0)
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert sorted(missing) == sorted(f"{name}.{p}" for name in added for p in ("bias", "weight")) and not unexpected
    with torch.no_grad():
        a, b = old.forward_heads(inputs), new.forward_heads(inputs)
    for head in a:
        torch.testing.assert_close(a[head], b[head])
    return old, new


def test_the_per_key_offset_stack_reads_each_keys_own_partials():
    from tests.test_harmonic import PITCH_ROWS

    shape = dict(refine_layers=2, refine_dim=16, offset_dim=8, offset_key_dim=4, pitch_bins=PITCH_ROWS)
    features = torch.randn(1, 128 + PITCH_ROWS, 300)
    _, new = _grown(shape, features, seed=5, offset_key_partials=3)
    with torch.no_grad():
        new.offset_key_partials.weight.normal_(0, 1.0)
        louder = features.clone()
        fundamental = int(new.offset_rows[40 * 3])  # key 40's first partial
        louder[:, 128 + fundamental, 150:] += 3.0
        c, d = new.forward_heads(features), new.forward_heads(louder)
    assert not torch.allclose(c["offset"][..., 40], d["offset"][..., 40])
    torch.testing.assert_close(c["offset"][..., 10], d["offset"][..., 10])  # its partials are elsewhere
    for head in ("frame", "onset", "velocity"):  # the note heads do not read it
        torch.testing.assert_close(c[head], new.forward_heads(features)[head])
    with pytest.raises(ValueError, match="offset_key_partials"):
        tiny_model_config(refine_layers=2, refine_dim=16, offset_dim=8, offset_key_dim=4, offset_key_partials=3)


def test_the_per_key_offset_stack_can_hear_the_whole_keyboard():
    shape = dict(refine_layers=2, refine_dim=16, offset_dim=8, offset_key_dim=4)
    mel = torch.randn(1, 128, 300)
    old, new = _grown(shape, mel, seed=6, offset_key_context=True)
    with torch.no_grad():
        new.offset_key_context.weight.normal_(0, 1.0)
        logits = {h: torch.randn(1, 300, 88) for h in ("frame", "onset", "offset")}
        other = {h: v.clone() for h, v in logits.items()}
        other["frame"][0, 150:, 10] += 5.0  # key 10 starts sounding: every key hears it
        c, d = new._offset_by_key(logits), new._offset_by_key(other)
        assert not torch.allclose(c[..., 40], d[..., 40])
        torch.testing.assert_close(old._offset_by_key(logits)[..., 40], old._offset_by_key(other)[..., 40])
        new.KEY_SPAN_FRAMES = 40  # short spans give the same output
        torch.testing.assert_close(new._offset_by_key(logits), c)
        del new.KEY_SPAN_FRAMES
    new.train()
    grads = _offset_grads(new, mel, ("classifier.offset_net.", "offset_keys.", "offset_key_context."))
    assert grads["offset_key_context.weight"].abs().sum() > 0
    with pytest.raises(ValueError, match="offset_key_context"):
        tiny_model_config(refine_layers=2, refine_dim=16, offset_dim=8, offset_key_context=True)


def test_the_per_key_offset_stack_can_hear_its_neighbours():
    shape = dict(refine_layers=2, refine_dim=16, offset_dim=8, offset_key_dim=4)
    mel = torch.randn(1, 128, 300)
    _, new = _grown(shape, mel, seed=7, offset_key_neighbours=3)
    with torch.no_grad():
        new.offset_key_neighbours.weight.normal_(0, 1.0)
        logits = {h: torch.randn(1, 300, 88) for h in ("frame", "onset", "offset")}
        other = {h: v.clone() for h, v in logits.items()}
        other["frame"][0, 150:, 12] -= 5.0  # key 12 is released: keys 9-15 hear it
        c, d = new._offset_by_key(logits), new._offset_by_key(other)
        assert not torch.allclose(c[..., 10], d[..., 10])
        torch.testing.assert_close(c[..., 40], d[..., 40])  # out of reach
    new.train()
    grads = _offset_grads(new, mel, ("classifier.offset_net.", "offset_keys.", "offset_key_neighbours."))
    assert grads["offset_key_neighbours.weight"].abs().sum() > 0
    with pytest.raises(ValueError, match="offset_key_neighbours"):
        tiny_model_config(**shape, offset_key_neighbours=3, offset_key_context=True)
