"""sound2sheet.data.transpose: a recording read faster sounds higher, and its labels move with it."""

import numpy as np
import pytest
import soundfile as sf

from sound2sheet.cli import main
from sound2sheet.data.inspect import validate
from sound2sheet.data.manifest import ManifestItem, read_manifest, write_manifest
from sound2sheet.data.transpose import choose_shift, fitting_shifts, shift_ratio, transpose_audio, transpose_dataset, transpose_labels
from sound2sheet.errors import DatasetError
from sound2sheet.midi import notes_to_pretty_midi, read_midi_labels
from sound2sheet.notes import NoteEvent

SR = 16000


def _tone(freq: float, start: float, end: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t) * ((t >= start) & (t < end))).astype(np.float32)


def _write_item(root, name: str, pitch: int, start: float = 1.0, end: float = 1.5, seconds: float = 3.0,
                pedal=((0.5, 2.0),)) -> ManifestItem:
    freq = 440.0 * 2 ** ((pitch - 69) / 12)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "midi").mkdir(parents=True, exist_ok=True)
    sf.write(root / "audio" / f"{name}.flac", _tone(freq, start, end, seconds), SR)
    notes_to_pretty_midi([NoteEvent(pitch, start, end, 90)], pedal=list(pedal)).write(str(root / "midi" / f"{name}.mid"))
    return ManifestItem(audio=f"audio/{name}.flac", midi=f"midi/{name}.mid", piece=name, timbre="Sine", duration=seconds)


def test_audio_read_faster_sounds_higher_and_starts_earlier():
    audio = _tone(440.0, 1.0, 1.5, 3.0)
    up = transpose_audio(audio, SR, 2)
    r = shift_ratio(2)
    assert len(up) == pytest.approx(len(audio) / r, abs=2)
    loud = np.flatnonzero(np.abs(up) > 0.1)
    assert loud[0] / SR == pytest.approx(1.0 / r, abs=0.005) and loud[-1] / SR == pytest.approx(1.5 / r, abs=0.005)
    segment = up[loud[0]:loud[-1]]
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
    peak_hz = np.argmax(spectrum) * SR / len(segment)
    assert peak_hz == pytest.approx(440.0 * 2 ** (2 / 12), abs=3.0)  # B4, 493.9 Hz


def test_labels_move_with_the_audio():
    notes, pedal = transpose_labels([NoteEvent(69, 1.0, 1.5, 90)], [(0.5, 2.0)], -3)
    r = shift_ratio(-3)
    assert notes[0].pitch == 66 and notes[0].velocity == 90
    assert notes[0].onset == pytest.approx(1.0 / r) and notes[0].offset == pytest.approx(1.5 / r)
    assert pedal == [pytest.approx((0.5 / r, 2.0 / r))]


def test_only_shifts_that_keep_the_notes_on_the_keyboard_are_drawn():
    assert fitting_shifts([21, 100], [-2, -1, 1, 2]) == [1, 2]
    assert fitting_shifts([22, 108], [-2, -1, 1, 2]) == [-1]
    assert fitting_shifts([21, 108], [-1, 1]) == []
    assert fitting_shifts([], [-1, 1]) == [-1, 1]
    assert choose_shift("a", [60], [-2, -1, 1, 2], seed=0) == choose_shift("a", [60], [-2, -1, 1, 2], seed=0)
    drawn = {choose_shift(f"item{i}", [60], [-2, -1, 1, 2], seed=0) for i in range(40)}
    assert drawn == {-2, -1, 1, 2}
    assert choose_shift("a", [21, 108], [-1, 1], seed=0) is None


def test_transposed_dataset_is_valid_resumable_and_skips_what_cannot_move(tmp_path):
    src = tmp_path / "src"
    train = [_write_item(src, "low", 60), _write_item(src, "top", 107)]
    write_manifest(src, "train", train)
    write_manifest(src, "val", [_write_item(src, "val", 64)])
    out = tmp_path / "out"
    info = transpose_dataset([src], out, shifts=[3])
    assert info["skipped"] == ["top"]  # 107 + 3 is off the keyboard
    items = read_manifest(out, "train")
    assert [i.id for i in items] == ["low--+3st"] and read_manifest(out, "val") == []
    item, r = items[0], shift_ratio(3)
    assert item.piece == "low" and item.timbre == "Sine+3st" and item.extra["transpose_semitones"] == 3
    notes, pedal = read_midi_labels(out / item.midi, sustain_pedal=False)
    assert [n.pitch for n in notes] == [63]
    assert notes[0].onset == pytest.approx(1.0 / r, abs=1e-3) and notes[0].offset == pytest.approx(1.5 / r, abs=1e-3)
    assert pedal == [pytest.approx((0.5 / r, 2.0 / r), abs=1e-3)]
    assert item.duration == pytest.approx(sf.info(str(out / item.audio)).duration, abs=1e-3)
    assert validate(out) == []
    stamp = (out / item.audio).stat().st_mtime_ns
    again = transpose_dataset([src], out, shifts=[3])  # resumed: files there are kept
    assert (out / item.audio).stat().st_mtime_ns == stamp and again["total"] == info["total"]


def test_bad_input_is_one_line_error(tmp_path, capsys):
    with pytest.raises(DatasetError, match="non-zero"):
        transpose_dataset([tmp_path], tmp_path / "out", shifts=[0, 1])
    with pytest.raises(DatasetError, match="not a dataset"):
        transpose_dataset([tmp_path], tmp_path / "out")
    assert main(["transpose-dataset", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sound2sheet: error:") and "\n" not in err
