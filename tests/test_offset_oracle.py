"""benchmarks/offset_oracle.py's event scores: offset peaks match reference offsets key by key."""

import numpy as np
import pytest

from sound2sheet.notes import NoteEvent
from tests.conftest import load_benchmark

offset_oracle = load_benchmark("offset_oracle")


def test_offset_peaks_count_only_on_their_own_key_and_within_the_window():
    ref = [NoteEvent(pitch=60, onset=0.0, offset=1.0), NoteEvent(pitch=62, onset=0.0, offset=2.0),
           NoteEvent(pitch=60, onset=1.5, offset=3.0)]
    peaks = np.zeros((400, 88), dtype=bool)
    peaks[103, 60 - 21] = True   # 30 ms after 60's first offset: a hit
    peaks[200, 61 - 21] = True   # 62's offset time on key 61: a miss
    peaks[306, 60 - 21] = True   # 60 ms after 60's second offset: outside 50 ms
    p, r, f1 = offset_oracle.event_scores(peaks, ref, 0.01, 21)
    assert (p, r) == pytest.approx((1 / 3, 1 / 3)) and f1 == pytest.approx(1 / 3)
    peaks[200, 62 - 21] = True   # now on its key
    assert offset_oracle.event_scores(peaks, ref, 0.01, 21)[:2] == pytest.approx((2 / 4, 2 / 3))
    assert offset_oracle.event_scores(np.zeros_like(peaks), ref, 0.01, 21) == (0.0, 0.0, 0.0)
