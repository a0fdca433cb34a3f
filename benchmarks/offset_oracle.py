"""How much would a perfect offset head give? Decode a model's output with the *true* offsets.

For each ``<name>.<audio>`` + ``<name>.mid`` pair in DIR, the model's probabilities are decoded
with its own decoding settings: as shipped, with the offset rule off, and with the reference's
offset roll (:func:`sound2sheet.labels.notes_to_rolls`, the target the head is trained on) in
place of the head's, as shipped and with ``--hold-threshold`` after ``--hold-after-ms`` (a
perfect head can hold notes longer and cut them younger). The difference is the ceiling of the
offset rule (docs/experiments.md #59, #61); a learnt head gets part of it. The head's own peaks
(>= each ``--peak-threshold``) are also scored as events against the reference offsets, per
key, within 50 ms (mir_eval's onset matching). A diagnostic: nothing is tuned on what it prints.

Usage: python benchmarks/offset_oracle.py [DIR] [--checkpoint CKPT] [--max-seconds S]
(DIR defaults to ../shared/bench/dev)
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

def event_scores(peaks: np.ndarray, reference, hop_s: float, min_pitch: int, window_s: float = 0.05) -> tuple:
    """``peaks`` bool ``[frames, keys]`` against the reference notes' offsets, key by key
    (mir_eval's one-to-one event matching): (P, R, F1)."""
    from mir_eval.util import match_events

    by_key: dict[int, list[float]] = {}
    for n in reference:
        by_key.setdefault(n.pitch - min_pitch, []).append(n.offset)
    hits = 0
    for key in range(peaks.shape[1]):
        est, ref = np.nonzero(peaks[:, key])[0] * hop_s, np.sort(by_key.get(key, []))
        if len(est) and len(ref):
            hits += len(match_events(ref, est, window_s))
    p, r = hits / max(int(peaks.sum()), 1), hits / max(len(reference), 1)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default="../shared/bench/dev")
    parser.add_argument("--checkpoint", default=None, help="model with an offset head (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=None, help="score only the first N s of each piece")
    parser.add_argument("--hold-threshold", type=float, default=0.05)
    parser.add_argument("--hold-after-ms", type=float, default=100.0)
    parser.add_argument("--offset-threshold", type=float, default=None,
                        help="the offset rule's threshold (default: the checkpoint's)")
    parser.add_argument("--offset-window-ms", type=float, default=None,
                        help="the offset rule's window (default: the checkpoint's)")
    parser.add_argument("--peak-threshold", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="fp32")
    args = parser.parse_args()

    import torch

    from sound2sheet.decoding import onset_peaks
    from sound2sheet.evaluate import hear_pairs
    from sound2sheet.inference import load_model
    from sound2sheet.labels import notes_to_rolls
    from sound2sheet.metrics import note_scores

    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    if not model.config.offset_dim:
        parser.error("the checkpoint has no offset head (ModelConfig.offset_dim)")
    base = model.inference_config
    base = dataclasses.replace(base, **{k: v for k, v in (("offset_threshold", args.offset_threshold),
                                                          ("offset_window_ms", args.offset_window_ms)) if v is not None})
    if not base.offset_threshold:
        parser.error("the checkpoint's decoding has the offset rule off: pass --offset-threshold")
    held = dataclasses.replace(base, hold_threshold=args.hold_threshold, hold_after_ms=args.hold_after_ms)
    variants = [("shipped", False, base), ("no offsets", False, dataclasses.replace(base, offset_threshold=0.0)),
                ("true", True, base), (f"true, hold {args.hold_threshold:g}/{args.hold_after_ms:g}", True, held)]
    rows = []
    for heard in hear_pairs(model, args.dir, args.max_seconds, args.precision):
        probs, reference = heard.probs, heard.reference
        true = notes_to_rolls(reference, probs["frame"].shape[1], heard.hop_s,
                              min_pitch=model.config.min_midi_note).offset[None]
        values = []
        for _, use_true, config in variants:
            notes = model.decode(dict(probs, offset=true) if use_true else probs, config)[0]
            values.append(note_scores(reference, notes)["note_offset_f1"])
        for t in args.peak_threshold:
            values += event_scores(onset_peaks(probs["offset"][0], t), reference, heard.hop_s,
                                   model.config.min_midi_note)
        rows.append((heard.pair.name, values))
    labels = [v[0] for v in variants] + [f"peaks>={t:g} {m}" for t in args.peak_threshold for m in ("P", "R", "F1")]
    print("note-with-offset F1 by offsets used, then the head's peaks as offset events (50 ms)")
    print("| piece | " + " | ".join(labels) + " |\n|---|" + "---|" * len(labels))
    for name, values in rows:
        print(f"| {name} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    print("| mean | " + " | ".join(f"{v:.4f}" for v in np.mean([r[1] for r in rows], axis=0)) + " |")


if __name__ == "__main__":
    main()
