"""Command line: ``sound2sheet <command> ...``. Heavy modules load only inside commands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model from a run config", description=(
        "Train on a dataset directory. Settings come from --config (JSON or TOML with model/training/"
        "data/inference sections), then --set overrides such as --set training.batch_size=16."))
    p.add_argument("--config", type=Path, help="run config file (.json or .toml)")
    p.add_argument("--dataset", type=Path, help="dataset directory (overrides data.dataset_dir)")
    p.add_argument("--checkpoint-dir", type=Path, help="where checkpoints go (overrides training.checkpoint_dir)")
    p.add_argument("--resume", action="store_true", help="continue from <checkpoint-dir>/last.pt if it exists")
    p.add_argument("--init-from", type=Path, help="warm start: model weights from this checkpoint, fresh optimizer")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override one config field (repeatable); VALUE is JSON or a plain string")


def _add_transcribe(sub) -> None:
    p = sub.add_parser("transcribe", help="audio files or folders -> MIDI, JSON, MusicXML, PNG", description=(
        "Transcribe recordings (WAV/FLAC/OGG, any rate and channels, any length). Writes OUTDIR/<stem>.<format>."))
    p.add_argument("inputs", nargs="+", type=Path, metavar="AUDIO_OR_DIR")
    p.add_argument("-o", "--out", type=Path, default=Path("."), help="output directory (default: current directory)")
    p.add_argument("--checkpoint", type=Path, help="a trained checkpoint or run directory (default: the shipped model)")
    p.add_argument("--format", default="mid,json", help="comma-separated: mid,json,png,musicxml (default: mid,json)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--bpm", type=float, default=None,
                   help="tempo for the MusicXML score, in quarter notes per minute (default: estimated per file)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the model (default: torch's choice)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                   help="float type of the model: auto = bf16 where the CPU/GPU has it natively, else fp32 "
                        "(default: the checkpoint's setting)")


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="note and frame scores against ground-truth MIDI", description=(
        "DIR holds <name>.<audio> + <name>.mid pairs, or is a dataset directory (its test split)."))
    p.add_argument("dir", type=Path)
    p.add_argument("--checkpoint", type=Path, help="model to evaluate (default: the shipped model)")
    p.add_argument("--predictions", type=Path, help="score <name>.mid files from this folder instead of running the model")
    p.add_argument("--report", type=Path, help="write the JSON report here")
    p.add_argument("--plots", type=Path, help="write a piano-roll comparison PNG per piece here")
    p.add_argument("--save-predictions", type=Path, help="also write the model's transcriptions as <name>.mid here")
    p.add_argument("--gt-pedal", choices=["auto", "on", "off"], default="auto",
                   help="extend ground-truth offsets by the sustain pedal (auto: when the file has pedal events)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the model")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                   help="float type of the model: auto = bf16 where the CPU/GPU has it natively, else fp32 "
                        "(default: the checkpoint's setting)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report, plots or saved predictions")


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="transcribe a bundled example with the shipped model into every format", description=(
        "Transcribes a bundled 20 s recording with the shipped model, writes MIDI, MusicXML, JSON and PNG, and "
        "scores it against the example's MIDI. --train instead runs a short train + predict + score on synthesized clips."))
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="output directory (default: demo-output)")
    p.add_argument("--checkpoint", type=Path, help="use this model instead of the shipped one")
    p.add_argument("--train", action="store_true", help="train a tiny model from scratch on synthesized clips instead")
    p.add_argument("--epochs", type=int, default=30, help="training epochs with --train (default: 30)")


def _add_make_dataset(sub) -> None:
    p = sub.add_parser("make-dataset", help="render MIDI with piano soundfonts (or import MAESTRO) into a dataset", description=(
        "Build a dataset directory (audio + MIDI per item, train/val/test manifests, dataset_info.json). "
        "Rerunning the same command resumes: finished items are skipped."))
    p.add_argument("--out", type=Path, required=True, help="dataset directory to create or resume")
    p.add_argument("--midi", type=Path, nargs="+", default=[], metavar="PATH", help="MIDI files or folders (recursive)")
    p.add_argument("--soundfont", nargs="+", default=[], metavar="SPEC",
                   help="FILE.sf2|sf3[:bank:program] (default 0:0), a fetched font's name such as FluidR3_GM:0:1, "
                        "'procedural': a new random additive piano for every render, or 'chimera': the keyboard cut "
                        "into zones, each played by a font from --chimera-fonts at its own level, new zones every render")
    p.add_argument("--chimera-fonts", nargs="+", default=[], metavar="SPEC",
                   help="the fonts a 'chimera' timbre draws its zones from (same SPEC forms as --soundfont)")
    p.add_argument("--chimera-layers", type=float, default=0.0, metavar="P",
                   help="chance that a chimera zone sounds a second font from the pool with its first, each at its own "
                        "level (at most 4 zones then; default 0: one font per zone)")
    p.add_argument("--soundfont-dir", type=Path, default=Path("data/assets/soundfonts"),
                   help="where bare font names are looked up (default: data/assets/soundfonts)")
    p.add_argument("--renders-per-piece", type=int, default=1, help="timbres each piece is rendered with (default 1)")
    p.add_argument("--midi-renders", type=int, default=None, metavar="N",
                   help="renders of each --midi piece (real performances are worth more timbres); default: --renders-per-piece")
    p.add_argument("--music21", nargs="*", default=None, metavar="QUERY",
                   help="also export works from music21's corpus: all, or those whose composer/file matches any QUERY "
                        "(e.g. --music21 bach mozart)")
    p.add_argument("--music21-limit", type=int, default=None, help="at most this many works per query")
    p.add_argument("--generate", type=int, default=0, metavar="N", help="N procedural pieces covering all 88 keys (training split)")
    p.add_argument("--generate-seconds", type=float, default=60.0, help="length of each generated piece (default 60 s)")
    p.add_argument("--generate-style", choices=["mixed", "repeats"], default="mixed",
                   help="mixed: all textures (default); repeats: mostly same-key re-strikes at 2.5-7 a second in chords, melodies and basses")
    p.add_argument("--generate-split", choices=["train", "val", "test"], default="train",
                   help="split of the generated pieces (default train; val with another --seed gives a held-out set)")
    p.add_argument("--maestro", type=Path, help="MAESTRO-v3-layout folder: real audio + MIDI with its canonical split")
    p.add_argument("--sample-rate", type=int, default=16000, help="audio rate stored (default 16000)")
    p.add_argument("--seed", type=int, default=0, help="splits, timbre choice and augmentation derive from it (default 0)")
    p.add_argument("--render-seed", type=int, default=0,
                   help="new chimera zones, procedural pianos and augmentation for the same pieces and splits as --seed (default 0)")
    p.add_argument("--val-fraction", type=float, default=0.05, help="share of pieces for validation (default 0.05)")
    p.add_argument("--test-fraction", type=float, default=0.05, help="share of pieces for test (default 0.05)")
    p.add_argument("--augment", choices=["default", "none"], default="default", help="augmentation preset (default: default)")
    p.add_argument("--augment-set", dest="augment_overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one augmentation field, e.g. --augment-set reverb_prob=0.8 (VALUE is JSON)")
    p.add_argument("--jobs", type=int, default=0, help="worker processes (default: all cores)")
    p.add_argument("--allow-reserved", action="store_true", help="allow reserved evaluation files and held-out timbres")


def _add_dataset(sub) -> None:
    p = sub.add_parser("dataset", help="inspect a dataset directory")
    dsub = p.add_subparsers(dest="dataset_command", metavar="ACTION")
    dsub.required = True
    info = dsub.add_parser("info", help="counts, hours, notes, timbres, sources, augmentation")
    info.add_argument("dir", type=Path)
    val = dsub.add_parser("validate", help="list missing/corrupt files and label/audio mismatches; non-zero exit if any")
    val.add_argument("dir", type=Path)


def _add_fetch_assets(sub) -> None:
    p = sub.add_parser("fetch-assets", help="get the piano soundfonts and MIDI corpora available offline")
    p.add_argument("--out", type=Path, default=Path("data/assets"), help="destination (default: data/assets)")


def _add_export_model(sub) -> None:
    p = sub.add_parser("export-model", help="slim a trained checkpoint for shipping (weights + configs, float16)")
    p.add_argument("checkpoint", type=Path, help="a checkpoint or run directory (best_model.pt is used)")
    p.add_argument("out", type=Path, help="where to write the slim checkpoint")
    p.add_argument("--fp32", action="store_true", help="keep float32 weights (default: float16, half the size)")
    p.add_argument("--average-with", nargs="+", default=[], type=Path, metavar="CK",
                   help="average these checkpoints' weights into it (a model soup of runs from one start)")
    p.add_argument("--inference", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one InferenceConfig field stored with the model (repeatable), e.g. onset_threshold=0.4")


def _add_pack_datasets(sub) -> None:
    p = sub.add_parser("pack-datasets", help="a small Opus copy of training sets, for a remote trainer", description=(
        "Copy a seeded subset of each set's training items (in proportion to its hours) and its shortest "
        "validation items to OUT/<set>/ as Opus audio with their MIDI, so a run config can train on them "
        "where only a small upload reaches (docs/model.md: a lent GPU takes 64 MiB a call)."))
    p.add_argument("dirs", nargs="+", type=Path, help="dataset directories (their folder names must differ)")
    p.add_argument("--out", type=Path, required=True, help="pack directory (must not exist unless --overwrite)")
    p.add_argument("--hours", type=float, required=True, help="training hours to pack, over all sets")
    p.add_argument("--val-per-set", type=int, default=1, help="shortest validation items kept per set (default 1)")
    p.add_argument("--level", type=float, default=0.8,
                   help="libsndfile Opus compression level, 0 (best) to 1 (smallest); 0.8 is ~56 kbit/s at 16 kHz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="write into an existing pack directory")


def _add_transpose_dataset(sub) -> None:
    p = sub.add_parser("transpose-dataset", help="pitch-shifted copies of datasets' recordings: new pianos", description=(
        "Read each item's audio 2^(k/12) times faster (k semitones up, shorter) and move its MIDI with it, "
        "k drawn per item from --shifts among those that keep its notes on the keyboard: a copy of a recorded "
        "piano that sounds like another instrument (docs/dataset.md). Resumes an interrupted run."))
    p.add_argument("dirs", nargs="+", type=Path, help="source dataset directories")
    p.add_argument("--out", type=Path, required=True, help="the transposed dataset's directory")
    p.add_argument("--shifts", type=int, nargs="+", default=[-2, -1, 1, 2], help="semitone shifts to draw from (default -2 -1 1 2)")
    p.add_argument("--splits", nargs="+", default=["train"], help="splits to copy (default: train, for extra_train_dirs)")
    p.add_argument("--seed", type=int, default=0)


def build_parser() -> argparse.ArgumentParser:
    from sound2sheet import __version__

    parser = argparse.ArgumentParser(prog="sound2sheet", description="Piano transcription: audio to notes, MIDI and sheet music.")
    parser.add_argument("--version", action="version", version=f"sound2sheet {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_train(sub)
    _add_make_dataset(sub)
    _add_dataset(sub)
    _add_fetch_assets(sub)
    _add_transcribe(sub)
    _add_evaluate(sub)
    _add_demo(sub)
    _add_export_model(sub)
    _add_pack_datasets(sub)
    _add_transpose_dataset(sub)
    return parser


def _cmd_train(args) -> int:
    from sound2sheet.commands.train import run_training
    from sound2sheet.runconfig import load_run_config

    overrides = list(args.overrides)
    if args.dataset:
        overrides.append(f"data.dataset_dir={args.dataset}")
    if args.checkpoint_dir:
        overrides.append(f"training.checkpoint_dir={args.checkpoint_dir}")
    if args.resume:
        overrides.append("training.resume_from=auto")
    if args.init_from:
        overrides.append(f"training.init_from={args.init_from}")
    if args.device:
        overrides.append(f"training.device={args.device}")
    run_training(load_run_config(args.config, overrides))
    from sound2sheet.model.distributed import env_world_size

    if env_world_size() > 1:
        # A torchrun worker whose training finished (files written, process group destroyed)
        # ends here without interpreter teardown: with torch 2.13, tearing down gloo/DDP state
        # at exit sometimes aborts the process ("terminate called without an active
        # exception"), which torchrun would report as a failed run.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _cmd_demo(args) -> int:
    from sound2sheet.commands.demo import run_demo, transcribe_example

    if args.train:
        run_demo(args.out, epochs=args.epochs)
    else:
        transcribe_example(args.out, args.checkpoint)
    return 0


def _cmd_make_dataset(args) -> int:
    import json

    from sound2sheet.data.augment import AugmentConfig
    from sound2sheet.data.build import BuildConfig, build_dataset
    from sound2sheet.data.soundfonts import parse_spec
    from sound2sheet.errors import ConfigError

    augment = {} if args.augment == "default" else _dataclass_dict(AugmentConfig.none())
    for pair in args.augment_overrides:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--augment-set {pair!r}: expected FIELD=VALUE")
        try:
            augment[key] = json.loads(value)
        except json.JSONDecodeError:
            augment[key] = value
    try:
        AugmentConfig(**augment)
    except TypeError as exc:
        raise ConfigError(f"bad --augment-set: {exc}") from None
    specs = [str(_resolve_spec(text, args.soundfont_dir, parse_spec)) for text in args.soundfont]
    pool = [str(_resolve_spec(text, args.soundfont_dir, parse_spec)) for text in args.chimera_fonts]
    config = BuildConfig(
        out_dir=args.out, midi=list(args.midi), music21=args.music21, music21_limit=args.music21_limit,
        generate=args.generate, generate_seconds=args.generate_seconds, generate_style=args.generate_style, generate_split=args.generate_split, maestro=args.maestro, soundfonts=specs,
        chimera_fonts=pool, chimera_layers=args.chimera_layers,
        renders_per_piece=args.renders_per_piece, midi_renders=args.midi_renders, sample_rate=args.sample_rate, seed=args.seed,
        render_seed=args.render_seed, val_fraction=args.val_fraction, test_fraction=args.test_fraction, augment=augment, jobs=args.jobs,
        allow_reserved=args.allow_reserved,
    )
    info = build_dataset(config)
    total = info["total"]
    print(f"{args.out}: {total['items']} items, {total['pieces']} pieces, {total['hours']:.2f} h, {total['notes']} notes "
          f"in {info['build']['seconds']:.0f} s ({info['build']['items_built']} built now)")
    return 0


def _dataclass_dict(obj) -> dict:
    import dataclasses

    return dataclasses.asdict(obj)


def _resolve_spec(text: str, font_dir: Path, parse_spec) -> str:
    """A spec with its font path made explicit, so workers need no search path."""
    from sound2sheet.data.build import SYNTHETIC_TIMBRES

    if text in SYNTHETIC_TIMBRES:  # renderers, not font files
        return text
    spec = parse_spec(text, (font_dir,))
    return f"{spec.path}:{spec.bank}:{spec.program}"


def _cmd_dataset(args) -> int:
    from sound2sheet.data.inspect import info_table, validate

    if args.dataset_command == "info":
        print(info_table(args.dir))
        return 0
    problems = validate(args.dir, progress=sys.stderr.isatty())
    for line in problems:
        print(line)
    print(f"{args.dir}: {'OK' if not problems else f'{len(problems)} problem(s)'}", file=sys.stderr)
    return 1 if problems else 0


def _refuse_existing(paths, overwrite: bool) -> None:
    """Outputs are never replaced silently: one error line naming what exists (up to three)."""
    from sound2sheet.errors import Sound2SheetError

    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 3} more)" if len(existing) > 3 else ""
        raise Sound2SheetError(f"{', '.join(existing[:3])}{more} already exist (use --overwrite)")


def _cmd_fetch_assets(args) -> int:
    from sound2sheet.data.assets import fetch_assets

    fetched = fetch_assets(args.out, say=print)
    return 1 if fetched["missing"] else 0


def _cmd_transcribe(args) -> int:
    from sound2sheet import export
    from sound2sheet.core.audio import AUDIO_EXTENSIONS
    from sound2sheet.errors import ConfigError, Sound2SheetError
    from sound2sheet.inference import iter_files

    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(export.FORMATS))
    if unknown or not formats:
        raise ConfigError(f"unknown --format {', '.join(unknown) or '(empty)'}; choose from {', '.join(export.FORMATS)}")
    if args.bpm is not None and not 10.0 <= args.bpm <= 400.0:
        raise ConfigError(f"--bpm {args.bpm:g} is outside 10-400")
    files = list(iter_files(args.inputs, AUDIO_EXTENSIONS))
    if not files:
        raise ConfigError("no audio files found in the given inputs")
    _set_threads(args.threads)
    transcriber = _transcriber(args)
    failed = 0
    progress = None
    if len(files) > 1:
        from tqdm.auto import tqdm

        progress = tqdm(total=len(files), desc="transcribe", unit="file")
    for path in files:
        outputs = {fmt: args.out / f"{path.stem}.{fmt}" for fmt in formats}
        try:
            _refuse_existing(outputs.values(), args.overwrite)
            result = transcriber.transcribe_file(path)
            meta = {**result.model, "source": str(path), "audio_seconds": round(result.duration, 3)}
            for fmt, out in outputs.items():
                if fmt == "mid":
                    export.write_midi(result.notes, out, transcriber.config.default_velocity)
                elif fmt == "json":
                    export.write_json(result.notes, out, meta)
                elif fmt == "png":
                    export.write_png(result.notes, out, title=path.name, duration=result.duration)
                elif fmt == "musicxml":
                    export.write_musicxml(result.notes, out, title=path.stem, bpm=args.bpm)
            line = f"{path}: {len(result.notes)} notes -> {', '.join(str(p) for p in outputs.values())}"
        except Sound2SheetError as exc:
            failed += 1
            line = f"sound2sheet: error: {path}: {exc}"
        except OSError as exc:  # an output cannot be written (not a directory, disk full): the writers are atomic
            failed += 1
            line = f"sound2sheet: error: {path}: cannot write output: {exc}"
        stream = sys.stderr if line.startswith("sound2sheet: error") else sys.stdout
        if progress is not None:
            progress.write(line, file=stream)
            progress.update(1)
        else:
            print(line, file=stream)
    if progress is not None:
        progress.close()
    if failed:
        print(f"sound2sheet: {failed} of {len(files)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _transcriber(args):
    """The Transcriber for ``--checkpoint``, with ``--precision`` over the checkpoint's own."""
    import dataclasses

    from sound2sheet.inference import Transcriber, load_model
    from sound2sheet.model import InferenceConfig

    model = load_model(args.checkpoint)
    config = model.inference_config or InferenceConfig()
    if args.precision is not None:
        config = dataclasses.replace(config, precision=args.precision)
    return Transcriber(model, config)


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _cmd_evaluate(args) -> int:
    from sound2sheet import evaluate as ev

    pairs = ev.collect_pairs(args.dir)
    targets = [args.report] if args.report else []
    for folder, ext in ((args.plots, "png"), (args.save_predictions if args.predictions is None else None, "mid")):
        if folder is not None:
            targets += [folder / f"{pair.name}.{ext}" for pair in pairs]
    _refuse_existing(targets, args.overwrite)
    transcribe = None
    if args.predictions is None:
        _set_threads(args.threads)
        transcriber = _transcriber(args)

        def transcribe(path):
            result = transcriber.transcribe_file(path)
            if args.save_predictions:
                from sound2sheet.export import write_midi

                write_midi(result.notes, args.save_predictions / f"{Path(path).stem}.mid", transcriber.config.default_velocity)
            return result

    report = ev.evaluate(pairs, transcribe=transcribe, predictions=args.predictions, gt_pedal=args.gt_pedal,
                         plots=args.plots, progress=sys.stderr.isatty())
    print(ev.format_report(report))
    if args.report:
        ev.write_report(report, args.report)
    return 0


def _cmd_export_model(args) -> int:
    from sound2sheet.model.checkpoint import export_for_inference

    from sound2sheet.runconfig import parse_overrides

    inference = parse_overrides([f"inference.{pair}" for pair in args.inference]).get("inference", {})
    out = export_for_inference(args.checkpoint, args.out, half=not args.fp32, inference=inference,
                               average_with=args.average_with)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB")
    return 0


def _cmd_pack_datasets(args) -> int:
    from sound2sheet.data.pack import pack_datasets

    _refuse_existing([args.out], args.overwrite)
    summary = pack_datasets(args.dirs, args.out, args.hours, val_per_set=args.val_per_set, level=args.level,
                            seed=args.seed, progress=lambda line: print(line, file=sys.stderr))
    size = sum(f.stat().st_size for f in args.out.rglob("*") if f.is_file())
    hours = sum(s["train_hours"] + s["val_hours"] for s in summary["sets"].values())
    print(f"{args.out}: {hours:.2f} h in {size / 2**20:.1f} MiB")
    return 0


def _cmd_transpose_dataset(args) -> int:
    from tqdm import tqdm

    from sound2sheet.data.transpose import transpose_dataset

    info = transpose_dataset(args.dirs, args.out, shifts=args.shifts, seed=args.seed, splits=args.splits,
                             progress=lambda jobs: tqdm(jobs, desc="transposing", unit="item"))
    total = info["total"]
    skipped = f", {len(info['skipped'])} skipped (no shift fits their range)" if info["skipped"] else ""
    print(f"{args.out}: {total['items']} items, {total['hours']:.2f} h, {total['notes']} notes{skipped}")
    return 0


COMMANDS = {
    "transcribe": _cmd_transcribe, "evaluate": _cmd_evaluate,
    "train": _cmd_train, "make-dataset": _cmd_make_dataset, "dataset": _cmd_dataset,
    "fetch-assets": _cmd_fetch_assets, "demo": _cmd_demo, "export-model": _cmd_export_model,
    "pack-datasets": _cmd_pack_datasets, "transpose-dataset": _cmd_transpose_dataset,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from sound2sheet.errors import Sound2SheetError

    try:
        return COMMANDS[args.command](args)
    except Sound2SheetError as exc:
        print(f"sound2sheet: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sound2sheet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
