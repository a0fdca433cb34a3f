"""benchmarks/paired_bootstrap.py: block counts, and intervals that separate what differs from what does not."""

import importlib.util
from pathlib import Path

import numpy as np

from sound2sheet.notes import NoteEvent

spec = importlib.util.spec_from_file_location(
    "paired_bootstrap", Path(__file__).resolve().parents[1] / "benchmarks" / "paired_bootstrap.py")
paired_bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(paired_bootstrap)


def _piece(n: int, seconds: float = 60.0) -> list[NoteEvent]:
    rng = np.random.default_rng(n)
    onsets = np.sort(rng.uniform(0, seconds, n))
    return [NoteEvent(pitch=int(p), onset=float(t), offset=float(t) + 0.5) for t, p in zip(onsets, rng.integers(40, 90, n))]


def test_block_counts_put_matches_in_their_reference_notes_block():
    ref = [NoteEvent(pitch=60, onset=1.0, offset=2.0), NoteEvent(pitch=62, onset=11.0, offset=11.5),
           NoteEvent(pitch=64, onset=25.0, offset=26.0)]
    est = [NoteEvent(pitch=60, onset=1.02, offset=2.0),    # onset and offset match, block 0
           NoteEvent(pitch=62, onset=10.99, offset=13.0),  # onset match only, block 1
           NoteEvent(pitch=70, onset=12.0, offset=12.5)]   # false alarm, block 1
    counts = paired_bootstrap.block_counts(ref, est, block_seconds=10.0, n_blocks=2)
    # columns: ref notes, est notes, onset matches, offset matches; 25 s falls in the last block
    assert counts.tolist() == [[1, 1, 1, 1], [2, 2, 1, 0]]
    onset_f1, offset_f1 = paired_bootstrap.mean_f1([counts.sum(0)])
    assert np.isclose(onset_f1, 2 * 2 / 6) and np.isclose(offset_f1, 2 * 1 / 6)


def test_identical_systems_differ_by_zero_and_a_better_one_is_separated():
    refs = [_piece(300), _piece(200)]
    half = [notes[::2] for notes in refs]  # misses every other note
    counts = lambda ests: [paired_bootstrap.block_counts(r, e, 10.0, 6) for r, e in zip(refs, ests)]
    same = paired_bootstrap.paired_bootstrap(counts(half), counts(half), n_resamples=200, seed=0)
    assert np.all(same == 0)
    better = paired_bootstrap.paired_bootstrap(counts(half), counts(refs), n_resamples=200, seed=0)
    assert better.shape == (200, 2)
    assert np.all(better[:, 0] > 0.25) and np.all(better[:, 1] > 0.25)  # 2/3 -> 1.0 F1, every resample
