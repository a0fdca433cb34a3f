"""``sound2sheet evaluate``: the field's metrics per piece and averaged over pieces.

Note scores follow the reference scorer (shared/bench/score.py) exactly; frame scores
compare 10 ms piano rolls drawn from the notes. The same code scores the model's own
transcriptions and any system's MIDI files (``--predictions``), so numbers are comparable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from sound2sheet.core.audio import AUDIO_EXTENSIONS
from sound2sheet.errors import DatasetError
from sound2sheet.labels import notes_to_rolls
from sound2sheet.metrics import frame_counts, frame_scores, note_scores
from sound2sheet.midi import has_sustain_pedal, read_midi_notes
from sound2sheet.notes import NoteEvent

MIDI_EXTENSIONS = (".mid", ".midi")
SHOWN = ("note_onset_f1", "note_onset_precision", "note_onset_recall", "note_offset_f1", "note_offset_velocity_f1", "frame_f1")


@dataclass
class Pair:
    name: str
    midi: Path
    audio: Path | None


def collect_pairs(directory: str | Path) -> list[Pair]:
    """``<name>.<audio>`` + ``<name>.mid`` pairs in a folder, or a dataset's test split."""
    from sound2sheet.data.manifest import read_manifest, resolve_inside

    root = Path(directory)
    if not root.is_dir():
        raise DatasetError(f"evaluation directory not found: {root}")
    if (root / "test.jsonl").exists():
        return [Pair(item.id, resolve_inside(root, item.midi), resolve_inside(root, item.audio)) for item in read_manifest(root, "test")]
    pairs = []
    for midi in sorted(p for p in root.iterdir() if p.suffix.lower() in MIDI_EXTENSIONS):
        audio = next((midi.with_suffix(ext) for ext in AUDIO_EXTENSIONS if midi.with_suffix(ext).exists()), None)
        pairs.append(Pair(midi.stem, midi, audio))
    if not pairs:
        raise DatasetError(f"no <name>.mid ground truth in {root} (and no test.jsonl)")
    return pairs


def reference_notes(path: Path, sustain_pedal: str = "auto") -> list[NoteEvent]:
    """Ground truth; ``auto`` extends offsets by the sustain pedal only when the file has
    pedal events (benchmark ground truth comes already extended, without them)."""
    if sustain_pedal == "auto":
        return read_midi_notes(path, sustain_pedal=has_sustain_pedal(path))
    return read_midi_notes(path, sustain_pedal=sustain_pedal == "on")


@dataclass
class HeardPair:
    """A pair as the model hears it in transcription, for diagnostics that decode it again."""

    pair: Pair
    probs: dict[str, np.ndarray]  # head -> [1, frames, keys] (``pedal``: [1, frames, 1])
    reference: list[NoteEvent]  # the notes that start before the cut
    hop_s: float


def hear_pairs(model, directory: str | Path, max_seconds: float | None = None,
               precision: str | None = None) -> Iterator[HeardPair]:
    """Each pair's probabilities at the level Transcriber gives it (the whole file scaled to
    the decoding's ``normalize_peak``, then cut to ``max_seconds``), one at a time: an oracle
    that swaps a head's output for the truth compares like with like. ``precision``: as
    :meth:`Sound2SheetModel.probabilities` (default: the model's decoding's)."""
    from sound2sheet.core.audio import AudioProcessor, audio_peak, peak_gain
    from sound2sheet.model import DataConfig, InferenceConfig

    processor = AudioProcessor.from_config(model.data_config or DataConfig())  # Transcriber's fallbacks
    normalize = (model.inference_config or InferenceConfig()).normalize_peak
    for pair in collect_pairs(directory):
        whole = processor.load_audio(pair.audio)
        audio = whole if max_seconds is None else whole[: int(max_seconds * processor.sample_rate)]
        probs = model.probabilities(processor.features(audio * peak_gain(audio_peak(whole), normalize)), precision)
        reference = reference_notes(pair.midi)
        if max_seconds is not None:
            reference = [n for n in reference if n.onset < max_seconds]
        yield HeardPair(pair, probs, reference, processor.hop_s)


def score_piece(reference: Sequence[NoteEvent], estimate: Sequence[NoteEvent], hop_s: float = 0.01) -> dict[str, float]:
    """Note scores (mir_eval) plus frame scores on 10 ms rolls drawn from the notes."""
    scores = note_scores(reference, estimate)
    end = max([n.offset for n in list(reference) + list(estimate)] or [0.0])
    n_frames = int(np.ceil(end / hop_s)) + 1
    ref_roll = notes_to_rolls(reference, n_frames, hop_s).frame >= 0.5
    est_roll = notes_to_rolls(estimate, n_frames, hop_s).frame >= 0.5
    frames = frame_scores(frame_counts(est_roll, ref_roll))
    scores.update({k: frames[k] for k in ("frame_precision", "frame_recall", "frame_f1")})
    return scores


def evaluate(
    pairs: Sequence[Pair],
    transcribe: Callable[[Path], Any] | None = None,
    predictions: Path | None = None,
    gt_pedal: str = "auto",
    plots: Path | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Score every pair; ``transcribe(audio_path)`` gives notes, or ``predictions/<name>.mid`` does."""
    pieces: dict[str, dict[str, Any]] = {}
    iterator = pairs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(pairs, desc="evaluate", unit="piece")
    for pair in iterator:
        reference = reference_notes(pair.midi, gt_pedal)
        started = time.perf_counter()
        if predictions is not None:
            path = next((predictions / f"{pair.name}{ext}" for ext in MIDI_EXTENSIONS if (predictions / f"{pair.name}{ext}").exists()), None)
            estimate = read_midi_notes(path, sustain_pedal=False) if path else []
            duration = None
        else:
            if pair.audio is None:
                raise DatasetError(f"no audio next to {pair.midi}")
            result = transcribe(pair.audio)
            estimate, duration = result.notes, result.duration
        entry: dict[str, Any] = score_piece(reference, estimate)
        entry.update(reference_notes=len(reference), estimated_notes=len(estimate))
        if duration is not None:
            entry.update(audio_seconds=duration, seconds=time.perf_counter() - started)
        pieces[pair.name] = entry
        if plots is not None:
            from sound2sheet.plots import plot_comparison

            plot_comparison(reference, estimate, plots / f"{pair.name}.png", title=pair.name)
    keys = sorted({k for e in pieces.values() for k, v in e.items() if isinstance(v, float) and k not in ("seconds", "audio_seconds")})
    mean = {k: float(np.mean([e[k] for e in pieces.values() if k in e])) for k in keys}
    return {"mean": mean, "pieces": pieces}


def format_report(report: dict[str, Any]) -> str:
    """The per-piece and mean scores as a terminal table."""
    cols = [c for c in SHOWN if c in report["mean"]]
    width = max([len(n) for n in report["pieces"]] + [6])
    head = f"{'piece':<{width}}  " + "  ".join(f"{c.replace('note_', '').replace('_', ' '):>17}" for c in cols)
    lines = [head, "-" * len(head)]
    for name, entry in report["pieces"].items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{entry.get(c, float('nan')):>17.4f}" for c in cols))
    lines.append("-" * len(head))
    lines.append(f"{'mean':<{width}}  " + "  ".join(f"{report['mean'][c]:>17.4f}" for c in cols))
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: Path) -> None:
    from sound2sheet.fileio import atomic_write_json

    atomic_write_json(path, report)
