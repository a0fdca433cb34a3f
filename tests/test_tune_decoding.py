"""benchmarks/tune_decoding.py --save-scores: each piece's scores under the setting it chose."""

import json
import sys

import numpy as np
import pytest

from sound2sheet.model import InferenceConfig
from tests.conftest import load_benchmark

tune_decoding = load_benchmark("tune_decoding")


def test_saved_scores_are_the_chosen_settings_per_piece(trained, tmp_path, capsys, monkeypatch):
    model, data_dir, _ = trained
    out = tmp_path / "scores.json"
    checkpoint = str(data_dir.parent / "ckpt" / "best_model.pt")
    monkeypatch.setattr(sys, "argv", [
        "tune_decoding.py", checkpoint, "--dataset", str(data_dir),
        "--frame", "0.5", "0.95", "--onset", "0.5", "--max-seconds", "30", "--save-scores", str(out)])
    tune_decoding.main()
    printed = capsys.readouterr().out
    best = next(line for line in printed.splitlines() if line.startswith("best:"))
    assert "frame 0.5," in best  # a 0.95 frame threshold loses notes the tiny model reproduces
    saved = json.loads(out.read_text())
    assert [(p["id"], p["piece"]) for p in saved["pieces"]] == [("short", "short"), ("long", "long")]
    onset = np.mean([p["note_onset_f1"] for p in saved["pieces"]])
    offset = np.mean([p["note_offset_f1"] for p in saved["pieces"]])
    assert f"note-onset F1 {onset:.4f}, note-with-offset F1 {offset:.4f}" in best
    assert saved["flags"] in printed and "classification_threshold=0.5 " in saved["flags"]

    # --as-saved: one row, the checkpoint's own thresholds
    monkeypatch.setattr(sys, "argv", ["tune_decoding.py", checkpoint, "--dataset", str(data_dir), "--as-saved"])
    tune_decoding.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 0")]
    saved = model.inference_config or InferenceConfig()
    assert len(rows) == 1 and rows[0].startswith(f"| {saved.classification_threshold} | {saved.onset_threshold} |")


def test_as_saved_refuses_sweep_flags(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["tune_decoding.py", "model.pt", "--as-saved", "--onset", "0.5"])
    with pytest.raises(SystemExit, match="2"):
        tune_decoding.main()


def test_conditions_score_each_piece_under_each(trained, tmp_path, capsys, monkeypatch):
    from sound2sheet.core import AudioProcessor
    from sound2sheet.core.audio import audio_peak
    from sound2sheet.data.manifest import read_manifest, resolve_inside

    model, data_dir, _ = trained
    out = tmp_path / "scores.json"
    processor = AudioProcessor.from_config(model.data_config)
    # normalise to the level the tiny model trained at, so clean is heard as in training
    level = max(audio_peak(processor.load_audio(resolve_inside(data_dir, item.audio)))
                for item in read_manifest(data_dir, "val"))
    monkeypatch.setattr(sys, "argv", [
        "tune_decoding.py", str(data_dir.parent / "ckpt" / "best_model.pt"), "--dataset", str(data_dir),
        "--frame", "0.5", "--onset", "0.5", "--max-seconds", "1000", "--normalize-peak", f"{level:.4f}",
        "--conditions", "clean", "quiet", "hall-1.5s", "--save-scores", str(out)])
    tune_decoding.main()
    assert "6 val pieces" in capsys.readouterr().out
    rows = {p["id"]: p for p in json.loads(out.read_text())["pieces"]}
    assert list(rows) == [f"{piece}@{c}" for piece in ("short", "long") for c in ("clean", "quiet", "hall-1.5s")]
    assert {p["piece"] for p in rows.values()} == {"short", "long"}  # a piece's conditions stay one cluster
    for piece in ("short", "long"):  # -30 dB is undone by the level normalisation, measured on the treated audio
        assert rows[f"{piece}@quiet"]["note_onset_f1"] == pytest.approx(rows[f"{piece}@clean"]["note_onset_f1"], abs=0.01)
        assert rows[f"{piece}@clean"]["note_onset_f1"] > 0.5


def test_chord_threshold_sweep_skips_points_at_or_above_the_onset_threshold(trained, tmp_path, capsys, monkeypatch):
    _, data_dir, _ = trained
    monkeypatch.setattr(sys, "argv", [
        "tune_decoding.py", str(data_dir.parent / "ckpt" / "best_model.pt"), "--dataset", str(data_dir),
        "--frame", "0.5", "--onset", "0.5", "--chord-threshold", "0", "0.3", "0.6", "--chord-window-ms", "30", "50",
        "--max-seconds", "30"])
    tune_decoding.main()
    printed = capsys.readouterr().out
    rows = [line.split(" | ")[10] for line in printed.splitlines() if line.startswith("| 0")]
    assert rows == ["0 / 30", "0.3 / 30", "0.3 / 50"]  # off once; 0.6 >= the onset threshold: skipped
    flags = next(line for line in printed.splitlines() if line.startswith("flags:"))
    assert "--inference chord_onset_threshold=" in flags and "--inference chord_window_ms=" in flags
