"""Decoding thresholds for a trained model, chosen on a dataset's validation split (never on
the dev or evaluation sets): frame and onset thresholds and the minimum same-key re-onset
interval (and, with ``--reonset-threshold``, the stricter threshold for splitting a note that
still sounds; with ``--ghost-threshold``, the one for a re-strike that comes with a new note on a
higher key; with ``--max-gap-ms``, the longest dip a held note bridges; with ``--hold-threshold`` and
``--hold-after-ms``, the frame threshold for long notes and the age it applies from; with
``--min-duration-ms``, the shortest note kept) are swept over cached probabilities, and the setting with the best mean note-onset
F1 (ties, or within ``--tie-within`` of it: the best note-with-offset F1) is printed together with the ``export-model --inference``
flags that bake it into a shipped checkpoint. For a model with a sustain-pedal head, ``--pedal`` also
sweeps its threshold (``off``: decode without the pedal). The audio is level-normalised as
``Transcriber`` does it (``InferenceConfig.normalize_peak``, the checkpoint's own by default);
``--normalize-peak`` sweeps that target too (0: the recorded level). ``--save-scores`` writes each
piece's scores under the chosen setting, for ``paired_bootstrap.py`` to compare two models on the pool.
``--conditions`` hears every piece under fixed listening conditions too (a room, noise, EQ, a quiet
recording: :mod:`sound2sheet.data.conditions`, as the robustness benchmark), each (piece,
condition) one row of the mean, so the thresholds are chosen for recordings the model was not
trained on as well as for its own clean renders.

Usage: python benchmarks/tune_decoding.py CHECKPOINT [--dataset data/standard [data/salamander ...]] [--split val] [--max-seconds 120] [--reonset-threshold 0 0.8] [--max-gap-ms 0 50] [--hold-threshold 0 0.3] [--hold-after-ms 500] [--min-duration-ms 10 30] [--pedal off 0.3 0.5] [--normalize-peak 0 0.2 0.9] [--conditions clean room-0.5s ...] [--as-saved] [--save-scores scores.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from sound2sheet.core import AudioProcessor
from sound2sheet.core.audio import audio_peak, peak_gain
from sound2sheet.data.conditions import CONDITIONS, treat
from sound2sheet.data.manifest import read_manifest, resolve_inside
from sound2sheet.metrics import note_scores
from sound2sheet.midi import read_midi_notes
from sound2sheet.model import InferenceConfig, Sound2SheetModel


# the grids of the four fields swept by default (the others default to the checkpoint's own setting)
DEFAULT_GRID = {"frame": [0.3, 0.4, 0.5, 0.6], "onset": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7], "reonset_ms": [0.0],
                "reonset_threshold": [0.0]}


class Trial(NamedTuple):
    """One grid point: its pooled scores, the decoding, the pedal option (label, overrides) and
    each piece's scores."""

    onset_f1: float
    offset_f1: float
    config: InferenceConfig
    pedal: tuple[str, dict]
    scores: list[dict]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--dataset", type=Path, nargs="+", default=[Path("data/standard")],
                    help="dataset directories whose --split pieces are pooled (e.g. the recorded-piano sets too)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                    help="the model's float type (InferenceConfig.precision); default: the checkpoint's")
    ap.add_argument("--frame", type=float, nargs="+", default=None,
                    help=f"default: {DEFAULT_GRID['frame']}")
    ap.add_argument("--onset", type=float, nargs="+", default=None,
                    help=f"default: {DEFAULT_GRID['onset']}")
    ap.add_argument("--reonset-ms", type=float, nargs="+", default=None,
                    help="minimum same-key re-onset intervals to try (InferenceConfig.min_reonset_ms); default: 0")
    ap.add_argument("--reonset-threshold", type=float, nargs="+", default=None,
                    help="onset thresholds for splitting a still-sounding note to try "
                         "(InferenceConfig.reonset_threshold; 0: the onset threshold); default: 0")
    ap.add_argument("--ghost-threshold", type=float, nargs="+", default=None,
                    help="thresholds for a re-strike that comes with a new note on a higher key to try "
                         "(InferenceConfig.ghost_threshold; 0: off); default: the checkpoint's own setting")
    ap.add_argument("--max-gap-ms", type=float, nargs="+", default=None,
                    help="longest dips a held note bridges to try (InferenceConfig.max_gap_ms; 0: off); "
                         "default: the checkpoint's own setting")
    ap.add_argument("--hold-threshold", type=float, nargs="+", default=None,
                    help="frame thresholds for long notes to try (InferenceConfig.hold_threshold; 0: off); "
                         "default: the checkpoint's own setting")
    ap.add_argument("--hold-after-ms", type=float, nargs="+", default=None,
                    help="ages from which the long-note threshold applies to try (InferenceConfig.hold_after_ms); "
                         "default: the checkpoint's own setting")
    ap.add_argument("--min-duration-ms", type=float, nargs="+", default=None,
                    help="shortest notes kept to try (InferenceConfig.min_note_duration_ms); "
                         "default: the checkpoint's own setting")
    ap.add_argument("--offset-threshold", type=float, nargs="+", default=None,
                    help="offset-head peak thresholds that end an old note to try (InferenceConfig.offset_threshold; "
                         "0: off; needs a model with an offset head); default: the checkpoint's own setting")
    ap.add_argument("--offset-window-ms", type=float, nargs="+", default=None,
                    help="how recent such a peak must be to try (InferenceConfig.offset_window_ms); "
                         "default: the checkpoint's own setting")
    ap.add_argument("--chord-threshold", type=float, nargs="+", default=None,
                    help="onset thresholds for a chord's quiet members to try (InferenceConfig.chord_onset_threshold; "
                         "0: off); default: the checkpoint's")
    ap.add_argument("--chord-window-ms", type=float, nargs="+", default=None,
                    help="how near the chord's confident strike must be to try (InferenceConfig.chord_window_ms); "
                         "default: the checkpoint's")
    ap.add_argument("--pedal", nargs="+", default=None,
                    help="pedal thresholds to try, or 'off' (InferenceConfig.pedal_threshold / use_pedal); "
                         "default: the checkpoint's own setting")
    ap.add_argument("--normalize-peak", type=float, nargs="+", default=None,
                    help="level-normalisation targets to try (InferenceConfig.normalize_peak; 0: off); "
                         "default: the checkpoint's own setting")
    ap.add_argument("--conditions", nargs="+", default=None, choices=list(CONDITIONS),
                    help="also hear each piece under these fixed conditions ('clean': as recorded); "
                         "default: as recorded only")
    ap.add_argument("--condition-seed", type=int, default=0, help="the conditions' seed (rooms, noise)")
    ap.add_argument("--tie-within", type=float, default=0.0,
                    help="note-onset F1 this close to the best counts as a tie, decided by note-with-offset F1")
    ap.add_argument("--as-saved", action="store_true",
                    help="no sweep: score the checkpoint's own decoding (with --save-scores, a model's pool scores)")
    ap.add_argument("--save-scores", type=Path, default=None,
                    help="write each piece's note scores under the chosen setting here (JSON, for paired_bootstrap.py)")
    args = ap.parse_args()
    sweeps = ("frame", "onset", "reonset_ms", "reonset_threshold", "ghost_threshold", "max_gap_ms", "hold_threshold",
              "hold_after_ms", "min_duration_ms", "offset_threshold", "offset_window_ms", "chord_threshold", "chord_window_ms", "pedal",
              "normalize_peak")
    if args.as_saved and any(getattr(args, name) is not None for name in sweeps):
        ap.error("--as-saved scores the checkpoint's own decoding: drop the sweep flags")
    model = Sound2SheetModel.from_pretrained(args.checkpoint)
    processor = AudioProcessor.from_config(model.data_config)
    base = model.inference_config or InferenceConfig()
    if args.as_saved:  # the four fields swept by default take the checkpoint's values too
        args.frame, args.onset = [base.classification_threshold], [base.onset_threshold]
        args.reonset_ms, args.reonset_threshold = [base.min_reonset_ms], [base.reonset_threshold]
    for name, grid in DEFAULT_GRID.items():
        if getattr(args, name) is None:
            setattr(args, name, grid)
    # each pedal option: (label, InferenceConfig overrides)
    pedals = [("as saved", {})] if args.pedal is None else [
        ("off", {"use_pedal": False}) if p == "off" else (p, {"use_pedal": True, "pedal_threshold": float(p)})
        for p in args.pedal]
    if args.pedal is not None and not model.config.pedal_head:
        ap.error("--pedal needs a checkpoint with a sustain-pedal head (ModelConfig.pedal_head)")
    if args.offset_threshold is not None and any(args.offset_threshold) and not model.config.offset_dim:
        ap.error("--offset-threshold needs a checkpoint with an offset head (ModelConfig.offset_dim)")

    def swept(values: list[float] | None, saved: float) -> list[float]:
        return [saved] if values is None else values  # not swept: the checkpoint's own setting

    offset_ts = swept(args.offset_threshold, base.offset_threshold)
    offset_ws = swept(args.offset_window_ms, base.offset_window_ms)
    # each offset option: (threshold, window ms); off once (its window does not matter)
    offsets = [(t, w) for t in offset_ts for w in (offset_ws if t else offset_ws[:1])]
    chord_ts = swept(args.chord_threshold, base.chord_onset_threshold)
    chord_ws = swept(args.chord_window_ms, base.chord_window_ms)
    # each chord option: (threshold, window ms); off once (its window does not matter)
    chords = [(t, w) for t in chord_ts for w in (chord_ws if t else chord_ws[:1])]
    levels = swept(args.normalize_peak, base.normalize_peak)
    gaps = swept(args.max_gap_ms, base.max_gap_ms)
    ghosts = swept(args.ghost_threshold, base.ghost_threshold)
    holds = swept(args.hold_threshold, base.hold_threshold)
    hold_ages = swept(args.hold_after_ms, base.hold_after_ms)
    durations = swept(args.min_duration_ms, base.min_note_duration_ms)
    pieces: dict[float, list] = {level: [] for level in levels}  # normalize_peak -> [(probs, reference)]
    keys = []  # per piece: where it comes from, for --save-scores
    for dataset in args.dataset:
        for item in read_manifest(dataset, args.split):
            key = {"dataset": str(dataset), "id": item.id, "piece": item.piece or item.id}
            whole = processor.load_audio(resolve_inside(dataset, item.audio))
            audio = whole[: int(args.max_seconds * processor.sample_rate)]
            peak = audio_peak(whole)  # the whole file's, as Transcriber
            reference = [n for n in read_midi_notes(resolve_inside(dataset, item.midi), model.data_config.sustain_pedal)
                         if n.onset < args.max_seconds]
            for condition in args.conditions or ["clean"]:
                heard = treat(audio, processor.sample_rate, condition, args.condition_seed)
                heard_peak = peak if condition == "clean" else audio_peak(heard)  # a treated crop: its own
                keys.append({**key, "id": f"{item.id}@{condition}"} if args.conditions else key)
                for level in levels:
                    probs = model.probabilities(processor.features(heard * peak_gain(heard_peak, level)),
                                                args.precision)
                    pieces[level].append((probs, reference))
    heard_as = f" under {len(args.conditions)} conditions ({', '.join(args.conditions)})" if args.conditions else ""
    print(f"{len(pieces[levels[0]])} {args.split} pieces of {', '.join(map(str, args.dataset))}, "
          f"first {args.max_seconds:.0f} s each{heard_as}")
    print("| frame threshold | onset threshold | min re-onset (ms) | re-onset threshold | ghost threshold "
          "| max gap (ms) | hold threshold | hold after (ms) | min duration (ms) | offset threshold / window (ms) "
          "| chord threshold / window (ms) | pedal | normalize peak | note-onset F1 | note-with-offset F1 |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    results = []
    grid = itertools.product(args.frame, args.onset, args.reonset_ms, args.reonset_threshold, ghosts, gaps, holds,
                             hold_ages, durations, offsets, chords, pedals, levels)
    for frame_t, onset_t, reonset, reonset_t, ghost, gap, hold, hold_age, duration, offset, chord, pedal, level in grid:
        if chord[0] >= onset_t:
            continue  # a chord's quiet members need less than the onset threshold
        if 0 < reonset_t <= onset_t and 0 in args.reonset_threshold:
            continue  # no stricter than the onset threshold: the same as off, which the grid tries
        if 0 < ghost <= max(onset_t, reonset_t) and 0 in ghosts:
            continue  # no stricter than the re-onset threshold: the same as off
        if hold == 0 and hold_age != hold_ages[0]:
            continue  # off: the age does not matter
        config = dataclasses.replace(base, classification_threshold=frame_t, onset_threshold=onset_t,
                                     min_reonset_ms=reonset, reonset_threshold=reonset_t, ghost_threshold=ghost,
                                     max_gap_ms=gap,
                                     hold_threshold=hold, hold_after_ms=hold_age, min_note_duration_ms=duration,
                                     offset_threshold=offset[0], offset_window_ms=offset[1],
                                     chord_onset_threshold=chord[0], chord_window_ms=chord[1],
                                     normalize_peak=level, **pedal[1])
        scores = [note_scores(reference, model.decode(probs, config)[0]) for probs, reference in pieces[level]]
        onset_f1 = float(np.mean([s["note_onset_f1"] for s in scores]))
        offset_f1 = float(np.mean([s["note_offset_f1"] for s in scores]))
        results.append(Trial(onset_f1, offset_f1, config, pedal, scores))
        print(f"| {frame_t} | {onset_t} | {reonset:g} | {reonset_t:g} | {ghost:g} | {gap:g} | {hold:g} | {hold_age:g} | {duration:g} | {offset[0]:g} / {offset[1]:g} | {chord[0]:g} / {chord[1]:g} | {pedal[0]} | {level:g} | {onset_f1:.4f} "
              f"| {offset_f1:.4f} |",
              flush=True)
    top = max(t.onset_f1 for t in results)
    best = max((t for t in results if t.onset_f1 >= top - args.tie_within), key=lambda t: (t.offset_f1, t.onset_f1))
    c = best.config
    print(f"\nbest: frame {c.classification_threshold}, onset {c.onset_threshold}, min re-onset {c.min_reonset_ms:g} ms, "
          f"re-onset threshold {c.reonset_threshold:g}, ghost threshold {c.ghost_threshold:g}, max gap {c.max_gap_ms:g} ms, "
          f"hold threshold {c.hold_threshold:g} after {c.hold_after_ms:g} ms, min duration {c.min_note_duration_ms:g} ms, "
          f"offset {c.offset_threshold:g} within {c.offset_window_ms:g} ms, "
          f"chord {c.chord_onset_threshold:g} within {c.chord_window_ms:g} ms, pedal {best.pedal[0]}, "
          f"normalize peak {c.normalize_peak:g}: note-onset F1 {best.onset_f1:.4f}, note-with-offset F1 {best.offset_f1:.4f}")
    flags = (f"--inference classification_threshold={c.classification_threshold} --inference onset_threshold={c.onset_threshold} "
             + "".join(f"--inference {name}={getattr(c, name):g} " for name in (
                 "min_reonset_ms", "reonset_threshold", "ghost_threshold", "max_gap_ms", "hold_threshold", "hold_after_ms",
                 "min_note_duration_ms", "offset_threshold", "offset_window_ms", "chord_onset_threshold",
                 "chord_window_ms"))
             + f"--inference normalize_peak={c.normalize_peak:g}")
    flags += "".join(f" --inference {k}={str(v).lower()}" for k, v in best.pedal[1].items())
    print(f"flags: {flags}")
    if args.save_scores is not None:
        rows = [{**key, "note_onset_f1": s["note_onset_f1"], "note_offset_f1": s["note_offset_f1"]}
                for key, s in zip(keys, best.scores)]
        args.save_scores.write_text(json.dumps({"checkpoint": str(args.checkpoint), "split": args.split,
                                                "max_seconds": args.max_seconds, "flags": flags, "pieces": rows},
                                               indent=1) + "\n")


if __name__ == "__main__":
    main()
