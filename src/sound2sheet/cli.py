"""Command line: ``sound2sheet <command> ...``. Heavy modules load only inside commands."""

from __future__ import annotations

import argparse
import logging
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


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="short real train + predict + score run on synthesized clips")
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="output directory (default: demo-output)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default: 30)")


def _add_make_dataset(sub) -> None:
    p = sub.add_parser("make-dataset", help="render MIDI with piano soundfonts (or import MAESTRO) into a dataset", description=(
        "Build a dataset directory (audio + MIDI per item, train/val/test manifests, dataset_info.json). "
        "Rerunning the same command resumes: finished items are skipped."))
    p.add_argument("--out", type=Path, required=True, help="dataset directory to create or resume")
    p.add_argument("--midi", type=Path, nargs="+", default=[], metavar="PATH", help="MIDI files or folders (recursive)")
    p.add_argument("--soundfont", nargs="+", default=[], metavar="SPEC",
                   help="FILE.sf2|sf3[:bank:program] (default 0:0), or a fetched font's name such as FluidR3_GM:0:1")
    p.add_argument("--soundfont-dir", type=Path, default=Path("data/assets/soundfonts"),
                   help="where bare font names are looked up (default: data/assets/soundfonts)")
    p.add_argument("--renders-per-piece", type=int, default=1, help="timbres each piece is rendered with (default 1)")
    p.add_argument("--music21", nargs="?", const="*", default=None, metavar="QUERY",
                   help="also export works from music21's corpus (all, or those matching QUERY, e.g. bach)")
    p.add_argument("--music21-limit", type=int, default=None, help="at most this many music21 works")
    p.add_argument("--generate", type=int, default=0, metavar="N", help="N procedural pieces covering all 88 keys (training split)")
    p.add_argument("--generate-seconds", type=float, default=60.0, help="length of each generated piece (default 60 s)")
    p.add_argument("--maestro", type=Path, help="MAESTRO-v3-layout folder: real audio + MIDI with its canonical split")
    p.add_argument("--sample-rate", type=int, default=16000, help="audio rate stored (default 16000)")
    p.add_argument("--seed", type=int, default=0, help="splits, timbre choice and augmentation derive from it (default 0)")
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
    _add_demo(sub)
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
    return 0


def _cmd_demo(args) -> int:
    from sound2sheet.commands.demo import run_demo

    run_demo(args.out, epochs=args.epochs)
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
    config = BuildConfig(
        out_dir=args.out, midi=list(args.midi), music21=args.music21, music21_limit=args.music21_limit,
        generate=args.generate, generate_seconds=args.generate_seconds, maestro=args.maestro, soundfonts=specs,
        renders_per_piece=args.renders_per_piece, sample_rate=args.sample_rate, seed=args.seed,
        val_fraction=args.val_fraction, test_fraction=args.test_fraction, augment=augment, jobs=args.jobs,
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


def _cmd_fetch_assets(args) -> int:
    from sound2sheet.data.assets import fetch_assets

    fetched = fetch_assets(args.out, say=print)
    return 1 if fetched["missing"] else 0


COMMANDS = {
    "train": _cmd_train, "make-dataset": _cmd_make_dataset, "dataset": _cmd_dataset,
    "fetch-assets": _cmd_fetch_assets, "demo": _cmd_demo,
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
