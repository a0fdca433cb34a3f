"""evaluate: agreement with the reference scorer, reports, plots, CLI."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from sound2sheet.cli import main as cli_main
from sound2sheet.evaluate import collect_pairs, evaluate, score_piece
from sound2sheet.midi import write_midi
from sound2sheet.notes import NoteEvent

SCORER = Path(__file__).resolve().parents[2] / "shared" / "bench" / "score.py"


def _random_notes(rng, n=80, length=30.0):
    onsets = np.sort(rng.uniform(0, length, n))
    return [NoteEvent(int(rng.integers(30, 100)), float(t), float(t + rng.uniform(0.05, 1.5)), int(rng.integers(20, 120))) for t in onsets]


def _perturb(rng, notes):
    out = []
    for n in notes:
        r = rng.random()
        if r < 0.1:
            continue  # missed
        shift = float(rng.choice([0.0, 0.01, -0.03, 0.07])) if r < 0.6 else 0.0
        offset = n.offset * float(rng.choice([1.0, 1.1, 1.6]))
        out.append(NoteEvent(n.pitch + (1 if r > 0.95 else 0), max(0.0, n.onset + shift), max(offset, n.onset + shift + 0.02), n.velocity))
    out += _random_notes(rng, 5)  # false alarms
    return out


@pytest.fixture(scope="module")
def fixture_dirs(tmp_path_factory):
    rng = np.random.default_rng(0)
    gt, est = tmp_path_factory.mktemp("gt"), tmp_path_factory.mktemp("est")
    for name in ("a", "b", "c"):
        ref = _random_notes(rng)
        write_midi(ref, gt / f"{name}.mid")
        if name != "c":  # c has no estimate: scores 0
            write_midi(_perturb(rng, ref), est / f"{name}.mid")
    return gt, est


@pytest.mark.skipif(not SCORER.exists(), reason="reference scorer (shared/bench/score.py) not beside the repo")
def test_agrees_with_the_reference_scorer(fixture_dirs):
    gt, est = fixture_dirs
    spec = importlib.util.spec_from_file_location("reference_score", SCORER)
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    rows = {r[0]: r for r in reference.score(str(gt), str(est))}
    report = evaluate(collect_pairs(gt), predictions=est)
    for name, (_, p, r, f, fo) in rows.items():
        ours = report["pieces"][name]
        assert ours["note_onset_precision"] == pytest.approx(p, abs=1e-9)
        assert ours["note_onset_recall"] == pytest.approx(r, abs=1e-9)
        assert ours["note_onset_f1"] == pytest.approx(f, abs=1e-9)
        assert ours["note_offset_f1"] == pytest.approx(fo, abs=1e-9)
    assert report["mean"]["note_onset_f1"] == pytest.approx(np.mean([r[3] for r in rows.values()]), abs=1e-9)
    assert 0.2 < report["mean"]["note_onset_f1"] < 0.9  # a real, imperfect fixture


def test_frame_scores_and_velocity():
    ref = [NoteEvent(60, 0.0, 1.0, 80), NoteEvent(64, 0.5, 1.0, 80)]
    est = [NoteEvent(60, 0.0, 0.5, 80)]
    s = score_piece(ref, est)
    assert s["frame_precision"] == pytest.approx(1.0) and s["frame_recall"] == pytest.approx(50 / 150)
    assert s["note_onset_recall"] == pytest.approx(0.5) and "note_offset_velocity_f1" in s
    assert score_piece(ref, [])["note_onset_f1"] == 0.0


def test_cli_report_table_and_plots(fixture_dirs, tmp_path, capsys):
    gt, est = fixture_dirs
    report_path, plots = tmp_path / "report.json", tmp_path / "plots"
    assert cli_main(["evaluate", str(gt), "--predictions", str(est), "--report", str(report_path), "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    assert "onset f1" in out and out.strip().splitlines()[-1].startswith("mean")
    report = json.loads(report_path.read_text())
    assert set(report) == {"mean", "pieces"} and set(report["pieces"]) == {"a", "b", "c"}
    assert report["pieces"]["c"]["note_onset_f1"] == 0.0
    assert sorted(p.name for p in plots.glob("*.png")) == ["a.png", "b.png", "c.png"]
    assert (plots / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = report_path.read_bytes()
    args = ["evaluate", str(gt), "--predictions", str(est), "--report", str(report_path)]
    assert cli_main(args) == 2 and report_path.read_bytes() == before  # never replaced silently
    assert "already exist (use --overwrite)" in capsys.readouterr().err
    assert cli_main(args + ["--plots", str(tmp_path / "new"), "--overwrite"]) == 0
    assert cli_main(["evaluate", str(gt), "--predictions", str(est), "--plots", str(plots)]) == 2


def test_evaluate_runs_the_model(trained, tmp_path, capsys):
    model, data, _ = trained
    checkpoint = data.parent / "ckpt" / "best_model.pt"
    pairs_dir = tmp_path / "pairs"
    pairs_dir.mkdir()
    for name in ("short", "long"):
        (pairs_dir / f"{name}.flac").write_bytes((data / "audio" / f"{name}.flac").read_bytes())
        (pairs_dir / f"{name}.mid").write_bytes((data / "midi" / f"{name}.mid").read_bytes())
    report_path = tmp_path / "r.json"
    assert cli_main(["evaluate", str(pairs_dir), "--checkpoint", str(checkpoint), "--report", str(report_path),
                     "--save-predictions", str(tmp_path / "pred")]) == 0
    report = json.loads(report_path.read_text())
    assert report["mean"]["note_onset_f1"] >= 0.9
    assert report["pieces"]["long"]["audio_seconds"] == pytest.approx(25.0, abs=0.01)
    # scoring the saved transcriptions gives the same numbers
    again = evaluate(collect_pairs(pairs_dir), predictions=tmp_path / "pred")
    assert again["mean"]["note_onset_f1"] == pytest.approx(report["mean"]["note_onset_f1"], abs=1e-6)


def test_hear_pairs_gives_what_transcription_decodes(trained, tmp_path):
    from sound2sheet.evaluate import hear_pairs
    from sound2sheet.inference import Transcriber
    from sound2sheet.timing import num_frames_for_duration

    model, data, _ = trained
    for name in ("short", "long"):
        (tmp_path / f"{name}.flac").write_bytes((data / "audio" / f"{name}.flac").read_bytes())
        (tmp_path / f"{name}.mid").write_bytes((data / "midi" / f"{name}.mid").read_bytes())
    heard = {h.pair.name: h for h in hear_pairs(model, tmp_path)}
    for name, h in heard.items():
        decoded = model.decode(h.probs)[0]
        transcribed = Transcriber(model).transcribe_file(h.pair.audio).notes
        assert decoded and [(n.pitch, round(n.onset, 2), round(n.offset, 2)) for n in decoded] == \
            [(n.pitch, round(n.onset, 2), round(n.offset, 2)) for n in transcribed]
    cut = next(h for h in hear_pairs(model, tmp_path, max_seconds=3.0) if h.pair.name == "long")
    dc = model.data_config
    assert cut.probs["frame"].shape[1] == num_frames_for_duration(3.0, dc.sample_rate, dc.win_length, dc.hop_length)
    assert cut.reference
    assert all(n.onset < 3.0 for n in cut.reference) and len(cut.reference) < len(heard["long"].reference)
