"""Sustain pedal: labels from CC64, the pedal-holding decoder, and the zero-initialised pedal head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sound2sheet.decoding import StreamingDecoder, decode_notes
from sound2sheet.labels import pedal_roll
from sound2sheet.midi import apply_sustain, notes_to_pretty_midi, read_pedal_intervals
from sound2sheet.model import DataConfig, InferenceConfig, Sound2SheetModel
from sound2sheet.model.dataset import PianoDataset, collate_batch
from sound2sheet.notes import NoteEvent
from tests.conftest import tiny_model_config

HOP = 0.01


def test_pedal_roll_follows_the_note_frame_rule_and_crops_are_rows_of_the_whole():
    intervals = [(0.104, 0.5), (1.0, 1.236)]
    whole = pedal_roll(intervals, 200, HOP)
    assert whole.dtype == np.float32 and whole.shape == (200,)
    assert np.flatnonzero(whole).tolist() == list(range(10, 50)) + list(range(100, 124))
    np.testing.assert_array_equal(pedal_roll(intervals, 60, HOP, start_frame=30), whole[30:90])
    assert not pedal_roll([], 10, HOP).any() and pedal_roll(intervals, 0, HOP).shape == (0,)


def test_pedal_intervals_are_read_from_cc64_and_merged_across_tracks(tmp_path):
    import pretty_midi

    pm = notes_to_pretty_midi([NoteEvent(60, 0.0, 3.0, 80)], pedal=[(0.5, 1.0), (2.0, 2.5)])
    second = pretty_midi.Instrument(0)
    second.notes.append(pretty_midi.Note(70, 72, 0.0, 3.0))
    second.control_changes += [pretty_midi.ControlChange(64, 100, 0.8), pretty_midi.ControlChange(64, 10, 1.5)]
    pm.instruments.append(second)
    pm.write(str(tmp_path / "p.mid"))
    got = read_pedal_intervals(tmp_path / "p.mid")
    assert [(round(a, 3), round(b, 3)) for a, b in got] == [(0.5, 1.5), (2.0, 2.5)]
    notes_to_pretty_midi([NoteEvent(60, 0.0, 1.0, 80)]).write(str(tmp_path / "none.mid"))
    assert read_pedal_intervals(tmp_path / "none.mid") == []


def _probs(notes, n_frames, keys=88):
    """Clean probabilities for ``notes`` (onset peak on the onset frame, frame on while held)."""
    frame = np.zeros((n_frames, keys), np.float32)
    onset = np.zeros_like(frame)
    for n in notes:
        a, b = round(n.onset / HOP), round(n.offset / HOP)
        frame[a:b, n.pitch - 21] = 0.9
        onset[a, n.pitch - 21] = 0.95
    return frame, onset


def test_the_decoder_holds_notes_while_the_pedal_is_down_like_apply_sustain():
    played = [NoteEvent(60, 0.10, 0.40, None), NoteEvent(64, 0.20, 0.30, None), NoteEvent(67, 1.50, 1.70, None),
              NoteEvent(60, 0.80, 1.00, None)]  # key 60 re-struck under the pedal
    intervals = [(0.25, 1.20)]
    frame, onset = _probs(played, 250)
    pedal = pedal_roll(intervals, 250, HOP)
    kw = dict(hop_s=HOP, frame_threshold=0.5, onset_threshold=0.5, median_filter_size=1, min_duration_s=0.0)
    held = decode_notes(frame, onset, pedal=pedal * 0.8 + 0.1, **kw)
    expected = apply_sustain(played, intervals)
    assert [(n.pitch, round(n.onset, 2), round(n.offset, 2)) for n in held] == \
        [(n.pitch, round(n.onset, 2), round(n.offset, 2)) for n in expected]
    assert [(n.pitch, round(n.offset, 2)) for n in held] == [(60, 0.8), (64, 1.2), (60, 1.2), (67, 1.7)]
    plain = decode_notes(frame, onset, **kw)
    assert [round(n.offset, 2) for n in plain] == [0.4, 0.3, 1.0, 1.7]  # no pedal: as played
    # a pedal that never reaches the threshold changes nothing
    assert decode_notes(frame, onset, pedal=np.full(250, 0.4), **kw) == plain
    # frame-only decoding ignores the pedal
    assert decode_notes(frame, None, pedal=pedal, **kw) == decode_notes(frame, None, **kw)


def test_a_short_pedal_lift_ends_held_notes_even_with_the_dip_bridge():
    # Pianists change the pedal with a lift of a few frames; the dip bridge is for the frame
    # head's dips, so it must not carry a pedal-held note across the lift.
    played = [NoteEvent(60, 0.10, 0.40, None), NoteEvent(64, 1.40, 1.60, None)]
    intervals = [(0.25, 1.20), (1.25, 2.0)]
    frame, onset = _probs(played, 250)
    pedal = pedal_roll(intervals, 250, HOP)
    kw = dict(hop_s=HOP, frame_threshold=0.5, onset_threshold=0.5, median_filter_size=1, min_duration_s=0.0)
    expected = [(n.pitch, round(n.onset, 2), round(n.offset, 2)) for n in apply_sustain(played, intervals)]
    assert expected == [(60, 0.1, 1.2), (64, 1.4, 2.0)]
    for gap in (0.0, 0.15):
        held = decode_notes(frame, onset, pedal=pedal, max_gap_s=gap, **kw)
        assert [(n.pitch, round(n.onset, 2), round(n.offset, 2)) for n in held] == expected


@pytest.mark.parametrize("block", [1, 7, 64])
def test_streaming_with_pedal_equals_whole_clip(block):
    rng = np.random.default_rng(3)
    frame = rng.uniform(0, 1, (400, 88)).astype(np.float32) ** 3
    onset = rng.uniform(0, 1, (400, 88)).astype(np.float32) ** 8
    pedal = (np.sin(np.arange(400) / 23.0) > 0).astype(np.float32)
    kw = dict(hop_s=HOP, frame_threshold=0.5, onset_threshold=0.5, median_filter_size=3, min_duration_s=0.03,
              min_reonset_s=0.05)
    whole = decode_notes(frame, onset, pedal=pedal, **kw)
    assert whole != decode_notes(frame, onset, **kw)
    dec = StreamingDecoder(**kw)
    notes = []
    for i in range(0, 400, block):
        notes += dec.push(frame[i:i + block], onset[i:i + block], None, pedal[i:i + block, None])
    notes += dec.finish()
    assert sorted(notes, key=lambda n: (n.onset, n.pitch)) == whole


def test_inference_config_pedal_fields():
    kw = InferenceConfig(pedal_threshold=0.3).decoder_kwargs(HOP, 21)
    assert kw["pedal_threshold"] == 0.3
    with pytest.raises(ValueError, match="pedal_threshold"):
        InferenceConfig(pedal_threshold=1.0)


def test_a_pedal_head_starts_up_and_warm_starts_a_model_without_one_unchanged():
    from sound2sheet.model.classifier import PEDAL_PRIOR_LOGIT

    torch.manual_seed(0)
    for refine in (0, 2):
        old = Sound2SheetModel(tiny_model_config(refine_layers=refine, refine_dim=16)).eval()
        new = Sound2SheetModel(tiny_model_config(refine_layers=refine, refine_dim=16, pedal_head=True)).eval()
        missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
        assert sorted(missing) == ["classifier.pedal.bias", "classifier.pedal.weight"] and not unexpected
        mel = torch.randn(2, 128, 300)
        with torch.no_grad():
            a, b = old.forward_heads(mel), new.forward_heads(mel)
        assert set(b) == set(a) | {"pedal"} and b["pedal"].shape == (2, 300, 1)
        for head in a:
            torch.testing.assert_close(a[head], b[head])
        assert torch.all(b["pedal"] == PEDAL_PRIOR_LOGIT)
        cfg = InferenceConfig(classification_threshold=0.45, onset_threshold=0.45)
        assert new.decode(new.probabilities(mel), cfg) == old.decode(old.probabilities(mel), cfg)
        # ...and the head is wired: its gradient is non-zero at once
        new.train()
        new.forward_heads(mel)["pedal"].sum().backward()
        assert new.classifier.pedal.weight.grad.abs().sum() > 0


def test_dataset_items_carry_the_pedal_roll(tmp_path):
    import soundfile as sf

    from sound2sheet.data.manifest import ManifestItem, write_manifest
    from sound2sheet.data.synth import synthesize

    notes = [NoteEvent(60, 0.2, 0.5, 90), NoteEvent(67, 1.0, 1.3, 90)]
    (tmp_path / "audio").mkdir()
    (tmp_path / "midi").mkdir()
    sf.write(tmp_path / "audio" / "a.flac", synthesize(notes, 16000, duration=2.0), 16000)
    notes_to_pretty_midi(notes, pedal=[(0.4, 1.6)]).write(str(tmp_path / "midi" / "a.mid"))
    write_manifest(tmp_path, "train", [ManifestItem(audio="audio/a.flac", midi="midi/a.mid")])
    ds = PianoDataset(DataConfig(dataset_dir=tmp_path), "train", crop_frames=128)
    assert len(ds) == 2
    first, second = ds[0], ds[1]  # frames 0-127, and the last 128 of the file's 198: 70-197
    assert first["pedal_roll"].shape == second["pedal_roll"].shape == (128,)
    assert np.flatnonzero(first["pedal_roll"].numpy()).tolist() == list(range(40, 128))
    assert second["start_frame"] == 70 and second["n_frames"] == 128
    assert np.flatnonzero(second["pedal_roll"].numpy()).tolist() == list(range(0, 90))  # frames 70-159
    batch = collate_batch([first, second])
    assert batch["pedal_roll"].shape == (2, 128)


def test_collate_pads_the_pedal_roll_with_up():
    items = [{"mel": torch.zeros(4, n), "piano_roll": torch.zeros(n, 88), "onset_roll": torch.zeros(n, 88),
              "velocity_roll": torch.zeros(n, 88), "pedal_roll": torch.ones(n), "audio_path": "x",
              "n_frames": n, "start_frame": 0} for n in (100, 128)]
    batch = collate_batch(items)
    assert batch["pedal_roll"].shape == (2, 128)
    assert batch["pedal_roll"][0, :100].all() and not batch["pedal_roll"][0, 100:].any()


def test_a_tiny_model_learns_the_pedal_from_the_audio(tmp_path):
    """Pedal down exactly while a held chord rings, up in the silences: after training, the
    pedal head (and the loss) must follow the audio, which the bias alone cannot do."""
    from sound2sheet.data.manifest import ManifestItem, write_manifest
    from sound2sheet.data.synth import synthesize
    from sound2sheet.model import Trainer
    from sound2sheet.model.dataset import create_dataloaders
    from tests.conftest import training_config

    import soundfile as sf

    (tmp_path / "audio").mkdir()
    (tmp_path / "midi").mkdir()
    items = []
    for i, spans in enumerate([[(0.3, 1.2), (2.0, 2.6)], [(0.8, 1.6), (1.9, 2.4)]]):
        notes = [NoteEvent(p, a, b, 100) for a, b in spans for p in (48, 55, 60, 64)]
        sf.write(tmp_path / "audio" / f"c{i}.flac", synthesize(notes, 16000, duration=2.9, seed=i), 16000)
        notes_to_pretty_midi(notes, pedal=spans).write(str(tmp_path / "midi" / f"c{i}.mid"))
        items.append(ManifestItem(audio=f"audio/c{i}.flac", midi=f"midi/c{i}.mid"))
    write_manifest(tmp_path, "train", items)
    write_manifest(tmp_path, "val", items)
    mc = tiny_model_config(pedal_head=True)
    dc = DataConfig(dataset_dir=tmp_path, crop_seconds=2.56)
    tc = training_config(tmp_path / "ckpt", num_epochs=12, batch_size=2, learning_rate=3e-3, lr_schedule="constant")
    train, val, _ = create_dataloaders(dc, mc, tc)
    torch.manual_seed(0)
    model = Sound2SheetModel(mc)
    Trainer(model, train, val, mc, tc, dc).train()
    ds = val.dataset
    for i in range(len(ds)):
        item = ds[i]
        probs = model.probabilities(item["mel"].unsqueeze(0))["pedal"][0, :, 0]
        down = item["pedal_roll"].numpy() > 0.5
        inner_down = down & np.roll(down, 5) & np.roll(down, -5)  # away from the edges
        inner_up = ~down & ~np.roll(down, 5) & ~np.roll(down, -5)
        assert probs[inner_down].mean() > 0.7 and probs[inner_up].mean() < 0.3


def test_chunked_transcription_with_a_pedal_head_equals_decoding_the_whole_file():
    from sound2sheet.core.audio import AudioProcessor
    from sound2sheet.inference import Transcriber

    torch.manual_seed(1)
    model = Sound2SheetModel(tiny_model_config(refine_layers=2, refine_dim=16, pedal_head=True)).eval()
    with torch.no_grad():  # outputs that vary: notes come and go, the pedal goes up and down
        model.classifier.out.bias.zero_()
        model.classifier.pedal.weight.normal_(0, 2.0)
        model.classifier.pedal.bias.zero_()
    model.data_config = DataConfig()
    audio = np.random.default_rng(2).normal(0, 0.1, int(16000 * 9.0)).astype(np.float32)
    mel = AudioProcessor.from_config(model.data_config).to_mel_spectrogram(audio)
    probs = model.probabilities(mel)
    # thresholds from the outputs: some frames on, a few onset peaks, half the frames pedalled
    levels = dict(classification_threshold=float(np.quantile(probs["frame"], 0.7)),
                  onset_threshold=float(np.quantile(probs["onset"], 0.995)))
    middle = float(np.median(probs["pedal"]))
    cfg = InferenceConfig(**levels, pedal_threshold=middle, normalize_peak=0.0)  # the whole-file pass is not normalised
    assert 0.3 < (probs["pedal"] >= middle).mean() < 0.7
    whole = model.decode(probs, cfg)[0]
    no_pedal = model.decode(probs, InferenceConfig(**levels, use_pedal=False))[0]
    assert whole and whole != no_pedal
    chunked = Transcriber(model, cfg, chunk_frames=200).transcribe_array(audio, 16000).notes
    assert [(n.pitch, round(n.onset, 2), round(n.offset, 2)) for n in chunked] == \
        [(n.pitch, round(n.onset, 2), round(n.offset, 2)) for n in whole]


def test_a_detached_pedal_stack_leaves_the_note_heads_alone():
    """``pedal_dim``: its own stack starts "up", warm-starts a model without one unchanged, and
    its loss sends no gradient into the features the note heads share."""
    from sound2sheet.model.classifier import PEDAL_PRIOR_LOGIT

    torch.manual_seed(0)
    old = Sound2SheetModel(tiny_model_config(refine_layers=2, refine_dim=16)).eval()
    new = Sound2SheetModel(tiny_model_config(refine_layers=2, refine_dim=16, pedal_head=True, pedal_dim=8)).eval()
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert missing and all(k.startswith("classifier.pedal_net.") for k in missing) and not unexpected
    mel = torch.randn(2, 128, 300)
    with torch.no_grad():
        a, b = old.forward_heads(mel), new.forward_heads(mel)
    for head in a:
        torch.testing.assert_close(a[head], b[head])
    assert b["pedal"].shape == (2, 300, 1) and torch.all(b["pedal"] == PEDAL_PRIOR_LOGIT)
    new.train()
    new.forward_heads(mel)["pedal"].sum().backward()
    grads = {n: p.grad for n, p in new.named_parameters()}
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("classifier.pedal_net."))
    assert all(g is None or not g.any() for n, g in grads.items() if not n.startswith("classifier.pedal_net."))
    with pytest.raises(ValueError, match="pedal_dim"):
        tiny_model_config(pedal_head=True, pedal_dim=8)  # no refiner to take the shape of


def test_only_the_chosen_pieces_pedal_labels_train_the_head_and_train_only_freezes_the_rest(tmp_path):
    import soundfile as sf

    from sound2sheet.data.manifest import ManifestItem, write_manifest
    from sound2sheet.data.synth import synthesize
    from sound2sheet.model import Trainer
    from sound2sheet.model.dataset import create_dataloaders
    from tests.conftest import training_config

    (tmp_path / "audio").mkdir()
    (tmp_path / "midi").mkdir()
    items = []
    for name in ("Maestro_2", "bach"):
        notes = [NoteEvent(60, 0.2, 0.5, 90), NoteEvent(67, 1.0, 1.3, 90)]
        sf.write(tmp_path / "audio" / f"{name}.flac", synthesize(notes, 16000, duration=1.3), 16000)
        notes_to_pretty_midi(notes, pedal=[(0.4, 1.2)]).write(str(tmp_path / "midi" / f"{name}.mid"))
        items.append(ManifestItem(audio=f"audio/{name}.flac", midi=f"midi/{name}.mid", piece=name))
    write_manifest(tmp_path, "train", items)
    dc = DataConfig(dataset_dir=tmp_path, crop_seconds=1.28, pedal_pieces=r"^Maestro_\d+$")
    ds = PianoDataset(dc, "train", crop_frames=128)
    assert [ds[i]["pedal_weight"] for i in range(len(ds))] == [1.0, 0.0]
    assert PianoDataset(DataConfig(dataset_dir=tmp_path), "train", crop_frames=128)[1]["pedal_weight"] == 1.0
    with pytest.raises(ValueError, match="pedal_pieces"):
        DataConfig(pedal_pieces="(")

    mc = tiny_model_config(refine_layers=2, refine_dim=16, pedal_head=True, pedal_dim=8)
    tc = training_config(tmp_path / "ckpt", num_epochs=1, batch_size=2, train_only=["classifier.pedal_net"])
    train, _, _ = create_dataloaders(dc, mc, tc)
    model = Sound2SheetModel(mc)
    trainer = Trainer(model, train, None, mc, tc, dc)
    batch = collate_batch([ds[0], ds[1]])
    heads = model.forward_heads(batch["mel"])
    # the masked loss is the pedal BCE of the weighted item alone
    pedal_only = torch.nn.functional.binary_cross_entropy_with_logits(heads["pedal"][0, :, 0], batch["pedal_roll"][0])
    got = trainer.compute_loss(heads, batch)[1]["pedal"]
    assert got == pytest.approx(float(pedal_only.detach()) * tc.pedal_loss_weight, rel=1e-5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.train()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith("classifier.pedal_net.") for n in changed)
    with pytest.raises(ValueError, match="train_only"):
        Trainer(Sound2SheetModel(mc), train, None, mc,
                training_config(tmp_path / "c2", train_only=["nothing.here"]), dc)
