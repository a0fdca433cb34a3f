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


def build_parser() -> argparse.ArgumentParser:
    from sound2sheet import __version__

    parser = argparse.ArgumentParser(prog="sound2sheet", description="Piano transcription: audio to notes, MIDI and sheet music.")
    parser.add_argument("--version", action="version", version=f"sound2sheet {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_train(sub)
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


COMMANDS = {"train": _cmd_train, "demo": _cmd_demo}


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
