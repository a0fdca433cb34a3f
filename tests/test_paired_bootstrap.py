"""benchmarks/paired_bootstrap.py: block counts, and intervals that separate what differs from what does not."""

import numpy as np
import pytest

from sound2sheet.notes import NoteEvent
from tests.conftest import load_benchmark

paired_bootstrap = load_benchmark("paired_bootstrap")


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


def test_a_piece_heard_several_ways_draws_its_blocks_once_for_every_version():
    refs = [_piece(300), _piece(200)]
    half = [notes[::2] for notes in refs]
    counts = lambda ests: [paired_bootstrap.block_counts(r, e, 10.0, 6) for r, e in zip(refs, ests)]
    flat = paired_bootstrap.paired_bootstrap(counts(half), counts(refs), n_resamples=50, seed=3)
    one_version = paired_bootstrap.paired_bootstrap([c[None] for c in counts(half)], [c[None] for c in counts(refs)],
                                                    n_resamples=50, seed=3)
    np.testing.assert_allclose(one_version, flat)
    # two versions, B better in one only: the mean over versions halves the gain, every resample
    a = [np.stack([c, c]) for c in counts(half)]
    b = [np.stack([c, d]) for c, d in zip(counts(half), counts(refs))]
    np.testing.assert_allclose(paired_bootstrap.paired_bootstrap(a, b, n_resamples=50, seed=3), flat / 2)


def test_cluster_bootstrap_resamples_whole_pieces_and_separates_a_better_system():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.6, 0.9, (12, 2))
    clusters = [f"piece{k // 3}" for k in range(12)]  # four pieces, three renders each
    assert np.all(paired_bootstrap.cluster_bootstrap(a, a, clusters, 100, seed=0) == 0)
    # one piece helped, the rest untouched: a resample's gain is 0.1 x (its share of that piece's renders)
    b = a.copy()
    b[:3] += 0.1
    diffs = paired_bootstrap.cluster_bootstrap(a, b, clusters, 500, seed=0)
    assert set(np.round(diffs[:, 0] * 40, 6)) <= {0.0, 1.0, 2.0, 3.0, 4.0}  # k of the 4 drawn clusters, never a part
    assert 0 < np.mean(diffs[:, 0] > 0) < 1
    better = paired_bootstrap.cluster_bootstrap(a, a + 0.02, clusters, 200, seed=0)
    assert np.allclose(better, 0.02)


def test_pool_mode_reads_score_files_and_refuses_different_pieces(tmp_path, capsys):
    import json
    import sys

    def write(name, f1s, ids):
        rows = [{"dataset": "data/x", "id": i, "piece": i.split("--")[0], "note_onset_f1": f, "note_offset_f1": f / 2}
                for i, f in zip(ids, f1s)]
        (tmp_path / name).write_text(json.dumps({"pieces": rows}))
        return str(tmp_path / name)

    ids = ["p1--a", "p1--b", "p2--a", "p3--a"]
    a = write("a.json", [0.8, 0.7, 0.9, 0.6], ids)
    b = write("b.json", [0.85, 0.75, 0.95, 0.65], ids)
    argv = sys.argv
    try:
        sys.argv = ["paired_bootstrap.py", a, b, "--resamples", "50"]
        paired_bootstrap.main()
        out = capsys.readouterr().out
        assert "4 pool pieces in 3 clusters" in out and "| data/x | 4 | 0.7500 / 0.3750 | 0.8000 / 0.4000 |" in out and "| note-onset F1 | +0.0500 | [+0.0500, +0.0500] | 1.00 |" in out
        sys.argv = ["paired_bootstrap.py", a, write("c.json", [0.8] * 3, ids[:3])]
        with pytest.raises(SystemExit, match="score different pieces"):
            paired_bootstrap.main()
    finally:
        sys.argv = argv
