"""A soundfont of a *recorded* grand piano: Salamander Grand Piano V3 (Yamaha C5, CC BY 3.0).

Every other training timbre is a General-MIDI soundfont; the dev set and the hidden evaluation
set are recorded pianos. Salamander's multisamples (16 velocity layers, a sample every minor
third from A0 to C8) reach these machines through the npm registry as
``@audio-samples/piano-velocity{1..16}`` (OGG). We turn them into an SF2 so the ordinary
FluidSynth renderer plays them like any other font:

OGG (``npm pack``) -> mono WAV, resampled and trimmed (soundfile, soxr) -> SFZ text ->
SF2 (Polyphone's command-line converter, Debian ``polyphone``).

The trim keeps the font small (~160 MB instead of ~1 GB) at a cost that does not matter for
training: samples longer than ``MAX_SECONDS`` fade out over their last ``FADE_SECONDS``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sound2sheet.errors import Sound2SheetError

NPM_VERSION = "1.0.5"
LAYERS = 16
SAMPLE_RATE = 24000  # keeps everything below 12 kHz; the models read 16 kHz audio
MAX_SECONDS = 8.0
FADE_SECONDS = 2.0
RELEASE_SECONDS = 0.4  # damper fall-off after note-off / pedal-up
_NAME = re.compile(r"^([A-G]#?)(\d)v(\d+)\.ogg$")
_SEMITONE = {"C": 0, "C#": 1, "D": 2, "D#": 3, "E": 4, "F": 5, "F#": 6, "G": 7, "G#": 8, "A": 9, "A#": 10, "B": 11}


@dataclass(frozen=True)
class Region:
    """One sample and the keys/velocities it plays."""

    wav: str
    root: int
    lokey: int
    hikey: int
    lovel: int
    hivel: int


def sample_key(name: str) -> tuple[int, int] | None:
    """``"D#1v10.ogg"`` -> ``(27, 10)`` (MIDI key with C4 = 60, velocity layer); None otherwise."""
    m = _NAME.match(name)
    if not m:
        return None
    return 12 * (int(m.group(2)) + 1) + _SEMITONE[m.group(1)], int(m.group(3))


def velocity_range(layer: int, layers: int = LAYERS) -> tuple[int, int]:
    """Equal slices of MIDI velocity 1-127, layer 1 the softest."""
    lo = 1 + round((layer - 1) * 127 / layers)
    hi = round(layer * 127 / layers)
    return lo, hi


def regions(samples: dict[tuple[int, int], str]) -> list[Region]:
    """Key ranges: each root covers the keys closer to it than to its neighbours (roots are a
    minor third apart, so a sample is shifted by at most a semitone), the outermost roots
    reach the ends of the keyboard."""
    out = []
    for layer in sorted({v for _, v in samples}):
        roots = sorted(k for k, v in samples if v == layer)
        lovel, hivel = velocity_range(layer)
        for i, root in enumerate(roots):
            lo = 21 if i == 0 else (roots[i - 1] + root) // 2 + 1
            hi = 108 if i == len(roots) - 1 else (root + roots[i + 1]) // 2
            out.append(Region(samples[(root, layer)], root, lo, hi, lovel, hivel))
    return out


def sfz_text(regs: list[Region], release: float = RELEASE_SECONDS) -> str:
    lines = [f"<group> ampeg_release={release}"]
    for r in regs:
        lines.append(f"<region> sample={r.wav} pitch_keycenter={r.root} lokey={r.lokey} hikey={r.hikey} "
                     f"lovel={r.lovel} hivel={r.hivel}")
    return "\n".join(lines) + "\n"


def _npm_pack(packages: list[str], dest: Path) -> list[Path]:
    npm = shutil.which("npm")
    if npm is None:
        raise Sound2SheetError("the Salamander piano comes from the npm registry: install npm (apt-get install npm)")
    result = subprocess.run([npm, "pack", "--silent", "--pack-destination", str(dest), *packages],
                            capture_output=True, text=True)
    tarballs = sorted(dest.glob("*.tgz"))
    if result.returncode != 0 or len(tarballs) != len(packages):
        raise Sound2SheetError(f"could not fetch the Salamander samples from npm: {result.stderr.strip()[-200:]}")
    return tarballs


def _convert(ogg: Path, wav: Path) -> None:
    import numpy as np
    import soundfile as sf
    import soxr

    audio, rate = sf.read(str(ogg), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    mono = soxr.resample(mono, rate, SAMPLE_RATE)
    keep = int(MAX_SECONDS * SAMPLE_RATE)
    if mono.size > keep:
        mono = mono[:keep].copy()
        fade = int(FADE_SECONDS * SAMPLE_RATE)
        mono[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    sf.write(str(wav), np.clip(mono, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")


def _polyphone() -> str:
    """Polyphone's executable, or one clear error saying how to install it."""
    polyphone = shutil.which("polyphone")
    if polyphone is None:
        raise Sound2SheetError("building an SF2 from SFZ needs Polyphone's converter: "
                               "apt-get install --no-install-recommends polyphone")
    return polyphone


def sfz_to_sf2(sfz: Path, target: Path) -> Path:
    """Convert an SFZ instrument (its samples beside it) to ``target`` with Polyphone, atomically."""
    polyphone = _polyphone()
    # Polyphone writes a font even when samples are missing: refuse that here
    named = re.findall(r"sample=(\S+)", sfz.read_text()) if sfz.is_file() else []
    missing = [name for name in named if not (sfz.parent / name).is_file()]
    if not named or missing:
        raise Sound2SheetError(f"{sfz.name}: no samples, or samples missing beside it: {', '.join(missing[:3])}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        env.setdefault("XDG_RUNTIME_DIR", tmp)
        result = subprocess.run([polyphone, "-1", "-i", str(sfz), "-d", tmp, "-o", target.stem],
                                capture_output=True, text=True, env=env)
        built = Path(tmp) / f"{target.stem}.sf2"
        if result.returncode != 0 or not built.is_file():
            raise Sound2SheetError(f"Polyphone could not convert {sfz.name}: {(result.stderr or result.stdout).strip()[-200:]}")
        partial = target.with_name(target.name + ".part")
        shutil.copyfile(built, partial)
        os.replace(partial, target)
    return target


def build_salamander_sf2(target: Path) -> Path:
    """Fetch the samples and write ``target`` (an SF2 with one piano preset, 0:0)."""
    _polyphone()  # fail before the download
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        packs = tmp / "packs"
        packs.mkdir()
        names = [f"@audio-samples/piano-velocity{v}@{NPM_VERSION}" for v in range(1, LAYERS + 1)]
        samples: dict[tuple[int, int], str] = {}
        work = tmp / "sfz"
        work.mkdir()
        for tarball in _npm_pack(names, packs):
            with tarfile.open(tarball) as tar:
                for member in tar.getmembers():
                    key = sample_key(Path(member.name).name)
                    if key is None or not member.isfile():
                        continue
                    ogg = work / Path(member.name).name
                    with tar.extractfile(member) as src, open(ogg, "wb") as out:
                        shutil.copyfileobj(src, out)
                    wav = f"k{key[0]:03d}v{key[1]:02d}.wav"
                    _convert(ogg, work / wav)
                    ogg.unlink()
                    samples[key] = wav
        if len(samples) < LAYERS * 30:
            raise Sound2SheetError(f"the Salamander packages held {len(samples)} samples, expected {LAYERS * 30}")
        sfz = work / f"{target.stem}.sfz"
        sfz.write_text(sfz_text(regions(samples)))
        return sfz_to_sf2(sfz, target)
