"""Evaluation files that must never be trained on, and the check that refuses them.

Reserved (see the project's data README): Maestro_1 and Maestro_3 (public dev set),
Maestro_8/9/10 and every POP909 file (independent evaluation set). A MIDI counts as reserved
when its name matches, its bytes match, or its opening notes match one of them (a re-saved
or re-timed copy, such as the dev set's own ground truth): the set of ``(100 ms bin, pitch)``
pairs of its first 30 s overlaps a reserved file's by at least 80 % (Jaccard).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

RESERVED_NAME = re.compile(r"^(maestro_(1|3|8|9|10)|pop909_.*)$", re.IGNORECASE)
FINGERPRINT_SECONDS = 30.0
FINGERPRINT_BIN = 0.1
SIMILARITY = 0.8


def fingerprint(pm) -> set[tuple[int, int]]:
    """``{(onset // 100 ms, pitch)}`` of the notes starting in the first 30 s."""
    return {
        (int(n.start // FINGERPRINT_BIN), n.pitch)
        for inst in pm.instruments if not inst.is_drum
        for n in inst.notes if n.start < FINGERPRINT_SECONDS
    }


@lru_cache(maxsize=1)
def _reserved_table() -> dict:
    text = resources.files("sound2sheet.assets").joinpath("reserved_midi.json").read_text()
    table = json.loads(text)
    for entry in table["files"]:
        entry["fingerprint"] = {tuple(x) for x in entry["fingerprint"]}
    return table


def reserved_reason(path: str | Path, pm=None) -> str | None:
    """Why ``path`` is reserved for evaluation, or None if it may be used for training."""
    path = Path(path)
    if RESERVED_NAME.match(path.stem):
        return f"{path.name} is a reserved evaluation file (name)"
    table = _reserved_table()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    for entry in table["files"]:
        if digest == entry["sha256"]:
            return f"{path.name} is a copy of reserved evaluation file {entry['name']}"
    if pm is None:
        import pretty_midi

        try:
            pm = pretty_midi.PrettyMIDI(str(path))
        except Exception:
            return None  # unreadable files are rejected elsewhere, with their own message
    fp = fingerprint(pm)
    if not fp:
        return None
    for entry in table["files"]:
        ref = entry["fingerprint"]
        if len(fp & ref) / len(fp | ref) >= SIMILARITY:
            return f"{path.name} has the same notes as reserved evaluation file {entry['name']}"
    return None
