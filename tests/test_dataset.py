import json
import os
import numpy as np

import pytest
import torch

from sound2sheet.errors import DatasetError
from sound2sheet.model import DataConfig, TrainingConfig
from sound2sheet.model.dataset import EpochSampler, PianoDataset, create_dataloaders
from tests.conftest import tiny_model_config


def test_items_have_the_documented_shapes(data_config):
    ds = PianoDataset(data_config, "train", crop_frames=128, random_crops=True, seed=0)
    item = ds[(0, 0)]
    assert item["mel"].shape == (128, 128) and item["mel"].dtype == torch.float32
    for key in ("piano_roll", "onset_roll", "velocity_roll"):
        assert item[key].shape == (128, 88)
    assert item["audio_path"].endswith(".flac")
    whole = PianoDataset(data_config, "val")
    assert len(whole) == 1 and whole[0]["mel"].shape == (128, 298)  # 3 s -> 298 Kaldi frames


def test_crop_labels_and_mels_are_rows_of_the_whole_file(data_config):
    whole = PianoDataset(data_config, "train")
    crops = PianoDataset(data_config, "train", crop_frames=100, random_crops=True, seed=5)
    for key in [(i, 3) for i in range(len(crops))]:
        item = crops[key]
        full = whole[next(j for j, it in enumerate(whole.items) if item["audio_path"].endswith(it.audio))]
        s, n = item["start_frame"], item["n_frames"]
        torch.testing.assert_close(item["mel"][:, :n], full["mel"][:, s:s + n])
        torch.testing.assert_close(item["piano_roll"][:n], full["piano_roll"][s:s + n])
        torch.testing.assert_close(item["onset_roll"][:n], full["onset_roll"][s:s + n])


def test_random_crops_are_reproducible_per_epoch(data_config):
    ds = PianoDataset(data_config, "train", crop_frames=100, random_crops=True, seed=1)
    starts = lambda epoch: [ds[(i, epoch)]["start_frame"] for i in range(len(ds))]
    assert starts(0) == starts(0) and starts(0) != starts(1)


def test_feature_eq_is_a_reproducible_smooth_curve_per_crop_and_leaves_labels_alone(data_config):
    import dataclasses
    import math

    plain = PianoDataset(data_config, "train", crop_frames=100, random_crops=True, seed=2)
    eq_config = dataclasses.replace(data_config, feature_eq_db=6.0, feature_gain_db=6.0)
    eq = PianoDataset(eq_config, "train", crop_frames=100, random_crops=True, seed=2)
    curves = []
    for key in [(0, 0), (0, 1), (1, 0)]:
        a, b = plain[key], eq[key]
        assert a["start_frame"] == b["start_frame"]  # crop positions do not depend on the EQ
        for name in ("piano_roll", "onset_roll", "velocity_roll"):
            torch.testing.assert_close(a[name], b[name])
        n = a["n_frames"]
        diff = (b["mel"] - a["mel"])[:, :n]  # [n_mels, frames]
        torch.testing.assert_close(diff, diff[:, :1].expand_as(diff), atol=1e-5, rtol=0)  # same curve every frame
        curve_db = diff[:, 0] / eq.cache.processor.units_per_db
        assert curve_db.abs().max() <= 12.0 + 1e-3 and curve_db.abs().max() > 0.5
        assert (curve_db[1:] - curve_db[:-1]).abs().max() < 12.0 * 2 / (128 / 5)  # smooth across bins
        torch.testing.assert_close(b["mel"][:, n:], a["mel"][:, n:])  # padding untouched
        torch.testing.assert_close(eq[key]["mel"], b["mel"])  # reproducible
        curves.append(curve_db)
    assert not torch.allclose(curves[0], curves[1]) and not torch.allclose(curves[0], curves[2])
    # whole files (validation) are never augmented
    torch.testing.assert_close(PianoDataset(eq_config, "val")[0]["mel"], PianoDataset(data_config, "val")[0]["mel"])
    # 1 dB of power in natural-log fbank units, normalised
    assert eq.cache.processor.units_per_db == pytest.approx(math.log(10) / 10 / (2 * eq_config.norm_std))


def test_mel_cache_is_reused(data_config, monkeypatch):
    PianoDataset(data_config, "train")
    from sound2sheet.core.audio import AudioProcessor

    def boom(*a, **k):
        raise AssertionError("mel recomputed")

    monkeypatch.setattr(AudioProcessor, "to_mel_spectrogram", boom)
    PianoDataset(data_config, "train")[0]


def test_cache_rows_are_read_exactly_as_the_memory_map_holds_them(data_config, tmp_path):
    from sound2sheet.model.dataset import MelCache

    path = PianoDataset(data_config, "train").mel_paths[0]
    whole = MelCache.load(path)
    assert MelCache.header(path)[0] == whole.shape
    n = whole.shape[0]
    for start, stop in [(0, 100), (37, 137), (n - 10, n + 50), (n, n + 5), (-3, 4)]:
        rows = MelCache.read_rows(path, start, stop)
        np.testing.assert_array_equal(rows, whole[max(0, start):stop])
        assert rows.dtype == np.float16 and rows.shape[1] == whole.shape[1]
    v2 = tmp_path / "v2.npy"  # numpy writes format 2.0 for very wide headers; read it as well
    with open(v2, "wb") as fh:
        np.lib.format.write_array(fh, np.asarray(whole), version=(2, 0))
    np.testing.assert_array_equal(MelCache.read_rows(v2, 5, 25), whole[5:25])
    cut = tmp_path / "cut.npy"
    cut.write_bytes(path.read_bytes()[: -whole.shape[1] * 2 * 3])  # three rows short
    with pytest.raises(DatasetError, match="truncated"):
        MelCache.read_rows(cut, n - 10, n)


def test_sampler_shards_and_resumes():
    full = list(EpochSampler(10, seed=3))
    assert sorted(i for i, _ in full) == list(range(10))
    s = EpochSampler(10, seed=3)
    s.set_epoch(0, start=4)
    assert list(s) == full[4:]
    ranks = [list(EpochSampler(10, seed=3, rank=r, world_size=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 5 and sorted(i for r in ranks for i, _ in r) == list(range(10))


def test_create_dataloaders(data_config, tmp_path):
    tc = TrainingConfig(batch_size=3, progress=False)
    train, val, test = create_dataloaders(data_config, tiny_model_config(), tc)
    batch = next(iter(train))
    assert batch["mel"].shape == (3, 128, 128) and batch["piano_roll"].shape == (3, 128, 88)
    assert val is not None and test is None  # no test manifest in this dataset
    assert next(iter(val))["mel"].shape == (1, 128, 298)


def _dataset_with_manifest(tmp_path, lines):
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return DataConfig(dataset_dir=tmp_path)


def test_manifest_problems_are_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match="missing files: audio/nope.flac"):
        PianoDataset(_dataset_with_manifest(tmp_path, [{"audio": "audio/nope.flac", "midi": "m.mid"}]), "train")
    with pytest.raises(DatasetError, match="escapes the dataset directory"):
        PianoDataset(_dataset_with_manifest(tmp_path, [{"audio": "../../etc/passwd", "midi": "m.mid"}]), "train")
    with pytest.raises(DatasetError, match="absolute"):
        PianoDataset(_dataset_with_manifest(tmp_path, [{"audio": "/etc/passwd", "midi": "m.mid"}]), "train")
    (tmp_path / "train.jsonl").write_text("{not json\n")
    with pytest.raises(DatasetError, match="train.jsonl:1: malformed"):
        PianoDataset(DataConfig(dataset_dir=tmp_path), "train")
    with pytest.raises(DatasetError, match="not found"):
        create_dataloaders(DataConfig(dataset_dir=tmp_path / "absent"), tiny_model_config(), TrainingConfig())


def test_validation_can_be_limited_to_the_start_of_each_file(small_dataset):
    from sound2sheet.model import DataConfig

    dc = DataConfig(dataset_dir=small_dataset, crop_seconds=1.28, val_max_seconds=1.0)
    _, val, _ = create_dataloaders(dc, tiny_model_config(), TrainingConfig(progress=False))
    batch = next(iter(val))
    assert batch["mel"].shape == (1, 128, 100) and batch["piano_roll"].shape == (1, 100, 88)


def test_extra_train_dirs_join_training_only(small_dataset, tmp_path):
    """Train items of an extra directory resolve inside it, keep their own cache and labels;
    validation stays the main directory's."""
    from sound2sheet.data.synth import random_notes
    from tests.conftest import write_dataset

    rng = np.random.default_rng(5)
    extra_notes = random_notes(rng, 2.0, (30, 40), 2.0)  # a register the main clips never use
    extra = write_dataset(tmp_path / "extra", {"train": [("extra_0", extra_notes, 2.0)],
                                               "val": [("extra_val", extra_notes, 2.0)]})
    dc = DataConfig(dataset_dir=small_dataset, crop_seconds=1.28, extra_train_dirs=[str(extra)])
    assert DataConfig(dataset_dir=small_dataset, extra_train_dirs=str(extra)).extra_train_dirs == [str(extra)]
    base = PianoDataset(DataConfig(dataset_dir=small_dataset, crop_seconds=1.28), "train", crop_frames=128)
    ds = PianoDataset(dc, "train", crop_frames=128, extra_dirs=dc.extra_train_dirs)
    assert len(ds.items) == len(base.items) + 1 and ds.item_dirs[-1] == extra
    assert any(p.is_relative_to(extra / ".cache") for p in ds.mel_paths)
    last = [i for i, (item, _) in enumerate(ds.segments) if item == len(ds.items) - 1]
    sample = ds[last[0]]
    assert sample["audio_path"].startswith(str(extra.resolve()))
    keys = np.nonzero(sample["piano_roll"].numpy().any(axis=0))[0] + 21
    assert keys.size and keys.min() >= 30 and keys.max() <= 40
    train, val, _ = create_dataloaders(dc, tiny_model_config(), TrainingConfig(batch_size=2, progress=False))
    assert len(train.dataset) == len(ds) and [it.id for it in val.dataset.items] == ["val_0"]
    with pytest.raises(DatasetError, match="extra training dataset directory not found"):
        PianoDataset(dc, "train", crop_frames=128, extra_dirs=[tmp_path / "absent"])
    unfinished = tmp_path / "unfinished"  # items rendered, manifests not yet written
    (unfinished / "items").mkdir(parents=True)
    with pytest.raises(DatasetError, match="unfinished make-dataset"):
        PianoDataset(dc, "train", crop_frames=128, extra_dirs=[unfinished])


def test_normalize_peak_shows_every_file_at_one_level_as_if_scaled_before_the_features(tmp_path):
    """DataConfig.normalize_peak: a clip and its copy 20 dB down give the features of the clip
    scaled to the target; off, the level reaches the model. Silence stays silence."""
    import dataclasses

    import soundfile as sf

    from sound2sheet.core.audio import AudioProcessor
    from sound2sheet.data.manifest import write_manifest
    from sound2sheet.data.synthetic import write_example
    from tests.conftest import isolated_notes

    notes = isolated_notes([0.3, 1.1, 1.9], [48, 64, 79])
    loud = write_example(tmp_path, "loud", notes, 3.0)
    audio, sr = sf.read(tmp_path / loud.audio, dtype="float32")
    audio += np.random.default_rng(0).normal(0.0, 3e-4, audio.shape).astype(np.float32)  # a noise floor, as renders have
    audio[: sr // 5] = 0.0  # 200 ms of digital silence first
    sf.write(tmp_path / loud.audio, audio, sr, subtype="FLOAT", format="WAV")
    sf.write(tmp_path / "audio/quiet.wav", audio * 0.1, sr, subtype="FLOAT")  # no 16-bit rounding 20 dB down
    quiet = dataclasses.replace(loud, audio="audio/quiet.wav", id="quiet")
    write_manifest(tmp_path, "train", [loud, quiet])
    config = DataConfig(dataset_dir=tmp_path, normalize_peak=0.5)

    levelled = PianoDataset(config, "train")
    raw = PianoDataset(dataclasses.replace(config, normalize_peak=0.0), "train")
    processor = AudioProcessor.from_config(config)
    expected = torch.from_numpy(processor.features(audio * (0.5 / np.abs(audio).max())))
    torch.testing.assert_close(levelled[0]["mel"], expected, atol=2e-2, rtol=0)  # 5 dB down: exact
    # 15 dB up: exact wherever the quiet file was above the fbank's floor (what sat there is lost)
    floor = torch.from_numpy(processor.feature_floor)[:, None] + 2e-3
    heard = raw[1]["mel"] > floor
    assert heard[expected > floor].float().mean() > 0.7  # most of it
    torch.testing.assert_close(levelled[1]["mel"][heard], expected[heard], atol=2e-2, rtol=0)
    assert (raw[0]["mel"] - raw[1]["mel"]).abs().mean() > 0.3  # 20 dB apart when off
    silence = levelled[1]["mel"][:, 2:18]
    torch.testing.assert_close(silence, torch.full_like(silence, float(processor.feature_floor[0])), atol=1e-3, rtol=0)
    with pytest.raises(Exception, match="normalize_peak"):
        DataConfig(normalize_peak=1.5)


def test_label_cache_returns_the_parsed_labels_and_is_used_on_the_next_read(tmp_path, monkeypatch):
    import sound2sheet.model.dataset as dataset_module
    from sound2sheet.midi import notes_to_pretty_midi, read_midi_labels
    from sound2sheet.model.dataset import LabelCache
    from sound2sheet.notes import NoteEvent

    midi = tmp_path / "piece.mid"
    played = [NoteEvent(60, 0.5, 0.8, 90), NoteEvent(64, 1.0, 1.25, 40), NoteEvent(60, 2.0, 2.1, 70)]
    notes_to_pretty_midi(played, pedal=[(0.6, 1.7)]).write(str(midi))
    cache = LabelCache(tmp_path / ".cache")
    for sustain in (True, False):
        assert cache.read(midi, sustain) == read_midi_labels(midi, sustain)
    assert len(list((tmp_path / ".cache" / "labels").glob("*.npz"))) == 2  # one per pedal rule

    def boom(*a, **k):
        raise AssertionError("MIDI parsed again")

    monkeypatch.setattr(dataset_module, "read_midi_labels", boom)
    notes, pedal = cache.read(midi, True)
    assert all(isinstance(n, NoteEvent) for n in notes) and notes[0].offset == pytest.approx(1.7, abs=1e-3)
    monkeypatch.undo()
    assert (notes, pedal) == read_midi_labels(midi, True) and len(pedal) == 1
    os.utime(midi, ns=(1, 1))  # a changed file is parsed anew
    monkeypatch.setattr(dataset_module, "read_midi_labels", boom)
    with pytest.raises(AssertionError, match="parsed again"):
        cache.read(midi, True)
