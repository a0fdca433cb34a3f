"""How much would a perfect onset head give? Decode a model's output with the *true* onsets.

For each ``<name>.<audio>`` + ``<name>.mid`` pair in DIR, the model's probabilities are decoded
with its own decoding settings, as shipped and with the reference's onset roll
(:func:`sound2sheet.labels.notes_to_rolls`, the target the onset head is trained on) in place of
the head's: the difference is what onsets cost both scores. Then the reference notes the
shipped decoding misses, by the head's highest onset probability on their key within 50 ms of
their onset: a miss with a peak just under the threshold is a calibration problem, one with no
peak is a detection problem (docs/experiments.md #66); and the recall of notes struck with a
louder one (a chord's quiet members) against the rest (#71). With ``--peaks``: how well each
head tells the weak onset peaks (local maxima in [0.3, threshold)) of real notes from the rest,
by AUC, alone and in a cross-validated logistic fit (#79). A diagnostic: nothing is tuned on
what it prints.

Usage: python benchmarks/onset_oracle.py [DIR] [--checkpoint CKPT] [--max-seconds S] [--peaks]
(DIR defaults to ../shared/bench/dev)
"""

from __future__ import annotations

import argparse

import numpy as np

BINS = (0.0, 0.1, 0.3, 0.5)  # then the checkpoint's onset threshold, then 1


def peak_near_onsets(onset: np.ndarray, reference, hop_s: float, min_pitch: int, window_s: float = 0.05) -> np.ndarray:
    """``onset [frames, keys]`` probabilities -> ``[notes]``: each reference note's highest
    probability on its own key within ``window_s`` of its onset (0 off the keyboard)."""
    reach = int(round(window_s / hop_s))
    out = np.zeros(len(reference), dtype=np.float32)
    for i, note in enumerate(reference):
        key, frame = note.pitch - min_pitch, int(round(note.onset / hop_s))
        if 0 <= key < onset.shape[1] and frame - reach < onset.shape[0]:
            out[i] = onset[max(0, frame - reach): frame + reach + 1, key].max()
    return out


def under_louder_chord_mate(reference, window_s: float = 0.03) -> np.ndarray:
    """``[notes]`` bool: a louder reference note is struck within ``window_s`` of the note's
    onset. Such quiet chord members are where recall is lost (docs/experiments.md #71)."""
    if not reference:
        return np.zeros(0, dtype=bool)
    onset = np.array([n.onset for n in reference])
    velocity = np.array([n.velocity if n.velocity is not None else 0 for n in reference])
    near = np.abs(onset[:, None] - onset[None, :]) < window_s  # [notes, notes]
    return (near & (velocity[None, :] > velocity[:, None])).any(axis=1)


PEAK_FEATURES = ("onset peak", "frame", "frame 30 ms later", "velocity")


def weak_peaks(probs: dict[str, np.ndarray], reference, hop_s: float, min_pitch: int, low: float, high: float,
               window_s: float = 0.05, later_frames: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``{head: [frames, keys]}`` -> ``(features [peaks, 4], real [peaks] bool)``: every local
    maximum of the onset probability in ``[low, high)``, described by :data:`PEAK_FEATURES`, and
    whether a reference note on its key starts within ``window_s`` of it."""
    from sound2sheet.decoding import onset_peaks

    onset, frame, velocity = probs["onset"], probs["frame"], probs.get("velocity", np.zeros_like(probs["onset"]))
    t, k = np.nonzero(onset_peaks(onset, low) & (onset < high))  # the decoder's own peaks
    starts: dict[int, list[float]] = {}
    for note in reference:
        starts.setdefault(note.pitch - min_pitch, []).append(note.onset / hop_s)
    reach = window_s / hop_s + 1e-6
    real = np.array([bool(starts.get(key)) and np.abs(np.array(starts[key]) - f).min() <= reach
                     for f, key in zip(t, k)], dtype=bool)
    later = np.minimum(t + later_frames, onset.shape[0] - 1)
    features = np.stack([onset[t, k], frame[t, k], frame[later, k], velocity[t, k]], axis=1)
    return features.astype(np.float64), real


def auc(real: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``real`` (the Mann-Whitney statistic; ties count half)."""
    from scipy.stats import rankdata

    n1, n0 = int(real.sum()), int((~real).sum())
    if not n1 or not n0:
        return float("nan")
    return float((rankdata(score)[real].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def cross_validated_logit(features: np.ndarray, real: np.ndarray, folds: int = 5) -> np.ndarray:
    """``[n, d]`` probabilities -> ``[n]`` held-out scores of a logistic fit on their logits."""
    from scipy.optimize import minimize

    p = np.clip(features, 1e-5, 1 - 1e-5)
    x = np.c_[np.log(p / (1 - p)), np.ones(len(p))]
    y, fold, out = real.astype(np.float64), np.arange(len(p)) % folds, np.zeros(len(p))
    for f in range(folds):
        train = fold != f

        def loss(w: np.ndarray) -> float:
            z = x[train] @ w
            return float(np.mean(np.logaddexp(0.0, z) - y[train] * z))

        out[~train] = x[~train] @ minimize(loss, np.zeros(x.shape[1]), method="L-BFGS-B").x
    return out


def found(reference, estimate) -> np.ndarray:
    """``[notes]`` bool: the reference notes that mir_eval's onset matching pairs with an estimate."""
    import mir_eval

    from sound2sheet.metrics import mir_eval_arrays

    hit = np.zeros(len(reference), dtype=bool)
    if reference and estimate:
        pairs = mir_eval.transcription.match_notes(*mir_eval_arrays(reference), *mir_eval_arrays(estimate),
                                                   offset_ratio=None)
        hit[[i for i, _ in pairs]] = True
    return hit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default="../shared/bench/dev")
    parser.add_argument("--checkpoint", default=None, help="model with an onset head (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=None, help="score only the first N s of each piece")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="fp32")
    parser.add_argument("--peaks", action="store_true", help="also score the heads on the weak onset peaks")
    args = parser.parse_args()

    import torch

    from sound2sheet.evaluate import hear_pairs
    from sound2sheet.inference import load_model
    from sound2sheet.labels import notes_to_rolls
    from sound2sheet.metrics import note_scores

    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    if not model.config.onset_head:
        parser.error("the checkpoint has no onset head (ModelConfig.onset_head)")
    config = model.inference_config
    edges = list(BINS) + [config.onset_threshold, 1.0 + 1e-6]
    rows, peak_features, peak_real = [], [], []
    for heard in hear_pairs(model, args.dir, args.max_seconds, args.precision):
        probs, reference = heard.probs, heard.reference
        true = notes_to_rolls(reference, probs["frame"].shape[1], heard.hop_s,
                              min_pitch=model.config.min_midi_note).onset[None].astype(np.float32)
        shipped = model.decode(probs, config)[0]
        scores = [note_scores(reference, notes) for notes in (shipped, model.decode(dict(probs, onset=true), config)[0])]
        peaks = peak_near_onsets(probs["onset"][0], reference, heard.hop_s, model.config.min_midi_note)
        hit, quiet = found(reference, shipped), under_louder_chord_mate(reference)
        missed = np.histogram(peaks[~hit], edges)[0]
        recall = [(int(s.sum()), float(hit[s].mean()) if s.any() else float("nan")) for s in (quiet, ~quiet)]
        if args.peaks:
            f, r = weak_peaks({k: v[0] for k, v in probs.items()}, reference, heard.hop_s,
                              model.config.min_midi_note, 0.3, config.onset_threshold)
            peak_features.append(f)
            peak_real.append(r)
        rows.append((heard.pair.name, [s[k] for s in scores for k in ("note_onset_f1", "note_offset_f1")], missed,
                     recall))
    print("| piece | onset F1 | offset F1 | onset F1, true onsets | offset F1, true onsets |\n|---|---|---|---|---|")
    for name, values, *_ in rows:
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    print("| mean | " + " | ".join(f"{v:.4f}" for v in np.mean([r[1] for r in rows], axis=0)) + " |")
    labels = [f"[{a:g}, {b:g})" for a, b in zip(edges[:-2], edges[1:-1])] + [f">= {edges[-2]:g}"]
    print("\nmissed reference notes by the head's highest onset probability within 50 ms on their key")
    print("| piece | " + " | ".join(labels) + " |\n|---|" + "---|" * len(labels))
    for name, _, missed, _ in rows:
        print(f"| {name} | " + " | ".join(str(int(m)) for m in missed) + " |")
    print("\nrecall of the shipped decoding: notes struck within 30 ms of a louder one, and the rest")
    print("| piece | under a louder note (n) | recall | the rest (n) | recall |\n|---|---|---|---|---|")
    for name, *_, recall in rows:
        print(f"| {name} | " + " | ".join(f"{n} | {r:.3f}" for n, r in recall) + " |")
    if args.peaks:
        f, r = np.concatenate(peak_features), np.concatenate(peak_real)
        print(f"\nweak onset peaks in [0.3, {config.onset_threshold:g}): {len(r)}, of which {int(r.sum())} within "
              "50 ms of a reference onset on their key")
        print("| told apart by | AUC |\n|---|---|")
        for i, name in enumerate(PEAK_FEATURES):
            print(f"| {name} | {auc(r, f[:, i]):.3f} |")
        for cols in ([0, 1, 2], [0, 1, 2, 3]):
            names = " + ".join(PEAK_FEATURES[i] for i in cols)
            print(f"| {names} (logistic, 5-fold) | {auc(r, cross_validated_logit(f[:, cols], r)):.3f} |")


if __name__ == "__main__":
    main()
