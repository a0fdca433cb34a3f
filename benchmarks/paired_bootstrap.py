"""Is system B's score different from system A's beyond the noise of a few pieces?

Two dev pieces decide a lot here, and candidates differ from the shipped model by 0.001-0.005.
This puts a confidence interval on the paired difference B - A of the mean note-onset and
note-with-offset F1 (mir_eval, as ``sound2sheet evaluate`` and ``score.py``): each piece is cut
into blocks of ``--block-seconds`` by note onset, notes are matched once per whole piece, and
blocks are resampled with replacement within each piece, the same blocks for both systems
(a paired block bootstrap: errors cluster in passages, so notes are not resampled one by one).

Given two score files from ``tune_decoding.py --save-scores`` instead of two folders, it does the
same for the validation pool's mean F1 over pieces: the pool's pieces are resampled by musical
piece (one piece rendered with several pianos is one cluster), the same for both systems.

Usage: python benchmarks/paired_bootstrap.py PRED_A PRED_B [--ref ../shared/bench/dev]
       python benchmarks/paired_bootstrap.py SCORES_A.json SCORES_B.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sound2sheet.metrics import block_counts, mean_f1, paired_block_bootstrap as paired_bootstrap
from sound2sheet.midi import read_midi_notes


def read_pool_scores(path: Path) -> dict[tuple[str, str], tuple[str, float, float]]:
    """``tune_decoding.py --save-scores`` output: (dataset, id) -> (piece, onset F1, offset F1)."""
    try:
        rows = json.loads(path.read_text())["pieces"]
        return {(r["dataset"], r["id"]): (r["piece"], r["note_onset_f1"], r["note_offset_f1"]) for r in rows}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"error: {path} is not a score file from tune_decoding.py --save-scores ({e})") from None


def cluster_bootstrap(a: np.ndarray, b: np.ndarray, clusters: list[str], n_resamples: int, seed: int) -> np.ndarray:
    """B - A of the mean [onset F1, offset F1] over pieces, per resample of whole clusters.

    ``a`` and ``b`` are ``[n_pieces, 2]``, row k for the same piece; ``clusters[k]`` names its
    cluster. Returns ``[n_resamples, 2]``.
    """
    names = sorted(set(clusters))
    members = [np.flatnonzero(np.array(clusters) == c) for c in names]
    diff = b - a
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, 2))
    for r in range(n_resamples):
        rows = np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])
        out[r] = diff[rows].mean(0)
    return out


def print_interval(point: np.ndarray, diffs: np.ndarray) -> None:
    print("\n| B - A | observed | 95 % interval | share of resamples B > A |\n|---|---|---|---|")
    for k, name in enumerate(("note-onset F1", "note-with-offset F1")):
        lo, hi = np.percentile(diffs[:, k], [2.5, 97.5])
        print(f"| {name} | {point[k]:+.4f} | [{lo:+.4f}, {hi:+.4f}] | {np.mean(diffs[:, k] > 0):.2f} |")


def pool_main(args: argparse.Namespace) -> None:
    a, b = read_pool_scores(args.pred_a), read_pool_scores(args.pred_b)
    if a.keys() != b.keys():
        raise SystemExit(f"error: {args.pred_a} and {args.pred_b} score different pieces "
                         f"({len(a.keys() ^ b.keys())} not in both)")
    keys = sorted(a)
    clusters = [a[k][0] for k in keys]
    fa = np.array([a[k][1:] for k in keys])
    fb = np.array([b[k][1:] for k in keys])
    print(f"{len(keys)} pool pieces in {len(set(clusters))} clusters (by musical piece), {args.resamples} resamples\n")
    print("| dataset | pieces | A onset / offset F1 | B onset / offset F1 |\n|---|---|---|---|")
    sets = [k[0] for k in keys]
    for name in sorted(set(sets)) + ["all (the pool's mean)"]:
        rows = [i for i, d in enumerate(sets) if d == name or name.startswith("all")]
        ma, mb = fa[rows].mean(0), fb[rows].mean(0)
        print(f"| {name} | {len(rows)} | {ma[0]:.4f} / {ma[1]:.4f} | {mb[0]:.4f} / {mb[1]:.4f} |")
    print_interval(fb.mean(0) - fa.mean(0), cluster_bootstrap(fa, fb, clusters, args.resamples, args.seed))
    print(f"\nCommand: python benchmarks/paired_bootstrap.py {args.pred_a} {args.pred_b} "
          f"--resamples {args.resamples} --seed {args.seed}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pred_a", type=Path, help="folder of <name>.mid transcriptions, or a pool score file (the baseline)")
    ap.add_argument("pred_b", type=Path, help="the same for the candidate")
    ap.add_argument("--ref", type=Path, default=Path("../shared/bench/dev"), help="folder of reference <name>.mid")
    ap.add_argument("--block-seconds", type=float, default=20.0)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-pedal", action="store_true", help="do not extend reference offsets by the sustain pedal")
    args = ap.parse_args()
    if args.pred_a.is_file() and args.pred_b.is_file():
        pool_main(args)
        return

    refs = sorted(args.ref.glob("*.mid"))
    if not refs:
        raise SystemExit(f"error: no reference .mid files in {args.ref}")
    a_counts, b_counts = [], []
    print(f"{len(refs)} pieces of {args.ref}, blocks of {args.block_seconds:g} s, {args.resamples} resamples\n")
    print("| piece | blocks | A onset / offset F1 | B onset / offset F1 |\n|---|---|---|---|")
    for path in refs:
        ref = read_midi_notes(path, sustain_pedal=not args.no_pedal)
        end = max((n.onset for n in ref), default=0.0)
        n_blocks = max(1, int(np.ceil((end + 1e-9) / args.block_seconds)))
        row = []
        for pred, store in ((args.pred_a, a_counts), (args.pred_b, b_counts)):
            est_path = pred / path.name
            est = read_midi_notes(est_path, sustain_pedal=False) if est_path.exists() else []
            store.append(block_counts(ref, est, args.block_seconds, n_blocks))
            row.append(mean_f1([store[-1].sum(0)]))
        print(f"| {path.stem} | {n_blocks} | {row[0][0]:.4f} / {row[0][1]:.4f} | {row[1][0]:.4f} / {row[1][1]:.4f} |")
    point = mean_f1([c.sum(0) for c in b_counts]) - mean_f1([c.sum(0) for c in a_counts])
    print_interval(point, paired_bootstrap(a_counts, b_counts, args.resamples, args.seed))
    print(f"\nCommand: python benchmarks/paired_bootstrap.py {args.pred_a} {args.pred_b} --ref {args.ref} "
          f"--block-seconds {args.block_seconds:g} --resamples {args.resamples} --seed {args.seed}")


if __name__ == "__main__":
    main()
