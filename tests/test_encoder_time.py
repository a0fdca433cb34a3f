"""The token grid -> 10 ms frame mapping, for inputs shorter and longer than the encoder window."""

import numpy as np
import pytest
import torch

from sound2sheet.model import Sound2SheetModel
from sound2sheet.model.encoder import ASTWrapper, crossfade_weights, token_to_frame_weights, window_starts
from tests.conftest import tiny_model_config


def test_interpolation_matrix_puts_each_token_at_its_patch_centre():
    w = token_to_frame_weights(length=1024, n_time=127, patch=16, tstride=8)
    assert w.shape == (1024, 127)
    torch.testing.assert_close(w.sum(1), torch.ones(1024))
    centres = torch.arange(127) * 8 + 7.5
    frames = w @ centres  # interpolating the centre positions must give back the frame index
    inside = torch.arange(8, 1016)
    torch.testing.assert_close(frames[inside], inside.float(), atol=1e-4, rtol=0)
    assert frames[:8].eq(7.5).all() and frames[1016:].eq(1015.5).all()  # edges clamp


def test_windows_cover_any_length_and_crossfade_weights_are_positive():
    for total in (1, 255, 256, 257, 1000, 2501):
        starts = window_starts(total, 256, 64)
        assert starts[0] == 0 and starts[-1] + 256 >= total
        covered = torch.zeros(total)
        weights = crossfade_weights(starts, 256, total)
        for s, w in zip(starts, weights):
            n = min(256, total - s)
            covered[s:s + n] += w[:n]
        assert (covered > 0).all()


class ProbeAST(ASTWrapper):
    """Each time token reports the mean frame index of its patch: the input holds ``mel[:, f] = f``."""

    def _ast_tokens(self, windows):
        patch, ts = self.ast.config.patch_size, self.ast.config.time_stride
        pos = windows[:, 0, :]  # [n, L] frame indices (or padding)
        centres = torch.stack([pos[:, j * ts:j * ts + patch].mean(1) for j in range(self.n_time)], 1)
        return centres[:, :, None].expand(-1, -1, self.n_freq * self.hidden_size)


@pytest.mark.parametrize("seconds", [1.5, 2.56, 5.0, 25.0])
def test_encoder_features_are_aligned_to_input_frames(seconds):
    torch.manual_seed(0)
    enc = ProbeAST(tiny_model_config())
    with torch.no_grad():
        enc.proj.weight.fill_(1.0 / enc.proj.in_features)
        enc.proj.bias.zero_()
    total = int(seconds * 100)
    mel = torch.arange(total, dtype=torch.float32).expand(1, 128, total).contiguous()
    with torch.no_grad():
        out = enc(mel)[0, :, 0]
    assert out.shape == (total,)
    # Frames whose bracketing tokens lie wholly inside the clip come back at their own index.
    inside = torch.arange(8, total - 16)
    torch.testing.assert_close(out[inside], inside.float(), atol=1e-3, rtol=0)
    frame_327 = 327 if total > 343 else total // 2
    assert abs(float(out[frame_327].detach()) - frame_327) < 1e-3


@pytest.mark.parametrize("frames", [37, 256, 300, 2500])
@pytest.mark.parametrize("skip", ["linear", "conv"])
def test_model_output_has_one_row_per_input_frame(frames, skip):
    model = Sound2SheetModel(tiny_model_config(mel_skip=skip)).eval()
    with torch.no_grad():
        heads = model.forward_heads(torch.randn(2, 128, frames))
    assert set(heads) == {"frame", "onset", "velocity"}
    assert all(v.shape == (2, frames, 88) for v in heads.values())


def test_stitched_output_equals_single_window_output_away_from_borders():
    """A long input's frames far from any window border get the same logits as a short run."""
    torch.manual_seed(0)
    model = Sound2SheetModel(tiny_model_config(window_overlap_frames=64)).eval()
    mel = torch.randn(1, 128, 700)
    with torch.no_grad():
        full = model(mel)
        first = model(mel[:, :, :256])
    # window 0 covers 0..255 and is cross-faded with window 1 from frame 192 on
    torch.testing.assert_close(full[:, :150], first[:, :150], atol=1e-4, rtol=0)


def test_frozen_encoder_gets_no_gradient():
    model = Sound2SheetModel(tiny_model_config(), freeze_encoder=True)
    model.train()
    assert not model.encoder.ast.training  # no dropout in a frozen encoder
    model(torch.randn(2, 128, 300)).sum().backward()
    assert all(p.grad is None for p in model.encoder.ast.parameters())
    assert model.encoder.proj.weight.grad is not None and model.classifier.out.weight.grad is not None


def test_predict_accepts_numpy_2d_and_returns_dicts():
    model = Sound2SheetModel(tiny_model_config())
    roll, events = model.predict(np.random.default_rng(0).standard_normal((128, 120)).astype(np.float32))
    assert roll.shape == (1, 120, 88) and set(np.unique(roll.numpy())) <= {0.0, 1.0}
    assert isinstance(events, list) and len(events) == 1
    for e in events[0]:
        assert {"pitch", "onset_time_ms", "offset_time_ms"} <= set(e) and 21 <= e["pitch"] <= 108
