"""Seconds per training step of a checkpoint's architecture, eager against ``torch.compile``
(``TrainingConfig.compile``): forward under the trainer's autocast, BCE on the frame head,
backward, AdamW, on random features of the recipe's batch and crop. The compiled way's first
step (the compile itself) is reported apart.

Usage: python benchmarks/train_step_speed.py [CKPT] [--batch 16] [--seconds 5.12] [--steps 5]
       [--ways eager compile] [--amp auto|bf16|off]
(CKPT defaults to the shipped model)
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", nargs="?", default=None)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.12, help="crop length (the recipe's crop_seconds)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps after the first")
    ap.add_argument("--ways", nargs="+", default=["eager", "compile"], choices=["eager", "compile"])
    ap.add_argument("--amp", default="auto", choices=["auto", "bf16", "off"])
    args = ap.parse_args(argv)

    import contextlib
    import dataclasses

    import torch

    from sound2sheet.inference import default_checkpoint
    from sound2sheet.model.checkpoint import model_from_checkpoint
    from sound2sheet.model.precision import cpu_has_native_bf16

    path = args.checkpoint or default_checkpoint()
    bf16 = args.amp == "bf16" or (args.amp == "auto" and cpu_has_native_bf16())
    rows = ["| way | first step (s) | s / step |", "|---|---|---|"]
    for way in args.ways:
        torch.manual_seed(0)
        model = model_from_checkpoint(path).float().train()
        frames = dataclasses.replace(model.data_config, crop_seconds=args.seconds).crop_frames
        n_features = model.config.n_features
        x = torch.randn(args.batch, n_features, frames)
        y = (torch.rand(args.batch, frames, model.config.num_piano_keys) < 0.05).float()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        forward = torch.compile(model) if way == "compile" else model

        def step() -> None:
            amp = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
            with amp:
                heads = forward(x, return_all_heads=True)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(heads["frame"].float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        t0 = time.perf_counter()
        step()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        rows.append(f"| {way} | {first:.1f} | {(time.perf_counter() - t0) / args.steps:.2f} |")
    print("\n".join(rows))
    print(f"\n{path}: batch {args.batch} x {args.seconds} s, {'bf16 autocast' if bf16 else 'fp32'}, "
          f"{torch.get_num_threads()} threads. Command: python benchmarks/train_step_speed.py"
          + (f" {args.checkpoint}" if args.checkpoint else "")
          + f" --batch {args.batch} --seconds {args.seconds} --steps {args.steps} --ways {' '.join(args.ways)} --amp {args.amp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
