import numpy as np
import pytest

from sound2sheet.data.generate import generate_piece, generate_pieces
from sound2sheet.data.music21_source import corpus_paths, piece_id, score_to_midi


def _notes(pm):
    return sorted((n.start, n.pitch, n.end, n.velocity) for i in pm.instruments for n in i.notes)


def _key_spans(pm) -> list[list[tuple[float, float]]]:
    """Each key's (start, end) spans in time order, checked never to overlap."""
    by_key: dict[int, list] = {}
    for start, pitch, end, _ in _notes(pm):
        by_key.setdefault(pitch, []).append((start, end))
    for spans in by_key.values():
        for (_, e0), (s1, _) in zip(spans, spans[1:]):
            assert s1 >= e0  # one key never sounds twice at once
    return list(by_key.values())


@pytest.fixture(scope="module")
def pieces():
    return generate_pieces(8, seed=0, duration=60.0)


def test_generation_is_deterministic():
    a = generate_piece(np.random.default_rng(5), 30.0)
    b = generate_piece(np.random.default_rng(5), 30.0)
    c = generate_piece(np.random.default_rng(6), 30.0)
    assert _notes(a) == _notes(b) and _notes(a) != _notes(c)


def test_generated_pieces_cover_the_keyboard_and_dynamics(pieces):
    pitches = {n[1] for pm in pieces for n in _notes(pm)}
    assert pitches == set(range(21, 109))
    velocities = [n[3] for pm in pieces for n in _notes(pm)]
    assert min(velocities) < 35 and max(velocities) > 110
    for pm in pieces:
        assert 50.0 <= pm.get_end_time() <= 63.0


def test_generated_pieces_have_pedal_repeated_notes_and_no_key_overlap(pieces):
    assert sum(1 for pm in pieces for cc in pm.instruments[0].control_changes if cc.number == 64) >= 4
    fast_repeats = 0
    for pm in pieces:
        for spans in _key_spans(pm):
            starts = np.array([s for s, _ in spans])
            if len(starts) >= 8 and np.any(starts[7:] - starts[:-7] <= 1.0):
                fast_repeats += 1
    assert fast_repeats >= 1  # some key is struck >= 8 times within one second


def test_music21_corpus_query():
    paths = corpus_paths("bach", limit=3)
    assert len(paths) == 3 and all("bach" in p.lower() for p in paths)
    assert piece_id(paths[0]).startswith("bach_")


def test_music21_export_is_humanised_piano():
    path = next(p for p in corpus_paths("bwv66.6"))
    a = score_to_midi(path, np.random.default_rng(0), max_seconds=60.0)
    b = score_to_midi(path, np.random.default_rng(0), max_seconds=60.0)
    assert a is not None and _notes(a) == _notes(b)
    notes = _notes(a)
    assert len(a.instruments) == 1 and a.instruments[0].program == 0 and len(notes) > 50
    assert all(21 <= n[1] <= 108 for n in notes)
    assert len({n[3] for n in notes}) > 10  # velocities vary
    onsets = np.array([n[0] for n in notes])
    chord_spread = [np.ptp(onsets[(onsets >= t - 0.05) & (onsets < t + 0.05)]) for t in onsets[:40]]
    assert max(chord_spread) > 0.001  # voices of a chord are no longer exactly together
    assert score_to_midi("/nonexistent/score.xml", np.random.default_rng(0)) is None


def test_repeats_style_writes_restrikes_at_performance_speed():
    pieces = generate_pieces(4, seed=0, duration=60.0, style="repeats")
    mixed = generate_pieces(4, seed=0, duration=60.0)

    def restrikes(pms):
        return sum(0.14 <= s1 - s0 <= 0.4 for pm in pms for spans in _key_spans(pm)
                   for (s0, _), (s1, _) in zip(spans, spans[1:]))

    assert restrikes(pieces) > 3 * restrikes(mixed)
    assert {n[1] for pm in pieces for n in _notes(pm)} >= set(range(30, 90))  # not one register only
    assert _notes(generate_pieces(1, seed=0, style="repeats")[0]) == _notes(pieces[0])


def test_unknown_generator_style_is_refused():
    with pytest.raises(ValueError, match="unknown generator style"):
        generate_piece(np.random.default_rng(0), 10.0, style="fugue")


def test_generated_piece_ids_name_their_style():
    from sound2sheet.data.build import generated_pieces

    assert [p.id for p in generated_pieces(2)] == ["gen_00000", "gen_00001"]
    assert [(p.id, p.ref) for p in generated_pieces(1, "repeats")] == [("gen_repeats_00000", "repeats")]
    assert {p.split for p in generated_pieces(3)} == {"train"} and {p.split for p in generated_pieces(3, split="val")} == {"val"}
