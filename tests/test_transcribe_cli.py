"""sound2sheet transcribe: outputs, round trips, overwrite protection, bad files in a batch."""

import json
import shutil

import pytest

from sound2sheet.cli import main as cli_main
from sound2sheet.export import read_json, write_json, write_midi
from sound2sheet.midi import read_midi_notes
from sound2sheet.notes import NoteEvent


def _checkpoint(trained):
    _, data, _ = trained
    return data.parent / "ckpt" / "best_model.pt"


def test_round_trips_are_exact(tmp_path):
    # decoded notes sit on the 10 ms frame grid
    notes = [NoteEvent(60, 0.5, 0.93, 64, 0.9), NoteEvent(21, 0.0, 12.34, 1, 0.51), NoteEvent(108, 7.77, 7.8, 127, None)]
    write_json(notes, tmp_path / "n.json", {"model": "x"})
    assert read_json(tmp_path / "n.json") == notes
    write_midi(notes, tmp_path / "n.mid")
    back = read_midi_notes(tmp_path / "n.mid", sustain_pedal=False)
    key = lambda n: (n.onset, n.pitch)
    assert [(n.pitch, round(n.onset, 9), round(n.offset, 9), n.velocity) for n in sorted(back, key=key)] == [
        (n.pitch, n.onset, n.offset, n.velocity) for n in sorted(notes, key=key)]


def test_transcribe_writes_every_format_and_refuses_to_overwrite(trained, tmp_path, capsys):
    _, data, _ = trained
    out = tmp_path / "out"
    args = ["transcribe", str(data / "audio" / "short.flac"), "-o", str(out), "--checkpoint", str(_checkpoint(trained)),
            "--format", "mid,json,png"]
    assert cli_main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["short.json", "short.mid", "short.png"]
    payload = json.loads((out / "short.json").read_text())
    assert payload["metadata"]["audio_seconds"] == pytest.approx(5.0, abs=0.01) and "sound2sheet_version" in payload["metadata"]
    assert {"pitch", "onset", "offset", "onset_ms", "offset_ms", "velocity", "confidence"} <= set(payload["notes"][0])
    assert [(n.pitch, round(n.onset, 9)) for n in read_midi_notes(out / "short.mid", sustain_pedal=False)] == [
        (n["pitch"], n["onset"]) for n in payload["notes"]]
    before = (out / "short.mid").read_bytes()
    capsys.readouterr()
    assert cli_main(args) == 1
    assert "already exist (use --overwrite)" in capsys.readouterr().err
    assert (out / "short.mid").read_bytes() == before
    assert cli_main(args + ["--overwrite"]) == 0


def test_musicxml_tempo_is_estimated_or_given(trained, tmp_path):
    from music21 import converter, tempo

    _, data, _ = trained
    base = ["transcribe", str(data / "audio" / "short.flac"), "--checkpoint", str(_checkpoint(trained)), "--format", "musicxml"]
    marks = {}
    for name, extra in (("estimated", []), ("given", ["--bpm", "73"])):
        assert cli_main(base + ["-o", str(tmp_path / name)] + extra) == 0
        score = converter.parse(str(tmp_path / name / "short.musicxml"))
        marks[name] = [m.number for m in score.recurse().getElementsByClass(tempo.MetronomeMark)]
    assert marks["given"] and set(marks["given"]) == {73}
    assert marks["estimated"] and 73 not in marks["estimated"]


def test_a_corrupt_file_in_a_batch_does_not_stop_the_rest(trained, tmp_path, capsys):
    _, data, _ = trained
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(data / "audio" / "short.flac", batch / "good.flac")
    (batch / "broken.wav").write_text("this is not audio")
    (batch / "empty.flac").write_bytes(b"")
    out = tmp_path / "out"
    assert cli_main(["transcribe", str(batch), "-o", str(out), "--checkpoint", str(_checkpoint(trained))]) == 1
    err = capsys.readouterr().err
    assert "broken.wav" in err and "empty.flac" in err and "2 of 3 file(s) failed" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["good.json", "good.mid"]


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert cli_main(["transcribe", str(tmp_path), "--format", "mp3"]) == 2
    assert "unknown --format mp3" in capsys.readouterr().err
    assert cli_main(["transcribe", str(tmp_path)]) == 2
    assert "no audio files" in capsys.readouterr().err
    assert cli_main(["transcribe", str(tmp_path), "--bpm", "0"]) == 2
    assert "--bpm 0 is outside 10-400" in capsys.readouterr().err
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    assert cli_main(["transcribe", str(tmp_path / "a.wav"), "--checkpoint", str(tmp_path / "nope.pt")]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
