"""Sound2SheetModel: mel spectrogram -> AST features (+ per-frame mel skip) -> piano-roll logits."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sound2sheet.decoding import binarize, decode_notes
from sound2sheet.model.classifier import PianoRollClassifier, TemporalRefiner, zeroed
from sound2sheet.model.config import DataConfig, InferenceConfig, ModelConfig
from sound2sheet.model.encoder import ASTWrapper
from sound2sheet.model.spans import map_time_spans
from sound2sheet.notes import NoteEvent


def as_mel_batch(mel: Any) -> torch.Tensor:
    """Accept ``[n_mels, frames]`` or ``[batch, n_mels, frames]`` (numpy or torch) -> float32 3-D tensor."""
    t = torch.as_tensor(np.asarray(mel) if not isinstance(mel, torch.Tensor) else mel).float()
    if t.ndim == 2:
        t = t.unsqueeze(0)
    if t.ndim != 3:
        raise ValueError(f"mel must be [n_mels, frames] or [batch, n_mels, frames], got shape {tuple(t.shape)}")
    return t


class HalveFrequency(nn.Module):
    """``[batch, channels, rows, frames] -> [batch, channels, rows // 2, frames]``: the larger of
    each pair of rows, what ``nn.MaxPool2d((2, 1))`` computes, ~50x faster on a CPU (that
    kernel took 8 % of a transcription; two strided views and one elementwise max are cheap)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        end = x.shape[2] // 2 * 2
        return torch.maximum(x[:, :, 0:end:2], x[:, :, 1:end:2])


class ConvSkip(nn.Module):
    """``mel [batch, n_mels, frames] -> [batch, frames, out_dim]``: three 3x3 conv blocks, each
    followed by frequency pooling (time keeps its 10 ms resolution), then a per-frame
    projection. Kernels are shared across frequency, so what it learns about one pitch's
    harmonics transfers to its neighbours; pooling after every block keeps it cheap."""

    # Output frames per span (see :mod:`sound2sheet.model.spans`): its first block's
    # activations are 16 x n_mels floats a frame, so a whole call's frames do not fit in cache.
    CHUNK_FRAMES = 512

    def __init__(self, n_mels: int, channels: int, out_dim: int) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.GELU(), HalveFrequency(),
            nn.Conv2d(c, c, 3, padding=1), nn.GELU(), HalveFrequency(),
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.GELU(), HalveFrequency(),
        )
        self.proj = nn.Linear(2 * c * (n_mels // 8), out_dim)
        self.reach = sum(m.kernel_size[1] // 2 for m in self.net if isinstance(m, nn.Conv2d))  # frames either side

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return map_time_spans(self._span, mel, span=self.CHUNK_FRAMES, reach=self.reach, out_dim=1)

    def _span(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.net(mel.unsqueeze(1))  # [B, 2c, n_mels/8, T]
        b, c, f, t = x.shape
        return self.proj(x.permute(0, 3, 1, 2).reshape(b, t, c * f))


class LinearSkip(nn.Module):
    """``mel [batch, n_mels, frames] -> [batch, frames, out_dim]`` with one Conv1d (kernel 3)."""

    def __init__(self, n_mels: int, out_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(n_mels, out_dim, kernel_size=3, padding=1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.conv(mel).transpose(1, 2)


class PitchBranch(nn.Module):
    """``pitch spectrum [batch, bins, frames] -> [batch, frames, out_dim]``: a Conv1d over frames
    (kernel 3, bins as channels, so each key gets its own harmonic template), GELU, then a
    projection that starts at zero, so adding the branch to a trained model changes nothing
    until training moves it. Dense over bins rather than a 2-D conv: ~0.2 M multiply-adds a
    frame, a few per cent of transcription time."""

    def __init__(self, bins: int, dim: int, out_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(bins, dim, 3, padding=1)
        self.out = zeroed(nn.Conv1d(dim, out_dim, 1))

    def forward(self, pitch: torch.Tensor) -> torch.Tensor:
        return self.out(nn.functional.gelu(self.conv(pitch))).transpose(1, 2)


def partial_rows(config: ModelConfig, ratios: list[float]) -> torch.Tensor:
    """Pitch-spectrum rows ``[keys * len(ratios)]`` (key-major) at each key's frequency times
    each ratio (row of the fundamental + round(b * 12 log2 r), b rows a semitone); rows past
    either end are ``pitch_bins``, a row of zeros the caller pads on."""
    from sound2sheet.core.features import PITCH_LOWEST_MIDI

    b, keys = config.harmonic_bins_per_semitone, config.num_piano_keys
    first = round((config.min_midi_note - PITCH_LOWEST_MIDI) * b)
    offsets = [round(b * 12 * math.log2(r)) for r in ratios]
    at = torch.tensor([[first + k * b + o for o in offsets] for k in range(keys)], dtype=torch.long)
    return at.masked_fill((at < 0) | (at >= config.pitch_bins), config.pitch_bins).flatten()


class HarmonicBranch(nn.Module):
    """``pitch rows [batch, bins, frames] -> logit corrections [batch, frames, keys, heads]``.

    A 3x3 conv over (pitch rows, frames), then every key gathers the conv's channels at its
    first ``harmonics`` partials (row of the fundamental + round(b * 12 log2 h), b rows a
    semitone) and, with ``subharmonics``, at the rows of f/2, f/3, ... below it (rows past
    either end read zeros); two 1x1 layers shared by all keys map that stack to one
    correction per head. Every weight is shared across the keyboard: a partial pattern learnt
    on one key counts on all, which per-key templates (:class:`PitchBranch`) cannot do on a
    piano the training set never had. The output layer, and the sub-harmonic layer, start at
    zero.
    """

    # Output frames per span of the forward pass (see :mod:`sound2sheet.model.spans`): the
    # partial stack is ~30x its input, and in spans that stay in cache the branch runs ~6x
    # faster on a CPU than in one piece, with the same output (docs/experiments.md #12).
    CHUNK_FRAMES = 512

    def __init__(self, config: ModelConfig, num_heads: int) -> None:
        super().__init__()
        keys = config.num_piano_keys
        self.register_buffer("rows", partial_rows(config, list(range(1, config.harmonics + 1))), persistent=False)
        self.register_buffer("sub_rows", partial_rows(config, [1 / h for h in range(2, config.subharmonics + 2)]),
                             persistent=False)
        self.harmonics, self.subharmonics, self.keys = config.harmonics, config.subharmonics, keys
        c = config.harmonic_channels
        self.conv = nn.Conv2d(1, c, 3, padding=1)
        self.mix = nn.Conv2d(c * config.harmonics, config.harmonic_dim, 1)
        self.sub_mix: nn.Conv2d | None = None
        if config.subharmonics:
            self.sub_mix = zeroed(nn.Conv2d(c * config.subharmonics, config.harmonic_dim, 1, bias=False))
        self.out = zeroed(nn.Conv2d(config.harmonic_dim, num_heads, 1))

    def forward(self, pitch: torch.Tensor) -> torch.Tensor:
        return map_time_spans(self._span, pitch, span=self.CHUNK_FRAMES, reach=self.conv.kernel_size[1] // 2, out_dim=1)

    def _span(self, pitch: torch.Tensor) -> torch.Tensor:
        # Channels last from the conv on: each key's partial stack is then one contiguous row
        # and the 1x1 layers are plain matrix products over [batch * frames * keys] rows: the
        # branch ran 20-35 % faster on a CPU than with 1x1 convolutions over the gathered
        # [B, C * partials, keys, T] (docs/experiments.md #38).
        x = nn.functional.gelu(self.conv(pitch.unsqueeze(1))).permute(0, 3, 2, 1)  # [B, T, bins, C]
        x = nn.functional.pad(x, (0, 0, 0, 1))  # row `bins`: zeros, for rows past either end
        bsz, t, _, c = x.shape
        stack = x.index_select(2, self.rows).reshape(bsz, t, self.keys, self.harmonics * c)
        hidden = nn.functional.linear(stack, _partials_last(self.mix.weight, self.harmonics), self.mix.bias)
        if self.sub_mix is not None:  # the rows of f/2, f/3, ... below each key
            sub = x.index_select(2, self.sub_rows).reshape(bsz, t, self.keys, self.subharmonics * c)
            hidden = hidden + nn.functional.linear(sub, _partials_last(self.sub_mix.weight, self.subharmonics))
        return nn.functional.linear(nn.functional.gelu(hidden), self.out.weight[:, :, 0, 0], self.out.bias)


def _across_keys(inputs: int, dim: int, radius: int) -> nn.Conv1d:
    """A per-key stack's view of the keys up to ``radius`` semitones either side: a convolution
    across keys, the same for every key, zero-initialised so a warm start decodes as before."""
    return zeroed(nn.Conv1d(inputs, dim, 2 * radius + 1, padding=radius))


def _partials_last(weight: torch.Tensor, partials: int) -> torch.Tensor:
    """A 1x1 conv's ``[out, C * partials, 1, 1]`` weight (input channel ``c * partials + p``) as a
    linear layer's ``[out, partials * C]`` over a key's channels-last stack (index ``p * C + c``).
    The parameters keep the conv's shape, so checkpoints load either way."""
    out, both = weight.shape[:2]
    return weight[:, :, 0, 0].reshape(out, both // partials, partials).transpose(1, 2).reshape(out, both)


class Sound2SheetModel(nn.Module):
    """AST encoder + classifier head for frame-level piano transcription.

    ``forward`` returns the frame logits ``[batch, frames, 88]``; :meth:`forward_heads` returns
    every head (``frame``, and ``onset``/``velocity`` when enabled). Output frame ``f`` is
    input frame ``f``: the time contract of :mod:`sound2sheet.timing` holds end to end.
    """

    KEY_SPAN_FRAMES = 1024  # the per-key stacks' spans (88 keys x frames x channels)

    def __init__(self, config: ModelConfig, freeze_encoder: bool | None = None, encoder_config: dict | None = None,
                 cached_encoder: bool = False) -> None:
        super().__init__()
        self.config = config
        freeze = config.freeze_encoder if freeze_encoder is None else freeze_encoder
        self.encoder = ASTWrapper(config, freeze=freeze, encoder_config=encoder_config, cached=cached_encoder)
        self.skip: nn.Module | None = None
        in_dim = self.encoder.hidden_size
        if config.mel_skip_dim > 0:
            if config.mel_skip == "conv":
                self.skip = ConvSkip(config.n_mels, config.mel_skip_channels, config.mel_skip_dim)
            else:
                self.skip = LinearSkip(config.n_mels, config.mel_skip_dim)
            in_dim += config.mel_skip_dim
        heads = ("frame",) + (("onset",) if config.onset_head else ()) + (("velocity",) if config.velocity_head else ())
        self.classifier = PianoRollClassifier(in_dim, config, heads)
        self.pitch = (PitchBranch(config.pitch_bins, config.pitch_dim, self.classifier.extra_dim)
                      if config.pitch_bins else None)
        self.harmonic = HarmonicBranch(config, len(heads)) if config.harmonics else None
        # each key's frame (and onset) and offset probabilities -> an offset logit correction
        offset_inputs = len([h for h in heads if h in ("frame", "onset")]) + 1
        self.offset_keys: TemporalRefiner | None = None
        if config.offset_key_dim:
            self.offset_keys = TemporalRefiner(offset_inputs, 1, config, dim=config.offset_key_dim)
        # and, with offset_key_partials, the pitch rows at the key's first partials (zero-initialised,
        # so a warm start from a model without them decodes as before)
        self.offset_key_partials: nn.Conv1d | None = None
        if config.offset_key_partials:
            self.offset_key_partials = zeroed(nn.Conv1d(config.offset_key_partials, config.offset_key_dim, 1))
            self.register_buffer("offset_rows", partial_rows(config, list(range(1, config.offset_key_partials + 1))),
                                 persistent=False)
        # and, with offset_key_context, the whole keyboard's probabilities, the same for every key
        self.offset_key_context: nn.Linear | None = None
        if config.offset_key_context:
            self.offset_key_context = zeroed(nn.Linear(config.num_piano_keys * offset_inputs, config.offset_key_dim))
        # or its neighbours' probabilities, a conv across keys
        self.offset_key_neighbours: nn.Conv1d | None = None
        if config.offset_key_neighbours:
            self.offset_key_neighbours = _across_keys(offset_inputs, config.offset_key_dim, config.offset_key_neighbours)
        # each key's frame and onset probabilities (and partials) -> an onset logit correction
        self.onset_keys: TemporalRefiner | None = None
        self.onset_key_partials: nn.Conv1d | None = None
        if config.onset_key_dim:
            self.onset_keys = TemporalRefiner(2, 1, config, dim=config.onset_key_dim)
        if config.onset_key_partials:  # the stack's zero output layer keeps a warm start as it was
            self.onset_key_partials = nn.Conv1d(config.onset_key_partials, config.onset_key_dim, 1)
            self.register_buffer("onset_rows", partial_rows(config, list(range(1, config.onset_key_partials + 1))),
                                 persistent=False)
        self.onset_key_neighbours: nn.Conv1d | None = None
        if config.onset_key_neighbours:  # and its neighbours' probabilities, a conv across keys
            self.onset_key_neighbours = _across_keys(2, config.onset_key_dim, config.onset_key_neighbours)
        # Set by from_pretrained: the features and decoding the weights were trained with.
        self.data_config: DataConfig | None = None
        self.inference_config: InferenceConfig | None = None

    @property
    def heads(self) -> tuple[str, ...]:
        return self.classifier.heads

    def forward_heads(self, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        """``mel [batch, n_features, frames] -> {head: logits [batch, frames, num_keys]}``; the
        input is the log-mel (``n_mels`` rows), then the pitch spectrum (``pitch_bins`` rows)
        when the model has a pitch branch: :meth:`AudioProcessor.features`."""
        n_mels, expected = self.config.n_mels, self.config.n_features
        if mel.shape[1] != expected:
            raise ValueError(f"the model reads {expected} feature rows ({n_mels} mel + {self.config.pitch_bins} "
                             f"pitch), got {mel.shape[1]}: compute them with AudioProcessor.features")
        pitch, mel = mel[:, n_mels:], mel[:, :n_mels]
        features = self.encoder(mel)
        if self.skip is not None:
            features = torch.cat([features, self.skip(mel)], dim=-1)
        out = self.classifier(features, self.pitch(pitch) if self.pitch is not None else None)
        if self.harmonic is not None:
            corrections = self.harmonic(pitch)
            for i, head in enumerate(self.heads):
                out[head] = out[head] + corrections[..., i]
        # both per-key stacks read the heads as they were before either correction
        offset_fix = self._offset_by_key(out, pitch) if self.offset_keys is not None else None
        if self.onset_keys is not None:
            out["onset"] = out["onset"] + self._by_key(out, ["frame", "onset"], self.onset_keys,
                                                       self.onset_key_partials, getattr(self, "onset_rows", None),
                                                       self.onset_key_neighbours, pitch)
        if offset_fix is not None:
            out["offset"] = out["offset"] + offset_fix
        return out

    def _offset_by_key(self, out: dict[str, torch.Tensor], pitch: torch.Tensor | None = None) -> torch.Tensor:
        """The per-key offset stack over each key's frame, onset and offset probabilities."""
        names = [h for h in ("frame", "onset") if h in out] + ["offset"]
        context = self.offset_key_context if self.offset_key_context is not None else self.offset_key_neighbours
        return self._by_key(out, names, self.offset_keys, self.offset_key_partials,
                            getattr(self, "offset_rows", None), context, pitch)

    def _by_key(self, out: dict[str, torch.Tensor], names: list[str], stack_net: TemporalRefiner,
                partials: nn.Conv1d | None, rows: torch.Tensor | None, context: nn.Linear | nn.Conv1d | None,
                pitch: torch.Tensor | None) -> torch.Tensor:
        """``{head: logits [batch, frames, keys]} -> corrections [batch, frames, keys]``: a
        per-key stack on each key's ``names`` probabilities (detached: it cannot move the heads
        it reads), with ``partials`` its pitch rows (``pitch [batch, bins, frames]`` at
        ``rows``) and with ``context`` the keyboard's summary (a linear map, the same for every
        key) or its neighbours' (a convolution across keys); the keys are folded into the
        batch, so every key shares the weights."""
        # [B, C, K, T]: time last, so the spans below cut every input alike and nothing the size
        # of keys x channels x a whole chunk's frames is ever built (docs/experiments.md #75)
        x = torch.sigmoid(torch.stack([out[h].detach() for h in names], dim=1)).transpose(2, 3)
        bsz, c, keys, frames = x.shape
        inputs = [x] if pitch is None else [x, pitch]

        def stack(z: torch.Tensor, pitch_span: torch.Tensor | None = None) -> torch.Tensor:  # -> [B * K, n, 1]
            n = z.shape[-1]
            extra = None
            if partials is not None:  # each key's pitch rows at its partials
                gathered = nn.functional.pad(pitch_span, (0, 0, 0, 1)).index_select(1, rows)  # [B, K * P, n]
                extra = partials(gathered.reshape(bsz * keys, -1, n).to(z.dtype))
            if isinstance(context, nn.Conv1d):  # across keys, frame by frame
                near = context(z.permute(0, 3, 1, 2).reshape(bsz * n, c, keys)).to(z.dtype)  # [B * n, D, K]
                near = near.reshape(bsz, n, -1, keys).permute(0, 3, 2, 1).reshape(bsz * keys, -1, n)
                extra = near if extra is None else extra + near
            elif context is not None:  # the keyboard's summary, the same for every key
                summary = context(z.permute(0, 3, 2, 1).reshape(bsz, n, keys * c)).transpose(1, 2).to(z.dtype)
                summary = summary.unsqueeze(1).expand(-1, keys, -1, -1).reshape(bsz * keys, -1, n)
                extra = summary if extra is None else extra + summary
            own = z.transpose(1, 2).reshape(bsz * keys, c, n)
            return stack_net(own.transpose(1, 2), extra)[0]

        y = map_time_spans(stack, inputs, span=self.KEY_SPAN_FRAMES, reach=self.config.refine_radius_frames, out_dim=1)
        return y.reshape(bsz, keys, frames).transpose(1, 2)

    def forward(self, mel: torch.Tensor, return_all_heads: bool = False):
        """``mel [batch, n_mels, frames] -> frame logits [batch, frames, num_keys]``, or the
        dict of :meth:`forward_heads` with ``return_all_heads`` (what the Trainer uses, so
        DistributedDataParallel sees every head)."""
        heads = self.forward_heads(mel)
        return heads if return_all_heads else heads["frame"]

    @torch.no_grad()
    def probabilities(self, mel: Any, precision: str | None = None) -> dict[str, np.ndarray]:
        """Sigmoid of every head as numpy ``[batch, frames, num_keys]``, in eval mode.

        ``precision``: "auto", "fp32" or "bf16" (:attr:`InferenceConfig.precision`); default:
        this model's inference config's, so tuning sees what transcription sees."""
        from sound2sheet.model.precision import autocast, inference_dtype

        if precision is None:
            precision = (self.inference_config or InferenceConfig()).precision
        was_training = self.training
        self.eval()
        try:
            device = next(self.parameters()).device
            with autocast(device, inference_dtype(precision, device)):
                logits = self.forward_heads(as_mel_batch(mel).to(device))
        finally:
            self.train(was_training)
        return {k: torch.sigmoid(v.float()).cpu().numpy() for k, v in logits.items()}

    def decode(self, probs: dict[str, np.ndarray], inference_config: InferenceConfig | None = None) -> list[list[NoteEvent]]:
        """Note events per batch item from :meth:`probabilities` output."""
        cfg = inference_config or self.inference_config or InferenceConfig()
        use_onsets = cfg.use_onsets and "onset" in probs
        kwargs = cfg.decoder_kwargs(self.config.hop_s, self.config.min_midi_note)
        return [
            decode_notes(
                probs["frame"][b],
                probs["onset"][b] if use_onsets else None,
                probs["velocity"][b] if "velocity" in probs else None,
                pedal=probs["pedal"][b] if "pedal" in probs and cfg.use_pedal else None,
                offset=probs["offset"][b] if "offset" in probs else None,
                **kwargs,
            )
            for b in range(probs["frame"].shape[0])
        ]

    def predict(self, mel: Any, inference_config: InferenceConfig | None = None) -> tuple[torch.Tensor, list[list[dict]]]:
        """Transcribe mel spectrograms.

        Returns:
            ``piano_roll``: binary float tensor ``[batch, frames, num_keys]`` (thresholded and,
            if configured, median-filtered frame probabilities), and ``events[b]``: a list of
            ``{pitch, onset_time_ms, offset_time_ms[, velocity, confidence]}`` dicts.
        """
        cfg = inference_config or self.inference_config or InferenceConfig()
        probs = self.probabilities(mel, cfg.precision)
        size = cfg.median_filter_size if cfg.use_median_filter else 1
        roll = np.stack([binarize(p, cfg.classification_threshold, size) for p in probs["frame"]])
        notes = self.decode(probs, cfg)
        return torch.from_numpy(roll.astype(np.float32)), [[n.to_dict() for n in item] for item in notes]

    @classmethod
    def from_pretrained(cls, path: str | Path, map_location: str | torch.device = "cpu",
                        fast_start: bool = False) -> "Sound2SheetModel":
        """Load a checkpoint written by :class:`~sound2sheet.model.Trainer` (or a directory
        holding ``best_model.pt``), in eval mode, with its data and inference configs attached.

        ``fast_start`` (inference on the CPU only): the encoder's traced graph from
        :mod:`sound2sheet.startup_cache`, ~2 s faster to load; such a model cannot train."""
        from sound2sheet.model.checkpoint import model_from_checkpoint

        return model_from_checkpoint(path, map_location=map_location, fast_start=fast_start)
