"""The harmonic branch: one set of weights for every key, read at each key's partials."""

import numpy as np
import pytest
import torch

from sound2sheet.core.features import pitch_bin_midis
from sound2sheet.errors import ConfigError
from sound2sheet.model import DataConfig, Sound2SheetModel
from sound2sheet.model.config import check_compatible

from .conftest import tiny_model_config
from .test_refiner import _randomise, assert_chunked_equals_whole, assert_exact_warm_start

SR = 16000
PITCH_ROWS = len(pitch_bin_midis(SR, 2))


def _harmonic_model(**overrides) -> Sound2SheetModel:
    return Sound2SheetModel(tiny_model_config(pitch_bins=PITCH_ROWS, harmonics=8, **overrides)).eval()


def test_warm_start_adds_the_harmonic_branch_without_changing_outputs():
    torch.manual_seed(0)
    trained = Sound2SheetModel(tiny_model_config(refine_layers=2, pitch_bins=PITCH_ROWS)).eval()
    _randomise(trained.pitch)
    grown = _harmonic_model(refine_layers=2)
    assert_exact_warm_start(trained, grown, torch.randn(2, 128 + PITCH_ROWS, 300), "harmonic.", head="onset")
    assert grown.harmonic.out.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("subharmonics, low", [(0, 1), (3, 25)])
def test_a_semitone_up_in_the_input_is_one_key_up_in_the_output(subharmonics, low):
    # The weights are shared across keys: moving the pitch rows up by one semitone (two rows)
    # moves every correction up one key, wherever the key's partials and the 3x3 conv's
    # border stay inside the rows (keys low..59 here: the 8th partial is 72 rows up, f/4 is
    # 48 rows down).
    torch.manual_seed(0)
    model = _harmonic_model(subharmonics=subharmonics)
    _randomise(model.harmonic)
    pitch = torch.randn(1, PITCH_ROWS, 50)
    shifted = torch.roll(pitch, 2, dims=1)
    with torch.no_grad():
        a, b = model.harmonic(pitch), model.harmonic(shifted)
    assert a.shape == (1, 50, 88, len(model.heads))
    torch.testing.assert_close(b[:, :, low + 1:61], a[:, :, low:60])
    assert (a[:, :, low:60] - a[:, :, low + 1:61]).abs().max() > 1e-3  # and not because it is flat


def test_warm_start_adds_the_subharmonics_without_changing_outputs():
    torch.manual_seed(0)
    trained = _harmonic_model(refine_layers=2)
    _randomise(trained.harmonic)
    grown = _harmonic_model(refine_layers=2, subharmonics=3)
    assert_exact_warm_start(trained, grown, torch.randn(2, 128 + PITCH_ROWS, 300), "harmonic.sub_mix.", head="onset")
    assert grown.harmonic.sub_mix.weight.grad.abs().sum() > 0


def test_a_key_reads_the_octave_below_and_nothing_past_the_bottom():
    model = _harmonic_model(harmonic_channels=1, subharmonics=2)
    with torch.no_grad():
        for p in model.harmonic.parameters():
            p.zero_()
        model.harmonic.conv.weight[0, 0, 1, 1] = 1.0
        model.harmonic.sub_mix.weight[:, 0, 0, 0] = 1.0  # f/2 only; the partials read nothing
        model.harmonic.out.weight[:, 0, 0, 0] = 1.0
    pitch = torch.zeros(1, PITCH_ROWS, 5)
    key = 30
    pitch[0, 2 * key - 24] = 1.0  # an octave below key 30 = key 18's fundamental
    with torch.no_grad():
        out = model.harmonic(pitch)[0, 2, :, 0]
    assert int(out.argmax()) == key and float(out[key]) > 0
    assert float(out.abs().sum() - out[key].abs()) < 1e-6
    with torch.no_grad():  # every row lit: keys whose octave below is under A0 read zeros
        out = model.harmonic(torch.ones(1, PITCH_ROWS, 5))[0, 2, :, 0]
    assert float(out[:12].abs().max()) == 0.0 and float(out[12:60].min()) > 0


def test_a_key_reads_its_partials_and_nothing_between_them():
    model = _harmonic_model(harmonic_channels=1)
    with torch.no_grad():
        for p in model.harmonic.parameters():
            p.zero_()
        model.harmonic.conv.weight[0, 0, 1, 1] = 1.0  # the conv passes each row through
        model.harmonic.mix.weight[:, 2, 0, 0] = 1.0  # the mix reads the 3rd partial only
        model.harmonic.out.weight[:, 0, 0, 0] = 1.0
    pitch = torch.zeros(1, PITCH_ROWS, 5)
    key = 30  # MIDI 51; its 3rd partial is 19 semitones up (round(24 log2 3) = 38 rows)
    pitch[0, 2 * key + 38] = 1.0
    with torch.no_grad():
        out = model.harmonic(pitch)[0, 2, :, 0]
    assert int(out.argmax()) == key and float(out[key]) > 0
    assert float(out.abs().sum() - out[key].abs()) < 1e-6


def test_the_branch_needs_the_pitch_rows_on_its_grid():
    with pytest.raises(ConfigError, match="needs the pitch rows"):
        tiny_model_config(harmonics=8)
    with pytest.raises(ConfigError, match="harmonics must be >= 0"):
        tiny_model_config(pitch_bins=PITCH_ROWS, harmonics=-1)
    with pytest.raises(ConfigError, match="subharmonics must be >= 0 and needs the harmonic branch"):
        tiny_model_config(pitch_bins=PITCH_ROWS, subharmonics=2)
    model_config = tiny_model_config(pitch_bins=PITCH_ROWS, harmonics=8)
    check_compatible(DataConfig(pitch_bins_per_semitone=2), model_config)
    rows_at_three = len(pitch_bin_midis(SR, 3))
    with pytest.raises(ConfigError, match="harmonic_bins_per_semitone=2"):
        check_compatible(DataConfig(pitch_bins_per_semitone=3),
                         tiny_model_config(pitch_bins=rows_at_three, harmonics=8))


@pytest.mark.parametrize("subharmonics", [0, 3])
def test_chunked_probabilities_equal_whole_file_with_the_harmonic_branch(subharmonics):
    torch.manual_seed(0)
    model = _harmonic_model(refine_layers=3, subharmonics=subharmonics)
    _randomise(model.pitch)
    _randomise(model.harmonic, seed=2)
    model.data_config = DataConfig(pitch_bins_per_semitone=2)
    audio = np.random.default_rng(0).normal(0, 0.1, int(SR * 9.0)).astype(np.float32)
    assert_chunked_equals_whole(model, audio, SR)


@pytest.mark.parametrize("frames", [3, 256, 257, 700])
def test_the_branch_in_spans_equals_the_branch_in_one_piece(frames, monkeypatch):
    torch.manual_seed(0)
    model = _harmonic_model(subharmonics=3)
    _randomise(model.harmonic)
    pitch = torch.randn(2, PITCH_ROWS, frames)
    with torch.no_grad():
        spans = model.harmonic(pitch)
        monkeypatch.setattr(type(model.harmonic), "CHUNK_FRAMES", 10**9)
        whole = model.harmonic(pitch)
    assert spans.shape == (2, frames, 88, len(model.heads))
    torch.testing.assert_close(spans, whole)


def _reference_branch(branch, pitch: torch.Tensor) -> torch.Tensor:
    """The branch as its docstring says, with its own conv modules: gather every key's partial
    rows (harmonic-major, input channel ``c * partials + p``) and apply the 1x1 convs."""
    nn = torch.nn
    config_rows = branch.rows.view(branch.keys, branch.harmonics).T.flatten()
    sub_rows = branch.sub_rows.view(branch.keys, branch.subharmonics).T.flatten()
    x = nn.functional.pad(nn.functional.gelu(branch.conv(pitch.unsqueeze(1))), (0, 0, 0, 1))
    b, c, _, t = x.shape
    hidden = branch.mix(x.index_select(2, config_rows).reshape(b, c * branch.harmonics, branch.keys, t))
    hidden = hidden + branch.sub_mix(x.index_select(2, sub_rows).reshape(b, c * branch.subharmonics, branch.keys, t))
    return branch.out(nn.functional.gelu(hidden)).permute(0, 3, 2, 1)


def test_channels_last_matrix_products_equal_the_1x1_convolutions():
    model = _harmonic_model(harmonic_channels=3, subharmonics=3)
    _randomise(model.harmonic, seed=4)
    pitch = torch.randn(2, PITCH_ROWS, 700)  # longer than a span: the spans are stitched too
    with torch.no_grad():
        ours, ref = model.harmonic(pitch), _reference_branch(model.harmonic, pitch)
    assert ours.shape == (2, 700, 88, len(model.heads))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
