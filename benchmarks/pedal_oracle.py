"""How much would a sustain-pedal head give? Decode a model's output with the *true* pedal.

For each ``<name>.<audio>`` + ``<name>.mid`` pair in DIR, the model's probabilities are decoded
twice, with its own decoding settings: as shipped, and with the reference MIDI's CC64 pedal
fed to the pedal-holding decoder (:mod:`sound2sheet.decoding`). The difference is the ceiling
of what a perfect pedal head adds with that rule; a learnt one gets part of it. A diagnostic:
nothing is tuned on what it prints.

Usage: python benchmarks/pedal_oracle.py [DIR] [--checkpoint CKPT] [--threads N]
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
    args = parser.parse_args()

    import torch

    from sound2sheet.core.audio import AudioProcessor, audio_peak, peak_gain
    from sound2sheet.decoding import decode_notes
    from sound2sheet.evaluate import collect_pairs, reference_notes, score_piece
    from sound2sheet.inference import load_model
    from sound2sheet.labels import pedal_roll
    from sound2sheet.midi import read_pedal_intervals

    torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    processor = AudioProcessor.from_config(model.data_config)
    kwargs = model.inference_config.decoder_kwargs(processor.hop_s, model.config.min_midi_note)
    rows = []
    for pair in collect_pairs(args.dir):
        audio = processor.load_audio(pair.audio)  # at the level Transcriber gives it
        features = processor.feature_tensor(audio * peak_gain(audio_peak(audio), model.inference_config.normalize_peak))
        probs = {k: v[0] for k, v in model.probabilities(features.unsqueeze(0)).items()}
        probs.pop("pedal", None)
        reference = reference_notes(pair.midi)
        plain = decode_notes(probs["frame"], probs.get("onset"), probs.get("velocity"), **kwargs)
        pedal = pedal_roll(read_pedal_intervals(pair.midi), len(probs["frame"]), processor.hop_s)
        held = decode_notes(probs["frame"], probs.get("onset"), probs.get("velocity"), pedal=pedal, **kwargs)
        a, b = score_piece(reference, plain, processor.hop_s), score_piece(reference, held, processor.hop_s)
        rows.append((pair.name, a, b, float(pedal.mean())))
    keys = ("note_onset_f1", "note_offset_f1")
    heads = "  ".join(f"{k[5:] + ' plain':>16} {k[5:] + ' +pedal':>16}" for k in keys)
    print(f"{'piece':<14} {'pedal down':>10}  {heads}")
    for name, a, b, down in rows:
        print(f"{name:<14} {down:>10.2f}  " + "  ".join(f"{a[k]:>16.4f} {b[k]:>16.4f}" for k in keys))
    mean = {k: (np.mean([r[1][k] for r in rows]), np.mean([r[2][k] for r in rows])) for k in keys}
    print(f"{'mean':<14} {'':>10}  " + "  ".join(f"{mean[k][0]:>16.4f} {mean[k][1]:>16.4f}" for k in keys))


if __name__ == "__main__":
    main()
