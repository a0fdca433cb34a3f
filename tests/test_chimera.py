"""Chimera pianos: zones cover the keyboard, each note sounds in its zone's font and level,
and ``make-dataset --soundfont chimera`` records the zones it drew."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from sound2sheet.data.chimera import HIGHEST, LOWEST, ZONE_CHANNELS, channel_plan, random_zones, zone_of_pitch

TIMGM = str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")


@pytest.mark.parametrize("seed", range(20))
def test_zones_tile_the_keyboard(seed):
    zones = random_zones(np.random.default_rng(seed), n_fonts=3)
    assert 2 <= len(zones) <= 6
    assert zones[0].low == LOWEST and zones[-1].high == HIGHEST
    assert all(a.high + 1 == b.low for a, b in zip(zones, zones[1:]))  # contiguous, no overlap
    assert all(z.high - z.low + 1 >= 6 for z in zones)
    assert all(a.font != b.font for a, b in zip(zones, zones[1:]))  # neighbours differ when the pool allows
    assert all(1 <= z.volume <= 127 for z in zones)
    lookup = zone_of_pitch(zones)
    for i, z in enumerate(zones):
        assert set(lookup[z.low:z.high + 1]) == {i}


def test_zones_follow_the_seed_and_one_font_is_allowed():
    a = random_zones(np.random.default_rng(7), 4)
    assert a == random_zones(np.random.default_rng(7), 4)
    assert a != random_zones(np.random.default_rng(8), 4)
    assert {z.font for z in random_zones(np.random.default_rng(0), 1)} == {0}
    with pytest.raises(ValueError):
        random_zones(np.random.default_rng(0), 0)


@pytest.mark.parametrize("seed", range(10))
def test_layered_zones_fit_the_channels_and_route_each_pitch_twice(seed):
    zones = random_zones(np.random.default_rng(seed), n_fonts=3, layer_prob=1.0)
    assert 2 <= len(zones) <= len(ZONE_CHANNELS) // 2
    assert all(z.layer >= 0 and z.layer != z.font and 1 <= z.layer_volume <= 127 for z in zones)
    fonts, volumes, routes = channel_plan(zones)
    assert len(fonts) == len(volumes) == 2 * len(zones) <= len(ZONE_CHANNELS)
    for i, z in enumerate(zones):
        main, layer = routes[0, z.low], routes[1, z.low]
        assert main == i and fonts[main] == z.font and volumes[main] == z.volume
        assert fonts[layer] == z.layer and volumes[layer] == z.layer_volume
        assert set(routes[1, z.low:z.high + 1]) == {layer}


def test_layers_off_draw_what_chimeras_always_drew():
    plain = random_zones(np.random.default_rng(3), 8)
    assert random_zones(np.random.default_rng(3), 8, layer_prob=0.0) == plain
    fonts, volumes, routes = channel_plan(plain)
    assert fonts == [z.font for z in plain] and set(routes[1]) == {-1}
    some = random_zones(np.random.default_rng(3), 8, layer_prob=0.5)
    assert len(some) <= 4
    with pytest.raises(ValueError):
        random_zones(np.random.default_rng(0), 3, layer_prob=1.5)


def _two_notes() -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(0)
    inst.notes += [pretty_midi.Note(100, 40, 0.1, 0.6), pretty_midi.Note(100, 80, 1.1, 1.6)]
    pm.instruments.append(inst)
    return pm


def test_each_note_sounds_at_its_zone_level():
    pytest.importorskip("fluidsynth", reason="pyfluidsynth / libfluidsynth missing", exc_type=ImportError)
    from sound2sheet.data.chimera import Zone
    from sound2sheet.data.render import RENDER_RATE, render, render_zones
    from sound2sheet.data.soundfonts import parse_spec

    spec = parse_spec(TIMGM)
    pm = _two_notes()
    plain = render(pm, spec)
    zones = [Zone(21, 60, 0, 127), Zone(61, 108, 0, 32)]  # the upper zone 40 log10(32/127) = -24 dB
    mixed = render_zones(pm, [spec, spec], zone_of_pitch(zones), [z.volume for z in zones])
    assert mixed.shape == plain.shape

    def rms(x, t0, t1):
        return float(np.sqrt(np.mean(x[int(t0 * RENDER_RATE):int(t1 * RENDER_RATE)] ** 2)))

    low_ratio = rms(mixed, 0.1, 0.6) / rms(plain, 0.1, 0.6)
    high_ratio = rms(mixed, 1.1, 1.6) / rms(plain, 1.1, 1.6)
    # Default CC7 is 100, so 127 is +4 dB and 32 is -20 dB against the plain render.
    assert 20 * np.log10(low_ratio) == pytest.approx(4.2, abs=1.0)
    assert 20 * np.log10(high_ratio) == pytest.approx(-19.9, abs=2.0)


def test_a_layer_sounds_with_its_zone():
    pytest.importorskip("fluidsynth", reason="pyfluidsynth / libfluidsynth missing", exc_type=ImportError)
    from sound2sheet.data.chimera import Zone
    from sound2sheet.data.render import render_zones
    from sound2sheet.data.soundfonts import parse_spec

    spec = parse_spec(TIMGM)
    pm = _two_notes()
    single = [Zone(21, 108, 0, 100)]
    layered = [Zone(21, 108, 0, 100, layer=1, layer_volume=100)]
    one = render_zones(pm, [spec], *channel_plan(single)[2:], [100])
    fonts, volumes, routes = channel_plan(layered)
    two = render_zones(pm, [spec for _ in fonts], routes, volumes)
    # The same font on both channels: the layer doubles every sample, no more and no less.
    np.testing.assert_allclose(two, 2 * one, atol=1e-4)
    with pytest.raises(ValueError):
        render_zones(pm, [spec], routes, [100])  # a route to a channel that has no font


def test_make_dataset_renders_chimeras(tmp_path, capsys):
    pytest.importorskip("fluidsynth", reason="pyfluidsynth / libfluidsynth missing", exc_type=ImportError)
    from sound2sheet.cli import main as cli_main

    midi = tmp_path / "midi"
    midi.mkdir()
    _two_notes().write(str(midi / "piece.mid"))
    out = tmp_path / "ds"
    args = ["make-dataset", "--out", str(out), "--midi", str(midi), "--soundfont", "chimera",
            "--augment", "none", "--val-fraction", "0", "--test-fraction", "0", "--jobs", "1"]
    assert cli_main(args) == 2
    assert "--chimera-fonts" in capsys.readouterr().err
    assert cli_main([*args, "--chimera-fonts", TIMGM, f"{TIMGM}:0:1"]) == 0
    marker = json.loads(next((out / "items").glob("*.json")).read_text())
    assert marker["timbre"] == "chimera" and marker["id"].endswith("--chimera--r0")
    zones = marker["augmentation"]["chimera"]
    assert zones[0]["low"] == LOWEST and zones[-1]["high"] == HIGHEST
    assert {z["font"] for z in zones} <= {"TimGM6mb-0-0", "TimGM6mb-0-1"}
    held_out = tmp_path / "MuseScore_General.sf2"
    held_out.write_bytes(Path(TIMGM).read_bytes())
    assert cli_main([*args[:2], str(tmp_path / "ds2"), *args[3:], "--chimera-fonts", TIMGM, str(held_out)]) == 2
    assert "held-out timbre" in capsys.readouterr().err
    layered = tmp_path / "ds3"
    assert cli_main([*args[:2], str(layered), *args[3:], "--chimera-fonts", TIMGM, f"{TIMGM}:0:1",
                     "--chimera-layers", "1"]) == 0
    zones = json.loads(next((layered / "items").glob("*.json")).read_text())["augmentation"]["chimera"]
    assert all({z["font"], z["layer"]} == {"TimGM6mb-0-0", "TimGM6mb-0-1"} for z in zones)
    assert cli_main([*args[:2], str(tmp_path / "ds4"), *args[3:], "--chimera-fonts", TIMGM, "--chimera-layers", "2"]) == 2
    assert "--chimera-layers" in capsys.readouterr().err
