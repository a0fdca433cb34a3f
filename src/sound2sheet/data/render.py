"""MIDI -> audio with FluidSynth and a piano soundfont.

Rendering uses FluidSynth's float output (``fluid_synth_write_float``), not pyfluidsynth's
int16 path, so dense pedalled chords do not clip and no dither makes two renders differ.
FluidSynth's own reverb and chorus are off: room and colour are augmentation choices
(:mod:`sound2sheet.data.augment`), recorded per item. Every note plays on one channel
(a piano), sustain/soft/sostenuto pedals included.
"""

from __future__ import annotations

import ctypes

import numpy as np

from sound2sheet.data.soundfonts import SoundfontSpec
from sound2sheet.errors import Sound2SheetError

RENDER_RATE = 44100  # render at a rate the fonts were sampled for, then resample
TAIL_SECONDS = 1.0  # audio continues this long after the MIDI's last event (releases ring out)
_BLOCK = 4096
_PEDAL_CCS = (64, 66, 67)  # sustain, sostenuto, soft


def _load_fluidsynth():
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:
        raise Sound2SheetError(
            f"FluidSynth is not available ({exc}); install the library (apt-get install libfluidsynth3) "
            "and the binding (pip install pyfluidsynth)"
        ) from None
    return fluidsynth


def _events(pm) -> list[tuple[float, int, int, int, int]]:
    """``(time, order, kind, a, b)`` sorted; at equal times note-offs come before note-ons."""
    events = []
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        for n in inst.notes:
            events.append((n.start, 2, 1, n.pitch, n.velocity))
            events.append((n.end, 0, 0, n.pitch, 0))
        for cc in inst.control_changes:
            if cc.number in _PEDAL_CCS:
                events.append((cc.time, 1, 2, cc.number, cc.value))
    events.sort()
    return events


def render(pm, spec: SoundfontSpec, sample_rate: int = RENDER_RATE, tail: float = TAIL_SECONDS) -> np.ndarray:
    """Mono float32 audio of ``pm`` played by ``spec``, ``pm.get_end_time() + tail`` long."""
    return render_zones(pm, [spec], np.zeros(128, dtype=np.int64), [None], sample_rate, tail)


def render_zones(pm, specs: list[SoundfontSpec], zone_of_pitch: np.ndarray, volumes: list[int | None],
                 sample_rate: int = RENDER_RATE, tail: float = TAIL_SECONDS) -> np.ndarray:
    """Like :func:`render`, with pitch ``p`` played by ``specs[zone_of_pitch[p]]`` at channel
    volume ``volumes[zone_of_pitch[p]]`` (CC7; None keeps the synth's default, 100). Pedals
    reach every zone. One synth, one pass: zone ``i`` is MIDI channel ``ZONE_CHANNELS[i]``
    (:mod:`sound2sheet.data.chimera`). ``zone_of_pitch`` may be ``[layers, 128]``: a pitch then
    sounds on every row's zone at once, -1 meaning none in that row (layered chimeras)."""
    from sound2sheet.data.chimera import ZONE_CHANNELS

    if not specs or len(specs) != len(volumes) or len(specs) > len(ZONE_CHANNELS):
        raise ValueError(f"render_zones: 1-{len(ZONE_CHANNELS)} zones, one volume each")
    routes = np.atleast_2d(np.asarray(zone_of_pitch, dtype=np.int64))
    if routes.shape[1] != 128 or routes.max() >= len(specs) or np.any(routes[0] < 0):
        raise ValueError("render_zones: zone_of_pitch must give every pitch a zone among specs")
    fluidsynth = _load_fluidsynth()
    write_float = fluidsynth.cfunc(
        "fluid_synth_write_float", ctypes.c_int,
        ("synth", ctypes.c_void_p, 1), ("len", ctypes.c_int, 1),
        ("lout", ctypes.c_void_p, 1), ("loff", ctypes.c_int, 1), ("lincr", ctypes.c_int, 1),
        ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1), ("rincr", ctypes.c_int, 1),
    )
    synth = fluidsynth.Synth(gain=0.5, samplerate=float(sample_rate))
    try:
        for key, value in (("synth.reverb.active", 0), ("synth.chorus.active", 0), ("synth.polyphony", 1024)):
            synth.setting(key, value)
        loaded: dict[str, int] = {}  # one load per file, however many zones use it
        channels = list(ZONE_CHANNELS[:len(specs)])
        for channel, spec, volume in zip(channels, specs, volumes):
            if str(spec.path) not in loaded:
                loaded[str(spec.path)] = synth.sfload(str(spec.path))
            sfid = loaded[str(spec.path)]
            if sfid < 0:
                raise Sound2SheetError(f"FluidSynth cannot load soundfont {spec.path}")
            if synth.program_select(channel, sfid, spec.bank, spec.program) != 0:
                raise Sound2SheetError(f"soundfont {spec.path.name} has no preset {spec.bank}:{spec.program}")
            if volume is not None:
                synth.cc(channel, 7, int(volume))
        channel_of = [[channels[z] for z in row if z >= 0] for row in routes.T]  # pitch -> its channels
        total = int(round((pm.get_end_time() + tail) * sample_rate))
        out = np.zeros((total, 2), dtype=np.float32)
        cursor = 0

        def advance(until: int) -> None:
            nonlocal cursor
            while cursor < until:
                n = min(_BLOCK, until - cursor)
                chunk = out[cursor:cursor + n]
                ptr = chunk.ctypes.data
                write_float(synth.synth, n, ptr, 0, 2, ptr, 1, 2)
                cursor += n

        for time, _, kind, a, b in _events(pm):
            advance(min(total, int(round(time * sample_rate))))
            if kind == 1:
                for channel in channel_of[a]:
                    synth.noteon(channel, a, b)
            elif kind == 0:
                for channel in channel_of[a]:
                    synth.noteoff(channel, a)
            else:
                for channel in channels:
                    synth.cc(channel, a, b)
        advance(total)
    finally:
        synth.delete()
    return out.mean(axis=1)
