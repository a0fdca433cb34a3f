"""How fast training crops come off disk: random ``--seconds`` crops of a dataset's feature
caches read through a memory map (how the trainer read them before experiments #33) and with
one positioned read each (:meth:`MelCache.read_rows`, how it reads them now), with the bytes the
kernel read for each (``pgpgin`` of /proc/vmstat); and, with ``--labels N``, N of its MIDI files
parsed (``read_midi_labels``, what the loader did on an item's first crop) against read back
from the label cache (:class:`LabelCache`, what it does now).

A memory map's page fault reads the disk's whole read-ahead window around the fault (see
``/sys/block/*/queue/read_ahead_kb``), which is what made training on sets larger than the page
cache I/O bound. Run as root to drop the page cache before each way (``--cold``), else the
second way may find the first's pages.

Usage: python benchmarks/crop_reads.py DATASET_DIR [--crops 400] [--seconds 4] [--cold] [--labels 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def _kb_read() -> int | None:
    try:
        for line in Path("/proc/vmstat").read_text().splitlines():
            if line.startswith("pgpgin "):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _drop_page_cache() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("1\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset_dir", type=Path)
    ap.add_argument("--crops", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=4.0, help="crop length (the trainer's crop_seconds)")
    ap.add_argument("--cold", action="store_true", help="drop the page cache before each way (root)")
    ap.add_argument("--labels", type=int, default=0, help="also time N MIDI files parsed vs cached")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from sound2sheet.midi import read_midi_labels
    from sound2sheet.model.config import DataConfig
    from sound2sheet.model.dataset import LabelCache, MelCache

    files = sorted(args.dataset_dir.glob(".cache/mel-*/*.npy"))
    if not files:
        sys.exit(f"error: no feature caches under {args.dataset_dir}/.cache (train on it once, or run make-dataset)")
    frames = DataConfig(crop_seconds=args.seconds).crop_frames  # the trainer's own crop length

    def by_map(path: Path, start: int) -> np.ndarray:
        return np.array(MelCache.load(path)[start:start + frames])

    def by_read(path: Path, start: int) -> np.ndarray:
        return MelCache.read_rows(path, start, start + frames)

    rows = ["| way | crops | seconds | ms / crop | MB read from disk | MB / crop |", "|---|---|---|---|---|---|"]
    for name, read in (("memory map", by_map), ("positioned read", by_read)):
        rng = np.random.default_rng(args.seed)  # both ways read the same crops
        if args.cold:
            _drop_page_cache()
        kb0, t0, got = _kb_read(), time.perf_counter(), 0
        for _ in range(args.crops):
            path = files[int(rng.integers(len(files)))]
            n = MelCache.header(path)[0][0]
            got += read(path, int(rng.integers(0, max(1, n - frames)))).nbytes
        dt, kb1 = time.perf_counter() - t0, _kb_read()
        mb = (kb1 - kb0) / 1024 if kb0 is not None and kb1 is not None else float("nan")
        rows.append(f"| {name} | {args.crops} | {dt:.2f} | {1000 * dt / args.crops:.1f} | {mb:.0f} | {mb / args.crops:.2f} |")
    midis = sorted(args.dataset_dir.glob("midi/*.mid*"))
    if args.labels and midis:
        import tempfile

        picked = [midis[int(i)] for i in np.random.default_rng(args.seed).choice(len(midis), min(args.labels, len(midis)), replace=False)]
        with tempfile.TemporaryDirectory() as tmp:  # a fresh cache, so the first pass parses
            cache = LabelCache(Path(tmp))
            t0 = time.perf_counter()
            for m in picked:
                read_midi_labels(m)
            parse = time.perf_counter() - t0
            for m in picked:
                cache.read(m, True)
            t0 = time.perf_counter()
            for m in picked:
                cache.read(m, True)
            cached = time.perf_counter() - t0
        rows += ["", "| MIDI labels | files | ms / file |", "|---|---|---|",
                 f"| parsed (pretty_midi) | {len(picked)} | {1000 * parse / len(picked):.0f} |",
                 f"| from the label cache | {len(picked)} | {1000 * cached / len(picked):.1f} |"]
    print("\n".join(rows))
    print(f"\n{len(files)} cache files; the crops themselves are {got / 2**20 / args.crops:.2f} MB each. "
          f"Command: python benchmarks/crop_reads.py {args.dataset_dir} --crops {args.crops} --seconds {args.seconds}"
          + (" --cold" if args.cold else "") + (f" --labels {args.labels}" if args.labels else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
