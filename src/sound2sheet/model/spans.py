"""Run a time-local module over a long input in short spans of frames.

On a CPU, a few convolution layers over a whole call's frames (thousands) make activations
of tens of MB that stream through memory between every layer; the same layers over spans of
a few hundred frames stay in cache and run several times faster (docs/experiments.md #12,
#14). A module whose output frame depends only on input frames within ``reach`` of it
(``reach`` = the sum of its layers' time radii) gives the same output either way: each span
is computed with ``reach`` frames of real input either side, and the file's true ends keep
the module's own zero padding.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch


def map_time_spans(fn: Callable[..., torch.Tensor], x: torch.Tensor | Sequence[torch.Tensor], *, span: int,
                   reach: int, out_dim: int = -1) -> torch.Tensor:
    """``fn`` over ``x [..., frames]`` in spans of ``span`` output frames.

    ``fn`` maps ``[..., n]`` to a tensor with ``n`` frames along ``out_dim`` and must look at
    most ``reach`` frames either side. ``x`` may be several tensors with the same frames, cut
    alike and passed to ``fn`` in order. Returns the frames of ``fn(x)``, concatenated along
    ``out_dim``.
    """
    xs = (x,) if isinstance(x, torch.Tensor) else tuple(x)
    frames = xs[0].shape[-1]
    if any(t.shape[-1] != frames for t in xs):
        raise ValueError(f"the inputs' frames differ: {[t.shape[-1] for t in xs]}")
    if frames <= span:
        return fn(*xs)
    pieces = []
    for start in range(0, frames, span):
        stop = min(frames, start + span)
        first, last = max(0, start - reach), min(frames, stop + reach)
        pieces.append(fn(*(t[..., first:last] for t in xs)).narrow(out_dim, start - first, stop - start))
    return torch.cat(pieces, dim=out_dim)
