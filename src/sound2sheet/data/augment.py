"""Augmentations that make a model trained on a few soundfonts hold up on unseen pianos, rooms
and recording chains.

MIDI-domain changes (transposition, tempo, velocity curve) happen before rendering, so the
ground truth is the changed MIDI and stays exact. Audio-domain changes (gain, noise, room
reverb, EQ) never move onsets: filters are zero-phase and the room's direct path sits at
sample 0. Every random choice comes from the caller's ``numpy.random.Generator`` and is
reported in a JSON-serialisable dict that the dataset manifest records.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

LOWEST, HIGHEST = 21, 108


# ----------------------------------------------------------------------------- MIDI domain
def transpose(pm, semitones: int):
    """Shift every pitched note; notes that would leave the piano range 21-108 are dropped."""
    out = copy.deepcopy(pm)
    for inst in out.instruments:
        if inst.is_drum:
            continue
        kept = []
        for n in inst.notes:
            n.pitch += int(semitones)
            if LOWEST <= n.pitch <= HIGHEST:
                kept.append(n)
        inst.notes = kept
    return out


def time_stretch(pm, factor: float):
    """Scale all note and control-change times by ``factor`` (> 1 plays slower)."""
    if factor <= 0:
        raise ValueError("time_stretch factor must be positive")
    out = copy.deepcopy(pm)
    for inst in out.instruments:
        for n in inst.notes:
            n.start *= factor
            n.end *= factor
        for cc in inst.control_changes:
            cc.time *= factor
        for pb in inst.pitch_bends:
            pb.time *= factor
    return out


def velocity_curve(pm, gamma: float, offset: int = 0):
    """``v' = clip(round(127 (v / 127) ** gamma) + offset, 1, 127)``: a different touch or action."""
    out = copy.deepcopy(pm)
    for inst in out.instruments:
        for n in inst.notes:
            n.velocity = int(np.clip(round(127.0 * (n.velocity / 127.0) ** gamma) + offset, 1, 127))
    return out


# ----------------------------------------------------------------------------- audio domain
def apply_gain(audio: np.ndarray, db: float) -> np.ndarray:
    return (audio * 10.0 ** (db / 20.0)).astype(np.float32)


def _colored_noise(n: int, rng: np.random.Generator, color: str) -> np.ndarray:
    white = rng.standard_normal(n)
    if color == "white" or n < 2:
        return white
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    exponent = {"pink": 0.5, "brown": 1.0}[color]
    shaped = np.fft.irfft(spectrum / freqs ** exponent, n)
    return shaped / (shaped.std() + 1e-12)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator, color: str = "white") -> np.ndarray:
    """Add noise at ``snr_db`` relative to the power of the non-silent part of the signal (a
    silent signal gets noise at -60 dBFS)."""
    x = np.asarray(audio, dtype=np.float64)
    loud = np.abs(x) > 1e-4
    power = float(np.mean(x[loud] ** 2)) if loud.any() else 1e-6
    noise = _colored_noise(x.size, rng, color)
    noise *= np.sqrt(power / 10.0 ** (snr_db / 10.0)) / (np.sqrt(np.mean(noise ** 2)) + 1e-12)
    return (x + noise).astype(np.float32)


def generate_room_ir(
    rng: np.random.Generator, sample_rate: int, rt60: float, direct_to_reverb_db: float = 3.0, predelay_ms: float = 10.0
) -> np.ndarray:
    """A synthetic room impulse response: direct path at sample 0, sparse early reflections,
    then a noise tail decaying 60 dB in ``rt60`` seconds at low frequencies and faster at
    high ones (air and wall absorption)."""
    from scipy.signal import butter, sosfiltfilt

    length = int(sample_rate * min(4.0, rt60 * 1.2 + predelay_ms / 1000.0)) + 1
    t = np.arange(length) / sample_rate
    start = int(predelay_ms / 1000.0 * sample_rate)
    tail = np.zeros(length)
    bands = ((None, 500.0, 1.0), (500.0, 4000.0, 0.75), (4000.0, None, 0.45))  # decay-time factor per band
    nyquist = sample_rate / 2
    for lo, hi, factor in bands:
        noise = rng.standard_normal(length)
        if lo is None:
            sos = butter(4, hi / nyquist, btype="lowpass", output="sos")
        elif hi is None or hi >= nyquist:
            sos = butter(4, min(lo / nyquist, 0.99), btype="highpass", output="sos")
        else:
            sos = butter(4, [lo / nyquist, hi / nyquist], btype="bandpass", output="sos")
        band = sosfiltfilt(sos, noise)
        tail += band * 10.0 ** (-3.0 * t / (rt60 * factor))  # -60 dB (amplitude 1e-3) at rt60 * factor
    tail[:start] = 0.0
    for _ in range(int(rng.integers(3, 8))):  # early reflections within ~50 ms
        k = start + int(rng.uniform(0.002, 0.05) * sample_rate)
        if k < length:
            tail[k] += rng.uniform(-0.6, 0.6)
    tail_energy = np.sum(tail ** 2) + 1e-12
    tail *= np.sqrt(10.0 ** (-direct_to_reverb_db / 10.0) / tail_energy)
    ir = tail
    ir[0] = 1.0
    return ir.astype(np.float32)


def apply_reverb(audio: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Convolve with ``ir``, keep the input's length and RMS. Onsets stay put: the IR's
    direct path is its first sample."""
    from scipy.signal import fftconvolve

    x = np.asarray(audio, dtype=np.float64)
    wet = fftconvolve(x, ir)[: x.size]
    rms_in, rms_out = np.sqrt(np.mean(x ** 2)), np.sqrt(np.mean(wet ** 2))
    if rms_out > 0 and rms_in > 0:
        wet *= rms_in / rms_out
    return wet.astype(np.float32)


def apply_eq(
    audio: np.ndarray, sample_rate: int, tilt_db_per_octave: float, bands: Sequence[tuple[float, float, float]] = ()
) -> np.ndarray:
    """Zero-phase EQ in the frequency domain: a spectral tilt of ``tilt_db_per_octave``
    around 1 kHz plus peaking bands ``(freq_hz, gain_db, q)``. Zero phase keeps onsets in place."""
    x = np.asarray(audio, dtype=np.float64)
    if tilt_db_per_octave == 0 and not bands:
        return x.astype(np.float32)
    n = x.size
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    octaves = np.log2(np.maximum(freqs, 20.0) / 1000.0)
    gain_db = tilt_db_per_octave * octaves
    for f0, g, q in bands:
        bandwidth_oct = 1.0 / max(q, 1e-3)
        gain_db = gain_db + g * np.exp(-0.5 * (np.log2(np.maximum(freqs, 1.0) / f0) / (bandwidth_oct / 2.355)) ** 2)
    y = np.fft.irfft(np.fft.rfft(x) * 10.0 ** (gain_db / 20.0), n)
    return y.astype(np.float32)


def normalize_peak(audio: np.ndarray, peak: float = 0.9) -> np.ndarray:
    """Scale so the absolute peak is ``peak``; silence stays silence."""
    from sound2sheet.core.audio import audio_peak

    top = audio_peak(audio)
    if top < 1e-8:
        return np.asarray(audio, dtype=np.float32)
    return (np.asarray(audio, dtype=np.float64) * (peak / top)).astype(np.float32)


# ----------------------------------------------------------------------------- random draws
@dataclass
class AugmentConfig:
    """How often and how strongly each augmentation is drawn (ranges are uniform)."""

    gain_db: tuple[float, float] = (-12.0, 6.0)  # recording level
    noise_prob: float = 0.5  # chance of additive noise
    snr_db: tuple[float, float] = (20.0, 50.0)  # its signal-to-noise ratio
    noise_colors: tuple[str, ...] = ("white", "pink", "brown")  # hiss, room tone, rumble
    reverb_prob: float = 0.5  # chance of a room
    rt60: tuple[float, float] = (0.2, 1.5)  # its reverberation time (s)
    direct_to_reverb_db: tuple[float, float] = (-3.0, 9.0)  # close vs distant microphone
    eq_prob: float = 0.5  # chance of a different microphone/piano colour
    tilt_db_per_octave: tuple[float, float] = (-3.0, 3.0)  # dark ... bright
    eq_bands: int = 2  # random peaking bands added when EQ is drawn
    transpose_prob: float = 0.3  # chance of transposing the MIDI before rendering
    transpose_semitones: tuple[int, int] = (-3, 3)  # its range (0 excluded when drawn)
    tempo_prob: float = 0.3  # chance of a tempo change
    tempo_factor: tuple[float, float] = (0.85, 1.15)  # time-stretch factor range
    velocity_prob: float = 0.5  # chance of a velocity curve (touch, action)
    velocity_gamma: tuple[float, float] = (0.7, 1.4)  # its exponent range

    @classmethod
    def none(cls) -> "AugmentConfig":
        """A config that changes nothing."""
        return cls(gain_db=(0.0, 0.0), noise_prob=0.0, reverb_prob=0.0, eq_prob=0.0, transpose_prob=0.0,
                   tempo_prob=0.0, velocity_prob=0.0)


def _uniform(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    lo, hi = float(bounds[0]), float(bounds[1])
    return lo if hi <= lo else float(rng.uniform(lo, hi))


def augment_midi(pm, cfg: AugmentConfig, rng: np.random.Generator) -> tuple[Any, dict[str, Any]]:
    """Draw and apply MIDI-domain augmentations; returns the new MIDI and what was applied."""
    applied: dict[str, Any] = {}
    if rng.random() < cfg.transpose_prob:
        choices = [s for s in range(int(cfg.transpose_semitones[0]), int(cfg.transpose_semitones[1]) + 1) if s != 0]
        if choices:
            applied["transpose"] = int(rng.choice(choices))
            pm = transpose(pm, applied["transpose"])
    if rng.random() < cfg.tempo_prob:
        applied["tempo"] = round(_uniform(rng, cfg.tempo_factor), 4)
        pm = time_stretch(pm, applied["tempo"])
    if rng.random() < cfg.velocity_prob:
        applied["velocity_gamma"] = round(_uniform(rng, cfg.velocity_gamma), 4)
        pm = velocity_curve(pm, applied["velocity_gamma"])
    return pm, applied


def augment_audio(audio: np.ndarray, sample_rate: int, cfg: AugmentConfig, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Draw and apply audio-domain augmentations (room, colour, noise, level, in the order
    a recording chain applies them); returns audio of the same length and what was applied."""
    applied: dict[str, Any] = {}
    y = np.asarray(audio, dtype=np.float32)
    if rng.random() < cfg.reverb_prob:
        rt60 = round(_uniform(rng, cfg.rt60), 3)
        drr = round(_uniform(rng, cfg.direct_to_reverb_db), 2)
        y = apply_reverb(y, generate_room_ir(rng, sample_rate, rt60, drr))
        applied.update(rt60=rt60, direct_to_reverb_db=drr)
    if rng.random() < cfg.eq_prob:
        tilt = round(_uniform(rng, cfg.tilt_db_per_octave), 3)
        bands = [(round(float(np.exp(rng.uniform(np.log(80), np.log(6000)))), 1), round(float(rng.uniform(-6, 6)), 2),
                  round(float(rng.uniform(0.7, 3.0)), 2)) for _ in range(cfg.eq_bands)]
        y = apply_eq(y, sample_rate, tilt, bands)
        applied.update(tilt_db_per_octave=tilt, eq_bands=[list(b) for b in bands])
    if rng.random() < cfg.noise_prob:
        color = str(rng.choice(list(cfg.noise_colors)))
        snr = round(_uniform(rng, cfg.snr_db), 2)
        y = add_noise(y, snr, rng, color)
        applied.update(noise=color, snr_db=snr)
    gain = round(_uniform(rng, cfg.gain_db), 2)
    if gain:
        y = apply_gain(y, gain)
        applied["gain_db"] = gain
    return y, applied
