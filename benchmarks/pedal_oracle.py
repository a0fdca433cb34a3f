"""How much would a sustain-pedal head give? Decode a model's output with the *true* pedal.

For each ``<name>.<audio>`` + ``<name>.mid`` pair in DIR, the model's probabilities are decoded
twice, with its own decoding settings: as shipped, and with the reference MIDI's CC64 pedal
fed to the pedal-holding decoder (:mod:`sound2sheet.decoding`). The difference is the ceiling
of what a perfect pedal head adds with that rule; a learnt one gets part of it. For a model
with a pedal head, its own pedal is decoded too (at the checkpoint's ``pedal_threshold``), and
its frame accuracy and F1 against the true CC64 are printed. A diagnostic: nothing is tuned on
what it prints.

Usage: python benchmarks/pedal_oracle.py [DIR] [--checkpoint CKPT] [--threads N] [--max-seconds S]
(DIR defaults to ../shared/bench/dev)
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default="../shared/bench/dev")
    parser.add_argument("--checkpoint", default=None, help="model (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=None, help="score only the first N s of each piece")
    args = parser.parse_args()

    import torch

    from sound2sheet.decoding import decode_notes
    from sound2sheet.evaluate import hear_pairs, score_piece
    from sound2sheet.inference import load_model
    from sound2sheet.labels import pedal_roll
    from sound2sheet.metrics import frame_counts, frame_scores
    from sound2sheet.midi import read_pedal_intervals

    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    kwargs = model.inference_config.decoder_kwargs(model.config.hop_s, model.config.min_midi_note)
    keys = ("note_onset_f1", "note_offset_f1")
    rows = []
    for heard in hear_pairs(model, args.dir, args.max_seconds):
        pair, reference, hop_s = heard.pair, heard.reference, heard.hop_s
        probs = {k: v[0] for k, v in heard.probs.items()}
        own = probs.pop("pedal", None)
        plain = decode_notes(probs["frame"], probs.get("onset"), probs.get("velocity"), **kwargs)
        pedal = pedal_roll(read_pedal_intervals(pair.midi), len(probs["frame"]), hop_s)
        held = decode_notes(probs["frame"], probs.get("onset"), probs.get("velocity"), pedal=pedal, **kwargs)
        scores = [score_piece(reference, plain, hop_s), score_piece(reference, held, hop_s)]
        extra = []
        if own is not None:
            own = own[:, 0]
            learnt = decode_notes(probs["frame"], probs.get("onset"), probs.get("velocity"), pedal=own, **kwargs)
            scores.append(score_piece(reference, learnt, hop_s))
            agreement = frame_scores(frame_counts(own >= model.inference_config.pedal_threshold, pedal >= 0.5))
            extra = [agreement["frame_accuracy"], agreement["frame_f1"]]
        rows.append((pair.name, float(pedal.mean()), [s[k] for k in keys for s in scores] + extra))
    own_head = model.config.pedal_head
    labels = ["plain", "+pedal"] + (["+own"] if own_head else [])
    heads = "  ".join(f"{k[5:] + ' ' + lab:>16}" for k in keys for lab in labels)
    tail = f"  {'own acc':>16} {'own F1':>16}" if own_head else ""
    print(f"{'piece':<14} {'pedal down':>10}  {heads}{tail}")
    for name, down, values in rows:
        print(f"{name:<14} {down:>10.2f}  " + "  ".join(f"{v:>16.4f}" for v in values))
    print(f"{'mean':<14} {'':>10}  " + "  ".join(f"{v:>16.4f}" for v in np.mean([r[2] for r in rows], axis=0)))

if __name__ == "__main__":
    main()
