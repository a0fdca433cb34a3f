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


def test_weak_peaks_are_local_maxima_in_the_band_labelled_by_a_nearby_reference_onset():
    onset = np.zeros((50, 88), dtype=np.float32)
    frame = np.full((50, 88), 0.2, dtype=np.float32)
    onset[9:12, 39] = [0.4, 0.6, 0.5]   # a peak of 0.6 at frame 10, 40 ms after key 39's note: real
    onset[30, 39] = 0.5                 # a peak on the same key far from any onset: not real
    onset[20, 10] = 0.9                 # above the band: not a weak peak
    onset[25, 11] = 0.2                 # below it
    frame[13, 39] = 0.7                 # the frame probability 3 frames after the real peak
    ref = [NoteEvent(pitch=60, onset=0.06, offset=0.3)]
    features, real = onset_oracle.weak_peaks({"onset": onset, "frame": frame}, ref, 0.01, 21, 0.3, 0.85)
    assert real.tolist() == [True, False]
    assert features[0].tolist() == pytest.approx([0.6, 0.2, 0.7, 0.0])


def test_auc_ranks_real_peaks_above_the_rest_and_the_logit_fit_learns_a_separating_feature():
    real = np.array([True, True, False, False])
    assert onset_oracle.auc(real, np.array([0.9, 0.8, 0.1, 0.2])) == pytest.approx(1.0)
    assert onset_oracle.auc(real, np.array([0.1, 0.2, 0.9, 0.8])) == pytest.approx(0.0)
    assert onset_oracle.auc(real, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)
    rng = np.random.default_rng(0)
    real = rng.random(400) < 0.3
    noise, signal = rng.random(400), np.where(real, rng.uniform(0.6, 0.9, 400), rng.uniform(0.1, 0.5, 400))
    features = np.stack([noise, 1 - signal], axis=1)  # the fit must learn the second column's sign
    assert onset_oracle.auc(real, onset_oracle.cross_validated_logit(features, real)) > 0.95
    assert onset_oracle.auc(real, onset_oracle.cross_validated_logit(features[:, :1], real)) < 0.7
