"""sound2sheet.data.pack: a seeded, proportional, Opus subset that trains like the original."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sound2sheet.cli import main
from sound2sheet.data.manifest import ManifestItem, read_manifest
from sound2sheet.data.pack import choose_train_items, pack_datasets
from sound2sheet.data.synth import random_notes
from sound2sheet.errors import DatasetError
from sound2sheet.midi import read_midi_notes
from tests.conftest import write_dataset


def _items(prefix: str, seconds: list[float]) -> list[ManifestItem]:
    return [ManifestItem(audio=f"audio/{prefix}{k}.flac", midi=f"midi/{prefix}{k}.mid", duration=s) for k, s in enumerate(seconds)]


def test_each_set_gets_its_share_of_the_hours_in_whole_items_and_the_seed_fixes_which():
    sets = {"big": _items("b", [600.0] * 30), "small": _items("s", [300.0] * 20)}  # 5 h and 1.67 h
    chosen = choose_train_items(sets, hours=2.0, seed=3)
    big = sum(i.duration for i in chosen["big"]) / 3600
    small = sum(i.duration for i in chosen["small"]) / 3600
    assert big == pytest.approx(1.5, abs=600 / 3600) and big <= 1.5      # 2 h x 5/6.67
    assert small == pytest.approx(0.5, abs=300 / 3600) and small <= 0.5  # 2 h x 1.67/6.67
    assert [i.id for i in choose_train_items(sets, 2.0, seed=3)["big"]] == [i.id for i in chosen["big"]]
    assert [i.id for i in choose_train_items(sets, 2.0, seed=4)["big"]] != [i.id for i in chosen["big"]]


def test_pack_writes_opus_with_the_same_notes_and_refuses_bad_input(tmp_path):
    rng = np.random.default_rng(0)
    src = {}
    for name in ("alpha", "beta"):
        train = [(f"{name}_t{k}", random_notes(rng, 2.0, (48, 84), 2.0), 2.0) for k in range(4)]
        val = [(f"{name}_v{k}", random_notes(rng, 2.0, (48, 84), 1.0 + k), 1.0 + k) for k in range(2)]
        src[name] = write_dataset(tmp_path / name, {"train": train, "val": val})
    out = tmp_path / "pack"
    summary = pack_datasets([src["alpha"], src["beta"]], out, hours=8.0 / 3600, val_per_set=1)  # 4 s of each set's 8 s
    for name in ("alpha", "beta"):
        train = read_manifest(out / name, "train")
        val = read_manifest(out / name, "val")
        assert len(train) == 2 and summary["sets"][name]["train_items"] == 2
        assert [i.duration for i in val] == [1.0]  # the shortest validation item
        for item in train + val:
            assert item.audio.endswith(".ogg")
            packed, rate = sf.read(out / name / item.audio, dtype="float32")
            original, orig_rate = sf.read(src[name] / item.audio.replace(".ogg", ".flac"), dtype="float32")
            assert rate == orig_rate and abs(len(packed) - len(original)) < rate // 50
            assert sf.info(str(out / name / item.audio)).subtype == "OPUS"
            assert read_midi_notes(out / name / item.midi) == read_midi_notes(src[name] / item.midi)
    with pytest.raises(DatasetError, match="distinct names"):
        pack_datasets([src["alpha"], src["alpha"]], tmp_path / "p2", hours=1.0)
    with pytest.raises(DatasetError, match="no such dataset"):
        pack_datasets([tmp_path / "missing"], tmp_path / "p3", hours=1.0)
    assert main(["pack-datasets", str(src["alpha"]), "--out", str(out), "--hours", "1"]) == 2  # exists, no --overwrite
