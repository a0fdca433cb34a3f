"""The chain learns: a tiny model trained through the real pipeline reproduces its clips' notes,
and a note at 3.27 s comes out at 3.27 s in a clip shorter (5 s) and one longer (25 s) than
the encoder window (5.12 s here)."""

import numpy as np
import pytest

from sound2sheet.core import AudioProcessor
from sound2sheet.metrics import note_scores
from sound2sheet.midi import read_midi_notes
from sound2sheet.model import InferenceConfig
from tests.conftest import LONG, SHORT  # noqa: F401  (the clips the `trained` fixture learns)


def _transcribe(model, audio_path):
    proc = AudioProcessor.from_config(model.data_config)
    mel = proc.to_mel_spectrogram(proc.load_audio(audio_path))
    probs = model.probabilities(mel)
    return probs, model.decode(probs, InferenceConfig())[0]


@pytest.mark.parametrize("name", ["short", "long"])
def test_tiny_model_reproduces_the_notes(trained, name):
    model, data, history = trained
    _, notes = _transcribe(model, data / "audio" / f"{name}.flac")
    reference = read_midi_notes(data / "midi" / f"{name}.mid")
    scores = note_scores(reference, notes)
    assert scores["note_onset_f1"] >= 0.9, (scores, history[-1])


@pytest.mark.parametrize("name,times", [("short", [3.27]), ("long", [3.27, 23.27])])
def test_note_at_3_27s_comes_out_at_3_27s(trained, name, times):
    model, data, _ = trained
    probs, notes = _transcribe(model, data / "audio" / f"{name}.flac")
    reference = read_midi_notes(data / "midi" / f"{name}.mid")
    for t in times:
        (ref,) = [n for n in reference if abs(n.onset - t) < 1e-3]
        key = ref.pitch - 21
        # the model's output frames: the onset probability peaks on frame 327 (+-1)
        window = slice(round(t * 100) - 20, round(t * 100) + 20)
        peak = window.start + int(np.argmax(probs["onset"][0, window, key]))
        assert abs(peak - round(t * 100)) <= 1
        # the decoded event
        (est,) = [n for n in notes if n.pitch == ref.pitch and abs(n.onset - t) < 0.1]
        assert abs(est.onset - t) <= 0.0101
