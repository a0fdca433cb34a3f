"""Dataset build throughput: hours of rendered audio per minute of wall time.

Renders a fixed workload (procedural pieces with two soundfonts) through the real
``make-dataset`` path, with and without augmentation.

Usage: python benchmarks/build_throughput.py [--pieces 8] [--seconds 60] [--jobs 2] [--fonts-dir data/assets/soundfonts]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from sound2sheet.data.augment import AugmentConfig
from sound2sheet.data.build import BuildConfig, build_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pieces", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--fonts-dir", type=Path, default=Path("data/assets/soundfonts"))
    args = ap.parse_args()
    fonts = [f"{args.fonts_dir / 'FluidR3_GM.sf2'}:0:0", f"{args.fonts_dir / 'GeneralUser_GS_v1.471.sf2'}:0:0"]
    print(f"{args.pieces} generated pieces x {args.seconds:.0f} s, 2 renders each, {args.jobs} worker(s), {os.cpu_count()} cores")
    print("| augmentation | audio (h) | wall (min) | hours of audio per minute |")
    print("|---|---|---|---|")
    for name, augment in (("none", asdict(AugmentConfig.none())), ("default", {})):
        with tempfile.TemporaryDirectory() as tmp:
            config = BuildConfig(out_dir=Path(tmp) / "ds", generate=args.pieces, generate_seconds=args.seconds,
                                 soundfonts=fonts, renders_per_piece=2, augment=augment, jobs=args.jobs)
            started = time.perf_counter()
            info = build_dataset(config, progress=False)
            minutes = (time.perf_counter() - started) / 60
            hours = info["total"]["hours"]
            print(f"| {name} | {hours:.2f} | {minutes:.2f} | {hours / minutes:.2f} |")


if __name__ == "__main__":
    main()
