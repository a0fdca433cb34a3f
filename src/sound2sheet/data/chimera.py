"""Chimera pianos: the keyboard cut into zones, each played by a different recorded or sampled
piano, at its own level (``--soundfont chimera`` with ``--chimera-fonts``).

Why: every new *recorded* piano moved dev (docs/experiments.md #8, #17) and there are no more
to be had offline; procedural pianos are a domain of their own (#26). A chimera keeps the
real samples but breaks the one thing a few pianos teach that no unseen piano keeps: how one
register sounds given how the others do. Each render draws new zones, so the model cannot
learn a piano as a whole, only each key's attack and partials.

One FluidSynth pass renders all zones: each zone is a MIDI channel with its own font and
volume (CC7); pedals go to every channel, so resonance and damping stay as the MIDI says.

Layered zones (``--chimera-layers P``, experiments #32) go inside the note: a zone may sound
two fonts at once, each at its own level, so one font's attack and partials blend with
another's body and decay. That draws pianos between the pool's, not only across its keys.
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
    layer: int = -1  # a second font sounding with the first (index into the pool); -1: none
    layer_volume: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def _volume(rng: np.random.Generator, level_db: tuple[float, float]) -> int:
    db = float(rng.uniform(*level_db))
    return int(np.clip(round(127.0 * 10.0 ** (db / 40.0)), 1, 127))


def random_zones(rng: np.random.Generator, n_fonts: int, min_zones: int = 2, max_zones: int = 6,
                 min_width: int = 6, level_db: tuple[float, float] = (-9.0, 0.0),
                 layer_prob: float = 0.0) -> list[Zone]:
    """Contiguous zones covering 21-108, neighbours on different fonts where the pool allows.

    A zone's level is drawn in dB and set as CC7 = 127 * 10 ** (dB / 40), SF2's default
    volume curve (attenuation 40 log10(CC7 / 127) dB). With ``layer_prob`` > 0 each zone gets,
    with that chance, a second font (not its first) at its own level; every zone then needs two
    channels, so at most half of them are zones. ``layer_prob`` 0 draws exactly what it always did.
    """
    if n_fonts < 1:
        raise ValueError("a chimera needs at least one font")
    if not 0.0 <= layer_prob <= 1.0:
        raise ValueError("layer_prob must be in [0, 1]")
    if layer_prob > 0:
        max_zones = min(max_zones, len(ZONE_CHANNELS) // 2)
        min_zones = min(min_zones, max_zones)
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
        volume = _volume(rng, level_db)
        layer, layer_volume = -1, 0
        if layer_prob > 0 and n_fonts > 1 and rng.random() < layer_prob:
            layer = int(rng.choice([f for f in range(n_fonts) if f != font]))
            layer_volume = _volume(rng, level_db)
        zones.append(Zone(int(edges[i]), int(edges[i + 1]) - 1, font, volume, layer, layer_volume))
        previous = font
    return zones


def channel_plan(zones: list[Zone]) -> tuple[list[int], list[int], np.ndarray]:
    """What :func:`sound2sheet.data.render.render_zones` plays: each channel's font (index into
    the pool) and volume, and ``[2, 128]`` int routes: row 0 the channel of every pitch's zone,
    row 1 its layer's channel or -1. Zone ``i`` is channel ``i``; layers follow the zones."""
    fonts, volumes = [z.font for z in zones], [z.volume for z in zones]
    routes = np.full((2, 128), -1, dtype=np.int64)
    routes[0] = zone_of_pitch(zones)
    for i, z in enumerate(zones):
        if z.layer >= 0:
            routes[1][routes[0] == i] = len(fonts)
            fonts.append(z.layer)
            volumes.append(z.layer_volume)
    return fonts, volumes, routes


def zone_of_pitch(zones: list[Zone]) -> np.ndarray:
    """``[128]`` int: the zone index of every MIDI pitch (pitches outside 21-108 take the nearest zone)."""
    out = np.zeros(128, dtype=np.int64)
    for i, z in enumerate(zones):
        out[z.low:z.high + 1] = i
    out[zones[-1].high + 1:] = len(zones) - 1  # below the first zone: already 0
    return out


def describe(zones: list[Zone], font_names: list[str]) -> list[dict[str, Any]]:
    """JSON for the manifest: each zone with its font's name (and its layer's, if it has one)."""
    out = []
    for z in zones:
        entry: dict[str, Any] = {**z.to_json(), "font": font_names[z.font]}
        if z.layer >= 0:
            entry["layer"] = font_names[z.layer]
        else:
            del entry["layer"], entry["layer_volume"]
        out.append(entry)
    return out
