"""How a model holds up in rooms and recording chains it was not trained in: the dev pieces
(their first ``--max-seconds``) transcribed clean and under fixed treatments (a room, noise,
EQ, a quiet recording: :mod:`sound2sheet.data.conditions`, built with the same audio functions
as the dataset's augmentation), with fixed seeds so every checkpoint hears the same audio.

A proxy for the hidden evaluation set's "timbres and room conditions named nowhere": a
checkpoint that loses less here generalises better. A diagnostic, not a tuning target. Given
several checkpoints, each one's treated mean is also compared with the first's by a paired
block bootstrap (:func:`sound2sheet.metrics.paired_block_bootstrap`; each piece's 20 s blocks
drawn once for every condition), so a difference can be told from the noise of two pieces.

Usage: python benchmarks/robustness.py [DIR] [--checkpoint CKPT ...] [--max-seconds 120]
       [--conditions clean room-0.5s ...]
(DIR defaults to ../shared/bench/dev; no --checkpoint: the shipped model)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import numpy as np

from sound2sheet.data.conditions import CONDITIONS, treat


def crop_reference(notes, seconds: float):
    """Reference notes heard in the first ``seconds``, offsets cut there (as a cropped
    transcription ends them)."""
    from sound2sheet.notes import NoteEvent

    return [NoteEvent(n.pitch, n.onset, min(n.offset, seconds), n.velocity) for n in notes if n.onset < seconds - 0.05]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default="../shared/bench/dev")
    parser.add_argument("--checkpoint", nargs="+", default=[None], help="models (default: the shipped one)")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=list(CONDITIONS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--block-seconds", type=float, default=20.0, help="the bootstrap's blocks")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                        help="the model's float type (InferenceConfig.precision); default: the checkpoint's")
    args = parser.parse_args()

    import torch
    from tqdm.auto import tqdm

    from sound2sheet.core.audio import AudioProcessor
    from sound2sheet.evaluate import collect_pairs, reference_notes, score_piece
    from sound2sheet.metrics import block_counts, paired_block_bootstrap
    from sound2sheet.inference import Transcriber, load_model
    from sound2sheet.model import InferenceConfig

    torch.set_num_threads(args.threads)
    pairs = [p for p in collect_pairs(args.dir) if p.audio is not None]
    sample_rate = 16000  # the treatments' rate; transcribe_array resamples to the model's
    loader = AudioProcessor(sample_rate=sample_rate)
    clips = []
    for pair in pairs:
        audio = loader.load_audio(pair.audio)[: int(args.max_seconds * sample_rate)]
        clips.append((pair.name, audio, crop_reference(reference_notes(pair.midi), len(audio) / sample_rate)))
    treated = {(name, c): treat(audio, sample_rate, c, args.seed) for name, audio, _ in clips for c in args.conditions}

    results: dict[str, dict[str, tuple[float, float]]] = {}
    others = [c for c in args.conditions if c != "clean"]
    n_blocks = max(1, int(np.ceil(args.max_seconds / args.block_seconds)))
    counts: dict[str, list[np.ndarray]] = {}  # per checkpoint, per piece: [treated conditions, blocks, 4]
    started = time.perf_counter()
    for checkpoint in args.checkpoint:
        label = checkpoint or "shipped"
        model = load_model(checkpoint)
        config = model.inference_config or InferenceConfig()
        if args.precision is not None:
            config = dataclasses.replace(config, precision=args.precision)
        transcriber = Transcriber(model, config)
        blocks = {name: [] for name, _, _ in clips}
        for condition in tqdm(args.conditions, desc=label, unit="condition", file=sys.stderr):
            notes = [transcriber.transcribe_array(treated[(name, condition)], sample_rate).notes for name, _, _ in clips]
            scores = [score_piece(ref, est) for (_, _, ref), est in zip(clips, notes)]
            results.setdefault(label, {})[condition] = (float(np.mean([s["note_onset_f1"] for s in scores])),
                                                        float(np.mean([s["note_offset_f1"] for s in scores])))
            if condition != "clean":
                for (name, _, ref), est in zip(clips, notes):
                    blocks[name].append(block_counts(ref, est, args.block_seconds, n_blocks))
        counts[label] = [np.stack(b) for b in blocks.values()] if others else []

    print(f"Dev pieces ({', '.join(n for n, _, _ in clips)}), first {args.max_seconds:g} s each; "
          f"mean note-onset / note-with-offset F1. {time.perf_counter() - started:.0f} s.")
    print("Command: python benchmarks/robustness.py " + " ".join(sys.argv[1:]))
    print()
    print("| condition | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for condition in args.conditions:
        print(f"| {condition} | " + " | ".join(f"{r[condition][0]:.3f} / {r[condition][1]:.3f}" for r in results.values()) + " |")
    if others:
        print("| mean of treated | " + " | ".join(
            f"{np.mean([r[c][0] for c in others]):.4f} / {np.mean([r[c][1] for c in others]):.4f}" for r in results.values()) + " |")
    labels = list(counts)
    if others and len(labels) > 1:
        print(f"\nThe treated mean, B - A against {labels[0]} (paired block bootstrap, {args.block_seconds:g} s blocks, "
              f"{args.resamples} resamples)\n")
        print("| B | note-onset F1 B - A [95 %] | note-with-offset F1 B - A [95 %] |\n|---|---|---|")
        for label in labels[1:]:
            diffs = paired_block_bootstrap(counts[labels[0]], counts[label], args.resamples, args.seed)
            point = [np.mean([results[label][c][k] - results[labels[0]][c][k] for c in others]) for k in (0, 1)]
            cells = [f"{point[k]:+.4f} [{lo:+.4f}, {hi:+.4f}]"
                     for k, (lo, hi) in enumerate(np.percentile(diffs, [2.5, 97.5], axis=0).T)]
            print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
