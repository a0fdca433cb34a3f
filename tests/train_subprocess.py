"""Helpers for tests that run ``sound2sheet train`` in subprocesses (torchrun, SIGKILL)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch


def subprocess_env() -> dict[str, str]:
    """One thread per process, so results do not depend on how busy the machine is."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)  # never inherit a launch
    return env


def train_command(config: Path, *args: str, nproc: int = 1) -> list[str]:
    """``python -m sound2sheet train --config CONFIG ...``, under torchrun when ``nproc > 1``."""
    launcher = ["-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--standalone"] if nproc > 1 else []
    return [sys.executable, *launcher, "-m", "sound2sheet", "train", "--config", str(config), *args]


def run_config(dataset: Path, checkpoint_dir: Path, model: dict | None = None, **training) -> dict:
    """A tiny from-scratch model (dropout 0, fp32, CPU) as a run-config dict."""
    return {
        "model": {**dict(pretrained=False, encoder_size="tiny", classifier_hidden_dim=128, mel_skip_dim=64, dropout=0.0),
                  **(model or {})},
        "training": {**dict(
            learning_rate=2e-3, batch_size=4, num_epochs=2, use_mixed_precision=False, progress=False,
            checkpoint_dir=str(checkpoint_dir), warmup_steps=10, log_every_steps=0, early_stopping_patience=0,
            device="cpu", seed=3,
        ), **training},
        "data": dict(dataset_dir=str(dataset), crop_seconds=1.28),
    }


def write_config(path: Path, config: dict) -> Path:
    path.write_text(json.dumps(config, indent=2))
    return path


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["model_state_dict"]


def max_weight_diff(a: Path, b: Path) -> float:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)
