"""Time-local modules run in spans give what they give in one piece; the fast frequency pool is
the max pool it replaces."""

import pytest
import torch
from torch import nn

from sound2sheet.model.sound2sheet_model import ConvSkip, HalveFrequency
from sound2sheet.model.spans import map_time_spans


def _three_convs() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(4, 8, 3, padding=1), nn.GELU(), nn.Conv1d(8, 8, 3, padding=1), nn.GELU(),
                         nn.Conv1d(8, 2, 3, padding=1))


@pytest.mark.parametrize("frames", [1, 63, 64, 65, 300])
def test_spans_with_enough_reach_equal_one_piece(frames):
    net = _three_convs()
    x = torch.randn(2, 4, frames)
    with torch.no_grad():
        torch.testing.assert_close(map_time_spans(net, x, span=64, reach=3), net(x))


def test_too_little_reach_shows_at_span_borders():
    net = _three_convs()
    x = torch.randn(1, 4, 300)
    with torch.no_grad():
        diff = (map_time_spans(net, x, span=64, reach=2) - net(x)).abs().amax(dim=(0, 1))
    assert diff[64] > 1e-4 and diff[63] > 1e-4  # both sides of the first border
    assert diff[:62].max() < 1e-6  # far from a border nothing changes


def test_several_inputs_are_cut_alike():
    net = _three_convs()
    x, y = torch.randn(2, 4, 300), torch.randn(2, 1, 300)
    with torch.no_grad():
        whole = net(x) * y
        torch.testing.assert_close(map_time_spans(lambda a, b: net(a) * b, (x, y), span=64, reach=3), whole)
    with pytest.raises(ValueError, match="frames differ"):
        map_time_spans(lambda a, b: a, (x, y[..., :299]), span=64, reach=3)


@pytest.mark.parametrize("rows", [8, 9])
def test_halve_frequency_is_the_max_pool_it_replaces(rows):
    x = torch.randn(2, 3, rows, 17)
    assert torch.equal(HalveFrequency()(x), nn.MaxPool2d((2, 1))(x))


@pytest.mark.parametrize("frames", [3, 40, 41, 130])
def test_the_mel_skip_in_spans_equals_one_piece(frames, monkeypatch):
    torch.manual_seed(0)
    skip = ConvSkip(n_mels=32, channels=4, out_dim=6)
    mel = torch.randn(2, 32, frames)
    with torch.no_grad():
        monkeypatch.setattr(ConvSkip, "CHUNK_FRAMES", 40)
        spans = skip(mel)
        monkeypatch.setattr(ConvSkip, "CHUNK_FRAMES", 10**9)
        whole = skip(mel)
    assert spans.shape == (2, frames, 6)
    torch.testing.assert_close(spans, whole)


def test_the_mel_skip_keeps_its_state_dict_keys():
    """Checkpoints trained with nn.MaxPool2d load unchanged: the pool has no parameters."""
    keys = set(ConvSkip(n_mels=32, channels=4, out_dim=6).state_dict())
    assert keys == {"net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias", "net.6.weight", "net.6.bias",
                    "proj.weight", "proj.bias"}
