"""The per-key onset stack (ModelConfig.onset_key_dim): a warm start is unchanged, it moves
only the onset logits, shares its weights across keys and survives chunked transcription."""

from __future__ import annotations

import pytest
import torch

from sound2sheet.model import Sound2SheetModel
from tests.conftest import tiny_model_config
from tests.test_harmonic import PITCH_ROWS
from tests.test_offset_head import _assert_chunked_equals_whole

SHAPE = dict(refine_layers=2, refine_dim=16, offset_dim=8, offset_key_dim=4)


def _with_onset_stack(seed: int, **extra) -> tuple[Sound2SheetModel, Sound2SheetModel]:
    torch.manual_seed(seed)
    old = Sound2SheetModel(tiny_model_config(**SHAPE, **extra)).eval()
    new = Sound2SheetModel(tiny_model_config(**SHAPE, **extra, onset_key_dim=4,
                                             onset_key_partials=3 if extra else 0)).eval()
    with torch.no_grad():
        old.offset_keys.out.weight.normal_(0, 1.0)  # a trained offset stack's is not zero
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert missing and all(k.startswith("onset_key") for k in missing) and not unexpected
    return old, new


def test_a_per_key_onset_stack_warm_starts_unchanged_and_moves_only_the_onsets():
    old, new = _with_onset_stack(seed=0)
    mel = torch.randn(1, 128, 300)
    with torch.no_grad():
        a, b = old.forward_heads(mel), new.forward_heads(mel)
        for head in a:
            torch.testing.assert_close(a[head], b[head])
        new.onset_keys.out.weight.normal_(0, 1.0)
        b = new.forward_heads(mel)
    assert not torch.allclose(a["onset"], b["onset"])
    for head in ("frame", "velocity", "offset"):  # the offset stack reads the onsets before it
        torch.testing.assert_close(a[head], b[head])
    logits = {h: torch.randn(1, 300, 88) for h in ("frame", "onset")}
    swapped = {h: v[..., [40 if k == 3 else 3 if k == 40 else k for k in range(88)]] for h, v in logits.items()}

    def by_key(heads):
        return new._by_key(heads, ["frame", "onset"], new.onset_keys, None, None, None, None)

    with torch.no_grad():
        c, d = by_key(logits), by_key(swapped)
        torch.testing.assert_close(c[..., 3], d[..., 40])  # one set of weights for every key
        new.KEY_SPAN_FRAMES = 40  # short spans give the same output
        torch.testing.assert_close(by_key(logits), c)
        del new.KEY_SPAN_FRAMES
    # its inputs are detached: every other weight gets the gradient it would get without it
    for model in (old, new):
        model.forward_heads(mel)["onset"].sum().backward()
    grads = {n: p.grad for n, p in new.named_parameters()}
    assert grads["onset_keys.inp.weight"].abs().sum() > 0
    for name, param in old.named_parameters():
        if param.grad is not None:
            torch.testing.assert_close(param.grad, grads[name])
    assert new.config.head_radius_frames == 2 * new.config.refine_radius_frames


def test_the_per_key_onset_stack_reads_each_keys_own_partials():
    old, new = _with_onset_stack(seed=1, pitch_bins=PITCH_ROWS)
    features = torch.randn(1, 128 + PITCH_ROWS, 300)
    with torch.no_grad():
        torch.testing.assert_close(old.forward_heads(features)["onset"], new.forward_heads(features)["onset"])
        new.onset_keys.out.weight.normal_(0, 1.0)
        louder = features.clone()
        louder[:, 128 + int(new.onset_rows[40 * 3]), 150:] += 3.0  # key 40's first partial
        c, d = new.forward_heads(features), new.forward_heads(louder)
    assert not torch.allclose(c["onset"][..., 40], d["onset"][..., 40])
    torch.testing.assert_close(c["onset"][..., 10], d["onset"][..., 10])  # its partials are elsewhere


def test_the_onset_stack_hears_its_neighbours_strikes_the_same_way_on_every_key():
    old, new = _with_onset_stack(seed=3)
    grown = Sound2SheetModel(tiny_model_config(**SHAPE, onset_key_dim=4, onset_key_neighbours=3)).eval()
    missing, unexpected = grown.load_state_dict(new.state_dict(), strict=False)
    assert sorted(missing) == ["onset_key_neighbours.bias", "onset_key_neighbours.weight"] and not unexpected
    mel = torch.randn(1, 128, 300)
    logits = {h: torch.randn(1, 300, 88) for h in ("frame", "onset")}
    struck = {h: v.clone() for h, v in logits.items()}
    struck["onset"][0, 150:160, 12] += 6.0  # key 12 is struck: keys 9-15 hear it

    def by_key(model, heads):
        return model._by_key(heads, ["frame", "onset"], model.onset_keys, None, None, model.onset_key_neighbours, None)

    with torch.no_grad():
        torch.testing.assert_close(grown.forward_heads(mel)["onset"], new.forward_heads(mel)["onset"])
        grown.onset_keys.out.weight.normal_(0, 1.0)
        grown.onset_key_neighbours.weight.normal_(0, 1.0)
        c, d = by_key(grown, logits), by_key(grown, struck)
        assert not torch.allclose(c[..., 10], d[..., 10])
        torch.testing.assert_close(c[..., 40], d[..., 40])  # out of reach
        # one set of weights: moving every key up a semitone moves the output with it
        up = {h: torch.roll(v, 1, dims=-1) for h, v in logits.items()}
        torch.testing.assert_close(by_key(grown, up)[..., 5:80], c[..., 4:79])
        grown.KEY_SPAN_FRAMES = 40  # short spans give the same output
        torch.testing.assert_close(by_key(grown, logits), c)
        del grown.KEY_SPAN_FRAMES
    grown.train()
    grown.forward_heads(mel)["onset"].sum().backward()
    grads = {n: p.grad for n, p in grown.named_parameters()}
    assert grads["onset_key_neighbours.weight"].abs().sum() > 0
    for name in ("offset_keys.", "classifier.offset_net."):  # it moves no offset weight
        assert all(g is None or not g.any() for n, g in grads.items() if n.startswith(name))


def test_chunked_transcription_with_a_per_key_onset_stack_equals_decoding_the_whole_file():
    _, model = _with_onset_stack(seed=2)
    with torch.no_grad():
        model.classifier.out.bias.zero_()
        model.onset_keys.out.weight.normal_(0, 2.0)
    _assert_chunked_equals_whole(model, audio_seed=5)


def test_the_per_key_onset_stack_refuses_a_model_it_cannot_read():
    with pytest.raises(ValueError, match="onset_key_dim"):
        tiny_model_config(refine_layers=2, refine_dim=16, onset_key_dim=4, onset_head=False)
    with pytest.raises(ValueError, match="onset_key_partials"):
        tiny_model_config(refine_layers=2, refine_dim=16, onset_key_dim=4, onset_key_partials=3)
    with pytest.raises(ValueError, match="onset_key_neighbours"):
        tiny_model_config(refine_layers=2, refine_dim=16, onset_key_neighbours=3)
