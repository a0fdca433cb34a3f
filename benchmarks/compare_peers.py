"""Side-by-side on the dev set: Sound2Sheet and (when their environments exist) madmom,
basic-pitch and transkun, each run as one whole process over all files (model loading
included), scored by ``sound2sheet evaluate``'s code. Writes a markdown table to
docs/benchmarks.md.

Usage: python benchmarks/compare_peers.py [--dev ../shared/bench/dev] [--checkpoint CKPT]
           [--peers-root ~/peers] [--systems ours madmom basic-pitch transkun] [--out docs/benchmarks.md]

Peer environments are built as in shared/peers/README.md (never project dependencies).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sound2sheet.evaluate import collect_pairs, evaluate

MADMOM = """
import sys, numpy as np, soundfile as sf, soxr, pretty_midi
from pathlib import Path
from madmom.audio.signal import Signal
from madmom.features.notes import CNNPianoNoteProcessor, ADSRNoteTrackingProcessor
proc, track = CNNPianoNoteProcessor(), ADSRNoteTrackingProcessor()
out = Path(sys.argv[1])
for path in sys.argv[2:]:
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if sr != 44100:
        y = soxr.resample(y, sr, 44100)
    notes = track(proc(Signal(y, sample_rate=44100, num_channels=1)))
    pm = pretty_midi.PrettyMIDI(); inst = pretty_midi.Instrument(0)
    for onset, pitch, duration in notes:
        inst.notes.append(pretty_midi.Note(80, int(pitch), float(onset), float(onset + max(duration, 0.01))))
    pm.instruments.append(inst); pm.write(str(out / (Path(path).stem + ".mid")))
"""

BASIC_PITCH = """
import sys
from pathlib import Path
from basic_pitch.inference import predict, Model
from basic_pitch import ICASSP_2022_MODEL_PATH
model = Model(ICASSP_2022_MODEL_PATH)
out = Path(sys.argv[1])
for path in sys.argv[2:]:
    _, midi, _ = predict(path, model)
    midi.write(str(out / (Path(path).stem + ".mid")))
"""

# transkun reads audio with pydub, which needs ffmpeg for anything but WAV: hand it a WAV copy.
TRANSKUN = """
import subprocess, sys, tempfile, pretty_midi, soundfile as sf
from pathlib import Path
out = Path(sys.argv[1])
for path in sys.argv[2:]:
    target = out / (Path(path).stem + ".mid")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / (Path(path).stem + ".wav")
        y, sr = sf.read(path, dtype="float32")
        sf.write(str(wav), y, sr, subtype="PCM_16")
        subprocess.run([str(Path(sys.executable).parent / "transkun"), str(wav), str(target)], check=True)
    pm = pretty_midi.PrettyMIDI(str(target))
    for inst in pm.instruments:
        inst.notes = [n for n in inst.notes if n.pitch >= 0]  # negative pitches are pedal events
    pm.write(str(target))
"""


# Runs a command and prints its peak resident set (KiB) last: a per-system measurement, since
# RUSAGE_CHILDREN in this process would be the maximum over every system run so far.
WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def run_system(name: str, audio: list[Path], out: Path, args) -> dict | None:
    """Run one system over all files in a fresh process; None if its environment is missing."""
    out.mkdir(parents=True, exist_ok=True)
    if name == "ours":
        cmd = [sys.executable, "-m", "sound2sheet", "transcribe", *map(str, audio), "-o", str(out), "--format", "mid", "--overwrite"]
        if args.checkpoint:
            cmd += ["--checkpoint", str(args.checkpoint)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
    else:
        venv = args.peers_root / name
        python = venv / "bin" / "python"
        if not python.exists():
            return None
        script = {"madmom": MADMOM, "basic-pitch": BASIC_PITCH, "transkun": TRANSKUN}[name]
        cmd = [str(python), "-c", script, str(out), *map(str, audio)]
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(f"{name} failed:\n{result.stderr[-2000:]}", file=sys.stderr)
        return None
    peak_kib = int(result.stderr.strip().splitlines()[-1])
    return {"wall_s": wall, "peak_rss_mb": peak_kib / 1024, "command": " ".join(cmd[:6]) + (" ..." if len(cmd) > 6 else "")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dev", type=Path, default=Path("../shared/bench/dev"))
    ap.add_argument("--checkpoint", type=Path, default=None, help="our model (default: the shipped one)")
    ap.add_argument("--peers-root", type=Path, default=Path.home() / "peers")
    ap.add_argument("--systems", nargs="+", default=["ours", "madmom", "basic-pitch", "transkun"])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    pairs = collect_pairs(args.dev)
    audio = [p.audio for p in pairs if p.audio is not None]
    import soundfile as sf

    seconds = sum(sf.info(str(a)).duration for a in audio)
    work = args.work or Path(tempfile.mkdtemp(prefix="s2s-peers-"))
    rows = []
    for name in args.systems:
        timing = run_system(name, audio, work / name, args)
        if timing is None:
            print(f"{name}: skipped (no environment at {args.peers_root / name} or it failed)", file=sys.stderr)
            continue
        report = evaluate(pairs, predictions=work / name)
        rows.append((name, report["mean"], timing))
        print(f"{name}: onset F1 {report['mean']['note_onset_f1']:.3f}, offset F1 {report['mean']['note_offset_f1']:.3f}, "
              f"{timing['wall_s']:.1f} s ({seconds / timing['wall_s']:.0f}x real time), peak {timing['peak_rss_mb']:.0f} MB", flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    lines = [
        "# Benchmarks", "",
        f"Dev set: {args.dev} ({len(audio)} pieces, {seconds:.0f} s of audio). Measured {dt.date.today()} on {machine}.",
        "Each system runs as one process over all files (model loading included); wall time is that process's;",
        "peak memory is its maximum resident set. Scores: `sound2sheet evaluate --predictions` (same numbers as",
        "shared/bench/score.py). Command: `" + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]) + "`", "",
        "| system | note-onset F1 | onset P / R | note-with-offset F1 | frame F1 | wall (s) | x real time | peak memory (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, mean, timing in rows:
        lines.append(
            f"| {name} | {mean['note_onset_f1']:.3f} | {mean['note_onset_precision']:.3f} / {mean['note_onset_recall']:.3f} | "
            f"{mean['note_offset_f1']:.3f} | {mean['frame_f1']:.3f} | {timing['wall_s']:.1f} | {seconds / timing['wall_s']:.0f} | "
            f"{timing['peak_rss_mb']:.0f} |"
        )
    lines += ["", "Commands:", ""] + [f"- {name}: `{timing['command']}`" for name, _, timing in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    existing = args.out.read_text() if args.out.exists() else ""
    marker = "<!-- compare_peers -->"
    body = marker + "\n" + "\n".join(lines) + "\n" + marker
    if marker in existing:
        head, _, rest = existing.partition(marker)
        _, _, tail = rest.partition(marker)
        args.out.write_text(head + body + tail)
    else:
        args.out.write_text(body + "\n" + existing)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
