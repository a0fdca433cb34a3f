"""Chimera pianos: the keyboard cut into zones, each played by a different recorded or sampled
piano, at its own level (``--soundfont chimera`` with ``--chimera-fonts``).

Why: every new *recorded* piano moved dev (docs/experiments.md #8, #17) and there are no more
to be had offline; procedural pianos are a domain of their own (#26). A chimera keeps the
real samples but breaks the one thing a few pianos teach that no unseen piano keeps: how one
register sounds given how the others do. Each render draws new zones, so the model cannot
learn a piano as a whole, only each key's attack and partials.

One FluidSynth pass renders all zones: each zone is a MIDI channel with its own font and
volume (CC7); pedals go to every channel, so resonance and damping stay as the MIDI says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sound2sheet.data.augment import HIGHEST, LOWEST  # the piano's keys, 21-108

CHIMERA = "chimera"  # the timbre spec that selects this renderer
ZONE_CHANNELS = (0, 1, 2, 3, 4, 5, 6, 7)  # never 9: General MIDI's drum channel


@dataclass(frozen=True)
class Zone:
    """Keys ``low..high`` (inclusive) played by font ``font`` (index into the pool) at ``volume`` (CC7)."""

    low: int
    high: int
    font: int
    volume: int

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def random_zones(rng: np.random.Generator, n_fonts: int, min_zones: int = 2, max_zones: int = 6,
                 min_width: int = 6, level_db: tuple[float, float] = (-9.0, 0.0)) -> list[Zone]:
    """Contiguous zones covering 21-108, neighbours on different fonts where the pool allows.

    A zone's level is drawn in dB and set as CC7 = 127 * 10 ** (dB / 40), SF2's default
    volume curve (attenuation 40 log10(CC7 / 127) dB).
    """
    if n_fonts < 1:
        raise ValueError("a chimera needs at least one font")
    if not 1 <= min_zones <= max_zones <= len(ZONE_CHANNELS):
        raise ValueError(f"zones must be 1 <= min_zones <= max_zones <= {len(ZONE_CHANNELS)}")
    keys = HIGHEST - LOWEST + 1
    n = int(rng.integers(min_zones, max_zones + 1))
    n = max(1, min(n, keys // max(min_width, 1)))
    # Cut points: n - 1 distinct keys, at least min_width apart (and from both ends).
    while True:
        cuts = np.sort(rng.choice(np.arange(LOWEST + min_width, HIGHEST - min_width + 2), size=n - 1, replace=False))
        edges = np.concatenate([[LOWEST], cuts, [HIGHEST + 1]])
        if np.all(np.diff(edges) >= min_width):
            break
    zones, previous = [], -1
    for i in range(n):
        choices = [f for f in range(n_fonts) if f != previous] or [previous]
        font = int(rng.choice(choices))
        db = float(rng.uniform(*level_db))
        volume = int(np.clip(round(127.0 * 10.0 ** (db / 40.0)), 1, 127))
        zones.append(Zone(int(edges[i]), int(edges[i + 1]) - 1, font, volume))
        previous = font
    return zones


def zone_of_pitch(zones: list[Zone]) -> np.ndarray:
    """``[128]`` int: the zone index of every MIDI pitch (pitches outside 21-108 take the nearest zone)."""
    out = np.zeros(128, dtype=np.int64)
    for i, z in enumerate(zones):
        out[z.low:z.high + 1] = i
    out[zones[-1].high + 1:] = len(zones) - 1  # below the first zone: already 0
    return out


def describe(zones: list[Zone], font_names: list[str]) -> list[dict[str, Any]]:
    """JSON for the manifest: each zone with its font's name."""
    return [{**z.to_json(), "font": font_names[z.font]} for z in zones]
