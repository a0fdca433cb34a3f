"""Piano-roll pictures: a transcription alone, or against ground truth with errors marked."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from sound2sheet.fileio import atomic_write
from sound2sheet.notes import NoteEvent

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _figure(duration: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = float(np.clip(duration / 4.0, 8.0, 40.0))
    return plt, plt.figure(figsize=(width, 6.0), dpi=100)


def _axes(ax, duration: float, pitches: Sequence[int]) -> None:
    lo = min(pitches, default=48) - 2
    hi = max(pitches, default=72) + 2
    ax.set_xlim(0, max(duration, 1e-3))
    ax.set_ylim(lo, hi)
    ticks = [p for p in range(lo, hi + 1) if p % 12 in (0, 5)]
    ax.set_yticks(ticks)
    ax.set_yticklabels([note_name(p) for p in ticks])
    ax.set_xlabel("time (s)")
    ax.grid(axis="x", alpha=0.3)


def plot_notes(notes: Sequence[NoteEvent], path: str | Path, title: str = "", duration: float | None = None) -> Path:
    """Piano roll of a transcription: time axis in seconds, key names on the pitch axis."""
    duration = duration or max((n.offset for n in notes), default=1.0)
    plt, fig = _figure(duration)
    ax = fig.add_subplot(1, 1, 1)
    for n in notes:
        alpha = 0.35 + 0.65 * ((n.velocity or 80) / 127.0)
        ax.broken_barh([(n.onset, n.duration)], (n.pitch - 0.4, 0.8), color="tab:blue", alpha=alpha)
    _axes(ax, duration, [n.pitch for n in notes])
    ax.set_title(title or f"{len(notes)} notes")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return Path(path)


def plot_comparison(reference: Sequence[NoteEvent], estimate: Sequence[NoteEvent], path: str | Path, title: str = "") -> Path:
    """Ground truth (grey) under the transcription: matched onsets green, false alarms red,
    missed notes outlined in orange (mir_eval matching, 50 ms onset tolerance)."""
    import mir_eval
    import pretty_midi

    def arrays(notes):
        iv = np.array([[n.onset, max(n.offset, n.onset + 1e-3)] for n in notes]).reshape(-1, 2)
        return iv, np.array([pretty_midi.note_number_to_hz(n.pitch) for n in notes])

    matched_ref, matched_est = set(), set()
    if reference and estimate:
        ri, rp = arrays(reference)
        ei, ep = arrays(estimate)
        for i, j in mir_eval.transcription.match_notes(ri, rp, ei, ep, onset_tolerance=0.05, offset_ratio=None):
            matched_ref.add(i)
            matched_est.add(j)
    duration = max([n.offset for n in list(reference) + list(estimate)] or [1.0])
    plt, fig = _figure(duration)
    ax = fig.add_subplot(1, 1, 1)
    for i, n in enumerate(reference):
        ax.broken_barh([(n.onset, n.duration)], (n.pitch - 0.45, 0.9), color="0.8")
        if i not in matched_ref:
            ax.broken_barh([(n.onset, n.duration)], (n.pitch - 0.45, 0.9), facecolor="none", edgecolor="tab:orange", linewidth=1.2)
    for j, n in enumerate(estimate):
        color = "tab:green" if j in matched_est else "tab:red"
        ax.broken_barh([(n.onset, n.duration)], (n.pitch - 0.25, 0.5), color=color, alpha=0.85)
    _axes(ax, duration, [n.pitch for n in list(reference) + list(estimate)])
    missed, false_alarms = len(reference) - len(matched_ref), len(estimate) - len(matched_est)
    ax.set_title(f"{title}  (grey: truth, green: hit, red: false alarm {false_alarms}, orange outline: missed {missed})")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return Path(path)
