"""benchmarks/onset_oracle.py: peaks near each reference onset on its own key; found notes."""

import numpy as np
import pytest

from sound2sheet.notes import NoteEvent
from tests.conftest import load_benchmark

onset_oracle = load_benchmark("onset_oracle")


def test_peaks_are_read_on_the_notes_own_key_within_the_window():
    ref = [NoteEvent(pitch=60, onset=1.0, offset=1.5), NoteEvent(pitch=62, onset=2.0, offset=2.5),
           NoteEvent(pitch=120, onset=0.5, offset=1.0)]  # off the keyboard
    onset = np.zeros((400, 88), dtype=np.float32)
    onset[104, 60 - 21] = 0.6   # 40 ms after 60's onset: counts
    onset[100, 61 - 21] = 0.9   # another key: does not
    onset[206, 62 - 21] = 0.8   # 60 ms after 62's onset: outside 50 ms
    onset[197, 62 - 21] = 0.3
    assert onset_oracle.peak_near_onsets(onset, ref, 0.01, 21).tolist() == pytest.approx([0.6, 0.3, 0.0])


def test_found_marks_the_reference_notes_an_estimate_matches():
    ref = [NoteEvent(pitch=60, onset=1.0, offset=1.5), NoteEvent(pitch=62, onset=2.0, offset=2.5)]
    est = [NoteEvent(pitch=62, onset=2.04, offset=2.1), NoteEvent(pitch=61, onset=1.0, offset=1.5)]
    assert onset_oracle.found(ref, est).tolist() == [False, True]
    assert onset_oracle.found(ref, []).tolist() == [False, False]


def test_a_chords_quiet_members_are_the_notes_under_a_louder_onset():
    ref = [NoteEvent(pitch=60, onset=1.0, offset=1.5, velocity=80), NoteEvent(pitch=64, onset=1.02, offset=1.5, velocity=40),
           NoteEvent(pitch=67, onset=0.98, offset=1.5, velocity=80),  # as loud as the loudest: not under it
           NoteEvent(pitch=50, onset=1.5, offset=2.0, velocity=20)]  # alone
    assert onset_oracle.under_louder_chord_mate(ref).tolist() == [False, True, False, False]
    assert onset_oracle.under_louder_chord_mate(ref, window_s=0.01).tolist() == [False, False, False, False]
    assert onset_oracle.under_louder_chord_mate([]).tolist() == []
