"""The chain learns: a tiny model trained through the real pipeline reproduces its clips' notes,
and a note at 3.27 s comes out at 3.27 s in a clip shorter (5 s) and one longer (25 s) than
the encoder window (5.12 s here)."""

import numpy as np
import pytest
import torch

from sound2sheet.core import AudioProcessor
from sound2sheet.metrics import note_scores
from sound2sheet.midi import read_midi_notes
from sound2sheet.model import DataConfig, InferenceConfig, Sound2SheetModel, Trainer
from sound2sheet.model.dataset import create_dataloaders
from sound2sheet.notes import NoteEvent
from tests.conftest import tiny_model_config, training_config, write_dataset

SHORT = [NoteEvent(p, t, t + 0.45, 90) for t, p in [(0.4, 60), (1.3, 64), (2.2, 67), (3.27, 72), (4.1, 55)]]
LONG_TIMES = [0.6, 1.8, 3.27, 4.5, 5.7, 6.9, 8.1, 9.3, 10.5, 11.7, 12.9, 14.1, 15.3, 16.5, 17.7, 18.9, 20.1, 21.3, 22.2, 23.27]
LONG = [NoteEvent(int(p), t, t + 0.45, 90) for t, p in zip(LONG_TIMES, np.random.default_rng(7).integers(48, 85, len(LONG_TIMES)))]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("learn")
    clips = [("short", SHORT, 5.0), ("long", LONG, 25.0)]
    write_dataset(root / "data", {"train": clips, "val": clips})
    mc = tiny_model_config(encoder_config={"max_length": 512})  # 5.12 s window: 5 s fits, 25 s takes 6
    dc = DataConfig(dataset_dir=root / "data", crop_seconds=2.56)
    tc = training_config(root / "ckpt", num_epochs=150, batch_size=4, learning_rate=3e-3, lr_schedule="constant",
                         onset_pos_weight=20.0)
    train, val, _ = create_dataloaders(dc, mc, tc)
    torch.manual_seed(0)
    model = Sound2SheetModel(mc)
    history = Trainer(model, train, val, mc, tc, dc).train()
    return Sound2SheetModel.from_pretrained(root / "ckpt" / "best_model.pt"), root / "data", history


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
