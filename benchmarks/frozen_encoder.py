"""Training step time with a trainable vs a frozen encoder (``freeze_encoder``), CPU fp32.

Usage: python benchmarks/frozen_encoder.py [--size small] [--batch 4] [--seconds 10.24]
"""

from __future__ import annotations

import argparse
import time

import torch

from sound2sheet.model import ModelConfig, Sound2SheetModel


def step_time(frozen: bool, size: str, batch: int, frames: int, repeats: int) -> float:
    torch.manual_seed(0)
    model = Sound2SheetModel(ModelConfig(pretrained=False, encoder_size=size), freeze_encoder=frozen).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    mel = torch.randn(batch, 128, frames)
    target = torch.zeros(batch, frames, 88)

    def step():
        heads = model(mel, return_all_heads=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(heads["frame"], target)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="small")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.24)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    frames = int(args.seconds * 100)
    trainable = step_time(False, args.size, args.batch, frames, args.repeats)
    frozen = step_time(True, args.size, args.batch, frames, args.repeats)
    print(f"| encoder | s/step (batch {args.batch} x {args.seconds} s, {args.size}, {args.threads} threads) |")
    print("|---|---|")
    print(f"| trainable | {trainable:.2f} |")
    print(f"| frozen | {frozen:.2f} (x{trainable / frozen:.1f} faster) |")


if __name__ == "__main__":
    main()
