"""``sound2sheet dataset info|validate``: what a dataset holds, and whether it is intact."""

from __future__ import annotations

import json
from pathlib import Path

from sound2sheet.data.manifest import SPLITS, read_manifest, resolve_inside, split_summary
from sound2sheet.errors import DatasetError, first_line

MAX_UNLABELLED_TAIL_S = 30.0  # audio this much longer than its last note suggests a wrong pairing


def info_table(dataset_dir: str | Path) -> str:
    """``dataset_info.json`` as a readable table (falls back to counting the manifests)."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DatasetError(f"dataset directory not found: {root}")
    path = root / "dataset_info.json"
    if path.exists():
        info = json.loads(path.read_text())
        splits = info["splits"]
    else:
        info = {}
        splits = {}
        for split in SPLITS:
            splits[split] = split_summary(read_manifest(root, split))
    lines = [f"dataset {root}" + (f" (sound2sheet {info['version']})" if "version" in info else ""), ""]
    lines.append(f"{'split':<8}{'items':>8}{'pieces':>8}{'hours':>9}{'notes':>11}")
    for split in SPLITS:
        s = splits.get(split, {})
        lines.append(f"{split:<8}{s.get('items', 0):>8}{s.get('pieces', 0):>8}{s.get('hours', 0):>9.2f}{s.get('notes', 0):>11}")
    for key in ("timbres", "sources"):
        if info.get(key):
            lines += ["", f"{key}:"] + [f"  {name:<32}{count:>6} items" for name, count in info[key].items()]
    if info.get("augmentation"):
        lines += ["", "augmentation: " + ", ".join(f"{k}={v}" for k, v in info["augmentation"].items())]
    return "\n".join(lines)


def validate(dataset_dir: str | Path, progress: bool = False) -> list[str]:
    """Problems found: missing or unreadable files, durations that disagree with the
    manifest, labels past the end of the audio, pieces in two splits. Empty when intact."""
    import soundfile as sf

    from sound2sheet.midi import read_midi_notes

    root = Path(dataset_dir)
    if not root.is_dir():
        raise DatasetError(f"dataset directory not found: {root}")
    problems: list[str] = []
    piece_split: dict[str, str] = {}
    entries = []
    for split in SPLITS:
        try:
            entries += [(split, item) for item in read_manifest(root, split)]
        except DatasetError as exc:
            problems.append(str(exc))
    if not entries and not problems:
        problems.append(f"no items: {root} has no non-empty train/val/test manifest")
    iterator = entries
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(entries, desc="validate", unit="item")
    for split, item in iterator:
        where = f"{split}/{item.id}"
        if item.piece:
            first = piece_split.setdefault(item.piece, split)
            if first != split:
                problems.append(f"{where}: piece {item.piece} is in both {first} and {split}")
        audio_path, midi_path = resolve_inside(root, item.audio), resolve_inside(root, item.midi)
        duration = None
        if not audio_path.is_file():
            problems.append(f"{where}: audio missing: {item.audio}")
        else:
            try:
                meta = sf.info(str(audio_path))
                duration = meta.frames / meta.samplerate
                if meta.frames == 0:
                    problems.append(f"{where}: audio has no samples: {item.audio}")
            except Exception as exc:
                problems.append(f"{where}: audio unreadable: {item.audio} ({first_line(exc, 80)})")
        if duration is not None and item.duration is not None and abs(duration - item.duration) > 0.05:
            problems.append(f"{where}: manifest says {item.duration:.2f} s but the audio is {duration:.2f} s")
        if not midi_path.is_file():
            problems.append(f"{where}: MIDI missing: {item.midi}")
            continue
        try:
            notes = read_midi_notes(midi_path, sustain_pedal=False)
        except Exception as exc:
            problems.append(f"{where}: MIDI unreadable: {item.midi} ({exc})")
            continue
        if duration is not None and notes:
            last_onset = max(n.onset for n in notes)
            last_offset = max(n.offset for n in notes)
            if last_onset > duration:
                problems.append(f"{where}: labels run past the audio (last onset {last_onset:.2f} s, audio {duration:.2f} s)")
            elif duration > last_offset + MAX_UNLABELLED_TAIL_S:
                problems.append(f"{where}: audio ({duration:.1f} s) runs far past its last note ({last_offset:.1f} s)")
    return problems
