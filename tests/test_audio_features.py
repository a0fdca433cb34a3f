import numpy as np
import pytest
import soundfile as sf

from sound2sheet.core import AudioProcessor
from sound2sheet.errors import AudioError


def _tone(freq: float, seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_mel_matches_ast_feature_extractor():
    from transformers import ASTFeatureExtractor

    rng = np.random.default_rng(0)
    audio = _tone(440.0, 6.0, 16000) + 0.05 * rng.standard_normal(96000).astype(np.float32)
    audio[:16000] = 0.0  # silence too: exercises the mel floor
    ours = AudioProcessor().to_mel_spectrogram(audio)
    ref = ASTFeatureExtractor()(audio, sampling_rate=16000, return_tensors="np")["input_values"][0]
    assert ours.shape == (128, 598) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref[: ours.shape[1]].T, atol=1e-4)
    assert AudioProcessor().padding_value == pytest.approx(float(ref[-1, 0]))  # what it pads short clips with


def test_mel_of_long_audio_is_chunked_consistently():
    p = AudioProcessor()
    audio = np.random.default_rng(1).standard_normal(16000 * 130).astype(np.float32) * 0.1  # > one 10000-frame chunk
    full = p.to_mel_spectrogram(audio)
    head = p.to_mel_spectrogram(audio[: 16000 * 20])
    assert full.shape[1] == 1 + (audio.size - 400) // 160
    np.testing.assert_allclose(full[:, : head.shape[1]], head, atol=1e-5)


@pytest.mark.parametrize("fmt,ext", [("WAV", ".wav"), ("FLAC", ".flac"), ("OGG", ".ogg")])
@pytest.mark.parametrize("sr,channels", [(44100, 2), (8000, 1), (96000, 6)])
def test_load_audio_any_format_rate_and_channels(tmp_path, fmt, ext, sr, channels):
    tone = _tone(440.0, 1.5, sr)
    data = np.stack([tone] * channels, axis=1)
    path = tmp_path / f"a{ext}"
    sf.write(path, data, sr, format=fmt)
    audio = AudioProcessor().load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 1.5 * 16000) <= 2
    spectrum = np.abs(np.fft.rfft(audio[2000:-2000]))
    peak_hz = np.argmax(spectrum) * 16000 / (audio.size - 4000)
    assert abs(peak_hz - 440.0) < 3.0  # resampled, not just relabelled


def test_load_audio_errors_are_one_line(tmp_path):
    p = AudioProcessor()
    with pytest.raises(AudioError, match="not found"):
        p.load_audio(tmp_path / "missing.wav")
    fake = tmp_path / "text.wav"
    fake.write_text("not audio at all")
    with pytest.raises(AudioError, match="cannot read audio file"):
        p.load_audio(fake)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="no samples"):
        p.load_audio(empty)


def test_non_finite_samples_become_silence(tmp_path):
    audio = _tone(440.0, 1.0, 16000)
    audio[100:200] = np.nan
    audio[300] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, audio, 16000, subtype="FLOAT")
    loaded = AudioProcessor().load_audio(path)
    assert np.isfinite(loaded).all() and np.all(loaded[100:200] == 0)
    assert np.isfinite(AudioProcessor().to_mel_spectrogram(audio)).all()
