"""CPU inference throughput (audio seconds per second) across encoder batch sizes and thread
counts, and peak memory of a whole ``transcribe`` process on a 10-minute file.

Usage: python benchmarks/inference_throughput.py [--checkpoint CKPT] [--seconds 120] [--threads 1 2] [--batches 1 4 8 16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from sound2sheet.inference import Transcriber, load_model

PEAK = """
import resource, sys
from sound2sheet.inference import Transcriber, load_model
t = Transcriber(load_model(sys.argv[1] if sys.argv[1] != "-" else None))
t.transcribe_file(sys.argv[2])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def noise_file(path: Path, seconds: float) -> Path:
    """Piano-free but busy audio: throughput does not depend on content."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", 16000, 1, format="FLAC") as f:
        for _ in range(int(seconds // 10)):
            f.write((rng.standard_normal(160000) * 0.05).astype(np.float32))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8, 16])
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="s2s-throughput-"))
    clip = noise_file(tmp / "clip.flac", args.seconds)
    model = load_model(args.checkpoint)
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, window {model.encoder.window} frames")
    print(f"| threads | encoder windows per batch | audio s per s ({args.seconds:.0f} s clip, model loaded) |")
    print("|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in args.batches:
            transcriber = Transcriber(model, batch_windows=batch)
            transcriber.transcribe_file(clip)  # warm-up
            started = time.perf_counter()
            transcriber.transcribe_file(clip)
            print(f"| {threads} | {batch} | {args.seconds / (time.perf_counter() - started):.0f} |", flush=True)
    long_file = noise_file(tmp / "ten_minutes.flac", 600.0)
    out = subprocess.run([sys.executable, "-c", PEAK, str(args.checkpoint or "-"), str(long_file)], capture_output=True,
                         text=True, env=dict(os.environ))
    print(f"\npeak memory of a whole transcribe process on a 10-minute file: {int(out.stdout.split()[-1]) / 1024:.0f} MB")


if __name__ == "__main__":
    main()
