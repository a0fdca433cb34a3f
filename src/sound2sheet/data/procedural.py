"""Procedural pianos: a new, random piano for every render (``--soundfont procedural``).

Every recorded piano added to the training data has been worth more than anything else a CPU
session could buy (docs/experiments.md #8, #17), and the registries hold no more of them. A
piano's sound is a few physical quantities (inharmonicity, unison detuning, where the hammer
strikes, how fast each partial decays, how hard strikes brighten the tone, the soundboard's
resonances and how little it radiates of a bass note's fundamental), so drawing those at random gives an unlimited family of pianos: the model must
learn what all pianos share, not one sample set's spectrum. Each note is additive: a few
detuned strings of inharmonic partials, ``f_k = k f0 sqrt(1 + B k^2)``, each with a two-stage
(prompt + aftersound) decay that is faster for higher partials and higher keys, a hammer
knock, the damper's release, and the sustain pedal keeping undamped strings ringing.
Parameters are drawn per render (:func:`random_piano`) and recorded in the item's manifest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from sound2sheet.data.render import TAIL_SECONDS

PROCEDURAL = "procedural"  # the timbre spec that selects this renderer
MAX_PARTIALS = 48
MAX_DECAY_S = 10.0  # a time constant; the lowest strings of a grand ring ~60 s to -60 dB


@dataclass(frozen=True)
class PianoParams:
    """One piano. Times in seconds; ``*_slope`` in octaves: a value per octave above A4."""

    inharmonicity: float  # B at A4; it grows ~2x per octave up the keyboard
    detune_cents: float  # spread of the unison strings (beats)
    strike_position: float  # hammer position as a fraction of the string: a comb on partials
    rolloff: float  # partial k's amplitude ~ k ** -rolloff at medium velocity
    velocity_brightness: float  # how much a hard strike flattens the rolloff
    velocity_exponent: float  # amplitude ~ (velocity / 127) ** velocity_exponent
    decay_at_a4: float  # aftersound time constant of A4's fundamental
    decay_slope: float  # its factor per octave (< 1: higher keys die sooner)
    prompt_fraction: float  # share of the amplitude in the fast first decay
    prompt_decay: float  # the first decay's time constant relative to the aftersound's
    partial_decay: float  # tau_k = tau_1 / (1 + partial_decay * (k - 1))
    attack_s: float  # hammer contact: the rise time
    knock_db: float  # hammer/action noise relative to the note
    release_s: float  # damper time constant after the key (and pedal) let go
    radiation_hz: float  # the soundboard radiates little below this: weak fundamentals in the bass
    body_bands: tuple[tuple[float, float, float], ...]  # soundboard resonances (Hz, dB, Q)

    def to_json(self) -> dict[str, Any]:
        return {k: ([list(b) for b in v] if k == "body_bands" else round(float(v), 6))
                for k, v in dataclasses.asdict(self).items()}


def random_piano(rng: np.random.Generator) -> PianoParams:
    """A piano drawn from ranges that cover small uprights to concert grands (and a little beyond)."""

    def log_uniform(lo: float, hi: float) -> float:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))

    bands = tuple((round(log_uniform(80.0, 5000.0), 1), round(float(rng.uniform(-8.0, 8.0)), 2),
                   round(float(rng.uniform(0.7, 4.0)), 2)) for _ in range(int(rng.integers(2, 6))))
    return PianoParams(
        inharmonicity=log_uniform(1e-4, 1.2e-3),
        detune_cents=float(rng.uniform(0.0, 3.0)),
        strike_position=float(rng.uniform(1 / 10, 1 / 6)),
        rolloff=float(rng.uniform(0.6, 1.8)),
        velocity_brightness=float(rng.uniform(0.2, 1.0)),
        velocity_exponent=float(rng.uniform(1.2, 2.5)),
        decay_at_a4=log_uniform(0.8, 4.0),
        decay_slope=float(rng.uniform(0.65, 0.85)),
        prompt_fraction=float(rng.uniform(0.3, 0.8)),
        prompt_decay=float(rng.uniform(0.05, 0.25)),
        partial_decay=log_uniform(0.05, 0.6),
        attack_s=log_uniform(0.0008, 0.004),
        knock_db=float(rng.uniform(-40.0, -18.0)),
        release_s=log_uniform(0.03, 0.15),
        radiation_hz=log_uniform(50.0, 250.0),
        body_bands=bands,
    )


def sounding_ends(pm) -> list[tuple[int, float, float, int]]:
    """``(pitch, onset, end, velocity)`` per note, ``end`` being when its damper falls: the
    key's release, or the sustain pedal's (CC64 >= 64) if it is down then, and never after the
    same key's next strike."""
    notes, pedal_changes = [], []
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        notes.extend(inst.notes)
        pedal_changes.extend((cc.time, cc.value >= 64) for cc in inst.control_changes if cc.number == 64)
    pedal_changes.sort()
    times = np.array([t for t, _ in pedal_changes])
    downs = np.array([d for _, d in pedal_changes], dtype=bool)

    def pedal_up_after(t: float) -> float:
        i = int(np.searchsorted(times, t, side="right")) - 1
        if i < 0 or not downs[i]:
            return t
        later = np.nonzero(~downs[i + 1:])[0]
        return float(times[i + 1 + later[0]]) if later.size else float("inf")

    notes = sorted(notes, key=lambda n: (n.start, n.pitch))
    next_strike: dict[int, float] = {}
    out: list[tuple[int, float, float, int]] = []
    for n in reversed(notes):
        end = min(pedal_up_after(n.end), next_strike.get(n.pitch, float("inf")))
        out.append((n.pitch, n.start, max(end, n.start + 0.01), n.velocity))
        next_strike[n.pitch] = n.start
    return out[::-1]


def _sine(cycles_per_sample: float, n: int, phase: float, block: int = 4096) -> np.ndarray:
    """``sin(2 pi (cycles_per_sample * i + phase))`` for ``i < n`` in float32. Each block's
    start phase is exact (float64), the phase within it float32: float32 sines are SIMD (~20x
    faster here) and a whole note's phase in float32 would drift audibly."""
    blocks = -(-n // block)
    start = (cycles_per_sample * np.arange(blocks) * block + phase) % 1.0
    within = np.arange(block, dtype=np.float32) * np.float32(cycles_per_sample)
    cycles = (start.astype(np.float32)[:, None] + within[None, :]).ravel()[:n]
    return np.sin(np.float32(2.0 * np.pi) * cycles)


def _note(params: PianoParams, pitch: int, velocity: int, hold_s: float, sample_rate: int,
          rng: np.random.Generator) -> np.ndarray:
    """One note's audio: struck at sample 0, damped ``hold_s`` later."""
    v = velocity / 127.0
    octave = (pitch - 69) / 12.0
    f0 = 440.0 * 2.0 ** octave
    b = params.inharmonicity * 2.0 ** octave
    k = np.arange(1, MAX_PARTIALS + 1)
    fk = k * f0 * np.sqrt(1.0 + b * k * k)
    keep = fk < 0.45 * sample_rate
    k, fk = k[keep], fk[keep]
    tilt = params.rolloff - params.velocity_brightness * (v - 0.5) * 2.0
    comb = np.abs(np.sin(np.pi * k * params.strike_position)) + 0.05
    radiated = 1.0 / (1.0 + (params.radiation_hz / fk) ** 2)  # a second-order high-pass's magnitude
    amps = k ** -max(tilt, 0.2) * comb * radiated * np.exp(rng.normal(0.0, 0.25, k.size))
    amps /= np.sqrt(np.sum(amps ** 2))
    tau = params.decay_at_a4 * params.decay_slope ** octave * 2.0 ** (-0.3 * max(0.0, v - 0.5))  # hard notes die a bit sooner
    tau = min(tau, MAX_DECAY_S)
    taus = tau / (1.0 + params.partial_decay * (k - 1))
    release = params.release_s
    length = int(sample_rate * (min(hold_s, 7.0 * tau) + 6.0 * release)) + 1
    t = np.arange(length) / sample_rate
    damper = np.ones(length)
    hold = int(hold_s * sample_rate)
    if hold < length:
        damper[hold:] = np.exp(-(t[hold:] - t[hold]) / release)
    strings = 1 if pitch < 35 else 2 if pitch < 48 else 3
    detune = (rng.uniform(-0.5, 0.5, strings) * params.detune_cents) if strings > 1 else np.zeros(1)
    t32 = t.astype(np.float32)
    out = np.zeros(length, dtype=np.float32)
    for f, a, tk in zip(fk, amps, taus):
        n = min(length, int(sample_rate * 8.0 * tk) + 1)  # past ~-70 dB a partial adds nothing
        tt = t32[:n]
        env = (params.prompt_fraction * np.exp(-tt / np.float32(tk * params.prompt_decay))
               + np.float32(1 - params.prompt_fraction) * np.exp(-tt / np.float32(tk)))
        wave = np.zeros(n, dtype=np.float32)
        for d in detune:
            wave += _sine(f * 2.0 ** (d / 1200.0) / sample_rate, n, rng.uniform())
        out[:n] += np.float32(a / strings) * env * wave
    attack = np.minimum(1.0, t / params.attack_s)
    knock_len = min(length, int(0.02 * sample_rate))
    knock = np.zeros(length)
    knock[:knock_len] = rng.standard_normal(knock_len) * np.exp(-np.arange(knock_len) / (0.004 * sample_rate))
    knock *= 10.0 ** (params.knock_db / 20.0) * (0.3 + v)
    return (out * attack + knock) * damper * v ** params.velocity_exponent  # float64 from here on


def render(pm, params: PianoParams, sample_rate: int = 16000, seed: int = 0, tail: float = TAIL_SECONDS) -> np.ndarray:
    """Mono float32 audio of ``pm`` played by the piano ``params``, ``pm.get_end_time() + tail``
    long, peak 0.5 (recording level is augmentation's choice)."""
    from sound2sheet.data.augment import apply_eq

    rng = np.random.default_rng(seed)
    end_s = pm.get_end_time() + tail  # once: it walks every note
    total = int(round(end_s * sample_rate))
    out = np.zeros(total)
    for pitch, onset, end, velocity in sounding_ends(pm):
        start = int(round(onset * sample_rate))
        if start >= total:
            continue
        hold = min(end, end_s) - onset
        note = _note(params, pitch, velocity, hold, sample_rate, rng)
        stop = min(total, start + note.size)
        out[start:stop] += note[: stop - start]
    out = apply_eq(out, sample_rate, 0.0, params.body_bands)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    return (out * (0.5 / peak) if peak > 0 else out).astype(np.float32)
