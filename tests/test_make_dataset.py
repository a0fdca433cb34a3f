"""make-dataset: rendering with a real soundfont, splits, info/validate, resume, MAESTRO import, reserved files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from sound2sheet.cli import main as cli_main
from sound2sheet.data.build import BuildConfig, build_dataset
from sound2sheet.data.manifest import read_manifest
from sound2sheet.data.render import TAIL_SECONDS
from sound2sheet.errors import DatasetError
from sound2sheet.midi import read_midi_notes

pytest.importorskip("fluidsynth", reason="pyfluidsynth / libfluidsynth missing", exc_type=ImportError)

TIMGM = str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")


def _no_augment() -> dict:
    from dataclasses import asdict

    from sound2sheet.data.augment import AugmentConfig

    return json.loads(json.dumps(asdict(AugmentConfig.none())))


def _piece(path: Path, seed: int, seconds: float = 3.0) -> Path:
    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    t = 0.2
    while t < seconds - 0.6:
        pitch = int(rng.integers(36, 96))
        inst.notes.append(pretty_midi.Note(int(rng.integers(40, 110)), pitch, t, t + float(rng.uniform(0.15, 0.5))))
        t += float(rng.uniform(0.1, 0.3))
    inst.control_changes += [pretty_midi.ControlChange(64, 127, 1.0), pretty_midi.ControlChange(64, 0, 1.6)]
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


@pytest.fixture(scope="module")
def midi_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("midis")
    for i in range(6):
        _piece(d / f"piece_{i}.mid", i)
    return d


def _config(out: Path, midi: list[Path], **kw) -> BuildConfig:
    base = dict(out_dir=out, midi=midi, soundfonts=[TIMGM], augment=_no_augment(), jobs=1, val_fraction=0.2, test_fraction=0.2)
    base.update(kw)
    return BuildConfig(**base)


def _tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "build_log.json" and ".cache" not in p.parts:
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory, midi_dir) -> Path:
    out = tmp_path_factory.mktemp("ds") / "set"
    build_dataset(_config(out, [midi_dir], jobs=2), progress=False)
    return out


def test_audio_and_labels_match_the_midi(built, midi_dir):
    items = [i for s in ("train", "val", "test") for i in read_manifest(built, s)]
    assert len(items) == 6
    for item in items:
        info = sf.info(str(built / item.audio))
        assert info.samplerate == 16000
        source = read_midi_notes(midi_dir / f"{item.piece}.mid", sustain_pedal=False)
        labels = read_midi_notes(built / item.midi, sustain_pedal=False)
        end = pretty_midi.PrettyMIDI(str(midi_dir / f"{item.piece}.mid")).get_end_time()
        assert info.duration == pytest.approx(end + TAIL_SECONDS, abs=0.01)
        assert [(n.pitch, n.velocity) for n in labels] == [(n.pitch, n.velocity) for n in source]
        assert np.allclose([n.onset for n in labels], [n.onset for n in source], atol=2e-3)
        audio, sr = sf.read(str(built / item.audio))
        first = min(n.onset for n in source)
        assert np.abs(audio[: int((first - 0.02) * sr)]).max() < 1e-3 < np.abs(audio[int(first * sr): int((first + 0.1) * sr)]).max()


def test_splits_are_disjoint_by_piece(built):
    pieces = {s: {i.piece for i in read_manifest(built, s)} for s in ("train", "val", "test")}
    assert all(pieces[s] for s in pieces)  # 6 pieces at 20 % each: at least one in val and test
    assert not (pieces["train"] & pieces["val"]) and not (pieces["train"] & pieces["test"]) and not (pieces["val"] & pieces["test"])


def test_info_and_validate(built, tmp_path, capsys):
    info = json.loads((built / "dataset_info.json").read_text())
    assert info["total"]["items"] == 6 and info["timbres"] == {"TimGM6mb-0-0": 6} and info["sources"] == {"midi": 6}
    assert info["total"]["hours"] > 0 and info["total"]["notes"] > 0
    assert cli_main(["dataset", "info", str(built)]) == 0
    assert "TimGM6mb-0-0" in capsys.readouterr().out
    assert cli_main(["dataset", "validate", str(built)]) == 0
    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    victim = read_manifest(broken, "train")[0]
    (broken / victim.audio).unlink()
    assert cli_main(["dataset", "validate", str(broken)]) == 1
    assert f"audio missing: {victim.audio}" in capsys.readouterr().out


def test_killed_build_resumes_identical(tmp_path, midi_dir):
    reference = tmp_path / "reference"
    build_dataset(_config(reference, [midi_dir]), progress=False)
    killed = tmp_path / "killed"
    args = {"out_dir": str(killed), "midi": [str(midi_dir)], "soundfonts": [TIMGM], "augment": _no_augment(),
            "jobs": 1, "val_fraction": 0.2, "test_fraction": 0.2}
    script = (
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from sound2sheet.data.build import BuildConfig, build_dataset\n"
        "kw = json.loads(sys.argv[1])\n"
        "cfg = BuildConfig(**{**kw, 'out_dir': Path(kw['out_dir']), 'midi': [Path(p) for p in kw['midi']]})\n"
        "done = []\n"
        "def die(item):\n"
        "    done.append(item)\n"
        "    if len(done) == 3:\n"
        "        os._exit(137)  # like SIGKILL: no cleanup runs\n"
        "build_dataset(cfg, progress=False, on_item=die)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(args)], env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert proc.returncode == 137
    assert len(list((killed / "items").glob("*.json"))) == 3 and not (killed / "train.jsonl").exists()
    (killed / "audio" / ".half-written.flac.tmp").write_bytes(b"partial")  # debris of a killed write
    info = build_dataset(_config(killed, [midi_dir]), progress=False)
    assert info["build"]["items_built"] == 3
    (killed / "audio" / ".half-written.flac.tmp").unlink()
    assert _tree_digest(killed) == _tree_digest(reference)


def _fake_maestro(root: Path) -> Path:
    (root / "2018").mkdir(parents=True)
    rows = ["canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration"]
    for i, split in enumerate(["train", "train", "validation", "test"]):
        midi = _piece(root / "2018" / f"perf_{i}.midi", 100 + i, seconds=2.0)
        audio = np.random.default_rng(i).standard_normal((44100 * 3, 2)).astype(np.float32) * 0.01
        sf.write(root / "2018" / f"perf_{i}.wav", audio, 44100)
        rows.append(f"Someone,Piece {i},{split},2018,2018/{midi.name},2018/perf_{i}.wav,3.0")
    (root / "maestro-v3.0.0.csv").write_text("\n".join(rows) + "\n")
    return root


def test_maestro_layout_imports_with_its_splits(tmp_path):
    out = tmp_path / "maestro_set"
    build_dataset(_config(out, [], maestro=_fake_maestro(tmp_path / "maestro"), soundfonts=[]), progress=False)
    splits = {s: sorted(i.piece for i in read_manifest(out, s)) for s in ("train", "val", "test")}
    assert splits == {"train": ["maestro_perf_0", "maestro_perf_1"], "val": ["maestro_perf_2"], "test": ["maestro_perf_3"]}
    item = read_manifest(out, "val")[0]
    assert sf.info(str(out / item.audio)).samplerate == 16000 and item.timbre == "recording"
    assert item.duration == pytest.approx(3.0, abs=0.01)


def test_reserved_files_and_held_out_timbres_are_refused(tmp_path, midi_dir):
    reserved = tmp_path / "Maestro_3.mid"
    shutil.copy(midi_dir / "piece_0.mid", reserved)
    with pytest.raises(DatasetError, match="reserved evaluation file"):
        build_dataset(_config(tmp_path / "x", [reserved]), progress=False)
    fake_font = tmp_path / "MuseScore_General_Full.sf3"
    fake_font.write_bytes(b"x")
    with pytest.raises(DatasetError, match="held-out timbre"):
        build_dataset(_config(tmp_path / "y", [midi_dir / "piece_1.mid"], soundfonts=[str(fake_font)]), progress=False)
    dev = Path(__file__).resolve().parents[2] / "shared" / "bench" / "dev" / "Maestro_3.mid"
    if dev.exists():  # a renamed copy of the dev set's ground truth is caught by its notes
        renamed = tmp_path / "my_piece.mid"
        shutil.copy(dev, renamed)
        with pytest.raises(DatasetError, match="same notes as reserved evaluation file Maestro_3"):
            build_dataset(_config(tmp_path / "z", [renamed]), progress=False)


def test_cli_make_dataset_end_to_end(tmp_path, midi_dir, capsys):
    out = tmp_path / "cli_set"
    args = ["make-dataset", "--out", str(out), "--midi", str(midi_dir / "piece_0.mid"), str(midi_dir / "piece_1.mid"),
            "--soundfont", TIMGM, "--augment", "none", "--jobs", "1"]
    assert cli_main(args) == 0
    assert "2 items" in capsys.readouterr().out
    assert cli_main(args) == 0  # rerun: nothing left to build
    assert "(0 built now)" in capsys.readouterr().out
    assert cli_main(["make-dataset", "--out", str(tmp_path / "bad"), "--midi", str(tmp_path / "nope.mid"), "--soundfont", TIMGM]) == 2
    assert "MIDI path not found" in capsys.readouterr().err


def test_unexportable_source_pieces_are_skipped_not_fatal(tmp_path, monkeypatch, midi_dir):
    from sound2sheet.data import build as build_module

    real = build_module.load_symbolic

    def flaky(piece, *args):
        if piece.id == "piece_1":
            raise build_module.SkipPiece("could not export piece_1")
        return real(piece, *args)

    monkeypatch.setattr(build_module, "load_symbolic", flaky)
    cfg = _config(tmp_path / "ds", [midi_dir / "piece_0.mid", midi_dir / "piece_1.mid"])
    info = build_dataset(cfg, progress=False)
    assert info["total"]["items"] == 1 and list(info["skipped"]) == ["piece_1--TimGM6mb-0-0--r0"]
    assert build_dataset(cfg, progress=False)["build"]["items_built"] == 0  # not retried on resume


def test_cli_held_out_repeats_pieces_land_in_the_validation_split(tmp_path, capsys):
    from sound2sheet.data.manifest import read_manifest

    out = tmp_path / "rep_val"
    args = ["make-dataset", "--out", str(out), "--generate", "2", "--generate-seconds", "4", "--generate-style", "repeats",
            "--generate-split", "val", "--soundfont", TIMGM, "--augment", "none", "--jobs", "1", "--seed", "1"]
    assert cli_main(args) == 0
    val = read_manifest(out, "val")
    assert [it.piece for it in val] == ["gen_repeats_00000", "gen_repeats_00001"] and not read_manifest(out, "train")


@pytest.mark.parametrize("field, value", [("generate_style", "fugue"), ("generate_split", "dev")])
def test_a_bad_generator_style_or_split_is_refused_before_building(tmp_path, field, value):
    cfg = _config(tmp_path / "bad_gen", [], generate=1, **{field: value})
    with pytest.raises(DatasetError, match=f"unknown {field}"):
        build_dataset(cfg, progress=False)
    assert not (tmp_path / "bad_gen" / "items").exists() or not any((tmp_path / "bad_gen" / "items").iterdir())


def test_a_render_seed_renders_the_same_pieces_anew_in_the_same_splits(tmp_path, midi_dir):
    from dataclasses import asdict

    from sound2sheet.data.augment import AugmentConfig

    augment = json.loads(json.dumps(asdict(AugmentConfig())))  # the default: random per item
    sets = {salt: tmp_path / f"salt{salt}" for salt in (0, 7)}
    for salt, out in sets.items():
        info = build_dataset(_config(out, [midi_dir], augment=augment, render_seed=salt), progress=False)
        assert info["config"]["render_seed"] == salt
    for split in ("train", "val", "test"):
        first, second = (read_manifest(out, split) for out in sets.values())
        assert [it.id for it in first] == [it.id for it in second]  # same pieces, same splits
    first, second = (_tree_digest(out / "audio") for out in sets.values())
    assert first.keys() == second.keys() and all(first[k] != second[k] for k in first)  # every render is new
