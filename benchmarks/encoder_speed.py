"""Real-time factor of the AST encoder (and the whole model) per encoder size, on CPU.

Usage: python benchmarks/encoder_speed.py [--threads 2] [--sizes tiny small base]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from sound2sheet.model import ModelConfig, Sound2SheetModel


def seconds_per_call(fn, repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", nargs="+", default=["tiny", "small", "base"])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads")
    print("| size | encoder params | window (s) | tokens | encoder ms/window | encoder x real time | whole model x real time (60 s clip) |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        model = Sound2SheetModel(ModelConfig(pretrained=False, encoder_size=size)).eval()
        ast = model.encoder.ast
        window = ast.config.max_length
        params = sum(p.numel() for p in ast.parameters())
        x = torch.randn(1, window, ast.config.num_mel_bins)
        with torch.inference_mode():
            enc = seconds_per_call(lambda: ast(input_values=x), args.repeats)
            clip = torch.randn(1, 128, 6000)
            whole = seconds_per_call(lambda: model(clip), 1)
        tokens = model.encoder.n_freq * model.encoder.n_time
        print(f"| {size} | {params / 1e6:.2f} M | {window / 100:.2f} | {tokens} | {enc * 1000:.0f} | {window / 100 / enc:.0f} | {60 / whole:.0f} |")


if __name__ == "__main__":
    main()
