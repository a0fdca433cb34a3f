"""A real ``sound2sheet train`` process killed with SIGKILL mid-epoch and restarted with
``--resume`` ends with exactly the weights of a run that never stopped (CPU, one thread)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import torch

from tests.train_subprocess import run_config, subprocess_env, train_command, write_config

STEPS_PER_EPOCH = 5  # 18 crops of the small dataset in batches of 4
EPOCHS = 4
KILL_AFTER_STEP = 7  # epoch 2, 2 batches in


def _config(dataset: Path, checkpoint_dir: Path) -> dict:
    # Dropout on: the restored RNG state matters too. last.pt after every step.
    return run_config(dataset, checkpoint_dir, model={"dropout": 0.1}, num_epochs=EPOCHS, save_every_steps=1)


def _train_state(path: Path) -> dict | None:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)["train_state"]
    except (FileNotFoundError, RuntimeError, EOFError, KeyError):
        return None


def _kill_mid_epoch(config: Path, checkpoint_dir: Path, log: Path, timeout: float = 240.0) -> dict | None:
    """Start a run, SIGKILL it once ``last.pt`` is past ``KILL_AFTER_STEP`` and inside an
    epoch; the train state it left, or None when the run ended before the kill landed."""
    with open(log, "w") as out:
        proc = subprocess.Popen(train_command(config), env=subprocess_env(), stdout=out, stderr=subprocess.STDOUT)
    last = checkpoint_dir / "last.pt"
    deadline = time.monotonic() + timeout
    seen = None
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            stamp = last.stat().st_mtime_ns if last.exists() else None
            if stamp is not None and stamp != seen:
                seen = stamp
                st = _train_state(last)
                if st and st["step"] >= KILL_AFTER_STEP and 0 < st["batch_in_epoch"] < STEPS_PER_EPOCH - 1:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            time.sleep(0.005)
    finally:
        if proc.poll() is None and time.monotonic() >= deadline:
            proc.kill()
        proc.wait()
    if proc.returncode != -signal.SIGKILL:
        return None  # finished (or failed) first
    return _train_state(last)


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(small_dataset, tmp_path):
    straight_dir = tmp_path / "straight"
    straight_cfg = write_config(tmp_path / "straight.json", _config(small_dataset, straight_dir))
    straight_log = open(tmp_path / "straight.log", "w")
    straight = subprocess.Popen(train_command(straight_cfg), env=subprocess_env(), stdout=straight_log,
                                stderr=subprocess.STDOUT)  # runs beside the killed one

    try:
        for attempt in range(3):  # a kill that lands too late (run already over) is retried
            killed_dir = tmp_path / f"killed{attempt}"
            killed_cfg = write_config(tmp_path / f"killed{attempt}.json", _config(small_dataset, killed_dir))
            state = _kill_mid_epoch(killed_cfg, killed_dir, tmp_path / f"killed{attempt}.log")
            if state is not None and not state["finished"] and state["batch_in_epoch"] > 0:
                break
        else:
            raise AssertionError(f"could not kill a run mid-epoch; last log:\n{(tmp_path / f'killed{attempt}.log').read_text()[-3000:]}")
        assert KILL_AFTER_STEP <= state["step"] < STEPS_PER_EPOCH * EPOCHS

        # A write cut off by the kill leaves only a hidden temp file beside last.pt; fake one
        # (with junk) to check a resumed run neither reads it nor leaves it behind.
        (killed_dir / ".last.pt.deadbeef.tmp").write_bytes(b"half a checkpoint")
        resumed = subprocess.run(train_command(killed_cfg, "--resume"), env=subprocess_env(), capture_output=True,
                                 text=True, timeout=240)
        assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
        assert f"resumed from {killed_dir / 'last.pt'} at epoch {state['epoch'] + 1}, step {state['step']}" in resumed.stderr
    finally:
        assert straight.wait(timeout=240) == 0, (tmp_path / "straight.log").read_text()[-3000:]
        straight_log.close()

    assert sorted(p.name for p in killed_dir.iterdir()) == sorted(p.name for p in straight_dir.iterdir()) == [
        "best_model.pt", "history.json", "last.pt", "run_config.json"]
    a = torch.load(straight_dir / "last.pt", map_location="cpu", weights_only=True)
    b = torch.load(killed_dir / "last.pt", map_location="cpu", weights_only=True)
    assert a["train_state"]["step"] == b["train_state"]["step"] == STEPS_PER_EPOCH * EPOCHS
    for name, tensor in a["model_state_dict"].items():
        assert torch.equal(tensor, b["model_state_dict"][name]), name
    for pa, pb in zip(a["optimizer_state_dict"]["state"].values(), b["optimizer_state_dict"]["state"].values()):
        assert all(torch.equal(pa[k], pb[k]) for k in pa)
    best_a = torch.load(straight_dir / "best_model.pt", map_location="cpu", weights_only=True)["model_state_dict"]
    best_b = torch.load(killed_dir / "best_model.pt", map_location="cpu", weights_only=True)["model_state_dict"]
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)
    strip = lambda history: [{k: v for k, v in e.items() if k != "epoch_time_s"} for e in history]  # noqa: E731
    assert strip(json.loads((killed_dir / "history.json").read_text())) == strip(json.loads((straight_dir / "history.json").read_text()))
