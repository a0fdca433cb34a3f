"""A corpus of bad inputs: each case gives one clear error line (non-zero exit, no traceback)
or a correct result, through the CLI and the Python API.

The model here is an *untrained* tiny one (built in seconds, never trained), so its notes are
arbitrary: "correct result" cases check what holds for any model (it runs, returns NoteEvents
inside the audio, gets the duration right, writes its outputs, keeps memory bounded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import sound2sheet
from sound2sheet.cli import main as cli_main
from sound2sheet.core import AudioProcessor
from sound2sheet.data.manifest import read_manifest
from sound2sheet.decoding import decode_notes
from sound2sheet.errors import AudioError, CheckpointError, DatasetError, MidiError
from sound2sheet.inference import Transcriber
from sound2sheet.midi import read_midi_notes, write_midi
from sound2sheet.model import DataConfig, InferenceConfig, Sound2SheetModel
from sound2sheet.model.checkpoint import load_checkpoint, load_model_weights, save_checkpoint
from sound2sheet.model.dataset import PianoDataset
from sound2sheet.notes import NoteEvent

from tests.conftest import SHORT, isolated_notes, tiny_model_config, write_dataset

SR = 16000


# --------------------------------------------------------------------------- helpers


def _payload(model: Sound2SheetModel, data_config: DataConfig | None = None) -> dict:
    """What ``Trainer.checkpoint_payload(full=False)`` stores for inference."""
    return {
        "model_state_dict": model.state_dict(),
        "model_config": model.config.to_dict(),
        "encoder_config": model.encoder.encoder_config(),
        "data_config": (data_config or DataConfig()).to_dict(),
        "inference_config": InferenceConfig().to_dict(),
    }


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = cli_main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_error_line(err: str, *needles: str) -> str:
    """The single ``sound2sheet: error:`` line of ``err``, which must hold every needle."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("sound2sheet: error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _assert_plausible(notes, duration: float) -> None:
    """What any model's transcription of ``duration`` seconds satisfies."""
    assert isinstance(notes, list) and all(isinstance(n, NoteEvent) for n in notes)
    for n in notes:
        assert 21 <= n.pitch <= 108 and 0.0 <= n.onset < n.offset <= duration + 0.05, n


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny model saved the way the Trainer saves one."""
    torch.manual_seed(0)
    model = Sound2SheetModel(tiny_model_config())
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", _payload(model))


@pytest.fixture(scope="module")
def model(checkpoint) -> Sound2SheetModel:
    return Sound2SheetModel.from_pretrained(checkpoint)


def _noise(seconds: float, rate: int = SR, channels: int = 1, level: float = 0.05, seed: int = 0) -> np.ndarray:
    shape = (int(seconds * rate), channels) if channels > 1 else (int(seconds * rate),)
    return (np.random.default_rng(seed).standard_normal(shape) * level).astype(np.float32)


# --------------------------------------------------------------------------- the audio corpus
# Each writer makes one file in ``d`` and returns its path. Expectation: ("error", text in the
# one error line) or ("ok", duration in seconds).


def _empty_file(d):
    (d / "empty.wav").write_bytes(b"")
    return d / "empty.wav"


def _zero_length(d):
    sf.write(d / "zero.wav", np.zeros(0, np.float32), SR)
    return d / "zero.wav"


def _silence(d):
    sf.write(d / "silence.wav", np.zeros(3 * SR, np.float32), SR)
    return d / "silence.wav"


def _some_nan_inf(d):
    x = _noise(3.0)
    x[1000:1100], x[5000], x[9000] = np.nan, np.inf, -np.inf
    sf.write(d / "nan.wav", x, SR, subtype="FLOAT")
    return d / "nan.wav"


def _all_nan(d):
    sf.write(d / "allnan.wav", np.full(SR, np.nan, np.float32), SR, subtype="FLOAT")
    return d / "allnan.wav"


def _clipped(d):
    sf.write(d / "clipped.wav", np.clip(_noise(3.0) * 60, -1, 1), SR, subtype="PCM_16")  # flat tops at full scale
    return d / "clipped.wav"


def _hot_float(d):
    sf.write(d / "hot.wav", _noise(2.0) * 400, SR, subtype="FLOAT")  # float samples far past +-1
    return d / "hot.wav"


def _rate_8k(d):
    sf.write(d / "8k.wav", _noise(2.0, 8000), 8000)
    return d / "8k.wav"


def _rate_96k(d):
    sf.write(d / "96k.flac", _noise(2.0, 96000), 96000)
    return d / "96k.flac"


def _six_channels(d):
    sf.write(d / "6ch.wav", _noise(2.0, channels=6), SR)
    return d / "6ch.wav"


def _truncated_flac(d):
    sf.write(d / "whole.flac", _noise(10.0), SR)
    data = (d / "whole.flac").read_bytes()
    (d / "truncated.flac").write_bytes(data[: len(data) // 2])
    (d / "whole.flac").unlink()
    return d / "truncated.flac"


def _text_named_wav(d):
    (d / "notes.wav").write_text("this is a text file, not audio\n")
    return d / "notes.wav"


def _missing(d):
    return d / "absent.wav"


AUDIO_CORPUS = [
    ("empty file", _empty_file, ("error", "cannot read audio file")),
    ("zero-length audio", _zero_length, ("error", "has no samples")),
    ("digital silence", _silence, ("ok", 3.0)),
    ("some NaN/inf samples", _some_nan_inf, ("ok", 3.0)),  # silenced, with a warning naming the file
    ("only NaN samples", _all_nan, ("error", "NaN or infinite")),
    ("clipped", _clipped, ("ok", 3.0)),
    ("float beyond full scale", _hot_float, ("ok", 2.0)),
    ("8 kHz", _rate_8k, ("ok", 2.0)),
    ("96 kHz", _rate_96k, ("ok", 2.0)),
    ("6 channels", _six_channels, ("ok", 2.0)),
    ("truncated FLAC", _truncated_flac, ("error", "cannot decode audio file")),
    ("text file named .wav", _text_named_wav, ("error", "cannot read audio file")),
    ("missing file", _missing, ("error", "not found")),
]


@pytest.mark.parametrize("writer,expected", [c[1:] for c in AUDIO_CORPUS], ids=[c[0] for c in AUDIO_CORPUS])
def test_audio_corpus(writer, expected, model, checkpoint, tmp_path, capsys):
    path = writer(tmp_path)
    kind, value = expected
    out = tmp_path / "out"
    # Python API
    if kind == "error":
        with pytest.raises(AudioError) as info:
            sound2sheet.transcribe(path, model=model)
        assert value in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value)
        with pytest.raises(AudioError):
            AudioProcessor().load_audio(path)
    else:
        result = Transcriber(model).transcribe_file(path)
        assert result.duration == pytest.approx(value, abs=0.01)
        _assert_plausible(result.notes, value)
        audio = AudioProcessor().load_audio(path)
        assert audio.dtype == np.float32 and audio.ndim == 1 and np.isfinite(audio).all()
        assert len(audio) == pytest.approx(value * SR, abs=0.01 * SR)
    # CLI
    code, _, err = _cli(capsys, "transcribe", path, "-o", out, "--checkpoint", checkpoint)
    if kind == "error":
        assert code != 0
        _one_error_line(err, path.name, value)
        assert not out.exists() or not any(out.iterdir())  # nothing written for a failed file
    else:
        assert code == 0 and "Traceback" not in err and "error" not in err, err
        assert sorted(p.name for p in out.iterdir()) == [f"{path.stem}.json", f"{path.stem}.mid"]
        meta = json.loads((out / f"{path.stem}.json").read_text())["metadata"]
        assert meta["audio_seconds"] == pytest.approx(value, abs=0.01)
        read_midi_notes(out / f"{path.stem}.mid")  # a valid MIDI file


def test_nan_and_inf_samples_are_silenced_with_a_warning_naming_the_file(tmp_path, model, caplog):
    path = _some_nan_inf(tmp_path)
    with caplog.at_level("WARNING"):
        audio = AudioProcessor().load_audio(path)
    assert np.isfinite(audio).all()
    assert f"{path}: replaced 102 non-finite samples with silence" in caplog.text
    mel = AudioProcessor().to_mel_spectrogram(audio)
    assert np.isfinite(mel).all()  # the model never sees NaN
    # a bad channel does not blank the good ones
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    sf.write(tmp_path / "stereo.wav", np.stack([np.full(SR, np.nan, np.float32), tone], axis=1), SR, subtype="FLOAT")
    np.testing.assert_allclose(AudioProcessor().load_audio(tmp_path / "stereo.wav"), tone / 2, atol=1e-6)
    # arrays: the same rule, with the same warning
    caplog.clear()
    x = _noise(2.0)
    x[:50] = np.nan
    with caplog.at_level("WARNING"):
        notes = sound2sheet.transcribe(x, sample_rate=SR, model=model)
    _assert_plausible(notes, 2.0)
    assert "replaced 50 non-finite samples" in caplog.text
    with pytest.raises(AudioError, match="NaN or infinite"):
        sound2sheet.transcribe(np.full(SR, np.inf, np.float32), sample_rate=SR, model=model)
    with pytest.raises(AudioError, match="non-empty"):
        sound2sheet.transcribe(np.zeros(0, np.float32), sample_rate=SR, model=model)


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_a_truncated_wav_is_read_up_to_its_end_with_a_warning(tmp_path, caplog, subtype):
    x = _noise(4.0)
    sf.write(tmp_path / "whole.wav", x, SR, subtype=subtype)
    data = (tmp_path / "whole.wav").read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[:len(data) // 2])  # a copy that stopped half way
    with caplog.at_level("WARNING"):
        audio = AudioProcessor().load_audio(cut)
    assert 1.9 * SR < len(audio) < 2.1 * SR
    assert f"{cut} is truncated: its header announces 4.00 s, the file holds" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert len(AudioProcessor().load_audio(tmp_path / "whole.wav")) == 4 * SR
    assert "truncated" not in caplog.text


def test_silence_gives_no_notes(tmp_path, model):
    # Model-independent: the decoder turns an all-zero probability roll into no notes.
    zeros = np.zeros((500, 88), np.float32)
    assert decode_notes(zeros) == []
    assert decode_notes(zeros, zeros, zeros) == []
    # The pipeline runs on digital silence and hands the model finite features. Whether a model
    # outputs silence for them is learned: there is no input-energy gate.
    path = _silence(tmp_path)
    processor = AudioProcessor()
    assert np.isfinite(processor.to_mel_spectrogram(processor.load_audio(path))).all()
    result = Transcriber(model).transcribe_file(path)
    assert result.duration == pytest.approx(3.0)
    _assert_plausible(result.notes, 3.0)


# --------------------------------------------------------------------------- a 1-hour file

LONG_RUN = """
import sys, time
import torch
torch.set_num_threads(2)
import sound2sheet.core.audio as audio
from sound2sheet.inference import Transcriber, load_model

def rss_mib():  # the current resident set, not the high-water mark
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

read_blocks, samples = audio.iter_audio_blocks, []

def watched(path, sample_rate, **kw):  # one sample per 30 s block of the transcription pass
    seen = 0
    for block in read_blocks(path, sample_rate, **kw):
        seen += len(block)
        if sample_rate:  # the transcription pass, not the peak pass (which reads at the file's rate)
            samples.append((seen / sample_rate / 60, rss_mib()))
        yield block

def growth_per_30_minutes(after_minute):  # least-squares trend of the current resident set
    import numpy as np
    minutes, mib = np.array([s for s in samples if s[0] > after_minute]).T
    return 30 * np.polyfit(minutes, mib, 1)[0]

audio.iter_audio_blocks = watched
t = Transcriber(load_model(sys.argv[1]))
started = time.perf_counter()
result = t.transcribe_file(sys.argv[2])
print(growth_per_30_minutes(10), max(mib for _, mib in samples), result.duration, len(result.notes),
      round(time.perf_counter() - started, 1))
"""

# Threads pinned as on the 2-core machine the numbers below were measured on: more threads
# (a many-core CI machine) means more per-thread allocator state, not a different pipeline.
# Buffers over 128 KiB are mapped and unmapped by glibc rather than kept in its heap: without
# that the resident set wanders by ~200 MiB with fragmentation and no leak (a trend of -22 to
# +97 MiB per 30 min over eight runs); with it, -0.4 to -0.6 over three.
_TWO_THREADS = dict(OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MALLOC_ARENA_MAX="1",
                    MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")


def test_a_one_hour_file_is_transcribed_with_bounded_memory(tmp_path):
    # A full hour, not a shorter stand-in. To keep it near 45 s on 2 cores the model is a
    # smaller untrained one (1-layer encoder, 10 s windows); memory boundedness is a property
    # of the streaming pipeline (block reading, chunked features/encoder, streaming decoder),
    # not of the model's size. Its output layer is set to "never a note" so the note list (a
    # legitimate O(notes) output) stays empty and the memory measured is the pipeline's alone.
    torch.manual_seed(0)
    config = tiny_model_config(
        encoder_config=dict(num_hidden_layers=1, hidden_size=32, intermediate_size=64, num_attention_heads=1,
                            max_length=1024, time_stride=16),
        window_overlap_frames=32, classifier_hidden_dim=32, mel_skip_dim=16)
    model = Sound2SheetModel(config)
    with torch.no_grad():
        model.classifier.out.weight.zero_()
        model.classifier.out.bias.fill_(-20.0)
    ckpt = save_checkpoint(tmp_path / "micro.pt", _payload(model))
    hour = tmp_path / "1hour.flac"
    block = (np.random.default_rng(0).standard_normal(10 * SR) * 0.003).astype(np.float32)
    with sf.SoundFile(str(hour), "w", SR, 1, format="FLAC") as f:
        for _ in range(360):  # written block by block: this process never holds the hour
            f.write(block)
    out = subprocess.run([sys.executable, "-c", LONG_RUN, str(ckpt), str(hour)], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), **_TWO_THREADS),
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    growth, peak, duration, n_notes, seconds = out.stdout.split()[-5:]
    assert float(duration) == pytest.approx(3600.0, abs=0.01) and int(n_notes) == 0
    # 30 minutes of audio are 110 MiB of float32 (and 88 MiB of mel): keeping any of it would
    # raise the resident set steadily. The measure is the least-squares trend of the current
    # resident set over minutes 10-60 (the high-water mark only says the first minutes were
    # the largest). Comparing two 15-minute medians under glibc's default heap failed a clean
    # CI run here (68 MiB with no leak); see _TWO_THREADS for what steadies it.
    assert float(growth) < 32, (growth, peak, seconds)  # no leak: -0.5; keeping the audio: 110


# --------------------------------------------------------------------------- outputs


def _transcribe_args(path, out, checkpoint, *extra):
    return ("transcribe", path, "-o", out, "--checkpoint", checkpoint, *extra)


def test_existing_outputs_are_not_overwritten_silently(tmp_path, checkpoint, capsys):
    audio = _silence(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "silence.mid").write_bytes(b"precious")
    code, _, err = _cli(capsys, *_transcribe_args(audio, out, checkpoint))
    assert code == 1
    _one_error_line(err, "silence.mid", "already exist (use --overwrite)")
    assert (out / "silence.mid").read_bytes() == b"precious"
    assert sorted(p.name for p in out.iterdir()) == ["silence.mid"]  # no partial set of outputs either
    # two inputs with the same stem: the second does not replace the first's outputs
    (tmp_path / "other").mkdir()
    sf.write(tmp_path / "other" / "silence.flac", np.zeros(SR, np.float32), SR)
    out2 = tmp_path / "out2"
    code, _, err = _cli(capsys, "transcribe", audio, tmp_path / "other" / "silence.flac", "-o", out2,
                        "--checkpoint", checkpoint)
    assert code == 1
    _one_error_line(err, "other/silence.flac", "already exist")
    assert json.loads((out2 / "silence.json").read_text())["metadata"]["audio_seconds"] == pytest.approx(3.0)


def test_a_failed_write_leaves_no_half_written_file(tmp_path, checkpoint, capsys, monkeypatch):
    import pretty_midi

    audio = _silence(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "silence.mid").write_bytes(b"previous run")
    (out / "silence.json").write_text("previous run")

    def write_half_then_fail(self, target):
        Path(target).write_bytes(b"MThd\x00\x00")  # part of a MIDI file, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pretty_midi.PrettyMIDI, "write", write_half_then_fail)
    code, _, err = _cli(capsys, *_transcribe_args(audio, out, checkpoint, "--overwrite"))
    assert code == 1
    _one_error_line(err, "silence.wav", "cannot write output", "No space left on device")
    assert (out / "silence.mid").read_bytes() == b"previous run"  # the old file, whole
    assert (out / "silence.json").read_text() == "previous run"
    assert sorted(p.name for p in out.iterdir()) == ["silence.json", "silence.mid"]  # no temp files left
    # same without an earlier output: nothing at all appears
    fresh = tmp_path / "fresh"
    code, _, err = _cli(capsys, *_transcribe_args(audio, fresh, checkpoint))
    assert code == 1 and not any(fresh.iterdir())


def test_an_unwritable_output_directory_is_one_error_line(tmp_path, checkpoint, capsys):
    audio = _silence(tmp_path)
    (tmp_path / "a_file").write_text("x")
    code, _, err = _cli(capsys, *_transcribe_args(audio, tmp_path / "a_file" / "out", checkpoint))
    assert code == 1
    _one_error_line(err, "cannot write output", "Not a directory")


# --------------------------------------------------------------------------- MIDI


def _midi_corpus(d: Path) -> dict[str, Path]:
    write_midi(SHORT, d / "good.mid")
    good = (d / "good.mid").read_bytes()
    files = {
        "text": b"this is not a MIDI file\n",
        "empty": b"",
        "truncated": good[: len(good) - 25],
        "bad header": b"MThd\x00\x00\x00\x06\x00\x01\x00\x05garbage",
    }
    for name, data in files.items():
        (d / f"{name.replace(' ', '_')}.mid").write_bytes(data)
    return {name: d / f"{name.replace(' ', '_')}.mid" for name in files}


def test_a_midi_file_with_no_notes_reads_as_no_notes(tmp_path):
    write_midi([], tmp_path / "silent.mid")
    assert read_midi_notes(tmp_path / "silent.mid") == []
    assert read_midi_notes(tmp_path / "silent.mid", sustain_pedal=False) == []


def test_corrupt_midi_files_are_clear_errors(tmp_path):
    for name, path in _midi_corpus(tmp_path).items():
        with pytest.raises(MidiError) as info:
            read_midi_notes(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value), name


def test_evaluate_with_corrupt_or_empty_midi(tmp_path, capsys):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir(), pred.mkdir()
    write_midi(SHORT, gt / "a.mid")
    write_midi(isolated_notes([0.5], [60]), gt / "b.mid")
    # predictions with no notes: a correct (zero) score
    write_midi([], pred / "a.mid")
    write_midi([], pred / "b.mid")
    code, stdout, err = _cli(capsys, "evaluate", gt, "--predictions", pred, "--report", tmp_path / "r.json")
    assert code == 0 and "Traceback" not in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["pieces"]["a"]["estimated_notes"] == 0 and report["mean"]["note_onset_f1"] == 0.0
    # a corrupt prediction
    (pred / "b.mid").write_bytes(b"MThd garbage")
    code, _, err = _cli(capsys, "evaluate", gt, "--predictions", pred)
    assert code != 0
    _one_error_line(err, str(pred / "b.mid"), "cannot parse MIDI file")
    # a corrupt ground truth (pedal detection reads it first)
    write_midi([], pred / "b.mid")
    (gt / "b.mid").write_text("not MIDI")
    for pedal in ("auto", "on"):
        code, _, err = _cli(capsys, "evaluate", gt, "--predictions", pred, "--gt-pedal", pedal)
        assert code != 0
        _one_error_line(err, str(gt / "b.mid"), "cannot parse MIDI file")


# --------------------------------------------------------------------------- manifests


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "ds", {"train": [("a", SHORT, 5.0)], "test": [("t", SHORT, 5.0)]})


def _append(dataset: Path, split: str, **entry) -> None:
    with open(dataset / f"{split}.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def test_a_manifest_naming_missing_files(dataset, capsys):
    _append(dataset, "train", audio="audio/gone.flac", midi="midi/a.mid")
    with pytest.raises(DatasetError, match="names missing files: audio/gone.flac"):
        PianoDataset(DataConfig(dataset_dir=dataset), "train")
    code, stdout, err = _cli(capsys, "dataset", "validate", dataset)
    assert code == 1 and "Traceback" not in err
    assert "audio missing: audio/gone.flac" in stdout and "1 problem(s)" in err


@pytest.mark.parametrize("audio,problem", [
    ("../outside.flac", "escapes the dataset directory"),
    ("audio/../../outside.flac", "escapes the dataset directory"),
    ("/etc/passwd", "is absolute"),
    ("audio/link.flac", "escapes the dataset directory"),  # a symlink pointing out
    (7, "malformed manifest line"),
    ("", "malformed manifest line"),
])
def test_a_manifest_path_escaping_the_dataset_is_refused(dataset, tmp_path, capsys, audio, problem):
    sf.write(tmp_path / "outside.flac", np.zeros(SR, np.float32), SR)
    os.symlink(tmp_path / "outside.flac", dataset / "audio" / "link.flac")
    _append(dataset, "train", audio=audio, midi="midi/a.mid")
    for load in (lambda: read_manifest(dataset, "train"), lambda: PianoDataset(DataConfig(dataset_dir=dataset), "train")):
        with pytest.raises(DatasetError) as info:
            load()
        assert problem in str(info.value) and "train.jsonl:2" in str(info.value) and "\n" not in str(info.value)
    code, stdout, err = _cli(capsys, "dataset", "validate", dataset)
    assert code == 1 and "Traceback" not in err and problem in stdout
    # evaluating a dataset whose test manifest escapes: one error line
    _append(dataset, "test", audio=audio, midi="midi/t.mid")
    code, _, err = _cli(capsys, "evaluate", dataset, "--predictions", tmp_path)
    assert code == 2
    _one_error_line(err, "test.jsonl:2", problem)


# --------------------------------------------------------------------------- checkpoints


def _not_checkpoints(d: Path, checkpoint: Path) -> dict[str, tuple[Path, str]]:
    (d / "text.pt").write_text("not a checkpoint\n")
    (d / "random.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "empty.pt").write_bytes(b"")
    data = checkpoint.read_bytes()
    (d / "truncated.pt").write_bytes(data[: len(data) // 2])
    torch.save({"weights": torch.zeros(3)}, d / "foreign.pt")
    return {
        "text file": (d / "text.pt", "not a PyTorch checkpoint file"),
        "random bytes": (d / "random.pt", "not a PyTorch checkpoint file"),
        "empty file": (d / "empty.pt", "the file is empty"),
        "truncated checkpoint": (d / "truncated.pt", "truncated or damaged"),
        "another program's torch file": (d / "foreign.pt", "not a Sound2Sheet checkpoint"),
        "missing": (d / "absent.pt", "checkpoint not found"),
        "directory without one": (d, "no best_model.pt or last.pt"),
    }


def test_a_file_that_is_not_a_checkpoint(tmp_path, checkpoint, capsys):
    audio = _silence(tmp_path)
    pairs = tmp_path / "pairs"  # an evaluation folder: <name>.wav + <name>.mid
    pairs.mkdir()
    sf.write(pairs / "a.wav", np.zeros(SR, np.float32), SR)
    write_midi(SHORT[:1], pairs / "a.mid")
    for name, (path, problem) in _not_checkpoints(tmp_path, checkpoint).items():
        with pytest.raises(CheckpointError) as info:
            Sound2SheetModel.from_pretrained(path)
        message = str(info.value)
        assert problem in message and "\n" not in message, name
        assert "weights_only" not in message  # torch's advice to load unsafely is not passed on
        code, _, err = _cli(capsys, "transcribe", audio, "-o", tmp_path / "out", "--checkpoint", path)
        assert code == 2, name
        _one_error_line(err, problem)
        code, _, err = _cli(capsys, "evaluate", pairs, "--checkpoint", path)
        assert code == 2, name
        _one_error_line(err, problem)
    assert not (tmp_path / "out").exists()


def _variant(checkpoint: Path, target: Path, **changes) -> Path:
    """A copy of ``checkpoint`` with some stored dicts updated (weights unchanged)."""
    ckpt = load_checkpoint(checkpoint)
    for key, update in changes.items():
        ckpt[key] = {**ckpt[key], **update}
    return save_checkpoint(target, {k: v for k, v in ckpt.items() if k not in ("format", "format_version")})


def test_a_checkpoint_from_a_different_configuration(tmp_path, checkpoint, capsys):
    weights = load_checkpoint(checkpoint)["model_state_dict"]
    wider = Sound2SheetModel(tiny_model_config(classifier_hidden_dim=64))
    with pytest.raises(CheckpointError, match="does not fit this model configuration") as info:
        load_model_weights(wider, weights, source=str(checkpoint))
    assert "\n" not in str(info.value) and "classifier" in str(info.value)
    cases = {
        # configs that disagree with the weights stored beside them
        "head width": (dict(model_config={"classifier_hidden_dim": 64}), "does not fit this model configuration"),
        "encoder width": (dict(encoder_config={"hidden_size": 32}), "does not fit this model configuration"),
        # configs that disagree with each other: caught before the model ever runs
        "model mel bins": (dict(model_config={"n_mels": 64}), "mel bins"),
        "feature mel bins": (dict(data_config={"n_mels": 64}), "DataConfig.n_mels=64"),
        "frame rate": (dict(data_config={"hop_length": 320}), "ms frames"),
        "unknown encoder size": (dict(model_config={"encoder_size": "huge"}), "encoder_size"),
    }
    audio = _silence(tmp_path)
    for name, (changes, problem) in cases.items():
        path = _variant(checkpoint, tmp_path / f"{name.replace(' ', '_')}.pt", **changes)
        with pytest.raises(CheckpointError) as info:
            Sound2SheetModel.from_pretrained(path)
        assert problem in str(info.value) and str(path) in str(info.value) and "\n" not in str(info.value), name
        code, _, err = _cli(capsys, "transcribe", audio, "-o", tmp_path / "out", "--checkpoint", path)
        assert code == 2, name
        _one_error_line(err, path.name, problem)
    assert not (tmp_path / "out").exists()
