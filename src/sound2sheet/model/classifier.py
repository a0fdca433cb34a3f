"""Frame-wise classifier head: temporal Conv1D, then fully connected layers, per-key logits."""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

from sound2sheet.model.config import ModelConfig

# Output biases start at each head's base rate, so training does not spend its first hundreds
# of steps learning that most of a piano roll is silent (measured on the standard set: 5 % of
# frame cells active -> logit -2.9; onset targets ~0.2 % with onset_pos_weight 10 -> about -4).
PRIOR_LOGITS = {"frame": -3.0, "onset": -4.0, "velocity": 0.0, "offset": -4.0}
# The pedal head starts "up" (p = 0.05): a warm-started model then decodes exactly as before,
# instead of holding every note from the first step (p = 0.5 would count as down).
PEDAL_PRIOR_LOGIT = -3.0

Layer = TypeVar("Layer", bound=nn.Module)


def zeroed(layer: Layer) -> Layer:
    """``layer`` with every parameter at zero: a part added to a trained model this way changes
    nothing until training moves it, so a warm start decodes as before."""
    for param in layer.parameters():
        nn.init.zeros_(param)
    return layer


class TemporalRefiner(nn.Module):
    """``features [batch, frames, in_dim] -> logit corrections [batch, frames, out_dim]``.

    Residual dilated Conv1d blocks (dilation 1, 2, 4, ...; ``config.refine_radius_frames``
    either side in all). The output layer starts at zero, so adding a refiner to a trained
    head changes nothing until training moves it.
    """

    def __init__(self, in_dim: int, out_dim: int, config: ModelConfig, dim: int | None = None) -> None:
        super().__init__()
        dim, k = dim or config.refine_dim, config.refine_kernel
        self.inp = nn.Conv1d(in_dim, dim, 1)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.GELU(), nn.Conv1d(dim, dim, k, dilation=2 ** i, padding=(k // 2) * 2 ** i))
            for i in range(config.refine_layers)
        )
        self.out = zeroed(nn.Conv1d(dim, out_dim, 1))

    def forward(self, features: torch.Tensor, extra: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(corrections [batch, frames, out_dim], hidden [batch, frames, refine_dim])``;
        ``extra [batch, dim, frames]`` (another input's projection) is added after the input layer."""
        x = self.inp(features.transpose(1, 2))
        if extra is not None:
            x = x + extra
        for block in self.blocks:
            x = x + block(x)
        hidden = nn.functional.gelu(x)
        return self.out(hidden).transpose(1, 2), hidden.transpose(1, 2)


class PianoRollClassifier(nn.Module):
    """``features [batch, frames, in_dim] -> {head: logits [batch, frames, num_keys]}``.

    Temporal Conv1D (``temporal_conv_kernel``, when ``use_temporal_conv``) gives each frame its
    neighbours' context; then ``num_classifier_layers`` fully connected layers, the last of
    which emits ``num_keys`` logits for every head (frame, and onset/velocity when enabled)
    from one shared trunk, plus the :class:`TemporalRefiner`'s corrections when configured.
    With ``pedal_head`` the dict also holds ``pedal``: logits ``[batch, frames, 1]`` (from its
    own stack over the detached trunk features when ``pedal_dim`` is set); with ``offset_dim``,
    ``offset``: logits ``[batch, frames, num_keys]`` from such a stack of its own.
    """

    def __init__(self, in_dim: int, config: ModelConfig, heads: tuple[str, ...] = ("frame",)) -> None:
        super().__init__()
        self.heads = heads
        self.num_keys = config.num_piano_keys
        width = config.classifier_hidden_dim
        self.conv: nn.Module | None = None
        dim = in_dim
        self.extra_dim = width if config.use_temporal_conv else in_dim  # see forward's ``extra``
        if config.use_temporal_conv:
            k = config.temporal_conv_kernel
            self.conv = nn.Sequential(nn.Conv1d(in_dim, width, k, padding=k // 2), nn.GELU())
            dim = width
        layers: list[nn.Module] = [nn.Dropout(config.dropout)]
        for _ in range(config.num_classifier_layers - 1):
            layers += [nn.Linear(dim, width), nn.GELU(), nn.Dropout(config.dropout)]
            dim = width
        self.trunk = nn.Sequential(*layers)
        self.out = nn.Linear(dim, self.num_keys * len(heads))
        with torch.no_grad():
            for i, head in enumerate(heads):
                self.out.bias[i * self.num_keys:(i + 1) * self.num_keys] = PRIOR_LOGITS.get(head, 0.0)
        self.refiner = TemporalRefiner(dim, self.num_keys * len(heads), config) if config.refine_layers else None
        self.pedal: nn.Linear | None = None
        self.pedal_net: TemporalRefiner | None = None
        if config.pedal_head and config.pedal_dim:  # its own stack, on detached features
            self.pedal_net = TemporalRefiner(dim, 1, config, dim=config.pedal_dim)
            nn.init.constant_(self.pedal_net.out.bias, PEDAL_PRIOR_LOGIT)
        elif config.pedal_head:  # zero weights: a warm start keeps every other output as it was
            self.pedal = nn.Linear(config.refine_dim if self.refiner is not None else dim, 1)
            nn.init.zeros_(self.pedal.weight)
            nn.init.constant_(self.pedal.bias, PEDAL_PRIOR_LOGIT)

        self.offset_net: TemporalRefiner | None = None
        if config.offset_dim:
            self.offset_net = TemporalRefiner(dim, self.num_keys, config, dim=config.offset_dim)
            nn.init.constant_(self.offset_net.out.bias, PRIOR_LOGITS["offset"])

    def forward(self, features: torch.Tensor, extra: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``extra [batch, frames, extra_dim]`` (another branch's features) is added to the
        temporal conv's output before its activation, or to the input without a conv."""
        x = features
        if self.conv is not None:
            x = self.conv[0](x.transpose(1, 2)).transpose(1, 2)
            x = self.conv[1](x + extra if extra is not None else x)
        elif extra is not None:
            x = x + extra
        x = self.trunk(x)
        logits = self.out(x)
        pedal_in = x
        if self.refiner is not None:
            corrections, pedal_in = self.refiner(x)
            logits = logits + corrections
        out = dict(zip(self.heads, logits.split(self.num_keys, dim=-1)))
        if self.pedal is not None:
            out["pedal"] = self.pedal(pedal_in)
        elif self.pedal_net is not None:
            out["pedal"] = self.pedal_net(x.detach())[0]
        if self.offset_net is not None:
            out["offset"] = self.offset_net(x.detach())[0]
        return out
