"""The AST encoder, returning features on the input's 10 ms frame grid for any input length.

How AST's token grid maps back to frames
----------------------------------------
AST cuts the ``[n_mels, L]`` spectrogram window (``L = max_length`` frames) into 16x16
patches with strides ``(frequency_stride, time_stride)``. Time patch ``j`` covers input frames
``[j * ts, j * ts + 16)``, so its centre sits at frame ``c_j = j * ts + 7.5``: tokens are
``ts`` frames apart (100 ms for the AudioSet weights, 80 ms for the small/tiny sizes).

1. The ``F'`` frequency tokens of each time position are concatenated and projected to
   ``hidden_size`` (keeping which band a feature came from, unlike mean pooling).
2. Frame ``f`` takes the linear interpolation of the two tokens whose centres bracket it
   (``c_j <= f < c_{j+1}``); frames before the first centre or after the last take the edge
   token. This is the matrix :func:`token_to_frame_weights`, fixed per window shape.
3. An input shorter than ``L`` is padded to ``L`` (with the value ASTFeatureExtractor pads
   with) and trimmed back; a longer one is cut into windows ``L`` long overlapping by
   ``window_overlap_frames`` (the last window aligned to the end) and stitched with linear
   cross-fades that skip each window's edge frames lying outside its first/last token
   centre, so every frame's feature is a true interpolation, wherever the windows fall.

Token resolution alone is too coarse for 50 ms onset precision, so the model adds a per-frame
mel skip path in the head (:mod:`sound2sheet.model.sound2sheet_model`).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
from torch import nn

from sound2sheet.errors import EncoderUnavailableError, first_line
from sound2sheet.model.config import AST_CONFIG_KEYS, AUDIOSET_MEAN, AUDIOSET_STD, ModelConfig

# Normalised value of an all-zero fbank frame, what ASTFeatureExtractor pads short clips with.
PAD_VALUE = (0.0 - AUDIOSET_MEAN) / (AUDIOSET_STD * 2.0)


def token_grid(num_mel_bins: int, max_length: int, patch: int, fstride: int, tstride: int) -> tuple[int, int]:
    """``(frequency tokens, time tokens)`` of one AST window."""
    return (num_mel_bins - patch) // fstride + 1, (max_length - patch) // tstride + 1


def token_to_frame_weights(length: int, n_time: int, patch: int, tstride: int) -> torch.Tensor:
    """``[length, n_time]`` interpolation matrix from time tokens to frames (rows sum to 1)."""
    centres = torch.arange(n_time, dtype=torch.float64) * tstride + (patch - 1) / 2.0
    frames = torch.arange(length, dtype=torch.float64)
    pos = ((frames - centres[0]) / tstride).clamp(0, n_time - 1)  # fractional token index
    lo = pos.floor().long().clamp(max=n_time - 1)
    hi = (lo + 1).clamp(max=n_time - 1)
    frac = pos - lo.double()
    weights = torch.zeros(length, n_time, dtype=torch.float64)
    weights[frames.long(), lo] += 1.0 - frac
    weights[frames.long(), hi] += frac
    return weights.float()


def window_starts(total: int, length: int, overlap: int) -> list[int]:
    """Start frames of windows ``length`` long covering ``total`` frames; the last ends at ``total``."""
    if total <= length:
        return [0]
    step = length - overlap
    starts = list(range(0, total - length, step))
    starts.append(total - length)
    return starts


def crossfade_weights(starts: list[int], length: int, total: int, margin_left: int = 0, margin_right: int = 0) -> torch.Tensor:
    """``[windows, length]`` stitching weights.

    A window's first ``margin_left`` and last ``margin_right`` frames lie outside its first and
    last token centres (their features are clamped copies), so where another window covers
    them they get weight 0; across the rest of each overlap the weights ramp linearly and sum
    to 1. Frames past ``total`` get 0.
    """
    weights = torch.ones(len(starts), length)
    pos = torch.arange(length, dtype=torch.float32) + 0.5
    for k, s in enumerate(starts):
        if k > 0:
            shared = starts[k - 1] + length - s
            ramp = shared - margin_left - margin_right
            if ramp > 0:
                up = ((pos - margin_left) / ramp).clamp(0, 1)
            else:  # overlap too short for a ramp: switch halfway
                up = (pos >= shared / 2).float()
            weights[k] = torch.minimum(weights[k], up)
        if k + 1 < len(starts):
            shared = s + length - starts[k + 1]
            ramp = shared - margin_left - margin_right
            if ramp > 0:
                down = ((length - margin_right - pos) / ramp).clamp(0, 1)
            else:
                down = (pos < length - shared / 2).float()
            weights[k] = torch.minimum(weights[k], down)
    valid = torch.tensor([min(length, total - s) for s in starts])
    weights[torch.arange(length)[None, :] >= valid[:, None]] = 0.0
    return weights


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the model hub's host resolves and accepts a connection (fails fast offline)."""
    import os
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_pretrained_ast(name: str):
    """``transformers.ASTModel`` from a local directory, the local hub cache, or the hub;
    otherwise one clear error. The hub is only tried when its host answers, so an offline
    machine fails in seconds instead of retrying for half a minute."""
    from pathlib import Path

    from transformers import ASTModel

    try:
        if Path(name).is_dir():
            return ASTModel.from_pretrained(name)
        try:
            return ASTModel.from_pretrained(name, local_files_only=True)
        except OSError:
            if not _hub_reachable():
                raise OSError("not in the local Hugging Face cache and the hub cannot be reached") from None
            return ASTModel.from_pretrained(name)
    except Exception as exc:
        raise EncoderUnavailableError(
            f"cannot load the pretrained AST encoder {name!r} ({first_line(exc)}). Offline, download it "
            f"on a connected machine (huggingface-cli download {name}) and pass its local directory as "
            "ModelConfig(ast_model_name=DIR), or train from scratch with "
            "ModelConfig(pretrained=False, encoder_size='small')."
        ) from None


def build_ast(config: ModelConfig, encoder_config: dict | None = None, cached: bool = False):
    """The encoder: rebuilt from a recorded ``encoder_config`` (checkpoints: no download),
    loaded from ``ast_model_name`` when ``config.pretrained``, else randomly initialised.

    ``cached`` (inference on the CPU): with an ``encoder_config``, the traced graph from
    :mod:`sound2sheet.startup_cache` when there is one (no transformers import), else
    transformers' module, traced into the cache for the next process."""
    if cached and encoder_config is not None:
        from sound2sheet import startup_cache

        traced = startup_cache.load_encoder(encoder_config)
        if traced is not None:
            return traced
    from transformers import ASTConfig, ASTModel

    if encoder_config is not None:
        ast = ASTModel(ASTConfig(**encoder_config))
        if cached:
            startup_cache.save_encoder(ast, encoder_config)
        return ast
    if config.pretrained and not config.encoder_config:
        return load_pretrained_ast(config.ast_model_name)
    return ASTModel(ASTConfig(**config.ast_kwargs()))


def grow_identity_layers(model: nn.Module, new: list[str]) -> list[int]:
    """Zero the residual outputs (attention ``o_proj``, MLP ``fc2``) of every AST layer whose
    tensors are all in ``new`` (a warm start's names the checkpoint lacked): layers appended to a
    trained encoder then pass their input through unchanged, so the grown model starts as the
    checkpoint's and training moves the new layers from there. Returns those layers' indices."""
    prefix = "encoder.ast.layers."
    params = dict(model.named_parameters())
    layers = sorted({int(k[len(prefix):].split(".")[0]) for k in params if k.startswith(prefix)})
    missing = set(new)
    new_layers = [i for i in layers if all(k in missing for k in params if k.startswith(f"{prefix}{i}."))]
    loaded = [i for i in layers if i not in new_layers]
    # Only layers after the checkpoint's last one: with none loaded there is nothing to grow.
    grown = [i for i in new_layers if loaded and i > max(loaded)]
    with torch.no_grad():
        for i in grown:
            for name in ("attention.o_proj", "mlp.fc2"):
                params[f"{prefix}{i}.{name}.weight"].zero_()
                params[f"{prefix}{i}.{name}.bias"].zero_()
    return grown


class ASTWrapper(nn.Module):
    """``mel [batch, n_mels, frames] -> features [batch, frames, hidden_size]`` for any length."""

    def __init__(self, config: ModelConfig, freeze: bool = False, encoder_config: dict | None = None,
                 cached: bool = False) -> None:
        super().__init__()
        self.ast = build_ast(config, encoder_config, cached)
        # A traced encoder (startup cache) has no ``config``: its shape is the recorded one.
        self.traced = not hasattr(self.ast, "config")
        c = SimpleNamespace(**encoder_config) if self.traced else self.ast.config
        self._encoder_config = dict(encoder_config) if self.traced else None
        if c.num_mel_bins != config.n_mels:
            raise EncoderUnavailableError(
                f"the AST encoder expects {c.num_mel_bins} mel bins but ModelConfig.n_mels={config.n_mels}"
            )
        config.hidden_size = c.hidden_size  # hidden_size follows the encoder's width
        self.hidden_size = c.hidden_size
        self.window = c.max_length
        self.overlap = config.window_overlap_frames
        self.batch_windows = max(1, config.encoder_batch_windows)
        self.n_freq, self.n_time = token_grid(c.num_mel_bins, c.max_length, c.patch_size, c.frequency_stride, c.time_stride)
        self.proj = nn.Linear(self.n_freq * c.hidden_size, c.hidden_size)
        self.register_buffer(
            "frame_weights", token_to_frame_weights(c.max_length, self.n_time, c.patch_size, c.time_stride), persistent=False
        )
        # Frames before the first / after the last token centre (clamped features).
        first_centre = (c.patch_size - 1) / 2.0
        last_centre = (self.n_time - 1) * c.time_stride + first_centre
        self.margins = (math.ceil(first_centre), c.max_length - 1 - math.floor(last_centre))
        self.frozen = False
        self.set_frozen(freeze)

    def encoder_config(self) -> dict:
        """The ``ASTConfig`` fields needed to rebuild this encoder without downloading."""
        d = self._encoder_config if self.traced else self.ast.config.to_dict()
        return {k: d[k] for k in AST_CONFIG_KEYS if k in d}

    def set_frozen(self, frozen: bool) -> None:
        """Freeze the AST itself (the projection stays trainable: it is new in any case)."""
        self.frozen = frozen
        for p in self.ast.parameters():
            p.requires_grad_(not frozen)
        if frozen:
            self.ast.eval()

    def train(self, mode: bool = True) -> "ASTWrapper":
        if mode and self.traced:
            raise RuntimeError("this model was loaded for inference with a traced encoder (fast start), which "
                               "cannot train; load it with Sound2SheetModel.from_pretrained to train")
        super().train(mode)
        if self.frozen:
            self.ast.eval()  # no dropout in a frozen encoder
        return self

    def encode_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """``[n, n_mels, L] -> [n, n_time, hidden]``: AST tokens, frequency rows projected."""
        if self.frozen:
            with torch.no_grad():
                tokens = self._ast_tokens(windows)
        else:
            tokens = self._ast_tokens(windows)
        return self.proj(tokens)

    def _ast_tokens(self, windows: torch.Tensor) -> torch.Tensor:
        """``[n, n_mels, L] -> [n, n_time, n_freq * hidden]``, frequency rows side by side."""
        n = windows.shape[0]
        # ["last_hidden_state"]: a traced encoder returns a dict, transformers' module a ModelOutput.
        hidden = self.ast(input_values=windows.transpose(1, 2))["last_hidden_state"][:, 2:]  # drop CLS + distillation
        hidden = hidden.reshape(n, self.n_freq, self.n_time, self.hidden_size).permute(0, 2, 1, 3)
        return hidden.reshape(n, self.n_time, self.n_freq * self.hidden_size)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        batch, n_mels, total = mel.shape
        if total == 0:
            return mel.new_zeros(batch, 0, self.hidden_size)
        L = self.window
        starts = window_starts(total, L, self.overlap)
        if total < L:
            mel = nn.functional.pad(mel, (0, L - total), value=PAD_VALUE)
        windows = torch.stack([mel[:, :, s:s + L] for s in starts], dim=1).reshape(-1, n_mels, L)
        chunks = []
        for i in range(0, windows.shape[0], self.batch_windows):
            tokens = self.encode_windows(windows[i:i + self.batch_windows])
            chunks.append(torch.einsum("lt,nth->nlh", self.frame_weights.to(tokens.dtype), tokens))
        frames = torch.cat(chunks).reshape(batch, len(starts), L, self.hidden_size)
        if len(starts) == 1:
            return frames[:, 0, :total]
        weights = crossfade_weights(starts, L, total, *self.margins).to(frames)
        out = frames.new_zeros(batch, total, self.hidden_size)
        norm = frames.new_zeros(total)
        for k, s in enumerate(starts):
            out[:, s:s + L] += frames[:, k] * weights[k, :, None]
            norm[s:s + L] += weights[k]
        return out / norm[None, :, None]
