"""Shared fixtures: tiny configs and small synthesized datasets (no network, no soundfont)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from sound2sheet.data.manifest import write_manifest
from sound2sheet.data.synthetic import write_example
from sound2sheet.model import DataConfig, ModelConfig, TrainingConfig
from sound2sheet.notes import NoteEvent

torch.set_num_threads(2)


def load_benchmark(name: str):
    """``benchmarks/<name>.py`` as a module: the benchmarks are scripts, not a package."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session", autouse=True)
def isolated_startup_cache(tmp_path_factory):
    """Tests (and their subprocesses) keep the start-up cache out of the user's ~/.cache."""
    import os

    from sound2sheet.startup_cache import ENV

    before = os.environ.get(ENV)
    os.environ[ENV] = str(tmp_path_factory.mktemp("startup_cache"))
    yield Path(os.environ[ENV])
    if before is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = before


def tiny_model_config(**overrides) -> ModelConfig:
    """A from-scratch model small enough to train in seconds on a CPU."""
    kw = dict(pretrained=False, encoder_size="tiny", classifier_hidden_dim=128, mel_skip_dim=64, dropout=0.0)
    kw.update(overrides)
    return ModelConfig(**kw)


def training_config(checkpoint_dir: Path, **overrides) -> TrainingConfig:
    kw = dict(
        learning_rate=2e-3, batch_size=4, num_epochs=2, use_mixed_precision=False, progress=False,
        checkpoint_dir=str(checkpoint_dir), warmup_steps=10, log_every_steps=0, early_stopping_patience=0,
    )
    kw.update(overrides)
    return TrainingConfig(**kw)


def isolated_notes(onsets: list[float], pitches: list[int], length: float = 0.4, velocity: int = 90) -> list[NoteEvent]:
    return [NoteEvent(p, t, t + length, velocity) for t, p in zip(onsets, pitches)]


def write_dataset(root: Path, splits: dict[str, list[tuple[str, list[NoteEvent], float]]]) -> Path:
    """``splits[split] = [(name, notes, duration), ...]`` -> dataset directory with manifests."""
    for split, clips in splits.items():
        items = [write_example(root, name, notes, duration, seed=i) for i, (name, notes, duration) in enumerate(clips)]
        write_manifest(root, split, items)
    return root


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    """Six short training clips and one validation clip of random notes."""
    from sound2sheet.data.synth import random_notes

    rng = np.random.default_rng(1)
    root = tmp_path_factory.mktemp("small_dataset")
    train = [(f"train_{i}", random_notes(rng, 3.0, (48, 84), 3.0), 3.0) for i in range(6)]
    val = [("val_0", random_notes(rng, 3.0, (48, 84), 3.0), 3.0)]
    return write_dataset(root, {"train": train, "val": val})


@pytest.fixture
def data_config(small_dataset) -> DataConfig:
    return DataConfig(dataset_dir=small_dataset, crop_seconds=1.28)


SHORT = [NoteEvent(p, t, t + 0.45, 90) for t, p in [(0.4, 60), (1.3, 64), (2.2, 67), (3.27, 72), (4.1, 55)]]
LONG_TIMES = [0.6, 1.8, 3.27, 4.5, 5.7, 6.9, 8.1, 9.3, 10.5, 11.7, 12.9, 14.1, 15.3, 16.5, 17.7, 18.9, 20.1, 21.3, 22.2, 23.27]
LONG = [NoteEvent(int(p), t, t + 0.45, 90) for t, p in zip(LONG_TIMES, np.random.default_rng(7).integers(48, 85, len(LONG_TIMES)))]


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny model trained until it reproduces SHORT and LONG: (model, data dir, history)."""
    from sound2sheet.model import Sound2SheetModel, Trainer
    from sound2sheet.model.dataset import create_dataloaders

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
