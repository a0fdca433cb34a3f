"""Training loop: BCE on piano rolls, latest/best checkpoints, exact resume.

Resuming is exact because everything random is either restored or derived: model init and
optimizer state come from ``last.pt``; dropout draws from the restored torch RNG; crops and
their order are functions of ``(seed, epoch, index)`` (:class:`~sound2sheet.model.dataset.EpochSampler`);
and creating a DataLoader iterator is kept from consuming the global RNG. ``last.pt`` is
written every epoch (and every ``save_every_steps`` steps), so a killed run loses at most that.

Under ``torchrun`` (an initialised process group, see :mod:`sound2sheet.model.distributed`)
the model is wrapped in DistributedDataParallel, validation is split across ranks, and only
rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import random
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from sound2sheet.decoding import GHOST_WINDOW, decode_notes
from sound2sheet.errors import CheckpointError, ConfigError
from sound2sheet.fileio import atomic_write_json, stale_temp_files
from sound2sheet.metrics import frame_counts, frame_scores, note_scores
from sound2sheet.model import distributed as ddp
from sound2sheet.model.checkpoint import BEST_NAME, LAST_NAME, load_checkpoint, load_model_weights, save_checkpoint
from sound2sheet.model.config import DataConfig, InferenceConfig, ModelConfig, TrainingConfig
from sound2sheet.model.precision import autocast, cpu_has_native_bf16
from sound2sheet.timing import time_to_frame

log = logging.getLogger(__name__)


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint."""

    epoch: int = 0  # the epoch in progress, or the next to start
    step: int = 0  # optimizer steps taken
    batch_in_epoch: int = 0  # batches of ``epoch`` already trained
    loss_sum: float = 0.0  # running train loss of ``epoch``
    loss_count: int = 0
    best_value: float | None = None
    best_epoch: int = -1
    stale_epochs: int = 0
    finished: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    world_size: int = 1  # processes that trained it (the global batch is batch_size * world_size)
    n_averaged: int = 0  # updates in the weight average (TrainingConfig.weight_average)


class WarmupSchedule:
    """LR multiplier: linear warm-up, then cosine/linear decay to ``min_ratio`` or constant.

    A plain callable object so ``LambdaLR.state_dict()`` stores its fields, not code.
    """

    def __init__(self, warmup: int, total: int, kind: str, min_ratio: float) -> None:
        self.warmup, self.total, self.kind, self.min_ratio = warmup, total, kind, min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.kind == "constant":
            return 1.0
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        if self.kind == "linear":
            return 1.0 - (1.0 - self.min_ratio) * progress
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def resolve_device(name: str) -> torch.device:
    """``TrainingConfig.device`` as a device; under torchrun a CUDA device is ``cuda:LOCAL_RANK``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} requested but CUDA is not available")
    if device.type == "cuda" and ddp.is_distributed():
        return torch.device("cuda", torch.cuda.current_device())  # set to LOCAL_RANK by distributed_session
    return device


@contextlib.contextmanager
def _rng_preserved() -> Iterator[None]:
    """Run a block without disturbing the global torch RNG (DataLoader iterators draw a seed)."""
    state = torch.get_rng_state()
    try:
        yield
    finally:
        torch.set_rng_state(state)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def held_key_weights(piano_roll: torch.Tensor, weight: float) -> torch.Tensor:
    """``[batch, frames, keys]`` loss weights: ``weight`` where the key sounds in the previous
    frame's label (``piano_roll >= 0.5``), 1 elsewhere (and on each crop's first frame, whose
    past is unknown)."""
    return 1.0 + (weight - 1.0) * _held_cells(piano_roll).to(piano_roll.dtype)


def _held_cells(piano_roll: torch.Tensor) -> torch.Tensor:
    """Bool ``[batch, frames, keys]``: the key sounds in the previous frame's label (never on a
    crop's first frame)."""
    held = torch.zeros_like(piano_roll, dtype=torch.bool)
    held[:, 1:] = piano_roll[:, :-1] >= 0.5
    return held


def ghost_onset_weights(piano_roll: torch.Tensor, onset_roll: torch.Tensor, weight: float,
                        window: int = GHOST_WINDOW) -> torch.Tensor:
    """``[batch, frames, keys]`` onset-loss weights: ``weight`` on the no-onset cells of a held key
    (sounding in the previous frame's label) within ``window`` frames of a new note's onset
    frame (``onset_roll`` 1, its key not held) on a higher key, 1 elsewhere. There a new note's
    partials light up the held key's: the false re-strikes of an unseen piano
    (docs/experiments.md #37), which :func:`held_key_weights` weighs no more than any held cell."""
    held = _held_cells(piano_roll)
    fresh = (onset_roll >= 1.0 - 1e-6) & ~held  # [B, T, K]
    near = nn.functional.max_pool1d(fresh.transpose(1, 2).float(), 2 * window + 1, stride=1, padding=window)
    near = near.transpose(1, 2) > 0
    above = torch.zeros_like(near)
    above[..., :-1] = near.flip(-1).cumsum(-1).flip(-1)[..., 1:] > 0  # any strictly higher key
    cells = held & above & (onset_roll <= 0)
    return 1.0 + (weight - 1.0) * cells.to(piano_roll.dtype)


def quiet_onset_weights(onset_roll: torch.Tensor, velocity_roll: torch.Tensor, weight: float) -> torch.Tensor:
    """``[batch, frames, keys]`` loss weights: ``1 + weight * (1 - velocity)`` on onset target
    cells (``onset_roll > 0``; ``velocity_roll`` in 0-1 there), 1 elsewhere, so a quiet strike
    costs more to miss than a loud one."""
    quiet = (1.0 - velocity_roll).clamp(0.0, 1.0) * (onset_roll > 0).to(velocity_roll.dtype)
    return 1.0 + weight * quiet


def _last_reset(piano_roll: torch.Tensor, onset_roll: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(t, last, sounding)``, each ``[batch, frames, keys]``: the frame index, the latest frame
    at or before it that is an onset target or silent (0 for a note sounding since the crop's
    start), and where the key sounds."""
    frames = piano_roll.shape[1]
    t = torch.arange(frames, device=piano_roll.device).view(1, frames, 1).expand_as(piano_roll)
    sounding = piano_roll >= 0.5
    reset = (onset_roll > 0) | ~sounding
    return t, torch.where(reset, t, torch.zeros_like(t)).cummax(dim=1).values, sounding


def note_age_frames(piano_roll: torch.Tensor, onset_roll: torch.Tensor) -> torch.Tensor:
    """``[batch, frames, keys]`` frames since the sounding note's onset (0 on its onset frame
    and wherever the key is off). A note already sounding at a crop's start counts from the
    crop's first frame: its past is unknown."""
    t, last_reset, sounding = _last_reset(piano_roll, onset_roll)
    return torch.where(sounding, t - last_reset, torch.zeros_like(t))


def quiet_frame_weights(piano_roll: torch.Tensor, onset_roll: torch.Tensor, velocity_roll: torch.Tensor,
                        weight: float, within_frames: int) -> torch.Tensor:
    """``[batch, frames, keys]`` frame-loss weights: ``1 + weight * (1 - v)`` on the first
    ``within_frames`` sounding cells of a note struck in the crop with velocity ``v`` (0-1), 1
    elsewhere. A quiet note's frame probability sits under the threshold from its start, so the
    decoder drops it or cuts it short (docs/experiments.md #76-#78)."""
    t, last, sounding = _last_reset(piano_roll, onset_roll)
    struck = torch.gather(onset_roll, 1, last) > 0  # the note began in the crop
    quiet = (1.0 - torch.gather(velocity_roll, 1, last)).clamp(0.0, 1.0)
    young = sounding & struck & (t - last < within_frames)
    return 1.0 + weight * quiet * young.to(quiet.dtype)


def late_frame_weights(piano_roll: torch.Tensor, onset_roll: torch.Tensor, weight: float,
                       after_frames: int) -> torch.Tensor:
    """``[batch, frames, keys]`` frame-loss weights: ``weight`` on the cells of a note at least
    ``after_frames`` old, 1 elsewhere. A long note's decayed tail is where its frame
    probability sinks before the label ends (docs/experiments.md #22)."""
    late = note_age_frames(piano_roll, onset_roll) >= after_frames
    return 1.0 + (weight - 1.0) * late.to(piano_roll.dtype)


def reference_notes_from_labels(batch: dict[str, Any], b: int, hop_s: float, min_pitch: int):
    """The notes a batch item's labels encode (onset roll separates re-struck keys)."""
    n = int(batch["n_frames"][b])
    roll = batch["piano_roll"][b, :n].cpu().numpy()
    onset = batch["onset_roll"][b, :n].cpu().numpy() if "onset_roll" in batch else None
    vel = batch["velocity_roll"][b, :n].cpu().numpy() if "velocity_roll" in batch else None
    return decode_notes(
        roll, onset, vel, hop_s=hop_s, frame_threshold=0.5, onset_threshold=0.5,
        median_filter_size=1, min_duration_s=0.0, min_pitch=min_pitch,
    )


class Trainer:
    """Trains a :class:`~sound2sheet.model.Sound2SheetModel`.

    ``train()`` returns the history: one dict per epoch with ``train_loss``, ``val_loss``,
    ``val_frame_precision/recall/f1/accuracy``, ``val_note_onset_f1`` and more. Writes
    ``last.pt`` (everything needed to resume), ``best_model.pt`` (by
    ``training_config.best_metric``) and ``history.json`` into ``checkpoint_dir``.
    """

    def __init__(
        self,
        model: nn.Module,
        train_loader: DataLoader,
        val_loader: DataLoader | None,
        model_config: ModelConfig,
        training_config: TrainingConfig,
        data_config: DataConfig | None = None,
        inference_config: InferenceConfig | None = None,
    ) -> None:
        self.model_config = model_config
        self.config = training_config
        self.data_config = data_config if data_config is not None else getattr(train_loader.dataset, "config", None)
        self.inference_config = inference_config or InferenceConfig(classification_threshold=model_config.classification_threshold)
        if self.data_config is not None and self.data_config.normalize_peak > 0:
            # transcription shows the model recordings at the level it was trained at
            self.inference_config = dataclasses.replace(self.inference_config,
                                                        normalize_peak=self.data_config.normalize_peak)
        self.train_loader, self.val_loader = train_loader, val_loader
        self.device = resolve_device(training_config.device)
        torch.manual_seed(training_config.seed)
        random.seed(training_config.seed)
        self.model = model.to(self.device)
        self.checkpoint_dir = Path(training_config.checkpoint_dir)
        self.is_main = ddp.rank() == 0
        self.world_size = ddp.world_size()
        if training_config.init_from:
            ckpt = load_checkpoint(training_config.init_from)
            new = load_model_weights(self.model, ckpt["model_state_dict"], source=f"init_from={training_config.init_from}",
                                     allow_new=True)
            if new:
                log.info("warm start from %s: %d tensors not in it keep their initialisation (%s)",
                         training_config.init_from, len(new), ", ".join(sorted({".".join(k.split(".")[:2]) for k in new})))
                from sound2sheet.model.encoder import grow_identity_layers

                grown = grow_identity_layers(self.model, new)
                if grown:
                    log.info("encoder layers %s are new: they start as identities", grown)
        if training_config.train_only:
            prefixes = tuple(training_config.train_only)
            names = [n for n, _ in model.named_parameters() if n.startswith(prefixes)]
            if not names:
                raise ConfigError(f"train_only {list(prefixes)} names no parameter of this model")
            for n, p in model.named_parameters():
                p.requires_grad_(n.startswith(prefixes))
        if ddp.is_distributed():
            # Broadcasts rank 0's weights; every head is in the loss, so no unused parameters.
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
            # AST's expanded cls/distillation tokens get oddly strided grads: a copy, not an error.
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        self.averaged = self._averaged_model()
        # shares the parameters; evaluation calls core.forward_heads, which stays eager
        self._train_forward = torch.compile(self.model) if training_config.compile else self.model

        decay, no_decay = [], []
        for p in self.model.parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": training_config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=training_config.learning_rate,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._schedule())
        self.amp_dtype = self._amp_dtype()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.device.type == "cuda" and self.amp_dtype == torch.float16)
        self.bce = nn.BCEWithLogitsLoss(pos_weight=self._pos_weight(training_config.pos_weight))
        self.onset_pos_weight = self._pos_weight(training_config.onset_pos_weight)
        self.bce_plain = nn.BCEWithLogitsLoss()
        self.state = TrainState(world_size=self.world_size)
        resume = training_config.resume_from
        if resume == "auto":
            resume = str(self.checkpoint_dir / LAST_NAME) if (self.checkpoint_dir / LAST_NAME).exists() else None
        if resume:
            self.load_state(resume)
        if ddp.is_distributed():
            self._check_ranks_agree(resume)

    # ------------------------------------------------------------------ setup
    def steps_per_epoch(self) -> int:
        """Batches in a whole epoch, capped by ``steps_per_epoch``."""
        sampler = self.train_loader.sampler
        if hasattr(sampler, "epoch_length") and self.train_loader.batch_size:
            batches = math.ceil(sampler.epoch_length() / self.train_loader.batch_size)
        else:
            batches = len(self.train_loader)
        return min(batches, self.config.steps_per_epoch or batches)

    @property
    def core(self) -> nn.Module:
        """The model itself, unwrapped from DistributedDataParallel."""
        return self.model.module if hasattr(self.model, "module") else self.model

    def _averaged_model(self) -> torch.optim.swa_utils.AveragedModel | None:
        """The running weight average ``TrainingConfig.weight_average`` asks for (None: off)."""
        from torch.optim import swa_utils

        kind = self.config.weight_average
        if kind == "none":
            return None
        avg_fn = swa_utils.get_ema_multi_avg_fn(self.config.ema_decay) if kind == "ema" else None
        averaged = swa_utils.AveragedModel(self.core, multi_avg_fn=avg_fn)  # buffers are constants here
        return averaged.eval()

    @property
    def averaging(self) -> bool:
        """Whether the weight average has started (then it is the model that is scored and saved)."""
        return self.averaged is not None and int(self.averaged.n_averaged) > 0

    @property
    def scored_model(self) -> nn.Module:
        """The model validation scores and checkpoints hold: the weight average once it has started."""
        return self.averaged.module if self.averaging else self.core

    def _check_ranks_agree(self, resume: str | None) -> None:
        """Every rank must start from the same point, or they would deadlock or diverge."""
        st = self.state
        mine = (bool(resume), st.epoch, st.step, st.batch_in_epoch)
        seen = ddp.all_gather_objects(mine)
        if any(other != seen[0] for other in seen):
            raise CheckpointError(
                f"ranks disagree on where training starts ((resumed, epoch, step, batch) per rank: {seen}); "
                f"resuming under torchrun needs {self.checkpoint_dir / LAST_NAME} on a file system every rank sees"
            )

    def _schedule(self) -> WarmupSchedule:
        """The LR multiplier this config asks for; warm-up never more than 10 % of the run."""
        total = self.total_steps()
        warmup = max(1, min(self.config.warmup_steps, total // 10))
        return WarmupSchedule(warmup, total, self.config.lr_schedule, self.config.min_lr_ratio)

    def total_steps(self) -> int:
        return self.config.max_steps or self.config.num_epochs * max(1, self.steps_per_epoch())

    def _pos_weight(self, value: float | None) -> torch.Tensor | None:
        if value is None:
            return None
        return torch.full((self.model_config.num_piano_keys,), float(value), device=self.device)

    def _amp_dtype(self) -> torch.dtype | None:
        if not self.config.use_mixed_precision:
            return None
        if self.device.type == "cpu":
            if self.config.amp_dtype == "auto" and not cpu_has_native_bf16():
                log.info("mixed precision off: this CPU has no native bf16 (emulated bf16 ran ~18x slower "
                         "here); set amp_dtype='bf16' to force it")
                return None
            return torch.bfloat16
        if self.config.amp_dtype == "fp16":
            return torch.float16
        if self.config.amp_dtype == "bf16" or torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16

    def autocast(self):
        return autocast(self.device, self.amp_dtype)

    # ------------------------------------------------------------------ loss
    def compute_loss(
        self, heads: dict[str, torch.Tensor], batch: dict[str, Any], velocity_norm: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Frame BCE + weighted onset BCE + weighted masked velocity MSE (+ weighted pedal BCE).

        The velocity MSE is a mean over onset-mask weight, not over items, so under DDP
        (which averages gradients over ranks) ``velocity_norm`` is the global mask sum divided
        by the world size: the averaged gradient is then the global batch's."""
        target = batch["piano_roll"]
        frame_factors = []  # the plain BCE when there are none
        if self.config.late_frame_weight != 1.0:
            after = time_to_frame(self.config.late_frame_after_ms / 1000.0, self.model_config.hop_s)
            frame_factors.append(late_frame_weights(target, batch["onset_roll"], self.config.late_frame_weight, after))
        if self.config.quiet_frame_weight > 0:  # every training batch carries velocity_roll (PianoDataset)
            within = time_to_frame(self.config.quiet_frame_ms / 1000.0, self.model_config.hop_s)
            frame_factors.append(quiet_frame_weights(target, batch["onset_roll"], batch["velocity_roll"],
                                                     self.config.quiet_frame_weight, within))
        if "frame_weight" in batch:  # mixed crops' masks (DataConfig.feature_mix_keep_ms, feature_mix_frame_targets)
            frame_factors.append(batch["frame_weight"])
        if frame_factors:
            parts = {"frame": nn.functional.binary_cross_entropy_with_logits(
                heads["frame"].float(), target, pos_weight=self.bce.pos_weight, weight=math.prod(frame_factors))}
        else:
            parts = {"frame": self.bce(heads["frame"].float(), target)}
        if "onset" in heads:
            held, ghost, quiet = (self.config.held_onset_weight, self.config.ghost_onset_weight,
                                  self.config.quiet_onset_weight)
            factors = []  # each extra weight only when on: the plain BCE otherwise
            if held != 1.0:
                factors.append(held_key_weights(target, held))
            if ghost != 1.0:
                factors.append(ghost_onset_weights(target, batch["onset_roll"], ghost))
            if quiet > 0:  # every training batch carries velocity_roll (PianoDataset)
                factors.append(quiet_onset_weights(batch["onset_roll"], batch["velocity_roll"], quiet))
            weight = math.prod(factors) if factors else None
            onset = nn.functional.binary_cross_entropy_with_logits(
                heads["onset"].float(), batch["onset_roll"], pos_weight=self.onset_pos_weight, weight=weight)
            parts["onset"] = onset * self.config.onset_loss_weight
        if "velocity" in heads:
            mask = batch["onset_roll"]
            err = (torch.sigmoid(heads["velocity"].float()) - batch["velocity_roll"]) ** 2
            norm = mask.sum().clamp(min=1.0) if velocity_norm is None else velocity_norm
            parts["velocity"] = (err * mask).sum() / norm * self.config.velocity_loss_weight
        if "offset" in heads:
            parts["offset"] = self.config.offset_loss_weight * nn.functional.binary_cross_entropy_with_logits(
                heads["offset"].float(), batch["offset_roll"], pos_weight=self.onset_pos_weight)
        if "pedal" in heads:
            logits, labels = heads["pedal"][..., 0].float(), batch["pedal_roll"]
            if "pedal_weight" in batch:  # only the items whose pedal labels count (DataConfig.pedal_pieces)
                per_item = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1)
                pedal = (per_item * batch["pedal_weight"]).sum() / batch["pedal_weight"].sum().clamp(min=1.0)
            else:
                pedal = self.bce_plain(logits, labels)
            parts["pedal"] = pedal * self.config.pedal_loss_weight
        total = sum(parts.values())
        return total, {k: float(v.detach()) for k, v in parts.items()}

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v.to(self.device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    # ------------------------------------------------------------------ loop
    def train(self) -> list[dict[str, Any]]:
        st, cfg = self.state, self.config
        if st.world_size != self.world_size:
            if st.batch_in_epoch:
                log.warning("resuming with %d processes a run that had %d: the rest of epoch %d sees a "
                            "different order of items", self.world_size, st.world_size, st.epoch + 1)
            st.world_size = self.world_size
        if self.is_main:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            self._remove_stale_temp_files()
        while st.epoch < cfg.num_epochs and not st.finished:
            started = time.perf_counter()
            self._train_epoch()
            entry: dict[str, Any] = {
                "epoch": st.epoch + 1,
                "step": st.step,
                "train_loss": st.loss_sum / max(1, st.loss_count),
                "lr": self.scheduler.get_last_lr()[0],
            }
            if self.val_loader is not None:
                entry.update({f"val_{k}": v for k, v in self.evaluate(self.val_loader).items()})
            entry["epoch_time_s"] = time.perf_counter() - started
            entry = ddp.broadcast_object(entry)  # rank 0's numbers decide best model / early stopping everywhere
            st.history.append(entry)
            improved = self._update_best(entry)
            st.epoch += 1
            st.batch_in_epoch, st.loss_sum, st.loss_count = 0, 0.0, 0
            if cfg.max_steps is not None and st.step >= cfg.max_steps:
                st.finished = True
            if cfg.early_stopping_patience and st.stale_epochs >= cfg.early_stopping_patience:
                log.info("early stopping: no improvement in %s for %d epochs", cfg.best_metric_key, st.stale_epochs)
                st.finished = True
            if self.is_main:
                if improved:
                    self.save(self.checkpoint_dir / BEST_NAME, full=False)
                self.save(self.checkpoint_dir / LAST_NAME)
                atomic_write_json(self.checkpoint_dir / "history.json", st.history)
            shown = ("train_loss", "val_loss", "val_frame_f1", "val_note_onset_f1", "epoch_time_s")
            log.info("epoch %d/%d: %s", entry["epoch"], cfg.num_epochs, ", ".join(f"{k}={entry[k]:.4g}" for k in shown if k in entry))
        return st.history

    def _train_epoch(self) -> None:
        st, cfg = self.state, self.config
        sampler = self.train_loader.sampler
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(st.epoch, start=st.batch_in_epoch * cfg.batch_size)
        elif st.batch_in_epoch:
            log.warning("this train loader cannot skip to batch %d; the resumed epoch restarts", st.batch_in_epoch)
        limit = self.steps_per_epoch()
        self.model.train()
        with _rng_preserved():
            batches = iter(self.train_loader)
        progress = None
        if cfg.progress and self.is_main:
            from tqdm.auto import tqdm

            progress = tqdm(total=limit, initial=st.batch_in_epoch, desc=f"epoch {st.epoch + 1}/{cfg.num_epochs}", unit="batch", leave=False)
        try:
            while st.batch_in_epoch < limit:
                if cfg.max_steps is not None and st.step >= cfg.max_steps:
                    break
                try:
                    batch = next(batches)
                except StopIteration:
                    break
                loss = self.train_step(batch)
                st.loss_sum += loss
                st.loss_count += 1
                st.batch_in_epoch += 1
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(loss=f"{st.loss_sum / st.loss_count:.4f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
                if cfg.log_every_steps and st.step % cfg.log_every_steps == 0:
                    log.info("step %d loss %.4f", st.step, st.loss_sum / st.loss_count)
                if cfg.save_every_steps and st.step % cfg.save_every_steps == 0 and self.is_main:
                    self.save(self.checkpoint_dir / LAST_NAME)
        finally:
            if progress is not None:
                progress.close()

    def train_step(self, batch: dict[str, Any]) -> float:
        """One optimizer step; returns the batch loss (under DDP: the global batch's)."""
        batch = self._to_device(batch)
        velocity_norm = None
        if self.world_size > 1 and "onset_roll" in batch:
            total = ddp.all_reduce_sum(batch["onset_roll"].sum().float().reshape(1))[0]
            velocity_norm = total.clamp(min=1.0) / self.world_size
        with self.autocast():
            heads = self._train_forward(batch["mel"], return_all_heads=True)
        loss, _ = self.compute_loss(heads, batch, velocity_norm)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip_norm:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.state.step += 1
        if self.averaged is not None and self.state.step > self.config.average_start_step:
            self.averaged.update_parameters(self.core)
            self.state.n_averaged = int(self.averaged.n_averaged)
        if self.world_size > 1:  # the same running loss on every rank, as one process would log
            return float(ddp.all_reduce_sum(loss.detach().float().reshape(1))[0]) / self.world_size
        return float(loss.detach())

    @torch.no_grad()
    def evaluate(self, loader: DataLoader) -> dict[str, float]:
        """Loss, frame scores and mean per-file note scores on whole files.

        Under DDP, a loader whose sampler is sharded across ranks (``create_dataloaders``
        makes val/test loaders so) is evaluated a shard per rank and the per-batch results
        gathered in dataset order: every rank returns the same scores a single process
        would. Every rank must call it then."""
        core = self.scored_model
        was_training = core.training
        core.eval()
        hop_s, min_pitch = self.model_config.hop_s, self.model_config.min_midi_note
        records: list[tuple[float, np.ndarray, list[dict[str, float]]]] = []  # per batch
        with _rng_preserved():
            batches = iter(loader)
        for batch in batches:
            batch = self._to_device(batch)
            with self.autocast():
                heads = core.forward_heads(batch["mel"])
            loss, _ = self.compute_loss(heads, batch)
            probs = {k: torch.sigmoid(v.float()).cpu().numpy() for k, v in heads.items()}
            estimates = core.decode(probs, self.inference_config)
            batch_counts = np.zeros(4, dtype=np.int64)
            batch_files: list[dict[str, float]] = []
            for b in range(batch["mel"].shape[0]):
                n = int(batch["n_frames"][b])
                predicted = probs["frame"][b, :n] >= self.inference_config.classification_threshold
                batch_counts += frame_counts(predicted, batch["piano_roll"][b, :n].cpu().numpy() >= 0.5)
                reference = reference_notes_from_labels(batch, b, hop_s, min_pitch)
                estimate = [note for note in estimates[b] if note.onset < n * hop_s]
                batch_files.append(note_scores(reference, estimate))
            records.append((float(loss), batch_counts, batch_files))
        core.train(was_training)
        if ddp.is_distributed() and getattr(loader.sampler, "world_size", 1) > 1:
            # Rank r's k-th batch is the dataset's (k * world + r)-th: interleave back into order.
            shards = ddp.all_gather_objects(records)
            records = [shard[k] for k in range(max(map(len, shards))) for shard in shards if k < len(shard)]
        loss_sum, n_batches = 0.0, 0
        counts = np.zeros(4, dtype=np.int64)
        per_file: list[dict[str, float]] = []
        for batch_loss, batch_counts, batch_files in records:
            loss_sum += batch_loss
            n_batches += 1
            counts += batch_counts
            per_file.extend(batch_files)
        out = {"loss": loss_sum / max(1, n_batches), **frame_scores(counts)}
        if per_file:
            for key in per_file[0]:
                values = [scores[key] for scores in per_file if key in scores]
                out[key] = float(np.mean(values))
        return out

    def _update_best(self, entry: dict[str, Any]) -> bool:
        st, cfg = self.state, self.config
        key = cfg.best_metric_key if self.val_loader is not None else "train_loss"
        mode = cfg.best_metric_mode if self.val_loader is not None else "min"
        if key not in entry:
            raise ConfigError(f"best_metric {cfg.best_metric!r} is not a validation metric; have {sorted(entry)}")
        value = float(entry[key])
        better = st.best_value is None or (value > st.best_value if mode == "max" else value < st.best_value)
        if better:
            st.best_value, st.best_epoch, st.stale_epochs = value, entry["epoch"], 0
        else:
            st.stale_epochs += 1
        return better

    # ------------------------------------------------------------------ checkpoints
    def _remove_stale_temp_files(self) -> None:
        """Delete temporary files a killed run left mid-write (``atomic_write``'s ``.NAME.*.tmp``)."""
        for name in (LAST_NAME, BEST_NAME, "history.json", "run_config.json", "test_scores.json"):
            for stale in stale_temp_files(self.checkpoint_dir / name):
                with contextlib.suppress(OSError):
                    stale.unlink()
                    log.info("removed %s, left by an interrupted write", stale.name)

    def checkpoint_payload(self, full: bool = True) -> dict[str, Any]:
        core = self.core
        payload: dict[str, Any] = {
            "model_state_dict": self.scored_model.state_dict(),
            "model_config": self.model_config.to_dict(),
            "encoder_config": core.encoder.encoder_config(),
            "data_config": self.data_config.to_dict() if self.data_config is not None else None,
            "inference_config": self.inference_config.to_dict(),
            "training_config": self.config.to_dict(),
            "train_state": asdict(self.state),
        }
        if full and self.averaging:  # the weights the optimizer state belongs to
            payload["training_state_dict"] = core.state_dict()
        if full:
            payload.update(
                optimizer_state_dict=self.optimizer.state_dict(),
                scheduler_state_dict=self.scheduler.state_dict(),
                scaler_state_dict=self.scaler.state_dict(),
                rng_state=_rng_state(),
            )
        return payload

    def save(self, path: str | Path, full: bool = True) -> Path:
        return save_checkpoint(path, self.checkpoint_payload(full))

    def _follow_configured_schedule(self) -> None:
        """After loading a scheduler, keep the *configured* LR horizon: resuming with the same
        config changes nothing (exact resume), while a run resumed with more or fewer epochs
        (e.g. cut short to fit a session) anneals over its new length from where it stands."""
        current, wanted = self.scheduler.lr_lambdas[0], self._schedule()
        if vars(current) == vars(wanted):
            return
        log.info("LR schedule follows the config: %s steps (checkpoint had %s)", wanted.total, current.total)
        vars(current).update(vars(wanted))
        step = self.scheduler.last_epoch
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * current(step)
        self.scheduler._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def load_state(self, path: str | Path) -> None:
        """Restore model, optimizer, scheduler, scaler, RNG and progress from a ``last.pt``."""
        ckpt = load_checkpoint(path, map_location=self.device)
        if "optimizer_state_dict" not in ckpt or "train_state" not in ckpt:
            raise CheckpointError(f"{path} has no optimizer/train state to resume from (use init_from for weights only)")
        raw = ckpt.get("training_state_dict", ckpt["model_state_dict"])
        load_model_weights(self.core, raw, source=str(path))
        if "training_state_dict" in ckpt and self.averaged is not None:
            load_model_weights(self.averaged.module, ckpt["model_state_dict"], source=f"{path} (weight average)")
            self.averaged.n_averaged.fill_(int(ckpt["train_state"].get("n_averaged", 1)))
        elif "training_state_dict" in ckpt:
            log.warning("%s holds a weight average that this config (weight_average='none') drops", path)
        self.optimizer.load_state_dict(ckpt["optimizer_state_dict"])
        self.scheduler.load_state_dict(ckpt["scheduler_state_dict"])
        self._follow_configured_schedule()
        if ckpt.get("scaler_state_dict"):
            self.scaler.load_state_dict(ckpt["scaler_state_dict"])
        self.state = TrainState(**ckpt["train_state"])
        if "rng_state" in ckpt:
            _set_rng_state(ckpt["rng_state"])
        log.info("resumed from %s at epoch %d, step %d", path, self.state.epoch + 1, self.state.step)
