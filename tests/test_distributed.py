"""``torchrun --nproc_per_node=2 -m sound2sheet train`` (DDP, gloo on CPU) trains like one
process with the same global batch, resumes on every rank, and only rank 0 writes files or
logs INFO."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from sound2sheet.data.synth import random_notes
from tests.conftest import write_dataset
from tests.train_subprocess import max_weight_diff, run_config, subprocess_env, train_command, write_config

# Measured max |weight difference| after these 10 AdamW steps, against 1 process x batch 4:
# 2 ranks x batch 2 (stopped after epoch 1 and resumed, or not: identical) ~4e-6, float sums
# in another order; 1 process on half the batch (what a rank that does not average gradients
# would do) ~5e-2; another seed ~0.2.
WEIGHT_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def ddp_dataset(tmp_path_factory) -> Path:
    """6 train clips (18 crops of 1.28 s), 3 val clips (uneven across 2 ranks), 1 test clip."""
    rng = np.random.default_rng(5)
    clip = lambda name, seconds: (name, random_notes(rng, seconds, (48, 84), 3.0), seconds)  # noqa: E731
    root = tmp_path_factory.mktemp("ddp_dataset")
    return write_dataset(root, {
        "train": [clip(f"train_{i}", 3.0) for i in range(6)],
        "val": [clip(f"val_{i}", 2.0) for i in range(3)],
        "test": [clip("test_0", 2.0)],
    })


def _single_process(config: dict) -> list[dict]:
    """The reference run, in this process, single-threaded like the torchrun workers."""
    from sound2sheet.commands.train import run_training
    from sound2sheet.runconfig import SECTIONS, RunConfig

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_training(RunConfig(**{k: SECTIONS[k].from_dict(v) for k, v in config.items()}))
    finally:
        torch.set_num_threads(threads)


def test_torchrun_two_processes_match_one_process_with_the_same_global_batch(ddp_dataset, tmp_path):
    # Constant LR after warm-up, so stopping after epoch 1 and resuming for 2 changes no step.
    common = dict(lr_schedule="constant")
    one = tmp_path / "one"
    history_one = _single_process(run_config(ddp_dataset, one, batch_size=4, **common))  # also fills the mel cache

    two = tmp_path / "two"
    cfg = write_config(tmp_path / "ddp.json", run_config(ddp_dataset, two, batch_size=2, num_epochs=1, **common))
    outputs = []
    for extra in ([], ["--resume", "--set", "training.num_epochs=2"]):  # epoch 1, then resume every rank for epoch 2
        proc = subprocess.run(train_command(cfg, *extra, nproc=2), env=subprocess_env(), capture_output=True,
                              text=True, timeout=300)
        outputs.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, outputs[-1][-4000:]
    first, resumed = outputs

    # Only rank 0 wrote files and logged INFO.
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir()) == [
        "best_model.pt", "history.json", "last.pt", "run_config.json", "test_scores.json"]
    assert first.count("INFO sound2sheet.model.trainer: epoch 1/1") == 1, first[-4000:]
    assert first.count("distributed training: 2 processes, backend gloo") == 1, first[-4000:]
    assert resumed.count(f"resumed from {two / 'last.pt'} at epoch 2, step 5") == 1, resumed[-4000:]
    assert resumed.count("INFO sound2sheet.model.trainer: epoch 2/2") == 1, resumed[-4000:]

    # Rank r takes every 2nd item of the epoch's permutation, so a step over both ranks sees
    # the items of one process's batch of 4; gradients are averaged: the same updates.
    assert max_weight_diff(one / "last.pt", two / "last.pt") < WEIGHT_TOLERANCE
    ckpt = torch.load(two / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["train_state"]["step"] == 10 and ckpt["train_state"]["world_size"] == 2
    assert ckpt["training_config"]["batch_size"] == 2

    history_two = json.loads((two / "history.json").read_text())
    assert len(history_two) == len(history_one) == 2
    for a, b in zip(history_one, history_two):
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-5)  # the global batch's loss
        assert b["val_loss"] == pytest.approx(a["val_loss"], abs=1e-4)  # 3 val files split 2 + 1, gathered
        assert b["val_frame_f1"] == pytest.approx(a["val_frame_f1"], abs=1e-3)
    scores_one = json.loads((one / "test_scores.json").read_text())
    scores_two = json.loads((two / "test_scores.json").read_text())
    assert scores_two["loss"] == pytest.approx(scores_one["loss"], abs=1e-4)
