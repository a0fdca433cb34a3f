"""Where do a system's note errors come from? Timing, octaves, echoes, quiet or low notes.

Reads transcriptions (``PRED_DIR/<name>.mid``, from ``sound2sheet transcribe`` or any peer) and
references (``REF_DIR/<name>.mid``) and prints, per piece:

* note-onset P/R/F1 at 50, 100 and 200 ms: if F1 barely moves, timing is not the problem;
* the same with pitch classes only: the share of errors that are octave confusions;
* false alarms that start inside a sounding reference note of the same pitch, and those within
  200 ms after its onset (a double trigger of one strike);
* same-key inter-onset intervals of estimate vs reference: echo onsets show up as short
  intervals the reference does not have;
* recall of reference notes by the time since the same key's previous strike: re-strikes at
  performance speed (150-300 ms) are where dense performances lose notes;
* recall and precision by register (below C5 the fbank cannot tell semitones apart);
* mean velocity and pitch of missed vs found reference notes;
* offsets of the onset-matched notes, by reference duration: within mir_eval's offset
  tolerance (20 % of the duration, at least 50 ms), too short or too long.

Usage: python benchmarks/error_analysis.py PRED_DIR [--ref ../shared/bench/dev]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sound2sheet.metrics import mir_eval_arrays
from sound2sheet.midi import read_midi_notes

TOLERANCES = (0.05, 0.1, 0.2)
IOI_BINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, np.inf)
# Time since the same key's previous reference onset; "first" is a key's first strike.
RESTRIKE_BINS = ((0.0, 0.15), (0.15, 0.3), (0.3, 1.0), (1.0, np.inf))
DURATION_BINS = ((0.0, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, np.inf))
# Registers split where AST's 25 ms fbank stops resolving semitones (C5, MIDI 72) and below.
REGISTERS = ((21, 48), (48, 60), (60, 72), (72, 109))


def _match(ref, est, tol, pitch_class=False):
    import mir_eval

    ri, rp = mir_eval_arrays(ref)
    ei, ep = mir_eval_arrays(est)
    if pitch_class:  # fold every note into one octave
        rp = 440.0 * 2 ** ((np.round(12 * np.log2(rp / 440.0)) % 12) / 12)
        ep = 440.0 * 2 ** ((np.round(12 * np.log2(ep / 440.0)) % 12) / 12)
    return mir_eval.transcription.match_notes(ri, rp, ei, ep, onset_tolerance=tol, offset_ratio=None)


def _prf(n_match, n_ref, n_est):
    p, r = n_match / max(n_est, 1), n_match / max(n_ref, 1)
    return p, r, 2 * p * r / max(p + r, 1e-9)


def _ioi_histogram(notes):
    by_key: dict[int, list[float]] = {}
    for n in notes:
        by_key.setdefault(n.pitch, []).append(n.onset)
    gaps = [np.diff(sorted(v)) for v in by_key.values() if len(v) > 1]
    return np.histogram(np.concatenate(gaps) if gaps else [], IOI_BINS)[0]


def restrike_recall(ref, found: set[int]) -> list[tuple[str, int, float]]:
    """(bin label, reference notes in it, share found) by the time since the key's last onset."""
    since = np.full(len(ref), np.inf)
    last: dict[int, float] = {}
    for i in sorted(range(len(ref)), key=lambda i: ref[i].onset):
        if ref[i].pitch in last:
            since[i] = ref[i].onset - last[ref[i].pitch]
        last[ref[i].pitch] = ref[i].onset
    first = np.isinf(since)
    rows = [("first", first)]
    for lo, hi in RESTRIKE_BINS:
        label = f"{lo * 1000:.0f}-{hi * 1000:.0f} ms" if np.isfinite(hi) else f">{lo * 1000:.0f} ms"
        rows.append((label, ~first & (since >= lo) & (since < hi)))
    hit = np.array([i in found for i in range(len(ref))], dtype=bool)
    return [(label, int(mask.sum()), float(hit[mask].mean()) if mask.any() else 0.0) for label, mask in rows]


def analyse(ref, est) -> list[str]:
    lines = []
    for tol in TOLERANCES:
        p, r, f = _prf(len(_match(ref, est, tol)), len(ref), len(est))
        lines.append(f"  onset within {tol * 1000:.0f} ms: P {p:.3f} R {r:.3f} F1 {f:.3f}")
    p, r, f = _prf(len(_match(ref, est, 0.05, pitch_class=True)), len(ref), len(est))
    lines.append(f"  pitch class only (50 ms): P {p:.3f} R {r:.3f} F1 {f:.3f}")
    matched = _match(ref, est, 0.05)
    found = {i for i, _ in matched}
    used = {j for _, j in matched}
    false_alarms = [est[j] for j in range(len(est)) if j not in used]
    inside = sum(any(r.pitch == f.pitch and r.onset < f.onset < r.offset for r in ref) for f in false_alarms)
    echo = sum(any(r.pitch == f.pitch and 0.0 < f.onset - r.onset < 0.2 for r in ref) for f in false_alarms)
    lines.append(f"  false alarms {len(false_alarms)}: inside a sounding same-pitch reference note {inside}, "
                 f"within 200 ms after its onset {echo}")
    labels = ["<50", "50-100", "100-150", "150-200", "200-300", ">300"]
    for name, notes in (("reference", ref), ("estimate", est)):
        hist = _ioi_histogram(notes)
        lines.append(f"  same-key inter-onset intervals (ms), {name}: "
                     + ", ".join(f"{b} {c}" for b, c in zip(labels, hist)))
    lines.append("  recall by time since the key's last strike: "
                 + ", ".join(f"{label} {share:.2f} ({n})" for label, n, share in restrike_recall(ref, found)))
    parts = []
    for lo, hi in REGISTERS:
        r_in = [i for i, n in enumerate(ref) if lo <= n.pitch < hi]
        e_in = [j for j, n in enumerate(est) if lo <= n.pitch < hi]
        recall = sum(i in found for i in r_in) / max(len(r_in), 1)
        precision = sum(j in used for j in e_in) / max(len(e_in), 1)
        parts.append(f"{lo}-{hi - 1}: R {recall:.2f} P {precision:.2f} ({len(r_in)})")
    lines.append("  by register (MIDI): " + ", ".join(parts))
    missed = [n for i, n in enumerate(ref) if i not in found]
    hits = [n for i, n in enumerate(ref) if i in found]
    if missed and hits:
        lines.append(f"  missed vs found: velocity {np.mean([n.velocity or 0 for n in missed]):.0f} vs "
                     f"{np.mean([n.velocity or 0 for n in hits]):.0f}, pitch {np.mean([n.pitch for n in missed]):.1f} vs "
                     f"{np.mean([n.pitch for n in hits]):.1f}")
    parts = []
    for lo, hi in DURATION_BINS:
        pairs = [(ref[i], est[j]) for i, j in matched if lo <= ref[i].offset - ref[i].onset < hi]
        if not pairs:
            continue
        err = np.array([(e.offset - e.onset) - (r.offset - r.onset) for r, e in pairs])
        tol = np.array([max(0.05, 0.2 * (r.offset - r.onset)) for r, _ in pairs])
        parts.append(f"{lo:g}-{hi:g} s: ok {np.mean(np.abs(err) <= tol):.2f} short {np.mean(err < -tol):.2f} "
                     f"long {np.mean(err > tol):.2f} ({len(pairs)})")
    lines.append("  offsets of matched notes by reference duration: " + ", ".join(parts))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pred_dir", type=Path)
    ap.add_argument("--ref", type=Path, default=Path("../shared/bench/dev"))
    ap.add_argument("--no-pedal", action="store_true", help="references without sustain-pedal extension")
    args = ap.parse_args()
    pairs = [(p, args.pred_dir / p.name) for p in sorted(args.ref.glob("*.mid")) if (args.pred_dir / p.name).exists()]
    if not pairs:
        raise SystemExit(f"no <name>.mid in {args.pred_dir} matches a reference in {args.ref}")
    for ref_path, est_path in pairs:
        ref = read_midi_notes(ref_path, sustain_pedal=not args.no_pedal)
        est = read_midi_notes(est_path, sustain_pedal=False)
        print(f"{ref_path.stem}: {len(ref)} reference notes, {len(est)} estimated")
        print("\n".join(analyse(ref, est)))


if __name__ == "__main__":
    main()
