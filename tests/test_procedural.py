"""Procedural pianos (--soundfont procedural): physics that can fail, and the dataset path."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pretty_midi
import pytest

from sound2sheet.data.procedural import PianoParams, random_piano, render, sounding_ends

SR = 16000


def _pm(notes, pedal=()):
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(v, p, s, e) for p, s, e, v in notes]
    inst.control_changes = [pretty_midi.ControlChange(64, value, t) for t, value in pedal]
    pm.instruments.append(inst)
    return pm


def _piano(**changes) -> PianoParams:
    return dataclasses.replace(random_piano(np.random.default_rng(3)), **{"body_bands": (), **changes})


def _rms(audio, t0, t1):
    return float(np.sqrt(np.mean(audio[int(t0 * SR):int(t1 * SR)] ** 2)))


def test_partials_sit_where_inharmonicity_puts_them():
    b = 8e-4
    piano = _piano(inharmonicity=b, detune_cents=0.0, partial_decay=0.05, decay_at_a4=3.0)
    audio = render(_pm([(45, 0.1, 2.1, 100)]), piano, SR)  # A2, 110 Hz
    seg = audio[int(0.2 * SR):int(2.0 * SR)] * np.hanning(int(1.8 * SR))
    spectrum = np.abs(np.fft.rfft(seg))
    freqs = np.fft.rfftfreq(seg.size, 1 / SR)
    f0, b_here = 110.0, b * 2.0 ** (-2)
    for k in (1, 2, 3, 5, 8):
        expected = k * f0 * np.sqrt(1 + b_here * k * k)
        near = (freqs > expected - 0.4 * f0) & (freqs < expected + 0.4 * f0)
        assert abs(freqs[near][np.argmax(spectrum[near])] - expected) < 1.5, k
    stretched = 8 * f0 * np.sqrt(1 + b_here * 64)
    assert stretched - 8 * f0 > 5  # the test can tell inharmonic from harmonic


def test_onset_release_and_sustain_pedal():
    piano = _piano(release_s=0.05, decay_at_a4=4.0)
    dry = render(_pm([(60, 0.5, 1.0, 90)]), piano, SR)
    assert _rms(dry, 0.0, 0.49) == 0.0 and _rms(dry, 0.5, 0.6) > 0.01  # silent until the strike
    assert _rms(dry, 1.4, 1.6) < 1e-3 * _rms(dry, 0.85, 0.95)  # the damper stops it
    pedalled = render(_pm([(60, 0.5, 1.0, 90)], pedal=[(0.2, 127), (2.0, 0)]), piano, SR)
    ringing = _rms(pedalled, 1.4, 1.6)
    assert ringing > 0.2 * _rms(pedalled, 0.85, 0.95)  # undamped under the pedal
    assert _rms(pedalled, 2.4, 2.6) < 1e-3 * ringing  # until the pedal lifts


def test_sounding_ends_follow_pedal_and_restrikes():
    pm = _pm([(60, 0.0, 0.5, 80), (60, 1.0, 1.2, 80), (64, 0.0, 0.3, 80), (67, 3.0, 3.5, 80)],
             pedal=[(0.2, 127), (2.0, 0), (3.2, 100)])
    ends = {(p, s): e for p, s, e, _ in sounding_ends(pm)}
    assert ends[(60, 0.0)] == pytest.approx(1.0)  # pedalled, cut by its own re-strike
    assert ends[(60, 1.0)] == pytest.approx(2.0)  # the pedal's release
    assert ends[(64, 0.0)] == pytest.approx(2.0)
    assert ends[(67, 3.0)] == float("inf")  # pedal never lifted: rings to the end of the audio


def test_each_seed_is_its_own_piano():
    a, b = random_piano(np.random.default_rng(0)), random_piano(np.random.default_rng(0))
    c = random_piano(np.random.default_rng(1))
    assert a == b and a != c
    assert json.loads(json.dumps(a.to_json()))["inharmonicity"] == pytest.approx(a.inharmonicity, rel=1e-3)
    pm = _pm([(60, 0.1, 0.6, 80), (64, 0.3, 0.9, 60)])
    assert np.array_equal(render(pm, a, SR, seed=5), render(pm, b, SR, seed=5))
    assert not np.allclose(render(pm, a, SR, seed=5), render(pm, c, SR, seed=5))


def test_make_dataset_renders_procedural_pianos(tmp_path, capsys):
    from sound2sheet.cli import main as cli_main
    from sound2sheet.data.manifest import read_manifest

    midi = tmp_path / "piece.mid"
    _pm([(48 + i, 0.2 + 0.25 * i, 0.6 + 0.25 * i, 70) for i in range(8)]).write(str(midi))
    out = tmp_path / "set"
    args = ["make-dataset", "--out", str(out), "--midi", str(midi), "--soundfont", "procedural",
            "--midi-renders", "2", "--augment", "none", "--jobs", "1", "--val-fraction", "0", "--test-fraction", "0"]
    assert cli_main(args) == 0
    assert "2 items" in capsys.readouterr().out
    items = read_manifest(out, "train")
    assert {i.timbre for i in items} == {"procedural"} and len(items) == 2
    pianos = [i.extra["augmentation"]["piano"] for i in items]
    assert pianos[0] != pianos[1]  # every render is a new piano, recorded with the item


def test_float32_sines_keep_their_phase_over_long_notes():
    from sound2sheet.data.procedural import _sine

    c, n = 3951.07 / SR, 20 * SR  # B7 for 20 s: a float32 phase would be ~0.1 rad off by the end
    exact = np.sin(2 * np.pi * (c * np.arange(n) + 0.3))
    assert np.max(np.abs(_sine(c, n, 0.3) - exact)) < 2e-3


def test_the_soundboard_weakens_bass_fundamentals():
    piano = _piano(radiation_hz=200.0, rolloff=1.0, velocity_brightness=0.0, strike_position=0.13)
    audio = render(_pm([(33, 0.1, 2.1, 100)]), piano, SR)  # A1, 55 Hz
    spectrum = np.abs(np.fft.rfft(audio[int(0.15 * SR):int(1.15 * SR)]))
    freqs = np.fft.rfftfreq(SR, 1 / SR)

    def level(f):
        return spectrum[(freqs > f - 10) & (freqs < f + 10)].max()

    assert level(55 * 4) > 3 * level(55)  # the 4th partial above the fundamental, as on a real bass string
