"""From per-frame probabilities to note events. Pure numpy; works on any probability roll.

Two decoders share one contract (frame ``f`` is time ``f * hop_s``):

* frame-only: threshold the frame roll, median-filter it along time, every run of active
  frames on a key is a note;
* onset-driven (when onset probabilities are given): a note starts at each local maximum of
  the onset probability at or above ``onset_threshold`` and lasts while the (filtered) frame
  roll is active or the onset probability stays above the threshold (the frame head often
  lags an onset by a frame),
  at least one frame and never past the next onset on that key. This separates re-struck
  keys that a pedal-extended frame roll would merge. A peak closer than ``min_reonset_s`` to
  the previous accepted onset on its key is not a new note: a model that sees the audio
  through coarse encoder tokens (80 ms apart for the shipped one) tends to echo an onset one
  token later, and a piano key is rarely re-struck that fast (3 same-key intervals under
  100 ms among the 5,500 notes of the dev set's two MAESTRO performances). A peak on a key
  whose note is still sounding splits that note only if it reaches ``reonset_threshold``
  (default: ``onset_threshold``): on a piano it never heard, a model's second, weaker peak
  inside a held note is far more often an echo of the attack than a re-strike.

A re-strike that coincides with a fresh strike on a higher key (``ghost_threshold``): the new
note's partials land on the partials of a held key below it (an octave, a twelfth, two octaves
above it most often), and on a piano the model never heard that rise reads as a second attack
of the held key. On the dev set's first performance 220 of its 304 false onsets were such
peaks inside held notes, 219 of them within 50 ms of another key's onset (docs/experiments.md
#37). With the option, a peak on a key whose note still sounds, within ``GHOST_WINDOW`` frames
of an onset peak on a higher key that was quiet ``GHOST_QUIET_LAG`` frames before that peak,
must reach ``ghost_threshold`` to split the note.

Onset-driven decoding can bridge short dips (``max_gap_s``): a held note whose frame
probability sinks below the threshold for at most that long and comes back, with no onset peak
on its key in between or just after, stays one note. Such dips, typically 20-100 ms long in a
held note while other keys are struck, ended about 60 % of the long notes that came out too short on the
dev set's first performance (docs/experiments.md #19); without an onset peak the rest of the
note was lost, since only peaks start notes.

Onset-driven decoding can also judge a long note by a second frame threshold
(``hold_threshold``, used once the note is ``hold_after_s`` old): a piano note decays, and the
frame probability of a note held for seconds sinks with it, so one threshold that ends short
notes where they end cuts long ones early.

A chord's quiet members (``chord_threshold``): an onset peak below ``onset_threshold`` but at
or above ``chord_threshold`` starts a note when another key has an onset peak at or above
``onset_threshold`` within ``chord_window_s``. A note struck with a louder one peaks lower than
it: on the dev set notes struck within 30 ms of a louder note were found half as often as the
rest, most of the misses with a peak between 0.5 and the threshold (docs/experiments.md #71,
#75), while a lone peak that low is more often noise.

With offset probabilities (``offset``, per key and frame, from a model's offset head;
onset-driven decoding only) a note at least ``hold_after_s`` old ends at the first row where
the first threshold already says it is quiet and an offset peak at or above
``offset_threshold`` came within the last ``offset_window_s``: the hold keeps a decaying note
going, the offset head says where its dampers fell (docs/experiments.md #59).

Notes shorter than ``min_duration_s`` are dropped in both.

With sustain-pedal probabilities (``pedal``, one per frame; onset-driven decoding only) a
note whose key stops sounding while the pedal is down (>= ``pedal_threshold``) is held until
the pedal goes up or its key is struck again: the rule :func:`sound2sheet.midi.apply_sustain`
applies to the ground truth, so a decayed but pedalled note ends where the reference says.

:class:`StreamingDecoder` does this block by block with memory independent of length (a note
crossing a block border stays one note); :func:`decode_notes` is the same decoder fed once,
so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sound2sheet.notes import LOWEST_PIANO_KEY, NoteEvent, sort_notes
from sound2sheet.timing import frame_to_time

GHOST_WINDOW = 2  # frames either side in which another key's fresh onset makes a re-strike suspect
GHOST_QUIET_LAG = 3  # that key counts as fresh if its frame probability was low this many frames before


def binarize(frame_probs: np.ndarray, threshold: float = 0.5, median_filter_size: int = 1) -> np.ndarray:
    """``[frames, keys]`` probabilities -> bool roll, median-filtered along time when size > 1."""
    active = np.asarray(frame_probs) >= threshold
    if median_filter_size > 1 and active.shape[0] > 0:
        from scipy.ndimage import median_filter

        active = median_filter(active.astype(np.uint8), size=(median_filter_size, 1), mode="nearest").astype(bool)
    return active


def onset_peaks(onset_probs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Bool ``[frames, keys]``: local maxima along time at or above ``threshold``.

    On a plateau of equal values the last frame counts, so each plateau gives one peak.
    """
    o = np.asarray(onset_probs, dtype=np.float32)
    prev = np.vstack([np.full((1, o.shape[1]), -np.inf, dtype=np.float32), o[:-1]])
    nxt = np.vstack([o[1:], np.full((1, o.shape[1]), -np.inf, dtype=np.float32)])
    return (o >= threshold) & (o >= prev) & (o > nxt)


def dilate_rows(mask: np.ndarray, after: int, before: int = 0) -> np.ndarray:
    """Bool ``[frames, keys]``: ``mask`` spread along time to the ``after`` rows after and the
    ``before`` rows before each marked row."""
    m = np.asarray(mask, dtype=bool)
    out = m.copy()
    for d in range(1, after + 1):
        out[d:] |= m[:-d]
    for d in range(1, before + 1):
        out[:-d] |= m[d:]
    return out


def chord_mates(onset_probs: np.ndarray, strong: np.ndarray, threshold: float, window: int) -> np.ndarray:
    """Bool ``[frames, keys]``: onset peaks at or above ``threshold`` that are not in ``strong``
    (the confident peaks, same shape) but come within ``window`` frames of a strong peak on
    another key. Row ``r`` reads strong peaks on rows ``r - window`` to ``r + window``."""
    s = np.asarray(strong, dtype=bool)
    near = dilate_rows(s, window, window).astype(np.int16)
    others = near.sum(axis=1, keepdims=True) - near  # strong keys nearby, not counting this one
    return onset_peaks(onset_probs, threshold) & ~s & (others > 0)


def fresh_strike_above(frame_probs: np.ndarray, peaks: np.ndarray, frame_threshold: float,
                       window: int = GHOST_WINDOW, lag: int = GHOST_QUIET_LAG) -> np.ndarray:
    """Bool ``[frames, keys]``: some higher key has an onset peak (``peaks``, same shape) within
    ``window`` frames, on a row where that key's frame probability ``lag`` frames earlier was
    below ``frame_threshold`` (a new note, not a re-strike). Rows before the array count as
    quiet. Row ``r`` reads rows ``r - window - lag`` to ``r + window``."""
    p = np.asarray(peaks, dtype=bool)
    n, keys = p.shape
    before = np.vstack([np.zeros((min(lag, n), keys), dtype=bool), np.asarray(frame_probs)[:max(0, n - lag)] >= frame_threshold])
    fresh = p & ~before[:n]
    near = dilate_rows(fresh, window, window)
    # any strictly higher key: reversed cumulative OR along keys, shifted down by one key
    above = np.logical_or.accumulate(near[:, ::-1], axis=1)[:, ::-1]
    return np.hstack([above[:, 1:], np.zeros((n, 1), dtype=bool)])


def bridge_gaps(sounding: np.ndarray, peaks: np.ndarray, max_gap: int) -> np.ndarray:
    """Bool ``[frames, keys]``: ``sounding`` with every run of at most ``max_gap`` quiet frames
    between two sounding frames filled in, unless the key is struck again: an onset peak
    (``peaks``, same shape) in the run or up to ``max_gap`` frames after it (the frame head
    often comes back a few frames before a re-strike's onset peak; bridged, a re-strike weaker
    than the re-onset threshold would be lost inside the held note).

    Runs touching either end of the array stay quiet, so a block's result never depends on
    frames it has not seen.
    """
    s = np.asarray(sounding, dtype=bool)
    n = s.shape[0]
    if max_gap < 1 or n < 3:
        return s
    rows = np.arange(n)[:, None]
    prev = np.maximum.accumulate(np.where(s, rows, -1), axis=0)  # latest sounding row <= r
    nxt = np.minimum.accumulate(np.where(s, rows, n)[::-1], axis=0)[::-1]  # first sounding row >= r
    cum = np.vstack([np.zeros((1, s.shape[1]), dtype=np.int64), np.cumsum(peaks, axis=0, dtype=np.int64)])
    cols = np.arange(s.shape[1])[None, :]
    inside = (prev >= 0) & (nxt < n) & (nxt - prev - 1 <= max_gap)
    # peaks on rows (prev, nxt + max_gap]: cum[nxt + max_gap + 1] - cum[prev + 1]
    hi, lo = np.clip(nxt + max_gap + 1, 0, n), np.clip(prev + 1, 0, n)
    no_peak = (cum[hi, cols] - cum[lo, cols]) == 0
    return s | (inside & no_peak)


def _first_quiet(quiet: np.ndarray, quiet_old: np.ndarray, check_from: int, old_from: int) -> int | None:
    """First row at or after ``check_from`` on which an open note ends: a row of ``quiet``
    (sorted rows where a young note stops sounding) before row ``old_from``, else a row of
    ``quiet_old`` (where an old one does) from then on; None if it sounds on."""
    switch = max(check_from, old_from)
    i = np.searchsorted(quiet, check_from)
    if i < len(quiet) and (quiet_old is quiet or quiet[i] < switch):
        return int(quiet[i])
    j = np.searchsorted(quiet_old, switch)
    return int(quiet_old[j]) if j < len(quiet_old) else None


@dataclass
class _Open:
    start: int  # absolute frame
    confidence: float
    velocity: int | None
    conf_sum: float = 0.0  # frame-only: running sum for the mean frame probability


class StreamingDecoder:
    """Decode consecutive blocks of ``[frames, keys]`` probabilities into notes.

    ``push`` returns the notes finished so far; ``finish`` returns the rest. Frames are held
    back only as long as the median filter and peak picking need to see ahead (a few frames),
    and open notes carry over, so the result equals decoding the whole roll at once.
    """

    def __init__(
        self,
        *,
        hop_s: float = 0.01,
        frame_threshold: float = 0.5,
        onset_threshold: float = 0.5,
        median_filter_size: int = 3,
        min_duration_s: float = 0.03,
        min_pitch: int = LOWEST_PIANO_KEY,
        use_onsets: bool = True,
        min_reonset_s: float = 0.0,
        pedal_threshold: float = 0.5,
        reonset_threshold: float | None = None,
        max_gap_s: float = 0.0,
        hold_threshold: float | None = None,
        hold_after_s: float = 0.0,
        ghost_threshold: float | None = None,
        offset_threshold: float | None = None,
        offset_window_s: float = 0.05,
        chord_threshold: float | None = None,
        chord_window_s: float = 0.03,
    ) -> None:
        self.hop_s, self.frame_threshold, self.onset_threshold = hop_s, frame_threshold, onset_threshold
        self.reonset_threshold = onset_threshold if reonset_threshold is None else reonset_threshold
        self.pedal_threshold = pedal_threshold
        self.min_reonset_frames = min_reonset_s / hop_s - 1e-6
        self._last_onset: dict[int, int] = {}  # key -> absolute frame of its latest accepted onset
        self.median = max(1, median_filter_size)
        self.radius = (self.median - 1) // 2
        self.min_frames = min_duration_s / hop_s - 1e-6
        self.min_pitch = min_pitch
        self.use_onsets = use_onsets
        # quiet rows a held note may bridge (onset-driven only; the frame-only decoder has no
        # onsets to tell a dip from a new note)
        self.gap = int(round(max_gap_s / hop_s)) if use_onsets else 0
        # the frame threshold for notes at least ``hold_frames`` old (onset-driven only)
        self.hold_threshold = hold_threshold if use_onsets and hold_threshold else None
        self.hold_frames = int(round(hold_after_s / hop_s))
        # a suspect re-strike's threshold (onset-driven only)
        self.ghost_threshold = ghost_threshold if use_onsets and ghost_threshold else None
        ghost = (GHOST_WINDOW, GHOST_WINDOW + GHOST_QUIET_LAG) if self.ghost_threshold is not None else (0, 0)
        # an old note's end at an offset peak this recent (onset-driven only)
        self.offset_threshold = offset_threshold if use_onsets and offset_threshold else None
        self.offset_window = int(round(offset_window_s / hop_s)) if self.offset_threshold is not None else 0
        # a chord's quiet member's threshold (onset-driven only; below the onset threshold)
        self.chord_threshold = chord_threshold if use_onsets and chord_threshold else None
        self.chord_window = int(round(chord_window_s / hop_s)) if self.chord_threshold is not None else 0
        # a row is final once the median filter, the peak picking (a chord mate's sees its chord's
        # strikes), a bridge and the ghost check can see past it
        self.lookahead = max(1, self.radius) + 2 * self.gap + ghost[0] + self.chord_window
        self.history = self.radius + 1 + self.gap + ghost[1] + self.offset_window + self.chord_window
        self._buf: dict[str, np.ndarray] | None = None  # frames not yet final, plus history
        self._first = 0  # absolute frame of _buf's row 0
        self._done = 0  # absolute frames decoded so far
        self._open: dict[int, _Open] = {}
        self._started = False

    def push(self, frame_probs: np.ndarray, onset_probs: np.ndarray | None = None, velocity: np.ndarray | None = None,
             pedal: np.ndarray | None = None, offset: np.ndarray | None = None) -> list[NoteEvent]:
        """Add the next block (``[frames, keys]`` each, ``pedal`` ``[frames]`` or
        ``[frames, 1]``); returns notes that ended. ``offset`` counts only with an
        ``offset_threshold``."""
        block = {"frame": np.asarray(frame_probs, dtype=np.float32)}
        if block["frame"].ndim != 2:
            raise ValueError(f"frame_probs must be [frames, keys], got shape {block['frame'].shape}")
        if onset_probs is not None and self.use_onsets:
            block["onset"] = np.asarray(onset_probs, dtype=np.float32)
        if velocity is not None:
            block["velocity"] = np.asarray(velocity, dtype=np.float32)
        if pedal is not None and "onset" in block:
            block["pedal"] = np.asarray(pedal, dtype=np.float32).reshape(len(block["frame"]), 1)
        if offset is not None and "onset" in block and self.offset_threshold is not None:
            block["offset"] = np.asarray(offset, dtype=np.float32)
        if self._buf is None:
            self._buf = block
        else:
            if set(block) != set(self._buf):
                raise ValueError("every block must carry the same heads")
            self._buf = {k: np.concatenate([self._buf[k], v]) for k, v in block.items()}
        return self._decode(final=False)

    def finish(self) -> list[NoteEvent]:
        """Decode the held-back frames and close every open note."""
        if self._buf is None:
            return []
        notes = self._decode(final=True)
        end = self._first + len(self._buf["frame"])
        for key, note in list(self._open.items()):
            notes += self._close(key, note, end)
        self._open.clear()
        return sort_notes(notes)

    def _decode(self, final: bool) -> list[NoteEvent]:
        buf = self._buf
        n = len(buf["frame"])
        stop = n if final else n - self.lookahead  # rows [lo, stop) become final now
        lo = self._done - self._first
        if stop <= lo:
            return []
        frame = buf["frame"]
        # Median filter and peaks with the whole-array boundary rules at the true start and end.
        active = binarize(frame, self.frame_threshold, self.median)
        if "onset" in buf:
            # Buffer row 0 is the true start or held-back history (never decided here), and the
            # last row only gets decided at the true end: -inf beyond both is exact.
            peaks = onset_peaks(buf["onset"], self.onset_threshold)
            if self.chord_threshold is not None:
                peaks |= chord_mates(buf["onset"], peaks, self.chord_threshold, self.chord_window)
            sounding = self._sounding(active, peaks, lo, stop)
            held = sounding if self.hold_threshold is None else self._sounding(
                binarize(frame, self.hold_threshold, self.median), peaks, lo, stop)
            if "offset" in buf:  # after bridging: a gap must not fill an offset back in
                held = held & ~(self._after_offset(buf["offset"], lo, stop) & ~sounding)
            suspect = None
            if self.ghost_threshold is not None:
                suspect = fresh_strike_above(frame, peaks, self.frame_threshold)[lo:stop]
            notes = self._onset_notes(sounding, held, peaks[lo:stop], lo, suspect)
        else:
            notes = self._frame_runs(active, lo, stop)
        self._done = self._first + stop
        keep_from = max(0, stop - self.history)
        self._buf = {k: v[keep_from:] for k, v in buf.items()}
        self._first += keep_from
        return notes

    def _frame_runs(self, active: np.ndarray, lo: int, stop: int) -> list[NoteEvent]:
        """Frame-only rows ``[lo, stop)``: every run of active frames on a key is a note.

        A key is open exactly when its previous row was active, so runs are the roll's edges.
        """
        act = active[lo:stop]
        before = np.zeros((1, act.shape[1]), dtype=bool)
        before[0, list(self._open)] = True
        edges = np.diff(np.vstack([before, act, np.zeros_like(before)]).astype(np.int8), axis=0)
        out: list[NoteEvent] = []
        frame = self._buf["frame"]
        for key in np.flatnonzero(np.any(edges != 0, axis=0)):
            key = int(key)
            ups, downs = np.flatnonzero(edges[:, key] == 1), np.flatnonzero(edges[:, key] == -1)
            if key in self._open:
                ups = np.concatenate([[-1], ups])  # the run carried in from the last block
            for up, down in zip(ups, downs):
                if up < 0:
                    note, first = self._open.pop(key), 0
                else:
                    note, first = _Open(self._first + lo + int(up), 0.0, self._velocity(lo + int(up), key)), int(up)
                # a sequential sum, as one frame at a time would give, so block borders never change it
                note.conf_sum = float(np.cumsum(np.concatenate([[note.conf_sum], frame[lo + first:lo + down, key]]),
                                                dtype=np.float64)[-1])
                if down == len(act):
                    self._open[key] = note  # still sounding at ``stop``
                else:
                    out += self._close(key, note, self._first + lo + int(down))
        return out

    def _sounding(self, active: np.ndarray, peaks: np.ndarray, lo: int, stop: int) -> np.ndarray:
        """Bool ``[stop - lo, keys]``: where an open note goes on sounding (module docstring)."""
        buf = self._buf
        # strictly above: a soft label's neighbour sits exactly at 0.5 and must not lengthen a note
        sounding = active | (buf["onset"] > self.onset_threshold)
        if self.gap:  # before the pedal: a short lift between two presses must still end notes
            sounding = bridge_gaps(sounding, peaks, self.gap)
        if "pedal" in buf:
            sounding |= buf["pedal"] >= self.pedal_threshold  # the pedal holds every open note
        return sounding[lo:stop]

    def _after_offset(self, offset: np.ndarray, lo: int, stop: int) -> np.ndarray:
        """Bool ``[stop - lo, keys]``: rows at most ``offset_window`` after an offset peak."""
        return dilate_rows(onset_peaks(offset, self.offset_threshold), self.offset_window)[lo:stop]

    def _onset_notes(self, sounding: np.ndarray, held: np.ndarray, peaks: np.ndarray, lo: int,
                     suspect: np.ndarray | None = None) -> list[NoteEvent]:
        """Onset-driven rows ``[lo, lo + len(sounding))``, one key at a time, visiting only its
        peaks and the rows where it falls silent. ``sounding`` and ``held`` (same shape as
        ``peaks``) say where a note younger / at least ``hold_frames`` old goes on; ``suspect``
        (same shape, or None) where a re-strike needs ``ghost_threshold``."""
        onset = self._buf["onset"]
        origin = self._first + lo  # absolute frame of row 0
        peak_keys, peak_rows = np.nonzero(peaks.T)
        keys = np.arange(sounding.shape[1])

        def by_key(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            k, rows = np.nonzero(~mask.T)
            return rows, np.searchsorted(k, keys), np.searchsorted(k, keys, side="right")

        young, old = by_key(sounding), (by_key(held) if held is not sounding else None)
        peak_at = np.searchsorted(peak_keys, keys), np.searchsorted(peak_keys, keys, side="right")
        out: list[NoteEvent] = []
        for key in sorted(set(self._open) | set(peak_keys.tolist())):
            quiet = young[0][young[1][key]:young[2][key]]
            quiet_old = quiet if old is None else old[0][old[1][key]:old[2][key]]
            note = self._open.pop(key, None)
            last = self._last_onset.get(key, -(10**12))
            check_from = 0  # first row on which an open note may end
            for p in peak_rows[peak_at[0][key]:peak_at[1][key]].tolist():
                if note is not None:
                    end = _first_quiet(quiet, quiet_old, check_from, note.start - origin + self.hold_frames)
                    if end is not None and end <= p:  # fell silent before (or at) this peak
                        out += self._close(key, note, origin + end)
                        note = None
                t = origin + p
                if t - last < self.min_reonset_frames:
                    continue
                strength = float(onset[lo + p, key])
                if note is not None:
                    if strength < self.reonset_threshold:
                        continue  # a weak peak inside a sounding note: an echo, not a re-strike
                    if suspect is not None and suspect[p, key] and strength < self.ghost_threshold:
                        continue  # a higher key's new partials lighting up this held key's
                    out += self._close(key, note, t)
                note, last, check_from = _Open(t, strength, self._velocity(lo + p, key)), t, p + 1
            if note is not None:
                end = _first_quiet(quiet, quiet_old, check_from, note.start - origin + self.hold_frames)
                if end is not None:
                    out += self._close(key, note, origin + end)
                else:
                    self._open[key] = note
            self._last_onset[key] = last
        return out

    def _velocity(self, row: int, key: int) -> int | None:
        if "velocity" not in self._buf:
            return None
        return min(127, max(1, round(float(self._buf["velocity"][row, key]) * 127.0)))

    def _close(self, key: int, note: _Open, end: int) -> list[NoteEvent]:
        if end - note.start < self.min_frames or end <= note.start:
            return []
        confidence = note.confidence if "onset" in self._buf else note.conf_sum / (end - note.start)
        return [NoteEvent(int(key + self.min_pitch), frame_to_time(note.start, self.hop_s), frame_to_time(end, self.hop_s),
                          note.velocity, confidence)]


def decode_notes(
    frame_probs: np.ndarray,
    onset_probs: np.ndarray | None = None,
    velocity: np.ndarray | None = None,
    *,
    hop_s: float = 0.01,
    frame_threshold: float = 0.5,
    onset_threshold: float = 0.5,
    median_filter_size: int = 3,
    min_duration_s: float = 0.03,
    min_pitch: int = LOWEST_PIANO_KEY,
    min_reonset_s: float = 0.0,
    pedal: np.ndarray | None = None,
    pedal_threshold: float = 0.5,
    reonset_threshold: float | None = None,
    max_gap_s: float = 0.0,
    hold_threshold: float | None = None,
    hold_after_s: float = 0.0,
    ghost_threshold: float | None = None,
    offset: np.ndarray | None = None,
    offset_threshold: float | None = None,
    offset_window_s: float = 0.05,
    chord_threshold: float | None = None,
    chord_window_s: float = 0.03,
) -> list[NoteEvent]:
    """Decode one clip.

    Args:
        frame_probs: ``[frames, keys]`` probabilities that a key sounds.
        onset_probs: ``[frames, keys]`` onset probabilities, or None for frame-only decoding.
        velocity: ``[frames, keys]`` velocity / 127 (read at the onset frame), or None.
        min_reonset_s: onset peaks closer than this to the previous onset on their key are
            ignored (onset-driven decoding only).
        pedal: ``[frames]`` sustain-pedal probabilities, or None; while >= ``pedal_threshold``
            open notes are held (onset-driven decoding only).
        reonset_threshold: an onset peak on a key whose note still sounds must reach this to
            start a new note (None: ``onset_threshold``).
        max_gap_s: a held note's dips below the frame threshold up to this long, with no onset
            peak on its key, do not end it (onset-driven decoding only).
        hold_threshold: frame threshold for notes at least ``hold_after_s`` old (None: the
            frame threshold throughout; onset-driven decoding only).
        ghost_threshold: a peak on a key whose note still sounds, near a new note's onset on a
            higher key (:func:`fresh_strike_above`), must reach this to start a new note
            (None: no such check; onset-driven decoding only).
        offset: ``[frames, keys]`` offset probabilities, or None; with ``offset_threshold`` a
            note at least ``hold_after_s`` old ends where the first threshold says quiet
            within ``offset_window_s`` after an offset peak (onset-driven decoding only).
        chord_threshold: an onset peak at or above this (below ``onset_threshold``) starts a
            note when another key peaks at or above ``onset_threshold`` within
            ``chord_window_s`` (None: off; onset-driven decoding only).
    Returns:
        Notes sorted by onset then pitch; ``confidence`` is the onset peak probability
        (onset-driven) or the mean frame probability (frame-only).
    """
    decoder = StreamingDecoder(
        hop_s=hop_s, frame_threshold=frame_threshold, onset_threshold=onset_threshold,
        median_filter_size=median_filter_size, min_duration_s=min_duration_s, min_pitch=min_pitch,
        min_reonset_s=min_reonset_s, pedal_threshold=pedal_threshold, reonset_threshold=reonset_threshold,
        max_gap_s=max_gap_s, hold_threshold=hold_threshold, hold_after_s=hold_after_s,
        ghost_threshold=ghost_threshold, offset_threshold=offset_threshold, offset_window_s=offset_window_s,
        chord_threshold=chord_threshold, chord_window_s=chord_window_s,
    )
    notes = decoder.push(frame_probs, onset_probs, velocity, pedal, offset)
    return sort_notes(notes + decoder.finish())
