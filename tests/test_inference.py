"""Chunked, streaming transcription: same notes as a whole-file pass, bounded memory."""

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import sound2sheet
from sound2sheet.core import AudioProcessor
from sound2sheet.inference import Transcriber
from sound2sheet.metrics import note_scores
from sound2sheet.midi import read_midi_notes
from sound2sheet.model import InferenceConfig


def _whole_file_notes(model, path):
    proc = AudioProcessor.from_config(model.data_config)
    mel = proc.to_mel_spectrogram(proc.load_audio(path))
    return model.decode(model.probabilities(mel), InferenceConfig())[0]


def test_chunked_transcription_matches_a_whole_file_pass(trained):
    model, data, _ = trained
    path = data / "audio" / "long.flac"
    whole = _whole_file_notes(model, path)
    chunked = Transcriber(model, InferenceConfig(), chunk_frames=300, context_frames=256).transcribe_file(path)
    assert chunked.duration == pytest.approx(25.0, abs=0.01)
    agreement = note_scores(whole, chunked.notes)  # chunks use the whole-file window grid: same notes
    assert agreement["note_onset_f1"] == 1.0 and agreement["note_offset_f1"] == 1.0, agreement
    reference = read_midi_notes(data / "midi" / "long.mid")
    assert note_scores(reference, chunked.notes)["note_onset_f1"] >= 0.9


def test_a_note_crossing_a_chunk_border_is_one_note(trained):
    model, data, _ = trained
    reference = read_midi_notes(data / "midi" / "long.mid")
    borders = [n for n in reference if int(n.onset * 100) // 150 != int(n.offset * 100) // 150]
    assert borders  # with 150-frame chunks several notes straddle a border
    notes = Transcriber(model, InferenceConfig(), chunk_frames=150, context_frames=256).transcribe_file(data / "audio" / "long.flac").notes
    for ref in borders:
        overlapping = [n for n in notes if n.pitch == ref.pitch and n.onset < ref.offset and n.offset > ref.onset]
        assert len(overlapping) == 1, (ref, overlapping)


def test_transcribe_array_at_any_rate_and_channels(trained):
    model, data, _ = trained
    audio, sr = sf.read(str(data / "audio" / "short.flac"), dtype="float32")
    import soxr

    from_file = sound2sheet.transcribe(data / "audio" / "short.flac", model=model)
    # Same samples as a [samples, channels] array: exactly the file's notes.
    assert sound2sheet.transcribe(np.stack([audio] * 2, axis=1), sample_rate=sr, model=model) == from_file
    # At 44.1 kHz the array is resampled back to 16 kHz; the round trip alters the spectrum near
    # Nyquist, which can flip a borderline note of this tiny model, so allow one miss of five.
    # A rate handled wrongly would move or lose every note (precision ~0).
    stereo_44k = np.stack([soxr.resample(audio, sr, 44100)] * 2, axis=1)
    scores = note_scores(from_file, sound2sheet.transcribe(stereo_44k, sample_rate=44100, model=model))
    assert scores["note_onset_precision"] == 1.0 and scores["note_onset_recall"] >= 0.8, scores
    from sound2sheet.errors import AudioError

    with pytest.raises(AudioError, match="sample_rate"):
        sound2sheet.transcribe(audio, model=model)


PEAK_RSS = """
import resource, sys
from sound2sheet.inference import Transcriber, load_model
t = Transcriber(load_model(sys.argv[1]), chunk_frames=3000)
t.transcribe_file(sys.argv[2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_stays_bounded_as_files_grow(trained, tmp_path):
    model, data, _ = trained
    checkpoint = data.parent / "ckpt" / "best_model.pt"
    rng = np.random.default_rng(0)
    peaks = {}
    for minutes in (3, 12):
        path = tmp_path / f"{minutes}min.flac"
        with sf.SoundFile(str(path), "w", 16000, 1, format="FLAC") as f:
            for _ in range(minutes * 6):
                f.write((rng.standard_normal(160000) * 0.05).astype(np.float32))
        out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(checkpoint), str(path)], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        peaks[minutes] = int(out.stdout.split()[-1]) / 1024  # MiB
    assert peaks[12] < peaks[3] * 1.15 + 30, peaks  # 4x the audio, about the same memory


def test_peak_gain_brings_a_recording_to_the_target_level():
    from sound2sheet.core.audio import peak_gain

    assert peak_gain(0.09, 0.9) == pytest.approx(10.0)
    assert peak_gain(1.8, 0.9) == pytest.approx(0.5)  # too hot comes down too
    assert peak_gain(1e-4, 0.9) == pytest.approx(100.0)  # +40 dB at most: hiss is not boosted to full scale
    assert peak_gain(0.0, 0.9) == 1.0 and peak_gain(0.3, 0.0) == 1.0  # silence; normalisation off


def _features_seen(transcriber, run):
    """The feature chunks the model receives while ``run`` transcribes."""
    seen, original = [], transcriber.processor.feature_tensor

    def capture(audio):
        out = original(audio)
        seen.append(out.clone())
        return out

    transcriber.processor.feature_tensor = capture
    run()
    return seen


def test_a_quiet_recording_reaches_the_model_at_the_level_of_a_loud_one(trained, tmp_path):
    """InferenceConfig.normalize_peak: the same performance recorded 40 dB lower gives the
    model the same features, from a file (two passes) and from an array."""
    model, data, _ = trained
    audio, sr = sf.read(str(data / "audio" / "short.flac"), dtype="float32")
    quiet = tmp_path / "quiet.wav"
    sf.write(str(quiet), audio * 0.01, sr, subtype="FLOAT")

    def features(path, normalize_peak):
        t = Transcriber(model, InferenceConfig(normalize_peak=normalize_peak))
        return _features_seen(t, lambda: t.transcribe_file(path))

    loud, soft = features(data / "audio" / "short.flac", 0.9), features(quiet, 0.9)
    assert len(loud) == len(soft)
    for a, b in zip(loud, soft):
        assert np.allclose(a.numpy(), b.numpy(), atol=1e-3)
    raw_loud, raw_soft = features(data / "audio" / "short.flac", 0.0), features(quiet, 0.0)
    assert not np.allclose(raw_loud[0].numpy(), raw_soft[0].numpy(), atol=0.1)  # off: the level reaches the model
    t = Transcriber(model, InferenceConfig())
    from_file = t.transcribe_file(quiet).notes
    assert t.transcribe_array(audio * 0.01, sr).notes == from_file  # the array path normalises the same way
    loud_notes = t.transcribe_file(data / "audio" / "short.flac").notes
    assert [(n.pitch, n.onset, n.offset, n.velocity) for n in from_file] == \
        [(n.pitch, n.onset, n.offset, n.velocity) for n in loud_notes]  # float rounding aside


def test_normalize_peak_is_checked():
    from sound2sheet.errors import ConfigError

    with pytest.raises(ConfigError, match="normalize_peak"):
        InferenceConfig(normalize_peak=1.5)
