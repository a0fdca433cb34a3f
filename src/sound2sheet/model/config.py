"""Typed configurations. Derived values (hop in seconds, crop in frames, encoder width) are
computed here and nowhere else.

Every config converts to and from a plain dict (:func:`config_to_dict`, ``from_dict``) so it
can be stored in a checkpoint that loads with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sound2sheet.errors import ConfigError

AUDIOSET_MEAN = -4.2677393
AUDIOSET_STD = 4.5689974

# AST shapes buildable without downloaded weights. "base" is the AudioSet AST architecture
# (MIT/ast-finetuned-audioset-10-10-0.4593); "small" is sized for a 2-core CPU (5.12 s window,
# 80 ms tokens; the whole default model runs ~125x real time, see benchmarks/encoder_speed.py);
# "tiny" trains in seconds for tests.
ENCODER_SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
        patch_size=16, frequency_stride=16, time_stride=8, max_length=256,
    ),
    "small": dict(
        hidden_size=192, num_hidden_layers=4, num_attention_heads=3, intermediate_size=768,
        patch_size=16, frequency_stride=16, time_stride=8, max_length=512,
    ),
    "base": dict(
        hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        patch_size=16, frequency_stride=10, time_stride=10, max_length=1024,
    ),
}

# The ASTConfig fields a checkpoint records so the encoder can be rebuilt without a download.
AST_CONFIG_KEYS = (
    "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
    "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps",
    "patch_size", "qkv_bias", "frequency_stride", "time_stride", "max_length", "num_mel_bins",
)


C = TypeVar("C", bound="_DictConfig")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config as a dict of plain Python values (Paths become strings)."""
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = str(value) if isinstance(value, Path) else value
    return out


def config_from_dict(cls: type[C], data: dict[str, Any] | None, strict: bool = True) -> C:
    """Build ``cls`` from a dict; unknown keys are an error when ``strict``, else ignored."""
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown and strict:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, names, n=1)
            hints.append(f"{key} (did you mean {close[0]}?)" if close else key)
        raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(hints)}")
    return cls(**{k: v for k, v in data.items() if k in names})


class _DictConfig:
    """Plain-dict round trip shared by all configs."""

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any] | None, strict: bool = True) -> C:
        return config_from_dict(cls, data, strict)


@dataclass
class ModelConfig(_DictConfig):
    """Architecture of :class:`~sound2sheet.model.Sound2SheetModel`.

    ``pretrained=True`` loads ``ast_model_name`` (hub name or local directory);
    ``pretrained=False`` builds a randomly initialised AST of ``encoder_size``, optionally
    overridden field by field with ``encoder_config`` (``transformers.ASTConfig`` kwargs).
    ``hidden_size`` always follows the encoder's width.
    """

    ast_model_name: str = "MIT/ast-finetuned-audioset-10-10-0.4593"
    hidden_size: int = 768
    dropout: float = 0.1
    num_piano_keys: int = 88
    min_midi_note: int = 21
    max_midi_note: int = 108
    frame_duration_ms: float = 10.0
    classification_threshold: float = 0.5
    num_classifier_layers: int = 2
    classifier_hidden_dim: int = 512
    use_temporal_conv: bool = True
    temporal_conv_kernel: int = 5
    freeze_encoder: bool = False
    pretrained: bool = True
    encoder_size: str = "base"
    encoder_config: dict[str, Any] | None = None
    n_mels: int = 128
    # Per-frame mel features fed to the head beside the encoder's ~80-100 ms tokens, so onsets
    # keep 10 ms precision. 0 disables the path. "linear": one Conv1d over frames (mel bins as
    # channels); "conv": a small 2-D conv stack over frequency and time, shared across pitch
    # like a CNN transcriber's front end (more sample-efficient; see docs/experiments.md).
    mel_skip_dim: int = 128
    mel_skip: str = "linear"
    mel_skip_channels: int = 16
    onset_head: bool = True
    velocity_head: bool = True
    # Sustain-pedal head: one logit per frame (CC64 >= 64 in the labels' MIDI), read from the
    # refiner's hidden features (its seconds of context) or, without a refiner, the trunk's.
    # Zero weights and a "pedal up" bias, so a warm start decodes as before; the decoder holds
    # notes while it is down (InferenceConfig.use_pedal).
    pedal_head: bool = False
    # > 0: the pedal head is its own stack of that width, shaped like the refiner (its layers
    # and kernel, so its reach is refine_radius_frames), over the trunk's features *detached*:
    # its loss cannot move the note heads, which cost them when it shared their features
    # (docs/experiments.md #10). 0: one linear layer on the refiner's hidden features.
    pedal_dim: int = 0
    # > 0: an offset head of that width, shaped like the pedal stack (the refiner's layers and
    # kernel) over the trunk's features, detached like it so a warm start's note heads stay as
    # they were: per key, where a note stops sounding (the dampers fall, or a re-strike), the
    # event that ends pedal-extended notes, which decay below the frame head's threshold long
    # before it (docs/experiments.md #59). 0: no offset head.
    offset_dim: int = 0
    # > 0 (with offset_dim): a second offset stack of that width, one set of weights shared by
    # every key, over each key's own frame, onset and offset probabilities (detached), whose
    # output is added to the offset logits. The first stack squeezes 88 keys through offset_dim
    # channels; this one reads where each key's own activation falls, and learns it once for the
    # whole keyboard (docs/experiments.md #61). Doubles the offset head's reach.
    offset_key_dim: int = 0
    # > 0 (with offset_key_dim and the pitch rows): the per-key offset stack also reads the
    # pitch spectrum at the key's first this-many partials, where a damper's fall shows as the
    # key's own energy dropping (docs/experiments.md #62).
    offset_key_partials: int = 0
    # With offset_key_dim: the per-key offset stack also reads the whole keyboard, a
    # zero-initialised linear map of every key's probabilities in each frame, the same for all
    # keys. A pedal's release ends every held key at once, which no single key's evidence tells
    # from its own slow decay (docs/experiments.md #65).
    offset_key_context: bool = False
    # > 0 (with offset_key_dim, instead of offset_key_context): the per-key offset stack also
    # reads the frame, onset and offset probabilities of the keys up to this many semitones
    # either side, through a zero-initialised convolution across keys, as the onset stack's
    # neighbours: a chord released together, or one key's damper falling as its neighbour is
    # struck (docs/experiments.md #74).
    offset_key_neighbours: int = 0
    # > 0 (with the onset head): a per-key onset stack of that width, shaped like the offset one
    # (one set of weights for all keys, over each key's own frame and onset probabilities,
    # detached), whose output is added to the onset logits. Most missed dev onsets have a peak
    # just under the threshold (0.5-0.7): the key's own recent activity and partials can tell
    # a re-strike from an echo (docs/experiments.md #66). The offset stack reads the onset
    # probabilities before this correction.
    onset_key_dim: int = 0
    # > 0 (with onset_key_dim and the pitch rows): the per-key onset stack also reads the pitch
    # spectrum at the key's first this-many partials, where a strike shows as a jump in energy.
    onset_key_partials: int = 0
    # > 0 (with onset_key_dim): the per-key onset stack also reads the frame and onset
    # probabilities of the keys up to this many semitones either side, through a
    # zero-initialised convolution across keys (the same for every key, so it knows which
    # neighbour is an octave or a fifth away). A chord's keys are struck together: a quiet
    # key's weak peak is likelier a strike when its neighbours' onsets peak in the same frames
    # (docs/experiments.md #71).
    onset_key_neighbours: int = 0
    # Inputs longer than the encoder window are cut into windows overlapping this many frames
    # and cross-faded back together.
    window_overlap_frames: int = 128
    # Encoder windows per forward call; bounds memory on long inputs.
    encoder_batch_windows: int = 8
    # Temporal refiner: residual dilated Conv1d blocks over the head's per-frame features
    # (dilations 1, 2, 4, ...; reach: refine_radius_frames, e.g. 7 layers of kernel 3 = 1.27 s),
    # whose output is added to every head's logits: 10 ms-resolution context to hold pedalled
    # notes and veto an onset echo. Zero-initialised, so a checkpoint without it warm-starts
    # unchanged. 0 disables.
    refine_layers: int = 0
    refine_dim: int = 128
    refine_kernel: int = 3
    # Pitch branch: the input carries this many pitch-spectrum rows after the n_mels mel rows
    # (DataConfig.pitch_bins_per_semitone decides how many; check_compatible keeps the two
    # equal). A Conv1d over frames (kernel 3, pitch_dim channels) then a zero-initialised
    # projection added to the head's temporal conv: fine frequency for the notes below C5 that
    # AST's 25 ms fbank blurs, and a checkpoint without it warm-starts unchanged. 0 disables.
    pitch_bins: int = 0
    pitch_dim: int = 256
    # Harmonic branch: the same pitch rows read the same way for every key. Each key gathers
    # its first ``harmonics`` partials (rows at +12 log2(h) semitones) from a small 2-D conv
    # over the pitch rows, then 1x1 layers shared by all 88 keys give per-key logit
    # corrections (zero-initialised). One set of weights for the whole keyboard, so what the
    # training pianos teach about a partial pattern holds on a piano they never played.
    # ``harmonic_bins_per_semitone`` must match DataConfig.pitch_bins_per_semitone. 0 disables.
    harmonics: int = 0
    harmonic_channels: int = 8
    harmonic_dim: int = 32
    harmonic_bins_per_semitone: int = 2
    # Rows *below* each key too, at -12 log2(h) semitones for h = 2..subharmonics+1: energy at
    # f/2 or f/3 says the key's own row may be a partial of a lower note (octave errors). Read
    # by a zero-initialised layer of their own, so a branch without them warm-starts unchanged.
    subharmonics: int = 0

    def __post_init__(self) -> None:
        if self.max_midi_note - self.min_midi_note + 1 != self.num_piano_keys:
            raise ConfigError(
                f"num_piano_keys={self.num_piano_keys} does not match MIDI range "
                f"{self.min_midi_note}-{self.max_midi_note}"
            )
        if self.encoder_size not in ENCODER_SIZES:
            raise ConfigError(
                f"encoder_size must be one of {sorted(ENCODER_SIZES)}, got {self.encoder_size!r}"
            )
        if self.temporal_conv_kernel < 1 or self.temporal_conv_kernel % 2 == 0:
            raise ConfigError(f"temporal_conv_kernel must be odd and >= 1, got {self.temporal_conv_kernel}")
        if self.num_classifier_layers < 1:
            raise ConfigError("num_classifier_layers must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 < self.classification_threshold < 1.0:
            raise ConfigError("classification_threshold must be in (0, 1)")
        if self.frame_duration_ms <= 0:
            raise ConfigError("frame_duration_ms must be positive")
        if self.mel_skip not in ("linear", "conv"):
            raise ConfigError(f"mel_skip must be 'linear' or 'conv', got {self.mel_skip!r}")
        if self.window_overlap_frames < 0:
            raise ConfigError("window_overlap_frames must be >= 0")
        if not 0 <= self.refine_layers <= 10:  # 10 layers of kernel 3 already reach 10 s
            raise ConfigError(f"refine_layers must be >= 0 and at most 10, got {self.refine_layers}")
        if self.refine_dim < 1:
            raise ConfigError(f"refine_dim must be >= 1, got {self.refine_dim}")
        if self.refine_kernel < 3 or self.refine_kernel % 2 == 0:
            raise ConfigError(f"refine_kernel must be odd and >= 3, got {self.refine_kernel}")
        if self.pedal_dim < 0 or (self.pedal_dim and not self.refine_layers):
            raise ConfigError("pedal_dim must be >= 0 and needs the refiner's shape (refine_layers >= 1)")
        if self.offset_dim < 0 or (self.offset_dim and not self.refine_layers):
            raise ConfigError("offset_dim must be >= 0 and needs the refiner's shape (refine_layers >= 1)")
        if self.offset_key_dim < 0 or (self.offset_key_dim and not self.offset_dim):
            raise ConfigError("offset_key_dim must be >= 0 and needs the offset head (offset_dim >= 1)")
        if self.offset_key_partials < 0 or (self.offset_key_partials and not (self.offset_key_dim and self.pitch_bins)):
            raise ConfigError("offset_key_partials must be >= 0 and needs the per-key offset stack "
                              "(offset_key_dim >= 1) and the pitch rows (pitch_bins >= 1)")
        if self.onset_key_dim < 0 or (self.onset_key_dim and not (self.onset_head and self.refine_layers)):
            raise ConfigError("onset_key_dim must be >= 0 and needs the onset head and the refiner's shape "
                              "(onset_head, refine_layers >= 1)")
        if self.onset_key_partials < 0 or (self.onset_key_partials and not (self.onset_key_dim and self.pitch_bins)):
            raise ConfigError("onset_key_partials must be >= 0 and needs the per-key onset stack "
                              "(onset_key_dim >= 1) and the pitch rows (pitch_bins >= 1)")
        if self.offset_key_context and not self.offset_key_dim:
            raise ConfigError("offset_key_context needs the per-key offset stack (offset_key_dim >= 1)")
        if self.offset_key_neighbours < 0 or (self.offset_key_neighbours and (not self.offset_key_dim
                                                                          or self.offset_key_context)):
            raise ConfigError("offset_key_neighbours must be >= 0 and needs the per-key offset stack "
                              "(offset_key_dim >= 1) without offset_key_context")
        if self.onset_key_neighbours < 0 or (self.onset_key_neighbours and not self.onset_key_dim):
            raise ConfigError("onset_key_neighbours must be >= 0 and needs the per-key onset stack (onset_key_dim >= 1)")
        if self.pitch_bins < 0 or self.pitch_dim < 1:
            raise ConfigError(f"pitch_bins must be >= 0 and pitch_dim >= 1, got {self.pitch_bins} / {self.pitch_dim}")
        if self.harmonics < 0 or self.harmonic_channels < 1 or self.harmonic_dim < 1 or self.harmonic_bins_per_semitone < 1:
            raise ConfigError("harmonics must be >= 0; harmonic_channels, harmonic_dim and "
                              "harmonic_bins_per_semitone >= 1")
        if self.subharmonics < 0 or (self.subharmonics and not self.harmonics):
            raise ConfigError("subharmonics must be >= 0 and needs the harmonic branch (harmonics >= 1)")
        if self.harmonics and not self.pitch_bins:
            raise ConfigError("harmonics needs the pitch rows: set pitch_bins (and DataConfig.pitch_bins_per_semitone)")
        if not self.pretrained or self.encoder_config:
            self.hidden_size = int(self.ast_kwargs()["hidden_size"])

    @property
    def hop_s(self) -> float:
        """Frame hop in seconds."""
        return self.frame_duration_ms / 1000.0

    @property
    def n_features(self) -> int:
        """Input rows the model reads: mel, then pitch spectrum."""
        return self.n_mels + self.pitch_bins

    @property
    def refine_radius_frames(self) -> int:
        """Frames either side that the temporal refiner looks at (0 without one)."""
        return (self.refine_kernel // 2) * (2 ** self.refine_layers - 1)

    @property
    def head_radius_frames(self) -> int:
        """Frames either side that any head's convolutions after the trunk look at: the
        refiner's reach, twice with a per-key stack (it reads the refined heads)."""
        return self.refine_radius_frames * (2 if self.offset_key_dim or self.onset_key_dim else 1)

    def ast_kwargs(self) -> dict[str, Any]:
        """``ASTConfig`` kwargs for a from-scratch encoder: size preset, then overrides."""
        kwargs: dict[str, Any] = dict(ENCODER_SIZES[self.encoder_size])
        kwargs.update(hidden_dropout_prob=self.dropout, attention_probs_dropout_prob=self.dropout)
        kwargs.update(self.encoder_config or {})
        kwargs["num_mel_bins"] = self.n_mels
        if kwargs["max_length"] <= self.window_overlap_frames:
            raise ConfigError(
                f"window_overlap_frames={self.window_overlap_frames} must be smaller than the "
                f"encoder window ({kwargs['max_length']} frames)"
            )
        return kwargs


@dataclass
class TrainingConfig(_DictConfig):
    """How :class:`~sound2sheet.model.Trainer` optimises, checkpoints and resumes."""

    learning_rate: float = 1e-4
    batch_size: int = 8
    num_epochs: int = 50
    use_mixed_precision: bool = True
    # "auto": bf16 on CPUs with native bf16 (AVX512-BF16/AMX; elsewhere it is emulated and
    # much slower, so fp32), bf16 on CUDA where supported else fp16 (with a GradScaler).
    amp_dtype: str = "auto"
    weight_decay: float = 0.01
    grad_clip_norm: float = 1.0
    lr_schedule: str = "cosine"  # "cosine" | "linear" | "constant", after linear warm-up
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    checkpoint_dir: str = "checkpoints"
    early_stopping_patience: int = 10  # epochs without improvement; 0 disables
    best_metric: str = "note_onset_f1"  # any validation metric name; "val_loss" is minimised
    seed: int = 42
    num_workers: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    pos_weight: float | None = None  # BCE positive-class weight for the frame head
    onset_pos_weight: float | None = 10.0  # the same for the ~100x sparser onset head: learns it much sooner
    onset_loss_weight: float = 1.0
    # Onset BCE weight on cells whose key already sounds in the previous frame's label (a
    # re-strike, or an attack elsewhere heard through a held note): where the dev set's onset
    # errors sit (docs/experiments.md #19). 1: every cell alike.
    held_onset_weight: float = 1.0
    # Onset BCE weight, on top, on a held key's no-onset cells within 2 frames of a new note's
    # onset on a higher key, whose partials can make an unseen piano's held key look struck
    # again (docs/experiments.md #37). 1: no extra weight.
    ghost_onset_weight: float = 1.0
    # Extra onset BCE weight on quiet strikes: an onset target cell of velocity v (0-1) weighs
    # 1 + quiet_onset_weight * (1 - v). The re-strikes the model misses on dev are the quiet
    # ones (docs/experiments.md #20-21). 0: velocity plays no part.
    quiet_onset_weight: float = 0.0
    # Frame BCE weight on the cells of a note at least late_frame_after_ms old: long notes end
    # too early on dev, their decayed tails being where the frame probability sinks
    # (docs/experiments.md #22). 1: every cell alike.
    late_frame_weight: float = 1.0
    late_frame_after_ms: float = 500.0
    # Extra frame BCE weight on the first quiet_frame_ms of a quiet note: a cell of a note of
    # velocity v (0-1) weighs 1 + quiet_frame_weight * (1 - v) there. Quiet notes' frame
    # probability sits under the threshold from their start, so they are dropped or cut short
    # (docs/experiments.md #76-#78). 0: velocity plays no part.
    quiet_frame_weight: float = 0.0
    quiet_frame_ms: float = 100.0
    # Train only the parameters whose names start with one of these (e.g.
    # ["classifier.pedal_net"]); the rest stay frozen. Empty: train everything.
    train_only: list[str] = dataclasses.field(default_factory=list)
    velocity_loss_weight: float = 0.5
    pedal_loss_weight: float = 0.5
    offset_loss_weight: float = 1.0  # the offset head's BCE (ModelConfig.offset_dim), with onset_pos_weight
    # Weight averaging (torch.optim.swa_utils.AveragedModel) from step average_start_step on:
    # "ema" an exponential moving average (ema_decay per step), "swa" the plain mean. The
    # average is what validation scores and what checkpoints' model_state_dict hold (so every
    # reader gets it); last.pt keeps the raw weights in training_state_dict for resuming.
    # "none": the weights as trained.
    weight_average: str = "none"
    ema_decay: float = 0.999
    average_start_step: int = 0
    max_steps: int | None = None  # stop after this many optimizer steps (overrides epochs)
    steps_per_epoch: int | None = None  # cap on batches per epoch (None: the whole loader)
    save_every_steps: int = 0  # also write last.pt every N steps mid-epoch; 0: only per epoch
    log_every_steps: int = 50
    resume_from: str | None = None  # a last.pt to continue, or "auto" for checkpoint_dir/last.pt
    init_from: str | None = None  # warm start: model weights only, fresh optimizer
    progress: bool = True
    # torch.compile the training step's forward (validation stays eager: its whole files vary in
    # length). On a 2-core CPU with bf16 autocast the shipped recipe's step takes ~13 % less time
    # after ~90 s of compiling (docs/experiments.md #33); needs a C++ compiler.
    compile: bool = False

    def __post_init__(self) -> None:
        if self.learning_rate <= 0:
            raise ConfigError("learning_rate must be positive")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if self.held_onset_weight <= 0:
            raise ConfigError("held_onset_weight must be positive")
        if self.ghost_onset_weight <= 0:
            raise ConfigError("ghost_onset_weight must be positive")
        if self.quiet_onset_weight < 0:
            raise ConfigError("quiet_onset_weight must be >= 0")
        if self.quiet_frame_weight < 0 or self.quiet_frame_ms < 0:
            raise ConfigError("quiet_frame_weight and quiet_frame_ms must be >= 0")
        if self.late_frame_weight <= 0:
            raise ConfigError("late_frame_weight must be positive")
        if self.late_frame_after_ms < 0:
            raise ConfigError("late_frame_after_ms must be >= 0")
        if self.num_epochs < 1:
            raise ConfigError("num_epochs must be >= 1")
        if self.lr_schedule not in ("cosine", "linear", "constant"):
            raise ConfigError(f"lr_schedule must be cosine, linear or constant, got {self.lr_schedule!r}")
        if self.amp_dtype not in ("auto", "bf16", "fp16"):
            raise ConfigError(f"amp_dtype must be auto, bf16 or fp16, got {self.amp_dtype!r}")
        if self.num_workers < 0:
            raise ConfigError("num_workers must be >= 0")
        if self.weight_average not in ("none", "ema", "swa"):
            raise ConfigError(f"weight_average must be none, ema or swa, got {self.weight_average!r}")
        if not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.average_start_step < 0:
            raise ConfigError("average_start_step must be >= 0")

    @property
    def best_metric_key(self) -> str:
        """History key of the model-selection metric."""
        return self.best_metric if self.best_metric.startswith(("val_", "train_")) else f"val_{self.best_metric}"

    @property
    def best_metric_mode(self) -> str:
        return "min" if "loss" in self.best_metric else "max"


@dataclass
class DataConfig(_DictConfig):
    """Dataset location, features and labels.

    The feature defaults are AudioSet AST's: Kaldi-style 128-bin log-mel fbank, 25 ms Hann
    window, 10 ms shift at 16 kHz, normalised with the AudioSet mean/std, exactly as
    ``transformers.ASTFeatureExtractor`` computes them.
    """

    dataset_dir: Path | str = "data/dataset"
    # More dataset directories whose *train* splits join training (e.g. renders in another
    # timbre, or your own recordings); validation and test stay ``dataset_dir``'s.
    extra_train_dirs: list[str] = dataclasses.field(default_factory=list)
    sample_rate: int = 16000
    n_mels: int = 128
    hop_length: int = 160
    win_length: int = 400
    n_fft: int = 512
    f_min: float = 20.0
    f_max: float | None = None  # None: Nyquist
    preemphasis: float = 0.97
    normalize: bool = True
    norm_mean: float = AUDIOSET_MEAN
    norm_std: float = AUDIOSET_STD
    crop_seconds: float = 10.24  # training crop; the small/base encoder window is 1024 frames
    sustain_pedal: bool = True  # extend offsets while CC64 >= 64, as the benchmarks' ground truth
    # Items whose pedal labels train the pedal head: a regular expression their manifest
    # ``piece`` must match ("": all). Real performances carry a pedal one can hear; the music21
    # and generated pieces carry a humanised one over legato writing that one mostly cannot
    # (docs/experiments.md #10), and a held-out performance checks the head.
    pedal_pieces: str = ""
    onset_radius_frames: int = 1  # soft onset target half-width (see sound2sheet.labels)
    cache_dir: str | None = None  # feature cache; None: <dataset_dir>/.cache (each extra dir: its own)
    val_max_seconds: float | None = None  # validate/test on the first N s of each file (CPU-friendly)
    # Training crops only: a fresh random spectral curve (±feature_eq_db at 6 points across the
    # mel axis) and gain (±feature_gain_db) per crop, on top of the renders' own augmentation
    # (sound2sheet.model.feature_augment). 0 turns each off.
    feature_eq_db: float = 0.0
    feature_gain_db: float = 0.0
    # ... and, with this probability, a random room: a reverberant tail with RT60 up to
    # feature_rt60_max_s (sound2sheet.model.feature_augment.random_room).
    feature_room_prob: float = 0.0
    feature_rt60_max_s: float = 1.2
    # ... and, with this probability, a second training crop (any set, its own EQ/gain/room)
    # heard under the first at a level ±feature_mix_db from it, the labels the union of both:
    # dense textures of two pianos with quiet notes under loud ones, where the dev set's misses
    # are (sound2sheet.model.feature_augment.mix_power). Off: at 0.5 it cost offset F1 (masked
    # note ends stay "on" in the labels, so notes are held too long; docs/experiments.md #56).
    feature_mix_prob: float = 0.0
    feature_mix_db: float = 9.0
    # In a mixed crop, the quieter crop's notes stay frame targets this long after their onset;
    # after it, where only they sound, the frame loss leaves them out (masked_tail_weights):
    # their ends cannot be heard under the louder crop. 0: the union everywhere (#56). 100 ms
    # recovered part of #56's offset loss, not most of it (docs/experiments.md #57).
    feature_mix_keep_ms: float = 0.0
    # False: a mixed crop teaches the onset (and velocity) targets only; the frame loss leaves out
    # its whole mixed stretch, so the frame head learns from unmixed crops alone. Offsets still
    # fell (the mixing moves the shared features: docs/experiments.md #58), so mixing stays off.
    feature_mix_frame_targets: bool = True
    # Every file (train, val and test) as if scaled so its loudest sample sits here: what
    # InferenceConfig.normalize_peak does to a recording, so training sees the level inference
    # will show the model (the renders peak anywhere from 0.03 to 0.7). Applied to the cached
    # features as an exact shift (silence stays silence); 0: the recorded level.
    normalize_peak: float = 0.0
    # Pitch spectrum after the mel rows (sound2sheet.core.features.PitchSpectrum): rows per
    # semitone from A0 (0: mel only) and its FFT window in samples (2048 = 128 ms at 16 kHz).
    pitch_bins_per_semitone: int = 0
    pitch_n_fft: int = 2048

    def __post_init__(self) -> None:
        self.dataset_dir = Path(self.dataset_dir)
        if isinstance(self.extra_train_dirs, (str, Path)):
            self.extra_train_dirs = [self.extra_train_dirs]
        self.extra_train_dirs = [str(d) for d in self.extra_train_dirs]
        if self.pitch_bins_per_semitone < 0 or self.pitch_n_fft < self.win_length:
            raise ConfigError("pitch_bins_per_semitone must be >= 0 and pitch_n_fft >= win_length")
        if self.feature_eq_db < 0 or self.feature_gain_db < 0:
            raise ConfigError("feature_eq_db and feature_gain_db must be >= 0")
        if not 0.0 <= self.normalize_peak <= 1.0:
            raise ConfigError("normalize_peak must be in [0, 1] (0: off)")
        if not 0.0 <= self.feature_mix_prob <= 1.0 or self.feature_mix_db < 0:
            raise ConfigError("feature_mix_prob must be in [0, 1] and feature_mix_db >= 0")
        if self.feature_mix_keep_ms < 0:
            raise ConfigError("feature_mix_keep_ms must be >= 0 (0: no frame-loss mask)")
        if self.feature_mix_keep_ms > 0 and not self.feature_mix_frame_targets:
            raise ConfigError("feature_mix_keep_ms needs feature_mix_frame_targets (without frame targets nothing is kept)")
        if not 0.0 <= self.feature_room_prob <= 1.0 or self.feature_rt60_max_s < 0.1:
            raise ConfigError("feature_room_prob must be in [0, 1] and feature_rt60_max_s >= 0.1")
        if self.sample_rate <= 0 or self.hop_length <= 0 or self.win_length <= 0:
            raise ConfigError("sample_rate, hop_length and win_length must be positive")
        if self.n_fft < self.win_length:
            raise ConfigError(f"n_fft={self.n_fft} must be >= win_length={self.win_length}")
        if self.crop_seconds <= 0:
            raise ConfigError("crop_seconds must be positive")
        if self.onset_radius_frames < 0:
            raise ConfigError("onset_radius_frames must be >= 0")
        try:
            re.compile(self.pedal_pieces)
        except re.error as exc:
            raise ConfigError(f"pedal_pieces is not a regular expression: {exc}") from None

    @property
    def frame_duration_ms(self) -> float:
        return 1000.0 * self.hop_length / self.sample_rate

    @property
    def hop_s(self) -> float:
        return self.hop_length / self.sample_rate

    @property
    def crop_frames(self) -> int:
        return int(round(self.crop_seconds / self.hop_s))

    @property
    def n_pitch_bins(self) -> int:
        """Pitch-spectrum rows these settings give (the one place the count is derived)."""
        from sound2sheet.core.features import pitch_bin_midis

        return len(pitch_bin_midis(self.sample_rate, self.pitch_bins_per_semitone))

    @property
    def feature_reach_frames(self) -> int:
        """Frames beyond its own samples that a feature frame depends on (the pitch window's)."""
        from sound2sheet.core.features import pitch_reach_frames

        return pitch_reach_frames(self.pitch_n_fft, self.win_length, self.hop_length) if self.pitch_bins_per_semitone else 0


@dataclass
class InferenceConfig(_DictConfig):
    """Post-processing from probabilities to notes."""

    classification_threshold: float = 0.5
    min_note_duration_ms: float = 30.0
    use_median_filter: bool = True
    median_filter_size: int = 3
    onset_threshold: float = 0.5
    use_onsets: bool = True  # start notes at onset-head peaks when the model has that head
    # An onset peak this close to the previous one on its key is an echo, not a re-strike
    # (see sound2sheet.decoding); 0 keeps every peak.
    min_reonset_ms: float = 0.0
    # An onset peak on a key whose note still sounds starts a new note only at or above this
    # (a re-strike, not an echo of the attack; see sound2sheet.decoding); 0: onset_threshold.
    reonset_threshold: float = 0.0
    # Such a peak that comes with a new note's onset on a higher key (whose partials can light
    # up the held key's) needs at least this (see sound2sheet.decoding); 0: off.
    ghost_threshold: float = 0.0
    # A model with a sustain-pedal head holds notes while it says the pedal is down (onset-
    # driven decoding; see sound2sheet.decoding). Ignored for models without one.
    use_pedal: bool = True
    pedal_threshold: float = 0.5
    # A held note whose frame probability dips below the threshold for at most this long, with
    # no onset peak on its key, stays one note (onset-driven decoding; 0: off).
    max_gap_ms: float = 0.0
    # A note at least hold_after_ms old goes on while its frame probability is at or above
    # hold_threshold instead of classification_threshold: a decaying piano note's probability
    # sinks with it (onset-driven decoding; 0: off).
    hold_threshold: float = 0.0
    hold_after_ms: float = 0.0
    # With a model's offset head (ModelConfig.offset_dim): such an old note ends where
    # classification_threshold says quiet and an offset peak >= offset_threshold came within
    # offset_window_ms, so a low hold_threshold can keep decaying notes without holding every
    # note too long (sound2sheet.decoding; 0: off). Ignored for models without one.
    offset_threshold: float = 0.0
    offset_window_ms: float = 50.0
    # An onset peak below onset_threshold but at or above chord_onset_threshold starts a note
    # when another key peaks at or above onset_threshold within chord_window_ms: a chord's quiet
    # members peak lower than its loud ones (onset-driven decoding; sound2sheet.decoding; 0: off).
    chord_onset_threshold: float = 0.0
    chord_window_ms: float = 30.0
    default_velocity: int = 80  # written when the model predicts no velocity
    # Scale each recording so its loudest sample sits here before the model hears it (at most
    # +40 dB), so a quiet recording is not heard as a different one. 0 keeps the level as
    # recorded. A model trained with DataConfig.normalize_peak gets that target; the shipped one
    # uses 0.16, the renders' median peak, which the tuner chose on validation (0.9, this
    # default, scored lowest there: docs/experiments.md #18).
    normalize_peak: float = 0.9
    # The model's float type: "auto" computes in bf16 where the hardware has it natively (CPUs
    # with AVX512-BF16/AMX, recent GPUs), else fp32; "bf16" forces it (sound2sheet.model.precision).
    # On such a CPU the shipped model's whole dev transcription ran 16 % faster in "auto" than
    # in fp32, notes the same within noise (docs/experiments.md #45), so it ships with "auto";
    # a new model keeps fp32 until its decoding has been checked in bf16 (export-model
    # --inference precision=auto).
    precision: str = "fp32"

    def decoder_kwargs(self, hop_s: float, min_pitch: int) -> dict[str, Any]:
        """Keyword arguments for :func:`~sound2sheet.decoding.decode_notes` and
        :class:`~sound2sheet.decoding.StreamingDecoder` (the one place this mapping lives)."""
        return dict(
            hop_s=hop_s, frame_threshold=self.classification_threshold, onset_threshold=self.onset_threshold,
            median_filter_size=self.median_filter_size if self.use_median_filter else 1,
            min_duration_s=self.min_note_duration_ms / 1000.0, min_pitch=min_pitch,
            min_reonset_s=self.min_reonset_ms / 1000.0, pedal_threshold=self.pedal_threshold,
            reonset_threshold=self.reonset_threshold or None, max_gap_s=self.max_gap_ms / 1000.0,
            hold_threshold=self.hold_threshold or None, hold_after_s=self.hold_after_ms / 1000.0,
            ghost_threshold=self.ghost_threshold or None, offset_threshold=self.offset_threshold or None,
            offset_window_s=self.offset_window_ms / 1000.0, chord_threshold=self.chord_onset_threshold or None,
            chord_window_s=self.chord_window_ms / 1000.0,
        )

    def __post_init__(self) -> None:
        if not 0.0 < self.classification_threshold < 1.0:
            raise ConfigError("classification_threshold must be in (0, 1)")
        if not 0.0 < self.onset_threshold < 1.0:
            raise ConfigError("onset_threshold must be in (0, 1)")
        if self.median_filter_size < 1:
            raise ConfigError("median_filter_size must be >= 1")
        if self.min_note_duration_ms < 0:
            raise ConfigError("min_note_duration_ms must be >= 0")
        if self.min_reonset_ms < 0:
            raise ConfigError("min_reonset_ms must be >= 0")
        if not 0.0 < self.pedal_threshold < 1.0:
            raise ConfigError("pedal_threshold must be in (0, 1)")
        if self.max_gap_ms < 0:
            raise ConfigError("max_gap_ms must be >= 0")
        if not 0.0 <= self.hold_threshold < 1.0:
            raise ConfigError("hold_threshold must be in [0, 1) (0: off)")
        if self.hold_after_ms < 0:
            raise ConfigError("hold_after_ms must be >= 0")
        if not 0.0 <= self.offset_threshold < 1.0 or self.offset_window_ms < 0:
            raise ConfigError("offset_threshold must be in [0, 1) (0: off) and offset_window_ms >= 0")
        if not 0.0 <= self.reonset_threshold < 1.0:
            raise ConfigError("reonset_threshold must be in [0, 1) (0: the onset_threshold)")
        if not 0.0 <= self.ghost_threshold < 1.0:
            raise ConfigError("ghost_threshold must be in [0, 1) (0: off)")
        if not 0.0 <= self.chord_onset_threshold < self.onset_threshold or self.chord_window_ms < 0:
            raise ConfigError("chord_onset_threshold must be in [0, onset_threshold) (0: off) and chord_window_ms >= 0")
        if not 0.0 <= self.normalize_peak <= 1.0:
            raise ConfigError("normalize_peak must be in [0, 1] (0: keep the recorded level)")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"precision must be auto, fp32 or bf16, got {self.precision!r}")


def check_compatible(data_config: DataConfig, model_config: ModelConfig) -> None:
    """Refuse feature settings the model cannot consume, with one clear message."""
    if abs(data_config.frame_duration_ms - model_config.frame_duration_ms) > 1e-6:
        raise ConfigError(
            f"hop_length={data_config.hop_length} at sample_rate={data_config.sample_rate} gives "
            f"{data_config.frame_duration_ms:g} ms frames but the model uses frame_duration_ms="
            f"{model_config.frame_duration_ms:g}; use hop_length="
            f"{round(model_config.frame_duration_ms * data_config.sample_rate / 1000)}"
        )
    if data_config.n_mels != model_config.n_mels:
        raise ConfigError(
            f"DataConfig.n_mels={data_config.n_mels} but the model expects n_mels={model_config.n_mels}"
        )
    if data_config.n_pitch_bins != model_config.pitch_bins:
        raise ConfigError(
            f"DataConfig.pitch_bins_per_semitone={data_config.pitch_bins_per_semitone} gives "
            f"{data_config.n_pitch_bins} pitch rows but the model expects pitch_bins={model_config.pitch_bins}"
        )
    if model_config.harmonics and data_config.pitch_bins_per_semitone != model_config.harmonic_bins_per_semitone:
        raise ConfigError(
            f"DataConfig.pitch_bins_per_semitone={data_config.pitch_bins_per_semitone} but the harmonic "
            f"branch reads rows at harmonic_bins_per_semitone={model_config.harmonic_bins_per_semitone}"
        )


__all__ = [
    "AST_CONFIG_KEYS", "AUDIOSET_MEAN", "AUDIOSET_STD", "ENCODER_SIZES", "DataConfig",
    "InferenceConfig", "ModelConfig", "TrainingConfig", "check_compatible", "config_from_dict",
    "config_to_dict",
]
