"""Fixed listening conditions (a room, noise, EQ, a quiet recording) for checks that every
checkpoint must hear identically: the robustness benchmark and decoding tuned for conditions the
model was not trained in. Built with the augmentation's own audio functions, seeded per
condition, so a condition is the same audio wherever it is applied."""

from __future__ import annotations

import numpy as np

# name -> (treatment, its argument)
CONDITIONS = {
    "clean": ("none", None),
    "room-0.5s": ("room", (0.5, 6.0)),  # RT60 s, direct-to-reverberant dB: a small room, close
    "hall-1.5s": ("room", (1.5, 0.0)),  # a hall, distant microphone
    "pink-25dB": ("noise", ("pink", 25.0)),  # room tone / hiss, SNR dB
    "brown-15dB": ("noise", ("brown", 15.0)),  # rumble
    "dark": ("eq", -4.0),  # dB per octave around 1 kHz: a dull piano or a far microphone
    "bright": ("eq", 3.0),
    "quiet": ("gain", -30.0),  # dB
}


def treat(audio: np.ndarray, sample_rate: int, condition: str, seed: int) -> np.ndarray:
    """``audio`` (mono, ``[samples]``) under ``condition`` (a key of ``CONDITIONS``), same length."""
    from sound2sheet.data import augment

    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r} (one of: {', '.join(CONDITIONS)})")
    kind, arg = CONDITIONS[condition]
    rng = np.random.default_rng([seed, list(CONDITIONS).index(condition)])
    if kind == "room":
        rt60, drr = arg
        return augment.apply_reverb(audio, augment.generate_room_ir(rng, sample_rate, rt60, drr))
    if kind == "noise":
        color, snr = arg
        return augment.add_noise(audio, snr, rng, color)
    if kind == "eq":
        return augment.apply_eq(audio, sample_rate, arg)
    if kind == "gain":
        return augment.apply_gain(audio, arg)
    return audio
