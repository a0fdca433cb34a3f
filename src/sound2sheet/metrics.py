"""The field's metrics: mir_eval note scores and frame scores at the model's 10 ms frames.

Note scores follow the reference scorer (shared/bench/score.py): intervals
``[onset, max(offset, onset + 1 ms)]``, pitches in Hz, onset tolerance 50 ms; "with offset"
adds mir_eval's default offset tolerance (20 % of the note or 50 ms, whichever is longer).
A piece with no estimated notes scores 0; with neither reference nor estimated notes, 1.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from sound2sheet.notes import NoteEvent

ONSET_TOLERANCE = 0.05


def mir_eval_arrays(notes: Sequence[NoteEvent]) -> tuple[np.ndarray, np.ndarray]:
    """Intervals ``[n, 2]`` (s) and pitches ``[n]`` (Hz) as mir_eval's note metrics take them;
    public so benchmarks match notes exactly as the project's scores do (zero-length notes get 1 ms)."""
    import pretty_midi

    intervals = np.array([[n.onset, max(n.offset, n.onset + 1e-3)] for n in notes], dtype=np.float64).reshape(-1, 2)
    pitches = np.array([pretty_midi.note_number_to_hz(n.pitch) for n in notes], dtype=np.float64)
    return intervals, pitches


def note_scores(reference: Sequence[NoteEvent], estimate: Sequence[NoteEvent]) -> dict[str, float]:
    """Note onset and note-with-offset precision/recall/F1 (and with velocity when both have it)."""
    import mir_eval

    keys = ("note_onset", "note_offset")
    if not reference and not estimate:
        return {f"{k}_{m}": 1.0 for k in keys for m in ("precision", "recall", "f1")}
    if not reference or not estimate:
        return {f"{k}_{m}": 0.0 for k in keys for m in ("precision", "recall", "f1")}
    ri, rp = mir_eval_arrays(reference)
    ei, ep = mir_eval_arrays(estimate)
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, ratio in (("note_onset", None), ("note_offset", 0.2)):
            p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
                ri, rp, ei, ep, onset_tolerance=ONSET_TOLERANCE, offset_ratio=ratio
            )
            out.update({f"{name}_precision": p, f"{name}_recall": r, f"{name}_f1": f})
        if all(n.velocity is not None for n in reference) and all(n.velocity is not None for n in estimate):
            rv = np.array([n.velocity for n in reference], dtype=np.float64)
            ev = np.array([n.velocity for n in estimate], dtype=np.float64)
            p, r, f, _ = mir_eval.transcription_velocity.precision_recall_f1_overlap(
                ri, rp, rv, ei, ep, ev, onset_tolerance=ONSET_TOLERANCE
            )
            out.update({"note_offset_velocity_precision": p, "note_offset_velocity_recall": r, "note_offset_velocity_f1": f})
    return {k: float(v) for k, v in out.items()}


def frame_counts(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``[tp, fp, fn, tn]`` over two bool rolls of equal shape."""
    p, t = np.asarray(predicted, dtype=bool), np.asarray(target, dtype=bool)
    tp = int((p & t).sum())
    fp = int((p & ~t).sum())
    fn = int((~p & t).sum())
    return np.array([tp, fp, fn, p.size - tp - fp - fn], dtype=np.int64)


def frame_scores(counts: np.ndarray) -> dict[str, float]:
    """Frame precision/recall/F1 from summed counts; ``frame_accuracy`` is the share of correct
    roll cells (dominated by silence) and ``frame_tp_accuracy`` is TP / (TP + FP + FN)."""
    tp, fp, fn, tn = (float(x) for x in counts)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    total = tp + fp + fn + tn
    return {
        "frame_precision": precision,
        "frame_recall": recall,
        "frame_f1": f1,
        "frame_accuracy": (tp + tn) / total if total else 0.0,
        "frame_tp_accuracy": tp / (tp + fp + fn) if tp + fp + fn else 0.0,
    }


def block_counts(ref: Sequence[NoteEvent], est: Sequence[NoteEvent], block_seconds: float, n_blocks: int) -> np.ndarray:
    """Per block: [ref notes, est notes, onset matches, offset matches], shape ``[n_blocks, 4]``.

    A match counts in the block of its reference note's onset; notes past the last block go in it.
    """
    import mir_eval

    counts = np.zeros((n_blocks, 4), dtype=np.int64)

    def block(t: float) -> int:
        return min(int(t // block_seconds), n_blocks - 1)

    for n in ref:
        counts[block(n.onset), 0] += 1
    for n in est:
        counts[block(n.onset), 1] += 1
    if ref and est:
        ri, rp = mir_eval_arrays(ref)
        ei, ep = mir_eval_arrays(est)
        for col, ratio in ((2, None), (3, 0.2)):
            for i, _ in mir_eval.transcription.match_notes(ri, rp, ei, ep, offset_ratio=ratio):
                counts[block(ri[i, 0]), col] += 1
    return counts


def mean_f1(pieces: list[np.ndarray]) -> np.ndarray:
    """Mean over pieces of [onset F1, offset F1] from summed block counts (each ``[4]``)."""
    out = []
    for c in pieces:
        notes = c[0] + c[1]  # F1 = 2 matches / (reference + estimated notes)
        f = [2 * m / notes if notes else 0.0 for m in (c[2], c[3])]
        out.append(f)
    return np.mean(out, axis=0)


def paired_block_bootstrap(a: list[np.ndarray], b: list[np.ndarray], n_resamples: int, seed: int) -> np.ndarray:
    """B - A of the mean [onset F1, offset F1] per resample, shape ``[n_resamples, 2]``.

    ``a[k]`` and ``b[k]`` are piece k's block counts for the two systems, ``[n_blocks_k, 4]``,
    or ``[versions, n_blocks_k, 4]`` for the piece heard several ways (the robustness
    benchmark's conditions): each resample draws piece k's blocks once, for both systems and
    every version, since one passage is hard however it is heard; the mean is over pieces and
    versions.
    """
    rng = np.random.default_rng(seed)
    diffs = np.empty((n_resamples, 2))

    def f1(counts: list[np.ndarray], idx: list[np.ndarray]) -> np.ndarray:
        return mean_f1([row for c, i in zip(counts, idx) for row in np.take(c, i, axis=-2).sum(-2).reshape(-1, 4)])

    for r in range(n_resamples):
        idx = [rng.integers(0, ca.shape[-2], ca.shape[-2]) for ca in a]
        diffs[r] = f1(b, idx) - f1(a, idx)
    return diffs
