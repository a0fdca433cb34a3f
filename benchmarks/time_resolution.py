"""How precisely do onsets come out? The encoder's tokens are 80-100 ms apart; this trains the
same small model on synthesized clips with and without the per-frame mel skip path, and with
a finer time stride, and reports note-onset F1 and the timing error of matched onsets.

Usage: python benchmarks/time_resolution.py [--steps 600] [--work DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sound2sheet.core import AudioProcessor
from sound2sheet.data.synthetic import make_synthetic_dataset
from sound2sheet.metrics import note_scores
from sound2sheet.midi import read_midi_notes
from sound2sheet.model import DataConfig, InferenceConfig, ModelConfig, Sound2SheetModel, Trainer, TrainingConfig
from sound2sheet.model.dataset import create_dataloaders

VARIANTS = {
    "tokens only, time stride 8 (80 ms)": dict(mel_skip_dim=0),
    "tokens only, time stride 4 (40 ms)": dict(mel_skip_dim=0, encoder_config={"time_stride": 4}),
    "tokens + mel skip path, stride 8": dict(mel_skip_dim=128),
}


def onset_errors(reference, estimate) -> list[float]:
    import mir_eval
    import pretty_midi

    ri = np.array([[n.onset, n.offset] for n in reference]); rp = np.array([pretty_midi.note_number_to_hz(n.pitch) for n in reference])
    ei = np.array([[n.onset, n.offset] for n in estimate]).reshape(-1, 2); ep = np.array([pretty_midi.note_number_to_hz(n.pitch) for n in estimate])
    if not len(ep):
        return []
    matches = mir_eval.transcription.match_notes(ri, rp, ei, ep, onset_tolerance=0.05, offset_ratio=None)
    return [abs(ri[i, 0] - ei[j, 0]) for i, j in matches]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    work = args.work or Path(tempfile.mkdtemp(prefix="s2s-timeres-"))
    data = make_synthetic_dataset(work / "data", {"train": 48, "val": 4}, duration=6.0, seed=0) if not (work / "data" / "train.jsonl").exists() else work / "data"
    dc = DataConfig(dataset_dir=data, crop_seconds=2.56)
    rows = []
    for name, overrides in VARIANTS.items():
        mc = ModelConfig(pretrained=False, encoder_size="tiny", dropout=0.0, classifier_hidden_dim=256, **overrides)
        tc = TrainingConfig(learning_rate=2e-3, batch_size=8, num_epochs=10**6, max_steps=args.steps, use_mixed_precision=False,
                            progress=False, checkpoint_dir=str(work / "ckpt" / str(len(rows))), early_stopping_patience=0,
                            onset_pos_weight=20.0, log_every_steps=0, warmup_steps=30)
        train, val, _ = create_dataloaders(dc, mc, tc)
        torch.manual_seed(0)
        model = Sound2SheetModel(mc)
        started = time.perf_counter()
        trainer = Trainer(model, train, None, mc, tc, dc)
        trainer.train()
        model.eval()
        proc = AudioProcessor.from_config(dc)
        f1s, errors = [], []
        for item in val.dataset.items:
            mel = proc.features(proc.load_audio(data / item.audio))
            notes = model.decode(model.probabilities(mel), InferenceConfig())[0]
            ref = read_midi_notes(data / item.midi)
            f1s.append(note_scores(ref, notes)["note_onset_f1"])
            errors += onset_errors(ref, notes)
        rows.append((name, np.mean(f1s), np.median(errors) * 1000 if errors else float("nan"),
                     np.mean(np.array(errors) <= 0.02) if errors else float("nan"), time.perf_counter() - started))
    print(f"Synthesized clips (48 x 6 s train, 4 held-out), tiny encoder, {args.steps} steps, batch 8 x 2.56 s.")
    print("| variant | note-onset F1 | median onset error (ms) | matched onsets within 20 ms | train time (s) |")
    print("|---|---|---|---|---|")
    for name, f1, med, within, secs in rows:
        print(f"| {name} | {f1:.3f} | {med:.1f} | {within:.0%} | {secs:.0f} |")


if __name__ == "__main__":
    main()
