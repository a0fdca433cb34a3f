import copy
import json

import numpy as np
import pretty_midi
import pytest

from sound2sheet.data.augment import (
    AugmentConfig, add_noise, apply_eq, apply_reverb, augment_audio, augment_midi, generate_room_ir, normalize_peak,
    time_stretch, transpose, velocity_curve,
)

SR = 16000


def _pm():
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    for k, p in enumerate([21, 22, 60, 107, 108]):
        inst.notes.append(pretty_midi.Note(20 + 20 * k, p, k * 0.5, k * 0.5 + 0.4))
    inst.control_changes += [pretty_midi.ControlChange(64, 127, 1.0), pretty_midi.ControlChange(64, 0, 2.0)]
    pm.instruments.append(inst)
    return pm


def test_midi_transforms():
    pm = _pm()
    before = copy.deepcopy([(n.pitch, n.start, n.velocity) for n in pm.instruments[0].notes])
    up = transpose(pm, 2)
    assert [n.pitch for n in up.instruments[0].notes] == [23, 24, 62]  # 107, 108 would leave the piano
    slow = time_stretch(pm, 1.5)
    assert [n.start for n in slow.instruments[0].notes] == pytest.approx([0, 0.75, 1.5, 2.25, 3.0])
    assert [c.time for c in slow.instruments[0].control_changes] == pytest.approx([1.5, 3.0])
    soft = velocity_curve(pm, 1.5)
    v0, v1 = [n.velocity for n in pm.instruments[0].notes], [n.velocity for n in soft.instruments[0].notes]
    assert all(1 <= v <= 127 for v in v1) and all(b <= a for a, b in zip(v0, v1)) and v1 == sorted(v1)
    assert [(n.pitch, n.start, n.velocity) for n in pm.instruments[0].notes] == before  # input untouched


@pytest.mark.parametrize("color", ["white", "pink", "brown"])
def test_noise_hits_the_requested_snr(color):
    rng = np.random.default_rng(0)
    t = np.arange(SR * 2) / SR
    clean = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    noisy = add_noise(clean, 25.0, rng, color)
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((noisy - clean).astype(np.float64) ** 2))
    assert snr == pytest.approx(25.0, abs=0.5)
    assert np.isfinite(add_noise(np.zeros(100, np.float32), 20.0, rng)).all()


def _decay_time(ir, sr):
    """Time for the Schroeder energy decay curve to fall from -5 to -35 dB, times 2 (T30)."""
    edc = np.cumsum((ir.astype(np.float64) ** 2)[::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-20)
    t5, t35 = np.argmax(edc_db <= -5), np.argmax(edc_db <= -35)
    return 2 * (t35 - t5) / sr


def test_room_ir_decays_at_rt60_and_highs_die_faster():
    from scipy.signal import butter, sosfilt

    rng = np.random.default_rng(1)
    ir = generate_room_ir(rng, SR, rt60=0.8, direct_to_reverb_db=-10.0)
    tail = ir.copy()
    tail[0] = 0.0
    assert _decay_time(tail, SR) == pytest.approx(0.8, rel=0.25)
    low = sosfilt(butter(4, 400 / (SR / 2), output="sos"), tail)
    high = sosfilt(butter(4, 5000 / (SR / 2), btype="highpass", output="sos"), tail)
    assert _decay_time(high, SR) < 0.8 * _decay_time(low, SR)


def test_reverb_keeps_length_and_onset():
    rng = np.random.default_rng(2)
    x = np.zeros(SR, dtype=np.float32)
    x[4000] = 1.0
    y = apply_reverb(x, generate_room_ir(rng, SR, 0.6))
    assert y.shape == x.shape
    assert np.argmax(np.abs(y) > 1e-3) == 4000  # nothing before the onset, the onset where it was


def test_eq_tilt_and_identity():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(SR).astype(np.float32)
    np.testing.assert_allclose(apply_eq(x, SR, 0.0), x, atol=1e-5)
    bright = apply_eq(x, SR, 3.0)
    spec_x, spec_y = np.abs(np.fft.rfft(x)) ** 2, np.abs(np.fft.rfft(bright)) ** 2
    f = np.fft.rfftfreq(SR, 1 / SR)
    ratio = lambda s: s[f > 4000].sum() / s[(f > 100) & (f < 500)].sum()
    assert ratio(spec_y) > 4 * ratio(spec_x)
    assert np.argmax(np.abs(apply_eq(np.eye(1, 2000, 1000)[0].astype(np.float32), SR, 2.0))) == 1000  # zero phase


def test_augment_draws_are_reproducible_and_described():
    cfg = AugmentConfig(noise_prob=1.0, reverb_prob=1.0, eq_prob=1.0, transpose_prob=1.0, tempo_prob=1.0, velocity_prob=1.0)
    audio = np.random.default_rng(4).standard_normal(SR).astype(np.float32) * 0.1
    runs = [augment_audio(audio, SR, cfg, np.random.default_rng(9)) for _ in range(2)]
    assert np.array_equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert set(runs[0][1]) >= {"rt60", "tilt_db_per_octave", "noise", "snr_db"} and runs[0][0].shape == audio.shape
    json.dumps(runs[0][1])
    pm, applied = augment_midi(_pm(), cfg, np.random.default_rng(9))
    assert set(applied) == {"transpose", "tempo", "velocity_gamma"} and applied["transpose"] != 0
    json.dumps(applied)


def test_none_config_is_identity():
    audio = np.random.default_rng(5).standard_normal(SR).astype(np.float32)
    out, applied = augment_audio(audio, SR, AugmentConfig.none(), np.random.default_rng(0))
    assert applied == {} and np.array_equal(out, audio)
    pm, applied = augment_midi(_pm(), AugmentConfig.none(), np.random.default_rng(0))
    assert applied == {} and [n.pitch for n in pm.instruments[0].notes] == [21, 22, 60, 107, 108]


def test_normalize_peak():
    assert np.abs(normalize_peak(np.array([0.1, -0.5], np.float32), 0.9)).max() == pytest.approx(0.9)
    assert not normalize_peak(np.zeros(4, np.float32)).any()
