"""Property-based tests for label building and decoding."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sound2sheet.decoding import StreamingDecoder, decode_notes
from sound2sheet.labels import notes_to_rolls
from sound2sheet.notes import NoteEvent

HOP = 0.01
KEYS = 12  # a slice of the keyboard keeps examples small; the code is the same for 88
probs = st.integers(5, 80).flatmap(lambda n: arrays(np.float32, (n, KEYS), elements=st.floats(0, 1, width=32)))


def _valid(notes, n_frames):
    assert notes == sorted(notes, key=lambda n: (n.onset, n.pitch, n.offset))
    last_end: dict[int, float] = {}
    for n in notes:
        assert n.onset < n.offset <= n_frames * HOP + 1e-9
        assert 21 <= n.pitch < 21 + KEYS
        assert n.onset >= last_end.get(n.pitch, -1.0) - 1e-9  # no overlap on one key
        last_end[n.pitch] = n.offset


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=probs, data=st.data(), median=st.sampled_from([1, 3, 5]), use_onsets=st.booleans(),
       reonset=st.sampled_from([0.0, 0.03, 0.1]), gap=st.sampled_from([0.0, 0.02, 0.05]),
       hold=st.sampled_from([None, 0.3]), offset_t=st.sampled_from([None, 0.5]))
def test_any_probability_roll_gives_valid_events(frame, data, median, use_onsets, reonset, gap, hold, offset_t):
    onset = data.draw(arrays(np.float32, frame.shape, elements=st.floats(0, 1, width=32))) if use_onsets else None
    offset = data.draw(arrays(np.float32, frame.shape, elements=st.floats(0, 1, width=32))) if offset_t else None
    kwargs = dict(hop_s=HOP, median_filter_size=median, min_duration_s=0.0, min_reonset_s=reonset, max_gap_s=gap,
                  hold_threshold=hold, hold_after_s=0.04, offset_threshold=offset_t, offset_window_s=0.03)
    notes = decode_notes(frame, onset, offset=offset, **kwargs)
    _valid(notes, frame.shape[0])
    # fed in arbitrary blocks, the streaming decoder agrees
    cuts = sorted(data.draw(st.lists(st.integers(1, frame.shape[0] - 1), max_size=4, unique=True)))
    dec = StreamingDecoder(**kwargs)
    got = []
    for a, b in zip([0] + cuts, cuts + [frame.shape[0]]):
        got += dec.push(frame[a:b], onset[a:b] if onset is not None else None,
                        offset=offset[a:b] if offset is not None else None)
    got += dec.finish()
    assert sorted(got, key=lambda n: (n.onset, n.pitch, n.offset)) == notes


@st.composite
def note_lists(draw):
    """Notes on the 10 ms grid; one key's onsets at least 2 frames apart (closer ones are one peak)."""
    notes = []
    for key in draw(st.lists(st.integers(0, KEYS - 1), max_size=6, unique=True)):
        t = draw(st.integers(0, 5))
        for _ in range(draw(st.integers(1, 4))):
            length = draw(st.integers(1, 30))
            notes.append(NoteEvent(21 + key, round(t * HOP, 9), round((t + length) * HOP, 9), draw(st.integers(1, 127))))
            t += max(2, length + draw(st.integers(0, 10)))
    return notes


@settings(max_examples=150, deadline=None)
@given(notes=note_lists())
def test_labels_decode_back_to_the_notes(notes):
    n_frames = 200
    rolls = notes_to_rolls(notes, n_frames, HOP, num_keys=KEYS)
    back = decode_notes(rolls.frame, rolls.onset, rolls.velocity, hop_s=HOP, median_filter_size=1, min_duration_s=0.0)
    expected = sorted(notes, key=lambda n: (n.onset, n.pitch))
    assert [(n.pitch, n.onset, n.offset, n.velocity) for n in back] == [(n.pitch, n.onset, n.offset, n.velocity) for n in expected]


def _bridged(sounding, peaks, max_gap):
    """Spec of decoding.bridge_gaps, one quiet run at a time."""
    out = sounding.copy()
    for k in range(sounding.shape[1]):
        t = 0
        while t < len(sounding):
            if sounding[t, k]:
                t += 1
                continue
            end = t
            while end < len(sounding) and not sounding[end, k]:
                end += 1
            if t > 0 and end < len(sounding) and end - t <= max_gap and not peaks[t:end + max_gap + 1, k].any():
                out[t:end, k] = True
            t = end
    return out


def _reference_decode(frame, onset, pedal, *, threshold, onset_threshold, reonset_threshold, min_reonset, max_gap=0,
                      hold_threshold=None, hold_after=0):
    """The onset-driven rules of sound2sheet.decoding, one frame at a time (median size 1,
    no minimum duration): the spec the vectorised decoder must match. Returns (key, start, end)."""
    prev = np.vstack([np.full((1, frame.shape[1]), -np.inf), onset[:-1]])
    nxt = np.vstack([onset[1:], np.full((1, frame.shape[1]), -np.inf)])
    peaks = (onset >= onset_threshold) & (onset >= prev) & (onset > nxt)
    young, old = (_bridged((frame >= th) | (onset > onset_threshold), peaks, max_gap) | (pedal[:, None] >= 0.5)
                  for th in (threshold, hold_threshold or threshold))
    open_, last, out = {}, {}, []
    for t in range(len(frame)):
        # an open note at least hold_after frames old is judged by the hold threshold
        sounding = [old[t, k] if k in open_ and t - open_[k] >= hold_after else young[t, k] for k in range(KEYS)]
        starts = [k for k in np.flatnonzero(peaks[t]) if t - last.get(k, -10**9) >= min_reonset - 1e-6
                  and (not (k in open_ and sounding[k]) or onset[t, k] >= reonset_threshold)]
        for k in list(open_):
            if k in starts or not sounding[k]:
                out.append((k, open_.pop(k), t))
        for k in starts:
            open_[k], last[k] = t, t
    out += [(k, s, len(frame)) for k, s in open_.items()]
    return sorted(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=probs, data=st.data(), reonset_threshold=st.sampled_from([0.5, 0.8]),
       min_reonset=st.sampled_from([0, 3, 12]), pedalled=st.booleans(), max_gap=st.sampled_from([0, 1, 4]),
       hold=st.sampled_from([(None, 0), (0.3, 0), (0.3, 5), (0.7, 3)]))
def test_onset_decoding_follows_the_frame_by_frame_rules(frame, data, reonset_threshold, min_reonset, pedalled,
                                                         max_gap, hold):
    onset = data.draw(arrays(np.float32, frame.shape, elements=st.floats(0, 1, width=32)))
    pedal = data.draw(arrays(np.float32, frame.shape[:1], elements=st.floats(0, 1, width=32))) if pedalled \
        else np.zeros(len(frame), np.float32)
    notes = decode_notes(frame, onset, hop_s=HOP, median_filter_size=1, min_duration_s=0.0, pedal=pedal,
                         min_reonset_s=min_reonset * HOP, reonset_threshold=reonset_threshold, max_gap_s=max_gap * HOP,
                         hold_threshold=hold[0], hold_after_s=hold[1] * HOP)
    expected = _reference_decode(frame, onset, pedal, threshold=0.5, onset_threshold=0.5,
                                 reonset_threshold=reonset_threshold, min_reonset=min_reonset, max_gap=max_gap,
                                 hold_threshold=hold[0], hold_after=hold[1])
    assert sorted((n.pitch - 21, round(n.onset / HOP), round(n.offset / HOP)) for n in notes) == expected
