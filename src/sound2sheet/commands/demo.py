"""``sound2sheet demo``: the shipped model transcribes a bundled example into every format, or
(``--train``) a short, real train -> predict -> score run on synthesized piano clips.

The bundled example is 20 s of a held-out piece (C.P.E. Bach, H.186, from the standard set's
test split: never trained on) rendered by ``make-dataset``; its MIDI is the ground truth the
printed score is measured against. The training demo needs no download and no soundfont.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable


def example_paths() -> tuple[Path, Path]:
    """The bundled example recording and its ground-truth MIDI."""
    from importlib import resources

    root = Path(str(resources.files("sound2sheet") / "assets"))
    return root / "example.flac", root / "example.mid"


def transcribe_example(out_dir: Path, checkpoint: Path | None = None, say: Callable[[str], None] = print) -> dict[str, float]:
    """Transcribe the bundled example with the shipped model (or ``checkpoint``), write MIDI,
    MusicXML, JSON and PNG into ``out_dir``, print the notes and the scores against its MIDI."""
    from sound2sheet import export
    from sound2sheet.inference import Transcriber, load_model
    from sound2sheet.metrics import note_scores
    from sound2sheet.midi import read_midi_notes

    started = time.perf_counter()
    audio, midi = example_paths()
    transcriber = Transcriber(load_model(checkpoint))
    info = transcriber.describe()
    say(f"1/3 transcribing the bundled {audio.name} with the {'given' if checkpoint else 'shipped'} model "
        f"({info['encoder_size']} AST, {info['parameters'] / 1e6:.1f} M parameters) ...")
    result = transcriber.transcribe_file(audio)
    seconds = time.perf_counter() - started
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {**result.model, "source": audio.name, "audio_seconds": round(result.duration, 3)}
    written = [
        export.write_midi(result.notes, out_dir / "example.mid", transcriber.config.default_velocity),
        export.write_musicxml(result.notes, out_dir / "example.musicxml", title="Sound2Sheet demo: C.P.E. Bach H.186"),
        export.write_json(result.notes, out_dir / "example.json", meta),
        export.write_png(result.notes, out_dir / "example.png", title=audio.name, duration=result.duration),
    ]
    say(f"2/3 {len(result.notes)} notes in {result.duration:.1f} s of audio ({seconds:.1f} s, model loading included); first ones:")
    from sound2sheet.plots import note_name

    for n in result.notes[:10]:
        say(f"    {note_name(n.pitch):>4} (MIDI {n.pitch:3d})  {n.onset:6.2f} s -> {n.offset:6.2f} s  velocity {n.velocity}")
    scores = note_scores(read_midi_notes(midi), result.notes)
    say(f"3/3 against the example's MIDI: note-onset F1 {scores['note_onset_f1']:.3f} "
        f"(P {scores['note_onset_precision']:.3f}, R {scores['note_onset_recall']:.3f}), "
        f"note-with-offset F1 {scores['note_offset_f1']:.3f}")
    say("written: " + ", ".join(str(p) for p in written))
    return scores


def run_demo(out_dir: Path, epochs: int = 30, say: Callable[[str], None] = print) -> dict[str, float]:
    import torch

    from sound2sheet.core import AudioProcessor
    from sound2sheet.data.synthetic import make_synthetic_dataset
    from sound2sheet.metrics import note_scores
    from sound2sheet.midi import read_midi_notes, write_midi
    from sound2sheet.model import DataConfig, InferenceConfig, ModelConfig, Sound2SheetModel, Trainer, TrainingConfig
    from sound2sheet.model.dataset import create_dataloaders

    out_dir = Path(out_dir)
    started = time.perf_counter()
    data_dir = out_dir / "dataset"
    if not (data_dir / "train.jsonl").exists():
        say(f"1/4 synthesizing a small dataset in {data_dir} ...")
        make_synthetic_dataset(data_dir, {"train": 48, "val": 3, "test": 3}, duration=6.0, seed=0)
    else:
        say(f"1/4 reusing the dataset in {data_dir}")
    model_config = ModelConfig(pretrained=False, encoder_size="tiny", classifier_hidden_dim=256, dropout=0.0)
    data_config = DataConfig(dataset_dir=data_dir, crop_seconds=2.56)
    training_config = TrainingConfig(
        learning_rate=2e-3, batch_size=8, num_epochs=epochs, use_mixed_precision=False, warmup_steps=20,
        checkpoint_dir=str(out_dir / "checkpoints"), early_stopping_patience=0, onset_pos_weight=20.0,
        log_every_steps=0, seed=0,
    )
    train, val, test = create_dataloaders(data_config, model_config, training_config)
    torch.manual_seed(0)
    model = Sound2SheetModel(model_config)
    params = sum(p.numel() for p in model.parameters())
    say(f"2/4 training a {params / 1e6:.2f} M-parameter model for {epochs} epochs on {len(train.dataset)} crops ...")
    trainer = Trainer(model, train, val, model_config, training_config, data_config)
    history = trainer.train()
    last = history[-1]
    say(f"    final epoch: train loss {last['train_loss']:.4f}, val frame F1 {last['val_frame_f1']:.3f}, "
        f"val note-onset F1 {last['val_note_onset_f1']:.3f}")
    best = Sound2SheetModel.from_pretrained(out_dir / "checkpoints" / "best_model.pt")
    say("3/4 scoring the best checkpoint on the held-out test clips ...")
    trainer.model = best
    scores = trainer.evaluate(test)
    say(f"    test: note-onset F1 {scores['note_onset_f1']:.3f}, note-with-offset F1 {scores['note_offset_f1']:.3f}, "
        f"frame F1 {scores['frame_f1']:.3f}")
    item = test.dataset.items[0]
    audio_path = data_dir / item.audio
    processor = AudioProcessor.from_config(best.data_config)
    mel = processor.features(processor.load_audio(audio_path))
    notes = best.decode(best.probabilities(mel), InferenceConfig())[0]
    truth = read_midi_notes(data_dir / item.midi)
    write_midi(notes, out_dir / "prediction.mid")
    say(f"4/4 transcribed {audio_path.name}: {len(notes)} notes found, {len(truth)} in the MIDI "
        f"(note-onset F1 {note_scores(truth, notes)['note_onset_f1']:.3f}); MIDI written to {out_dir / 'prediction.mid'}")
    for n in notes[:8]:
        say(f"    pitch {n.pitch:3d}  {n.onset:6.2f} s -> {n.offset:6.2f} s  velocity {n.velocity}")
    say(f"done in {time.perf_counter() - started:.0f} s")
    return scores
