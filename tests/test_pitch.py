"""The pitch spectrum and pitch branch: fine frequency beside AST's fbank, frame for frame."""

import numpy as np
import pytest
import torch

from sound2sheet.core import AudioProcessor
from sound2sheet.core.features import KaldiFbank, PitchSpectrum, pitch_bin_midis
from sound2sheet.errors import ConfigError
from sound2sheet.model import DataConfig, InferenceConfig, ModelConfig, Sound2SheetModel, Trainer
from sound2sheet.model.config import check_compatible
from sound2sheet.model.dataset import PianoDataset, collate_batch, create_dataloaders
from sound2sheet.model.feature_augment import random_mel_eq

from .conftest import tiny_model_config, training_config
from .test_refiner import _randomise, _Recorder, assert_chunked_equals_whole, assert_exact_warm_start

SR = 16000
PITCH_ROWS = len(pitch_bin_midis(SR, 2))


def _sine(midi: float, seconds: float = 2.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return (amp * np.sin(2 * np.pi * 440.0 * 2 ** ((midi - 69) / 12) * t)).astype(np.float32)


def test_rows_cover_the_keyboard_in_half_semitones():
    midis = pitch_bin_midis(SR, 2)
    assert midis[0] == 21 and np.allclose(np.diff(midis), 0.5)
    assert 108 <= midis[-1] and 440 * 2 ** ((midis[-1] - 69) / 12) < 0.95 * SR / 2
    assert DataConfig(pitch_bins_per_semitone=2).n_pitch_bins == len(midis) == 195
    assert DataConfig().n_pitch_bins == 0


@pytest.mark.parametrize("midi", [40, 45, 52, 60, 71, 84, 100])
def test_a_tone_peaks_on_its_own_row_where_the_fbank_cannot_tell_semitones_apart(midi):
    spec = PitchSpectrum(SR, 2)(torch.from_numpy(_sine(midi)))
    peak = pitch_bin_midis(SR, 2)[spec[100].argmax()]
    assert abs(peak - midi) <= (0.5 if midi < 45 else 0.0)
    if midi in (52, 60):  # a semitone apart: the fbank's rows are nearly the same, the pitch rows are not
        fb = KaldiFbank()
        a, b = fb(torch.from_numpy(_sine(midi)))[100], fb(torch.from_numpy(_sine(midi + 1)))[100]
        assert a.argmax() == b.argmax()
        pa, pb = spec[100], PitchSpectrum(SR, 2)(torch.from_numpy(_sine(midi + 1)))[100]
        assert pa.argmax() != pb.argmax()


@pytest.mark.parametrize("samples", [399, 400, 401, 2047, 2048, 16000, 33333])
def test_as_many_frames_as_the_fbank(samples):
    audio = torch.from_numpy(np.random.default_rng(0).normal(0, 0.1, samples).astype(np.float32))
    assert PitchSpectrum(SR, 2)(audio).shape == (KaldiFbank()(audio).shape[0], PITCH_ROWS)


def test_the_sparse_bank_gives_the_dense_banks_sums():
    """Frame by frame in numpy (float64): Hann-windowed 2048-point power spectrum through the
    dense bank, then the log; the fast path (sparse bank, squared parts) must agree."""
    audio = np.random.default_rng(1).normal(0, 0.1, SR * 3).astype(np.float32)
    audio[SR:SR + 400] = 0.0  # a near-silent stretch: the floor must hold there too
    spec = PitchSpectrum(SR, 2)
    ours = spec(torch.from_numpy(audio)).numpy()
    left = 2048 // 2 - 400 // 2
    padded = np.pad(audio.astype(np.float64), (left, 2048))
    window, bank = spec.window.double().numpy(), spec.bank.double().numpy()
    for f in (0, 1, 99, 100, 250):
        power = np.abs(np.fft.rfft(padded[f * 160:f * 160 + 2048] * window)) ** 2
        np.testing.assert_allclose(ours[f], np.log(np.maximum(power @ bank, 1e-10)), atol=1e-4)


def test_frames_are_centred_where_the_fbanks_are():
    audio = np.zeros(SR * 2, dtype=np.float32)
    # fbank frame f covers samples [160 f, 160 f + 400): frame 50 is centred at 8199.5
    audio[8199] = audio[8200] = 0.5
    spec = PitchSpectrum(SR, 2)(torch.from_numpy(audio)).sum(dim=1)
    assert int(spec.argmax()) == 50
    assert torch.allclose(spec[49], spec[51])  # symmetric about it


def test_features_are_mel_then_pitch_and_pad_with_silence():
    audio = _sine(60, 1.0)
    plain = AudioProcessor()
    proc = AudioProcessor.from_config(DataConfig(pitch_bins_per_semitone=2))
    feats = proc.features(audio)
    assert feats.shape == (128 + PITCH_ROWS, plain.to_mel_spectrogram(audio).shape[1])
    np.testing.assert_array_equal(feats[:128], plain.to_mel_spectrogram(audio))
    np.testing.assert_array_equal(proc.to_mel_spectrogram(audio), feats[:128])  # the public API is unchanged
    np.testing.assert_array_equal(plain.features(audio), plain.to_mel_spectrogram(audio))
    silence = proc.features(np.zeros(SR, dtype=np.float32))
    np.testing.assert_allclose(silence[128:], np.broadcast_to(proc.feature_padding[128:, None], silence[128:].shape), atol=1e-6)
    assert proc.feature_padding[0] == plain.padding_value


def test_eq_moves_pitch_rows_by_their_frequency():
    proc = AudioProcessor.from_config(DataConfig(pitch_bins_per_semitone=2))
    feats = np.zeros((10, proc.n_features), dtype=np.float32)
    out = random_mel_eq(feats, np.random.default_rng(3), 6.0, 0.0, proc.feature_units_per_db, proc.feature_positions)
    db = out[0] / proc.feature_units_per_db
    pos = proc.feature_positions
    # a pitch row gets the curve's value at its place on the mel axis, as a mel row there does
    for row in (128 + 30, 128 + 120, 128 + 190):
        near = np.argmin(np.abs(pos[:128] - pos[row]))
        assert abs(db[row] - db[near]) < 0.6
    # a mel-only processor gets exactly the old per-bin curve
    plain = AudioProcessor()
    a = random_mel_eq(feats[:, :128], np.random.default_rng(3), 6.0, 2.0, plain.units_per_db)
    b = random_mel_eq(feats[:, :128], np.random.default_rng(3), 6.0, 2.0, plain.feature_units_per_db, plain.feature_positions)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_configs_must_agree_on_the_pitch_rows():
    check_compatible(DataConfig(pitch_bins_per_semitone=2), tiny_model_config(pitch_bins=PITCH_ROWS))
    with pytest.raises(ConfigError, match="pitch_bins=0"):
        check_compatible(DataConfig(pitch_bins_per_semitone=2), tiny_model_config())
    with pytest.raises(ConfigError, match="gives 0 pitch rows"):
        check_compatible(DataConfig(), tiny_model_config(pitch_bins=PITCH_ROWS))
    with pytest.raises(ConfigError):
        DataConfig(pitch_bins_per_semitone=-1)


def test_warm_start_adds_the_pitch_branch_without_changing_outputs():
    torch.manual_seed(0)
    trained = Sound2SheetModel(tiny_model_config(refine_layers=2)).eval()
    grown = Sound2SheetModel(tiny_model_config(refine_layers=2, pitch_bins=PITCH_ROWS)).eval()
    mel, pitch = torch.randn(2, 128, 300), torch.randn(2, PITCH_ROWS, 300)
    assert_exact_warm_start(trained, grown, torch.cat([mel, pitch], dim=1), "pitch.", trained_x=mel, head="onset")
    assert grown.pitch.out.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="AudioProcessor.features"):
        grown.forward_heads(mel)  # the mel alone is not what this model reads


def test_pitch_rows_change_the_output_once_trained():
    torch.manual_seed(0)
    model = Sound2SheetModel(tiny_model_config(pitch_bins=PITCH_ROWS)).eval()
    _randomise(model.pitch)
    mel = torch.randn(1, 128, 200)
    with torch.no_grad():
        a = model.forward_heads(torch.cat([mel, torch.zeros(1, PITCH_ROWS, 200)], dim=1))["frame"]
        b = model.forward_heads(torch.cat([mel, torch.ones(1, PITCH_ROWS, 200)], dim=1))["frame"]
    assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("seconds", [2.0, 9.0, 11.7])
def test_chunked_probabilities_equal_whole_file_with_the_pitch_branch(seconds):
    # the 128 ms pitch window reaches 6 frames past a chunk's edge: inside the context
    torch.manual_seed(0)
    model = Sound2SheetModel(tiny_model_config(refine_layers=3, pitch_bins=PITCH_ROWS)).eval()
    _randomise(model.pitch)
    _randomise(model.classifier.refiner, seed=1)
    model.data_config = DataConfig(pitch_bins_per_semitone=2)
    audio = np.random.default_rng(0).normal(0, 0.1, int(SR * seconds)).astype(np.float32)
    assert_chunked_equals_whole(model, audio, SR)


def test_dataset_serves_pitch_rows_and_pads_each_row_with_its_silence(small_dataset, tmp_path):
    dc = DataConfig(dataset_dir=small_dataset, crop_seconds=1.28, pitch_bins_per_semitone=2, cache_dir=str(tmp_path))
    ds = PianoDataset(dc, "train", crop_frames=4000)  # longer than any clip: padded
    item = ds[0]
    pad = ds.cache.processor.feature_padding
    assert item["mel"].shape == (128 + PITCH_ROWS, 4000)
    np.testing.assert_allclose(item["mel"][:, -1].numpy(), pad)
    short = dict(item, mel=item["mel"][:, :100], piano_roll=item["piano_roll"][:100], onset_roll=item["onset_roll"][:100],
                 velocity_roll=item["velocity_roll"][:100])
    batch = collate_batch([item, short], pad)
    np.testing.assert_allclose(batch["mel"][1, :, 150].numpy(), pad)


def test_trainer_warm_starts_a_pitch_model_and_trains_it(small_dataset, tmp_path):
    plain_config = tiny_model_config()
    dc = DataConfig(dataset_dir=small_dataset, crop_seconds=1.28)
    tc = training_config(tmp_path / "plain", num_epochs=1, max_steps=2)
    train, val, _ = create_dataloaders(dc, plain_config, tc)
    Trainer(Sound2SheetModel(plain_config), train, val, plain_config, tc, dc).train()

    grown_config = tiny_model_config(pitch_bins=PITCH_ROWS)
    dc = DataConfig(dataset_dir=small_dataset, crop_seconds=1.28, pitch_bins_per_semitone=2)
    tc = training_config(tmp_path / "grown", num_epochs=1, max_steps=3, init_from=str(tmp_path / "plain" / "last.pt"))
    train, val, _ = create_dataloaders(dc, grown_config, tc)
    model = Sound2SheetModel(grown_config)
    Trainer(model, train, val, grown_config, tc, dc).train()
    assert model.pitch.out.weight.abs().sum() > 0
    reloaded = Sound2SheetModel.from_pretrained(tmp_path / "grown" / "last.pt")
    assert reloaded.data_config.pitch_bins_per_semitone == 2 and reloaded.config.pitch_bins == PITCH_ROWS


def test_a_context_too_small_for_the_model_is_warned_about(caplog):
    model = Sound2SheetModel(tiny_model_config(refine_layers=3, pitch_bins=PITCH_ROWS)).eval()
    model.data_config = DataConfig(pitch_bins_per_semitone=2)
    needed = model.encoder.overlap + model.config.refine_radius_frames + 6 + 16  # 1024-200 samples = 6 frames
    with caplog.at_level("WARNING", logger="sound2sheet.inference"):
        assert _Recorder(model, InferenceConfig()).context >= needed
        assert not caplog.records
        _Recorder(model, InferenceConfig(), context_frames=needed - 1)
    assert "context_frames" in caplog.text
