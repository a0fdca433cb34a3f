"""`sound2sheet demo`: the bundled example, every output format, and the shipped model."""

import json

import music21
import pytest

from sound2sheet.cli import main as cli_main
from sound2sheet.commands.demo import example_paths
from sound2sheet.midi import read_midi_notes


def test_bundled_example_is_a_held_out_piece_with_ground_truth():
    import soundfile as sf

    audio, midi = example_paths()
    info = sf.info(str(audio))
    notes = read_midi_notes(midi)
    assert info.samplerate == 16000 and 19.5 < info.duration <= 20.0
    assert len(notes) > 100 and max(n.onset for n in notes) < info.duration


def test_demo_writes_every_format_with_a_given_checkpoint(trained, tmp_path, capsys):
    _, data, _ = trained
    out = tmp_path / "demo"
    assert cli_main(["demo", "--out", str(out), "--checkpoint", str(data.parent / "ckpt" / "best_model.pt")]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["example.json", "example.mid", "example.musicxml", "example.png"]
    text = capsys.readouterr().out
    assert "note-onset F1" in text and "notes in 20.0 s of audio" in text
    payload = json.loads((out / "example.json").read_text())
    midi_notes = read_midi_notes(out / "example.mid", sustain_pedal=False)
    assert len(payload["notes"]) == len(midi_notes)
    score = music21.converter.parse(str(out / "example.musicxml"))
    assert len(score.flatten().notes) > 0 or not midi_notes


def test_shipped_model_transcribes_the_example():
    from sound2sheet.inference import default_checkpoint
    from sound2sheet.errors import CheckpointError

    try:
        default_checkpoint()
    except CheckpointError:
        pytest.skip("no shipped model in this installation")
    import sound2sheet
    from sound2sheet.metrics import note_scores

    audio, midi = example_paths()
    notes = sound2sheet.transcribe(audio)
    # The shipped model's measured score on this held-out excerpt is in docs/model.md; this
    # bar is far below it and far above what an untrained or broken model reaches (~0).
    assert note_scores(read_midi_notes(midi), notes)["note_onset_f1"] >= SHIPPED_MIN_ONSET_F1


SHIPPED_MIN_ONSET_F1 = 0.55  # measured 0.747 for the stage-7 model (stage 5: 0.752) (docs/model.md; the first model: 0.568)
