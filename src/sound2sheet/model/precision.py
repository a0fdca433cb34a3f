"""Which float type the model computes in: bf16 only where the hardware computes it natively.

On CPUs with AVX512-BF16 or AMX the model's forward runs ~1.6x faster in bf16 than in fp32
(docs/experiments.md #35); elsewhere torch emulates bf16, ~18x slower (#3), so "auto" stays in
fp32 there. Training (``TrainingConfig.amp_dtype``) and inference (``InferenceConfig.precision``)
take the same decision from :func:`cpu_has_native_bf16`.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: where CPU bf16 autocast is faster rather than emulated."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def inference_dtype(precision: str, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None computes in fp32.

    "auto": bf16 on a CPU with native bf16 or a CUDA device that supports it, else fp32.
    "bf16" forces it (on CPU without native support it is emulated and slow)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    device = torch.device(device)
    if precision == "fp32" or device.type not in ("cpu", "cuda"):
        return None
    if precision == "bf16":
        return torch.bfloat16
    native = cpu_has_native_bf16() if device.type == "cpu" else torch.cuda.is_bf16_supported()
    return torch.bfloat16 if native else None


def autocast(device: torch.device | str, dtype: torch.dtype | None):
    """``torch.autocast`` in ``dtype`` on ``device``, or nothing for fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)
