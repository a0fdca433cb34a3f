import numpy as np
import pytest

from sound2sheet.decoding import decode_notes
from sound2sheet.labels import notes_to_rolls
from sound2sheet.midi import read_midi_notes, write_midi, notes_to_pretty_midi
from sound2sheet.notes import NoteEvent
from sound2sheet.errors import ConfigError
from sound2sheet.model.config import InferenceConfig
from sound2sheet.timing import num_frames_for_duration

HOP = 0.01


@pytest.mark.parametrize("duration", [5.0, 25.0])
def test_note_at_3_27s_lands_on_frame_327(duration):
    n = num_frames_for_duration(duration, 16000, 400, 160)
    notes = [NoteEvent(60, 3.27, 3.9, 100), NoteEvent(72, duration - 1.73, duration - 1.2, 50)]
    rolls = notes_to_rolls(notes, n, HOP)
    on = np.flatnonzero(rolls.onset[:, 60 - 21] == 1.0)
    assert list(on) == [327]
    assert rolls.frame[327, 39] == 1 and rolls.frame[326, 39] == 0 and rolls.frame[389, 39] == 1 and rolls.frame[390, 39] == 0
    assert rolls.onset[326, 39] == 0.5 and rolls.onset[328, 39] == 0.5  # soft neighbours
    assert rolls.velocity[327, 39] == pytest.approx(100 / 127)
    late = round((duration - 1.73) / HOP)
    assert np.flatnonzero(rolls.onset[:, 72 - 21] == 1.0).tolist() == [late]


def test_crop_rows_equal_whole_file_rows():
    rng = np.random.default_rng(0)
    notes = [NoteEvent(int(rng.integers(21, 109)), t, t + float(rng.uniform(0.05, 2)), 64) for t in rng.uniform(0, 20, 80)]
    whole = notes_to_rolls(notes, 2000, HOP)
    for start in (0, 333, 1500, 1900):
        crop = notes_to_rolls(notes, 256, HOP, start_frame=start)
        rows = min(256, 2000 - start)
        for name in ("frame", "onset", "velocity", "offset"):
            np.testing.assert_array_equal(getattr(crop, name)[:rows], getattr(whole, name)[start:start + rows])


def test_offset_target_peaks_on_the_first_silent_frame():
    notes = [NoteEvent(60, 1.0, 3.27, 80), NoteEvent(60, 3.27, 3.275, 80), NoteEvent(62, 0.5, 0.504, 80)]
    rolls = notes_to_rolls(notes, 500, HOP)
    k = 60 - 21
    assert rolls.frame[326, k] == 1 and rolls.offset[327, k] == 1.0  # ends where the re-strike begins
    assert rolls.offset[326, k] == 0.5 and rolls.offset[329, k] == 0.5  # the next note ends at 328 (one frame)
    assert rolls.offset[328, k] == 1.0 and np.flatnonzero(rolls.offset[:, k] == 1.0).tolist() == [327, 328]
    # a note shorter than a frame still lasts one and ends one frame after its onset
    assert np.flatnonzero(rolls.offset[:, 62 - 21] == 1.0).tolist() == [51]
    # an end just before a crop's first frame still shows its soft neighbour, as in the whole file
    crop = notes_to_rolls([NoteEvent(64, 0.1, 1.0, 80)], 50, HOP, start_frame=101)
    assert crop.offset[0, 64 - 21] == 0.5 and crop.frame[:, 64 - 21].sum() == 0


def test_out_of_range_pitches_are_ignored():
    rolls = notes_to_rolls([NoteEvent(20, 0.1, 0.5), NoteEvent(109, 0.1, 0.5), NoteEvent(21, 0.1, 0.5)], 100, HOP)
    assert rolls.frame.sum(axis=0).nonzero()[0].tolist() == [0]


def test_sustain_pedal_extends_and_restrike_cuts(tmp_path):
    notes = [NoteEvent(60, 0.0, 0.5, 80), NoteEvent(64, 0.2, 0.4, 80), NoteEvent(60, 1.0, 1.2, 80), NoteEvent(67, 2.5, 2.7, 80)]
    pm = notes_to_pretty_midi(notes, pedal=[(0.3, 1.5)])
    path = tmp_path / "p.mid"
    pm.write(str(path))
    plain = read_midi_notes(path, sustain_pedal=False)
    pedal = read_midi_notes(path, sustain_pedal=True)
    by = {(n.pitch, round(n.onset, 2)): round(n.offset, 2) for n in pedal}
    assert by[(60, 0.0)] == 1.0  # released under the pedal, extended, then cut by the re-strike at 1.0
    assert by[(64, 0.2)] == 1.5  # extended to the pedal release
    assert by[(60, 1.0)] == 1.5
    assert by[(67, 2.5)] == 2.7  # pedal up: unchanged
    assert [round(n.offset, 2) for n in plain] == [0.5, 0.4, 1.2, 2.7]


def test_midi_round_trip_is_exact(tmp_path):
    notes = [NoteEvent(21, 0.0, 0.25, 1), NoteEvent(108, 0.5, 3.0, 127), NoteEvent(60, 0.5, 0.75, 64)]
    write_midi(notes, tmp_path / "x.mid")
    back = read_midi_notes(tmp_path / "x.mid", sustain_pedal=False)
    assert [(n.pitch, n.velocity) for n in back] == [(21, 1), (60, 64), (108, 127)]
    assert [n.onset for n in back] == pytest.approx([0.0, 0.5, 0.5], abs=1e-3)
    assert [n.offset for n in back] == pytest.approx([0.25, 0.75, 3.0], abs=1e-3)


def _roll(n=200, keys=88):
    return np.zeros((n, keys), dtype=np.float32)


def test_decode_chord():
    p = _roll()
    p[50:90, [39, 43, 46]] = 0.9
    notes = decode_notes(p, hop_s=HOP, median_filter_size=1)
    assert [(n.pitch, n.onset, n.offset) for n in notes] == [(60, 0.5, 0.9), (64, 0.5, 0.9), (67, 0.5, 0.9)]


def test_decode_repeated_notes_frame_only_and_with_onsets():
    p = _roll()
    p[20:60, 39] = 0.9
    p[62:100, 39] = 0.9  # a 2-frame gap: two notes
    notes = decode_notes(p, hop_s=HOP, median_filter_size=1)
    assert [(n.onset, n.offset) for n in notes] == [(0.2, 0.6), (0.62, 1.0)]
    sustained = _roll()
    sustained[20:100, 39] = 0.9  # pedal-held roll: the frame head alone cannot split it
    onsets = _roll()
    onsets[[19, 20, 21], 39] = [0.6, 0.95, 0.6]
    onsets[[59, 60, 61], 39] = [0.55, 0.8, 0.4]
    assert len(decode_notes(sustained, hop_s=HOP)) == 1
    split = decode_notes(sustained, onsets, hop_s=HOP)
    assert [(n.onset, n.offset) for n in split] == [(0.2, 0.6), (0.6, 1.0)]
    assert split[0].confidence == pytest.approx(0.95)


def test_median_filter_removes_blips_and_fills_gaps():
    p = _roll()
    p[10, 5] = 0.9  # one-frame blip
    p[50:70, 30] = 0.9
    p[60, 30] = 0.1  # one-frame dropout
    raw = decode_notes(p, hop_s=HOP, median_filter_size=1, min_duration_s=0.0)
    assert len(raw) == 3
    filtered = decode_notes(p, hop_s=HOP, median_filter_size=3, min_duration_s=0.0)
    assert [(n.pitch, n.onset, n.offset) for n in filtered] == [(51, 0.5, 0.7)]


def test_minimum_duration():
    p = _roll()
    p[10:12, 0] = 0.9  # 20 ms
    p[30:34, 1] = 0.9  # 40 ms
    notes = decode_notes(p, hop_s=HOP, median_filter_size=1, min_duration_s=0.03)
    assert [(n.pitch, n.onset) for n in notes] == [(22, 0.3)]


def test_velocity_is_read_at_the_onset():
    p, o, v = _roll(), _roll(), _roll()
    p[10:40, 10] = 0.9
    o[10, 10] = 0.9
    v[10, 10] = 100 / 127
    (note,) = decode_notes(p, o, v, hop_s=HOP)
    assert note.velocity == 100


def test_labels_decode_back_to_the_notes():
    notes = [NoteEvent(60, 0.1, 0.5, 90), NoteEvent(60, 0.5, 0.9, 40), NoteEvent(64, 0.1, 1.3, 70), NoteEvent(30, 1.0, 1.04, 10)]
    rolls = notes_to_rolls(notes, 200, HOP)
    back = decode_notes(rolls.frame, rolls.onset, rolls.velocity, hop_s=HOP, median_filter_size=1, min_duration_s=0.0)
    assert [(n.pitch, n.onset, n.offset, n.velocity) for n in back] == [
        (n.pitch, n.onset, n.offset, n.velocity) for n in sorted(notes, key=lambda n: (n.onset, n.pitch))
    ]


def test_an_onset_echo_inside_the_reonset_interval_is_not_a_new_note():
    # The shipped model's onset head echoes a strike one encoder token (80 ms) later; a real
    # re-strike 150 ms after the first must survive the same setting.
    p, o = _roll(), _roll()
    p[20:80, 39] = 0.9
    o[[19, 20, 21], 39] = [0.5, 0.99, 0.4]
    o[[27, 28, 29], 39] = [0.3, 0.93, 0.2]  # echo, 80 ms after
    o[[34, 35, 36], 39] = [0.4, 0.9, 0.3]  # re-strike, 150 ms after
    def spans(min_reonset_s):
        notes = decode_notes(p, o, hop_s=HOP, median_filter_size=1, min_reonset_s=min_reonset_s)
        return [(n.onset, n.offset) for n in notes]
    assert spans(0.0) == [(0.2, 0.28), (0.28, 0.35), (0.35, 0.8)]
    assert spans(0.1) == [(0.2, 0.35), (0.35, 0.8)]
    assert spans(0.16) == [(0.2, 0.8)]
    assert spans(0.15) == [(0.2, 0.35), (0.35, 0.8)]  # exactly the interval: kept


def test_a_weak_peak_inside_a_sounding_note_does_not_split_it():
    # reonset_threshold applies only while the key's note still sounds: the same weak peak
    # after the note has ended starts a note as usual.
    p, o = _roll(), _roll()
    p[20:80, 39] = 0.9
    o[[19, 20, 21], 39] = [0.5, 0.99, 0.4]
    o[[39, 40, 41], 39] = [0.3, 0.75, 0.2]  # weak peak, the note still sounding
    o[[59, 60, 61], 39] = [0.3, 0.95, 0.2]  # strong peak, the note still sounding
    p[90:120, 39] = 0.9
    o[[89, 90, 91], 39] = [0.3, 0.75, 0.2]  # weak peak, a fresh note
    def spans(reonset_threshold):
        notes = decode_notes(p, o, hop_s=HOP, median_filter_size=1, onset_threshold=0.7,
                             reonset_threshold=reonset_threshold)
        return [(n.onset, n.offset) for n in notes]
    assert spans(None) == [(0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.9, 1.2)]
    assert spans(0.8) == [(0.2, 0.6), (0.6, 0.8), (0.9, 1.2)]
    assert spans(0.96) == [(0.2, 0.8), (0.9, 1.2)]
    config = InferenceConfig(onset_threshold=0.7, reonset_threshold=0.8).decoder_kwargs(HOP, 21)
    assert config["reonset_threshold"] == 0.8
    assert InferenceConfig(onset_threshold=0.7).decoder_kwargs(HOP, 21)["reonset_threshold"] is None


def test_a_short_dip_inside_a_held_note_does_not_end_it():
    # The frame probability sinks for 40 ms while the key is held (another key's attack):
    # bridged, it stays one note; a re-strike after a dip of the same length stays two.
    p, o = _roll(), _roll()
    p[20:100, 39] = 0.9
    p[50:54, 39] = 0.1
    o[[19, 20, 21], 39] = [0.3, 0.95, 0.2]
    p[120:200, 40] = 0.9
    p[150:154, 40] = 0.1
    o[[119, 120, 121], 40] = [0.3, 0.95, 0.2]
    o[[155, 156, 157], 40] = [0.3, 0.9, 0.2]  # struck again just after the frame comes back
    def spans(gap):
        notes = decode_notes(p, o, hop_s=HOP, median_filter_size=3, max_gap_s=gap)
        return [(n.pitch, n.onset, n.offset) for n in notes]
    assert spans(0.0) == [(60, 0.2, 0.5), (61, 1.2, 1.5), (61, 1.56, 2.0)]
    assert spans(0.05) == [(60, 0.2, 1.0), (61, 1.2, 1.5), (61, 1.56, 2.0)]
    assert spans(0.03) == spans(0.0)  # a 40 ms dip is longer than a 30 ms bridge
    assert InferenceConfig(max_gap_ms=50).decoder_kwargs(HOP, 21)["max_gap_s"] == 0.05
    with pytest.raises(ConfigError, match="max_gap_ms"):
        InferenceConfig(max_gap_ms=-1)


def test_a_long_note_is_judged_by_the_hold_threshold():
    # A decaying note: frame probability 0.9 falling to 0.1 over 2 s. Short notes keep the
    # frame threshold (a staccato note's 0.4 tail still ends it); a note past hold_after
    # goes on down to the hold threshold.
    p, o = _roll(400), _roll(400)
    p[20:220, 39] = np.linspace(0.9, 0.1, 200)
    o[[19, 20, 21], 39] = [0.3, 0.95, 0.2]
    p[300:310, 40] = 0.9
    p[310:330, 40] = 0.35  # a short note's tail
    o[[299, 300, 301], 40] = [0.3, 0.95, 0.2]
    def spans(**kw):
        return [(n.pitch, n.onset, round(n.offset, 2)) for n in decode_notes(p, o, hop_s=HOP, median_filter_size=1, **kw)]
    base = spans()
    assert base == [(60, 0.2, 1.2), (61, 3.0, 3.1)]  # 0.9 -> 0.1 passes 0.5 after 100 frames
    held = spans(hold_threshold=0.3, hold_after_s=0.5)
    assert held == [(60, 0.2, 1.7), (61, 3.0, 3.1)]  # ... and 0.3 after 150
    assert spans(hold_threshold=0.3, hold_after_s=0.0)[1] == (61, 3.0, 3.3)  # no age: every note
    assert spans(hold_threshold=None, hold_after_s=0.5) == base
    kwargs = InferenceConfig(hold_threshold=0.3, hold_after_ms=500).decoder_kwargs(HOP, 21)
    assert (kwargs["hold_threshold"], kwargs["hold_after_s"]) == (0.3, 0.5)
    assert InferenceConfig().decoder_kwargs(HOP, 21)["hold_threshold"] is None
    with pytest.raises(ConfigError, match="hold_threshold"):
        InferenceConfig(hold_threshold=1.2)
    with pytest.raises(ConfigError, match="hold_after_ms"):
        InferenceConfig(hold_after_ms=-5)


def test_a_restrike_that_comes_with_a_new_note_above_needs_the_ghost_threshold():
    # Key 39 is held; at 0.4 s key 51 (an octave up) starts fresh and key 39 shows a 0.85 peak
    # with it. At 0.6 s key 39 peaks at 0.85 again, with key 51 already sounding (a chord
    # struck again), and at 0.8 s at 0.97 with a fresh key 58: both re-strikes stand.
    p, o = _roll(), _roll()
    p[20:100, 39] = 0.9
    o[[19, 20, 21], 39] = [0.5, 0.99, 0.4]
    o[[40, 41, 42], 39] = [0.3, 0.85, 0.2]
    p[40:70, 51] = 0.9
    o[[39, 40, 41], 51] = [0.4, 0.99, 0.3]
    o[[60, 61, 62], 39] = [0.3, 0.85, 0.2]
    o[[59, 60, 61], 51] = [0.4, 0.95, 0.3]
    p[80:90, 58] = 0.9
    o[[79, 80, 81], 58] = [0.4, 0.99, 0.3]
    o[[80, 81, 82], 39] = [0.3, 0.97, 0.2]

    def spans(ghost_threshold):
        notes = decode_notes(p, o, hop_s=HOP, median_filter_size=1, onset_threshold=0.7, reonset_threshold=0.8,
                             ghost_threshold=ghost_threshold)
        return [(n.onset, n.offset) for n in notes if n.pitch == 21 + 39]

    assert spans(None) == [(0.2, 0.41), (0.41, 0.61), (0.61, 0.81), (0.81, 1.0)]
    assert spans(0.9) == [(0.2, 0.61), (0.61, 0.81), (0.81, 1.0)]
    assert spans(0.98) == [(0.2, 0.61), (0.61, 1.0)]
    assert InferenceConfig(ghost_threshold=0.9).decoder_kwargs(HOP, 21)["ghost_threshold"] == 0.9
    assert InferenceConfig().decoder_kwargs(HOP, 21)["ghost_threshold"] is None
    with pytest.raises(ConfigError, match="ghost_threshold"):
        InferenceConfig(ghost_threshold=1.0)


def test_fresh_strike_above_marks_keys_below_a_new_note_near_its_onset():
    from sound2sheet.decoding import fresh_strike_above

    frames = np.zeros((20, 5), dtype=np.float32)
    peaks = np.zeros((20, 5), dtype=bool)
    peaks[10, 3] = True  # key 3 starts fresh at row 10
    frames[4:9, 1] = 0.9
    peaks[10, 1] = True  # key 1 was sounding three rows before: a re-strike, not fresh
    got = fresh_strike_above(frames, peaks, 0.5, window=2, lag=3)
    assert got[8:13, :3].all() and not got[8:13, 3:].any()  # keys below key 3, rows 10 +- 2
    assert not got[:8].any() and not got[13:].any()
    peaks[0, 4] = True  # at the start, nothing before: fresh
    assert fresh_strike_above(frames, peaks, 0.5, window=2, lag=3)[0, :4].all()


def test_a_chords_quiet_member_needs_only_the_chord_threshold():
    # Key 40 strikes at row 20 (0.95); key 44 peaks at 0.6 a frame later (a quiet chord member),
    # key 47 at 0.6 five frames later (too far), key 50 at 0.6 alone at row 60, and key 40 itself
    # at 0.6 at row 80 next to its own strike at row 79 (its own strike is no chord).
    p, o = _roll(), _roll()
    for key, row, strength in [(40, 20, 0.95), (44, 21, 0.6), (47, 25, 0.6), (50, 60, 0.6), (40, 79, 0.95),
                               (40, 81, 0.6)]:
        p[row:row + 10, key] = 0.9
        o[[row - 1, row, row + 1], key] = [0.2, strength, 0.1]

    def starts(chord_threshold, window_s=0.03):
        notes = decode_notes(p, o, hop_s=HOP, median_filter_size=1, onset_threshold=0.7,
                             chord_threshold=chord_threshold, chord_window_s=window_s)
        return sorted((n.pitch - 21, round(n.onset / HOP)) for n in notes)

    assert starts(None) == [(40, 20), (40, 79)]
    assert starts(0.5) == [(40, 20), (40, 79), (44, 21)]
    assert starts(0.5, window_s=0.05) == [(40, 20), (40, 79), (44, 21), (47, 25)]
    assert starts(0.65) == [(40, 20), (40, 79)]  # the quiet member must reach the chord threshold
    kwargs = InferenceConfig(onset_threshold=0.7, chord_onset_threshold=0.5, chord_window_ms=40).decoder_kwargs(HOP, 21)
    assert (kwargs["chord_threshold"], kwargs["chord_window_s"]) == (0.5, 0.04)
    assert InferenceConfig().decoder_kwargs(HOP, 21)["chord_threshold"] is None
    with pytest.raises(ConfigError, match="chord_onset_threshold"):
        InferenceConfig(onset_threshold=0.7, chord_onset_threshold=0.7)
    with pytest.raises(ConfigError, match="chord_window_ms"):
        InferenceConfig(chord_onset_threshold=0.3, chord_window_ms=-1)


def test_chord_mates_counts_other_keys_only():
    from sound2sheet.decoding import chord_mates

    onset = np.zeros((10, 4), dtype=np.float32)
    onset[5, [0, 1]] = [0.9, 0.6]  # key 1 under key 0's strike
    onset[7, 0] = 0.6  # key 0 after its own strike only
    strong = np.zeros((10, 4), dtype=bool)
    strong[5, 0] = True
    got = chord_mates(onset, strong, 0.5, window=2)
    assert got[5, 1] and got.sum() == 1


def test_streaming_chord_mates_equal_whole_roll_decoding():
    # sparse strikes on few keys, so whether a confident strike lies within the window is decided
    # at block borders: the decoder must hold back (and keep) the window's frames
    from sound2sheet.decoding import StreamingDecoder

    rng = np.random.default_rng(1)
    frames = np.repeat((rng.random((80, 6)) ** 3).astype(np.float32), 10, axis=0)
    onsets = (rng.random((800, 6)) ** 30).astype(np.float32)
    kwargs = dict(hop_s=HOP, median_filter_size=3, onset_threshold=0.5, chord_threshold=0.2, chord_window_s=0.06)
    whole = decode_notes(frames, onsets, **kwargs)
    assert whole != decode_notes(frames, onsets, **{**kwargs, "chord_threshold": None})
    for sizes in ([1] * 800, [3] * 266 + [2], [5, 7] * 66 + [8]):
        dec = StreamingDecoder(**kwargs)
        got, start = [], 0
        for size in sizes:
            got += dec.push(frames[start:start + size], onsets[start:start + size])
            start += size
        assert sorted(got + dec.finish(), key=lambda n: (n.onset, n.pitch)) == whole


@pytest.mark.parametrize(("ghost", "chord"), [(None, None), (0.6, None), (0.6, 0.05)])
@pytest.mark.parametrize("hold", [None, 0.1])
@pytest.mark.parametrize("max_gap_s", [0.0, 0.08])
@pytest.mark.parametrize("reonset_threshold", [None, 0.5])
@pytest.mark.parametrize("min_reonset_s", [0.0, 0.12])
@pytest.mark.parametrize("use_onsets", [True, False])
def test_streaming_decoder_equals_whole_roll_decoding(use_onsets, min_reonset_s, reonset_threshold, max_gap_s, hold,
                                                      ghost, chord):
    from sound2sheet.decoding import StreamingDecoder

    rng = np.random.default_rng(0)
    frames = (rng.random((700, 88)) ** 6).astype(np.float32)  # sparse, blocky activity
    frames = np.repeat(frames[::10], 10, axis=0)[:700]
    onsets = (rng.random((700, 88)) ** 12).astype(np.float32)
    vel = rng.random((700, 88)).astype(np.float32)
    kwargs = dict(hop_s=HOP, median_filter_size=5, min_reonset_s=min_reonset_s, onset_threshold=0.2,
                  reonset_threshold=reonset_threshold, max_gap_s=max_gap_s, hold_threshold=hold, hold_after_s=0.15,
                  ghost_threshold=ghost, chord_threshold=chord, chord_window_s=0.04)
    whole = decode_notes(frames, onsets if use_onsets else None, vel, **kwargs)
    assert len(whole) > 50
    if ghost and use_onsets:  # the check has something to do on this roll
        assert whole != decode_notes(frames, onsets, vel, **{**kwargs, "ghost_threshold": None})
    if chord and use_onsets:
        assert whole != decode_notes(frames, onsets, vel, **{**kwargs, "chord_threshold": None})
    for sizes in ([1] * 20 + [680], [333, 367], [7, 100, 3, 590]):
        dec = StreamingDecoder(**kwargs)
        got, start = [], 0
        for size in sizes:
            sl = slice(start, start + size)
            got += dec.push(frames[sl], onsets[sl] if use_onsets else None, vel[sl])
            start += size
        got += dec.finish()
        assert sorted(got, key=lambda n: (n.onset, n.pitch)) == whole


def test_dilate_rows_spreads_marks_along_time_only():
    from sound2sheet.decoding import dilate_rows

    mask = np.zeros((8, 2), dtype=bool)
    mask[3, 0] = True
    assert np.flatnonzero(dilate_rows(mask, 2)[:, 0]).tolist() == [3, 4, 5]
    assert np.flatnonzero(dilate_rows(mask, 1, 2)[:, 0]).tolist() == [1, 2, 3, 4]
    assert not dilate_rows(mask, 2, 2)[:, 1].any()
