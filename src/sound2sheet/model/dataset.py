"""Training data: (audio, MIDI) pairs from a dataset directory's manifests -> (mel, piano roll).

Log-mel spectrograms are computed once per audio file and cached as float16 ``.npy``
(``[frames, n_mels]``, each crop read with one positioned read) under ``<dataset_dir>/.cache`` or
``DataConfig.cache_dir``; the cache key covers the file's path, size and mtime and every
feature setting, so changed audio or features never reuse stale spectrograms. Each file's peak
sample is kept beside its features (``.peak``) for ``DataConfig.normalize_peak``, and each MIDI
file's parsed notes and pedal under ``.cache/labels`` (:class:`LabelCache`).

Training crops are deterministic functions of ``(seed, epoch, index)`` (see
:class:`EpochSampler`), which is what lets a resumed run continue exactly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sound2sheet.core.audio import AudioProcessor, audio_peak, peak_gain
from sound2sheet.data.manifest import SPLITS, ManifestItem, check_files, manifest_path, read_manifest, resolve_inside
from sound2sheet.errors import DatasetError
from sound2sheet.fileio import atomic_write, atomic_write_text
from sound2sheet.labels import notes_to_rolls, pedal_roll
from sound2sheet.midi import read_midi_labels
from sound2sheet.model.config import DataConfig, ModelConfig, TrainingConfig, check_compatible
from sound2sheet.model.feature_augment import masked_tail_weights, mix_power, random_mel_eq, random_room, shift_level
from sound2sheet.notes import NoteEvent
from sound2sheet.timing import time_to_frame

log = logging.getLogger(__name__)

_FEATURE_KEYS = ("sample_rate", "n_mels", "hop_length", "win_length", "n_fft", "f_min", "f_max",
                 "preemphasis", "normalize", "norm_mean", "norm_std", "pitch_bins_per_semitone", "pitch_n_fft")


class MelCache:
    """Computes each audio file's normalised log-mel once; serves it whole (memory-mapped) or a crop at a time."""

    def __init__(self, data_config: DataConfig, dataset_dir: str | Path | None = None) -> None:
        self.processor = AudioProcessor.from_config(data_config)
        features = {k: getattr(data_config, k) for k in _FEATURE_KEYS}
        if not data_config.pitch_bins_per_semitone:  # mel-only caches keep their old key
            features = {k: v for k, v in features.items() if not k.startswith("pitch_")}
        self.feature_key = hashlib.sha1(json.dumps(features, sort_keys=True).encode()).hexdigest()[:10]
        self.root = Path(data_config.cache_dir) if data_config.cache_dir else Path(dataset_dir or data_config.dataset_dir) / ".cache"
        self.dir = self.root / f"mel-{self.feature_key}"

    def path_for(self, audio_path: Path) -> Path:
        return self.dir / f"{audio_path.stem}-{_file_key(audio_path)}.npy"

    def ensure(self, audio_path: Path) -> Path:
        """Cache file for ``audio_path``, computing it if needed."""
        path = self.path_for(audio_path)
        if not path.exists():
            audio = self.processor.load_audio(audio_path)
            mel = self.processor.features(audio)
            data = np.ascontiguousarray(mel.T.astype(np.float16))

            def write(tmp: str) -> None:
                with open(tmp, "wb") as fh:
                    np.save(fh, data)

            atomic_write(path, write)
            self._write_peak(path, audio)
        return path

    def peak(self, cache_path: Path, audio_path: Path) -> float:
        """The largest absolute sample of ``audio_path`` as the features in ``cache_path`` (from
        :meth:`ensure`) were computed from it (at ``sample_rate``), remembered beside them."""
        side = cache_path.with_suffix(".peak")
        if not side.exists():  # caches built before peaks were kept
            self._write_peak(cache_path, self.processor.load_audio(audio_path))
        return float(side.read_text())

    @staticmethod
    def _write_peak(cache_path: Path, audio: np.ndarray) -> None:
        atomic_write_text(cache_path.with_suffix(".peak"), repr(audio_peak(audio)))

    @staticmethod
    def load(path: Path) -> np.ndarray:
        """``[frames, n_features]`` float16, memory-mapped."""
        return np.load(path, mmap_mode="r")

    @staticmethod
    def header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
        """``(shape, dtype, data offset)`` of a cache file, from its ``.npy`` header alone."""
        with open(path, "rb") as fh:
            return _npy_header(fh)

    @staticmethod
    def read_rows(path: Path, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of a cache file: ``[rows, n_features]`` float16.

        One positioned read of just those bytes, not a memory map: a page fault in a map reads
        the device's whole read-ahead window around it (8 MB on common virtual disks), ~20x the
        bytes of a 4 s crop, which made training on sets larger than the page cache I/O bound.
        """
        with open(path, "rb") as fh:
            shape, dtype, offset = _npy_header(fh)
            start, stop = max(0, start), min(shape[0], stop)
            rows = max(0, stop - start)
            row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
            out = np.empty((rows, *shape[1:]), dtype=dtype)
            fh.seek(offset + start * row_bytes)
            if rows and fh.readinto(memoryview(out).cast("B")) != rows * row_bytes:
                raise DatasetError(f"feature cache truncated: {path} (delete it to rebuild)")
        return out


class LabelCache:
    """Each MIDI file's notes and pedal, parsed once and kept under ``<cache root>/labels``.

    A long MAESTRO piece's dense pedal messages take ~1 s to parse (mido is pure Python), paid
    again by every new loader process (each run, each resume) on the item's first crop; a cached
    file loads in a few milliseconds. Keyed like the features (path, size, mtime) and by the
    pedal rule.
    """

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / "labels"

    def read(self, midi_path: Path, sustain_pedal: bool) -> tuple[list[NoteEvent], list[tuple[float, float]]]:
        """``read_midi_labels(midi_path, sustain_pedal)``, from the cache when it holds it."""
        if not midi_path.exists():
            return read_midi_labels(midi_path, sustain_pedal=sustain_pedal)  # its clear error
        path = self.dir / f"{midi_path.stem}-{_file_key(midi_path)}-{'sustain' if sustain_pedal else 'keys'}.npz"
        if path.exists():
            with np.load(path) as z:
                notes = [NoteEvent(int(p), float(a), float(b), None if v < 0 else int(v))
                         for p, a, b, v in zip(z["pitch"], z["onset"], z["offset"], z["velocity"])]
                return notes, [(float(a), float(b)) for a, b in z["pedal"]]
        notes, pedal = read_midi_labels(midi_path, sustain_pedal=sustain_pedal)
        arrays = dict(
            pitch=np.array([n.pitch for n in notes], dtype=np.int16),
            onset=np.array([n.onset for n in notes], dtype=np.float64),
            offset=np.array([n.offset for n in notes], dtype=np.float64),
            velocity=np.array([-1 if n.velocity is None else n.velocity for n in notes], dtype=np.int16),
            pedal=np.array(pedal, dtype=np.float64).reshape(-1, 2),
        )

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

        atomic_write(path, write)
        return notes, pedal


def _file_key(path: Path) -> str:
    """Changes whenever the file does (its resolved path, size and mtime)."""
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


def _npy_header(fh) -> tuple[tuple[int, ...], np.dtype, int]:
    version = np.lib.format.read_magic(fh)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read(fh)
    if fortran_order:
        raise DatasetError(f"feature cache not in row order: {fh.name} (delete it to rebuild)")
    return shape, dtype, fh.tell()


class PianoDataset(Dataset):
    """(mel, piano-roll) items from one split of a dataset directory.

    Each item is a dict: ``mel`` float32 ``[n_features, frames]`` (log-mel, then the pitch
    spectrum when configured: :meth:`AudioProcessor.features`), ``piano_roll`` /
    ``onset_roll`` / ``velocity_roll`` / ``offset_roll`` float32 ``[frames, num_keys]``
    (:func:`sound2sheet.labels.notes_to_rolls`), ``pedal_roll`` float32
    ``[frames]`` (sustain pedal down, from the MIDI's CC64), ``pedal_weight`` float (1 if the
    item's pedal labels count, ``DataConfig.pedal_pieces``, else 0), ``audio_path`` str,
    ``n_frames`` (frames of real audio; the rest is padding) and ``start_frame``.

    With ``crop_frames`` each file is cut into consecutive segments of that length (the last,
    if shorter than a quarter, is dropped); with ``random_crops`` and a key ``(index, epoch)``
    the segment start is jittered by up to half a crop and the features get the configured
    random EQ/gain and room (``DataConfig.feature_eq_db``, ``feature_gain_db``,
    ``feature_room_prob``) and may be heard together with another training crop
    (``feature_mix_prob``, the labels their union), reproducibly. Without
    ``crop_frames`` an item is a whole file (its first ``max_frames`` frames, if given).
    ``extra_dirs`` adds the same split of more dataset directories (each item's paths
    resolve inside its own directory, and each directory keeps its own feature cache).
    """

    def __init__(
        self,
        data_config: DataConfig,
        split: str = "train",
        crop_frames: int | None = None,
        random_crops: bool = False,
        seed: int = 0,
        items: Sequence[ManifestItem] | None = None,
        min_pitch: int = 21,
        num_keys: int = 88,
        progress: bool = False,
        max_frames: int | None = None,
        extra_dirs: Sequence[str | Path] = (),
    ) -> None:
        self.config = data_config
        self.dataset_dir = Path(data_config.dataset_dir)
        self.split = split
        self.items = list(items) if items is not None else read_manifest(self.dataset_dir, split)
        self.item_dirs = [self.dataset_dir] * len(self.items)
        for extra in map(Path, extra_dirs):
            if not extra.is_dir():
                raise DatasetError(f"extra training dataset directory not found: {extra}")
            if not any(manifest_path(extra, s).exists() for s in SPLITS):
                # make-dataset writes every split's manifest last: none means a build still under way
                raise DatasetError(f"{extra} has no manifest yet (an unfinished make-dataset? rerun it to finish, "
                                   "or leave the directory out of extra_train_dirs)")
            more_items = read_manifest(extra, split)
            self.items.extend(more_items)
            self.item_dirs.extend([extra] * len(more_items))
        for root in dict.fromkeys(self.item_dirs):
            mine = [it for it, d in zip(self.items, self.item_dirs) if d == root]
            missing = check_files(root, mine)
            if missing:
                more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
                raise DatasetError(f"{split} manifest of {root} names missing files: {', '.join(missing[:3])}{more}")
        pattern = re.compile(data_config.pedal_pieces)  # "" matches every piece
        self.pedal_weights = [1.0 if pattern.search(it.piece or it.id or it.audio) else 0.0 for it in self.items]
        self.crop_frames = crop_frames
        self.random_crops = random_crops
        self.seed = seed
        self.min_pitch, self.num_keys = min_pitch, num_keys
        self._caches = {root: MelCache(data_config, root) for root in dict.fromkeys([self.dataset_dir, *self.item_dirs])}
        self.cache = self._caches[self.dataset_dir]
        self._label_caches = {root: LabelCache(c.root) for root, c in self._caches.items()}
        processor = self.cache.processor
        self.padding_value = processor.feature_padding  # [n_features]
        # per-row constants of the feature shifts, built once rather than per crop: [n_features]
        self._units_per_db, self._floor = processor.feature_units_per_db, processor.feature_floor
        self._mix_keep_frames = time_to_frame(data_config.feature_mix_keep_ms / 1000.0, data_config.hop_s)
        self._positions = processor.feature_positions
        self.mel_paths: list[Path] = []
        self.lengths: list[int] = []
        # Under torchrun every rank builds the same cache: each starts at its own offset so
        # the ranks mostly compute different files (writes are atomic, so overlaps are safe).
        rank, world = _dist_rank_world()
        shift = rank * len(self.items) // world
        order = [*range(shift, len(self.items)), *range(shift)]
        iterator = order
        if progress and self.items:
            from tqdm.auto import tqdm

            iterator = tqdm(order, desc=f"mel cache ({split})", unit="file")
        paths: dict[int, Path] = {}
        self.gains_db = [0.0] * len(self.items)  # DataConfig.normalize_peak, per item
        for i in iterator:
            cache, audio_path = self._caches[self.item_dirs[i]], self.item_path(i, self.items[i].audio)
            paths[i] = cache.ensure(audio_path)
            if data_config.normalize_peak > 0:
                gain = peak_gain(cache.peak(paths[i], audio_path), data_config.normalize_peak)
                self.gains_db[i] = 20.0 * float(np.log10(gain))
        for i in range(len(self.items)):
            self.mel_paths.append(paths[i])
            frames = int(MelCache.header(paths[i])[0][0])
            self.lengths.append(min(frames, max_frames) if max_frames else frames)
        self.segments: list[tuple[int, int]] = []
        for i, n in enumerate(self.lengths):
            if crop_frames:
                starts = range(0, max(1, n - crop_frames // 4), crop_frames)
                self.segments.extend((i, s) for s in starts)
            else:
                self.segments.append((i, 0))
        self._labels: dict[int, tuple[list[NoteEvent], list[tuple[float, float]]]] = {}

    def item_path(self, item_index: int, relative: str) -> Path:
        """A path of item ``item_index``, inside the dataset directory it came from."""
        return resolve_inside(self.item_dirs[item_index], relative)

    def _midi_labels(self, item_index: int) -> tuple[list[NoteEvent], list[tuple[float, float]]]:
        """Notes and pedal of item ``item_index``, from one read of its MIDI."""
        if item_index not in self._labels:
            midi = self.item_path(item_index, self.items[item_index].midi)
            cache = self._label_caches[self.item_dirs[item_index]]
            self._labels[item_index] = cache.read(midi, sustain_pedal=self.config.sustain_pedal)
        return self._labels[item_index]

    def notes(self, item_index: int) -> list[NoteEvent]:
        """Ground-truth notes of item ``item_index`` (pedal-extended if configured)."""
        return self._midi_labels(item_index)[0]

    def pedal(self, item_index: int) -> list[tuple[float, float]]:
        """Sustain-pedal ``(down, up)`` seconds of item ``item_index`` (none if its MIDI has no CC64)."""
        return self._midi_labels(item_index)[1]

    @property
    def total_seconds(self) -> float:
        return sum(self.lengths) * self.config.hop_s

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, epoch = (key if isinstance(key, tuple) else (key, None))
        item_index, start, valid, mel, rolls, pedal = self._crop(index, epoch)
        cfg = self.config
        mixing = self.random_crops and epoch is not None and self.crop_frames and cfg.feature_mix_prob > 0
        # every training crop carries it when the mask is on (a batch's items need the same keys)
        masking = cfg.feature_mix_keep_ms > 0 or not cfg.feature_mix_frame_targets
        frame_weight = np.ones_like(rolls.frame) if mixing and masking else None
        if mixing:
            mix_rng = np.random.default_rng([self.seed, epoch, index, 3])
            if mix_rng.random() < cfg.feature_mix_prob:
                partner = int(mix_rng.integers(len(self.segments)))
                gain_db = float(mix_rng.uniform(-cfg.feature_mix_db, cfg.feature_mix_db))
                # its own streams (salted by this crop), so it is not a copy of its own item this epoch
                _, _, other_valid, other, other_rolls, other_pedal = self._crop(partner, epoch, salt=(4, index))
                n = min(valid, other_valid)
                mel[:n] = mix_power(mel[:n], other[:n], gain_db, self._units_per_db, self._floor)
                if not cfg.feature_mix_frame_targets:
                    frame_weight[:n] = 0.0  # onsets only: no frame target is asked of the mixed stretch
                elif frame_weight is not None:
                    quiet, loud = (other_rolls, rolls) if gain_db < 0 else (rolls, other_rolls)
                    frame_weight[:n] = masked_tail_weights(quiet.frame[:n], quiet.onset[:n], loud.frame[:n],
                                                           self._mix_keep_frames)
                for mine, theirs in ((rolls.frame, other_rolls.frame), (rolls.onset, other_rolls.onset),
                                     (rolls.velocity, other_rolls.velocity), (rolls.offset, other_rolls.offset),
                                     (pedal, other_pedal)):
                    mine[:n] = np.maximum(mine[:n], theirs[:n])
        extra = {} if frame_weight is None else {"frame_weight": torch.from_numpy(frame_weight)}
        return extra | {
            "mel": torch.from_numpy(mel.T.copy()),
            "piano_roll": torch.from_numpy(rolls.frame),
            "onset_roll": torch.from_numpy(rolls.onset),
            "velocity_roll": torch.from_numpy(rolls.velocity),
            "offset_roll": torch.from_numpy(rolls.offset),
            "pedal_roll": torch.from_numpy(pedal),
            "pedal_weight": self.pedal_weights[item_index],
            "audio_path": str(self.item_path(item_index, self.items[item_index].audio)),
            "n_frames": valid,
            "start_frame": start,
        }

    def _crop(self, index: int, epoch: int | None, salt: tuple[int, ...] = ()):
        """Segment ``index``: ``(item_index, start, valid, mel [frames, n_features], rolls,
        pedal [frames])`` with its training augmentation drawn from ``(seed, epoch, index, *salt)``."""
        item_index, start = self.segments[index]
        n_total = self.lengths[item_index]
        length = self.crop_frames or n_total
        if self.crop_frames and self.random_crops and epoch is not None:
            rng = np.random.default_rng([self.seed, epoch, index, *salt])
            start += int(rng.integers(-(length // 2), length // 2 + 1))
        start = int(np.clip(start, 0, max(0, n_total - length)))
        valid = max(0, min(length, n_total - start))
        rows = MelCache.read_rows(self.mel_paths[item_index], start, start + valid)
        mel = np.empty((length, rows.shape[1]), dtype=np.float32)
        mel[:] = self.padding_value
        mel[:valid] = rows
        cfg = self.config
        if self.gains_db[item_index]:
            mel[:valid] = shift_level(mel[:valid], self.gains_db[item_index], self._units_per_db, self._floor)
        if self.random_crops and epoch is not None:
            # each draws from its own stream, so crop positions (and the other) do not depend on
            # whether it is on
            if cfg.feature_eq_db > 0 or cfg.feature_gain_db > 0:
                eq_rng = np.random.default_rng([self.seed, epoch, index, *salt, 1])
                mel[:valid] = random_mel_eq(mel[:valid], eq_rng, cfg.feature_eq_db, cfg.feature_gain_db,
                                            self._units_per_db, self._positions)
            if cfg.feature_room_prob > 0:
                room_rng = np.random.default_rng([self.seed, epoch, index, *salt, 2])
                if room_rng.random() < cfg.feature_room_prob:
                    mel[:valid] = random_room(mel[:valid], room_rng, cfg.feature_rt60_max_s, cfg.hop_s,
                                              self._units_per_db, self._positions)
        rolls = notes_to_rolls(
            self.notes(item_index), length, self.config.hop_s, start_frame=start, min_pitch=self.min_pitch,
            num_keys=self.num_keys, onset_radius=self.config.onset_radius_frames,
        )
        pedal = pedal_roll(self.pedal(item_index), length, self.config.hop_s, start_frame=start)
        for roll in (rolls.frame, rolls.onset, rolls.velocity, pedal):
            roll[valid:] = 0.0
        return item_index, start, valid, mel, rolls, pedal


class EpochSampler(Sampler):
    """Yields ``(index, epoch)`` keys: a permutation seeded by ``(seed, epoch)``, sharded across
    ``world_size`` ranks, starting ``start`` items in (to resume mid-epoch)."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def _shard(self) -> np.ndarray:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle else np.arange(self.n)
        per_rank = -(-self.n // self.world_size)
        if self.n and per_rank * self.world_size > self.n:  # pad by wrapping so every rank gets as many
            order = np.concatenate([order, order[: per_rank * self.world_size - self.n]])
        return order[self.rank::self.world_size]

    def epoch_length(self) -> int:
        """Items this rank sees in a whole epoch, whatever ``start`` is."""
        return len(self._shard())

    def __iter__(self):
        for i in self._shard()[self.start:]:
            yield (int(i), self.epoch)

    def __len__(self) -> int:
        return max(0, len(self._shard()) - self.start)


class ShardSampler(Sampler):
    """Indices ``rank, rank + world_size, ...`` of ``range(n)``: each item on exactly one rank,
    in order (evaluation: no padding, so gathered scores equal one process's)."""

    def __init__(self, n: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.rank, self.world_size = n, rank, world_size

    def __iter__(self):
        return iter(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))


def collate_batch(items: list[dict[str, Any]], padding_value: Any = 0.0) -> dict[str, Any]:
    """Stack items, padding to the longest (features with ``padding_value``, a scalar or one
    value per row, labels with 0)."""
    column = torch.as_tensor(np.asarray(padding_value, dtype=np.float32)).reshape(-1, 1)
    longest = max(it["mel"].shape[1] for it in items)
    out: dict[str, Any] = {}
    for key in ("mel", "piano_roll", "onset_roll", "velocity_roll", "offset_roll", "pedal_roll", "frame_weight"):
        if key not in items[0]:
            continue
        tensors = []
        for it in items:
            t = it[key]
            pad = longest - (t.shape[1] if key == "mel" else t.shape[0])
            if pad:
                if key == "mel":
                    t = torch.cat([t, column.expand(t.shape[0], pad)], dim=1)
                else:  # labels: [frames, keys] or [frames], padded at the end of time
                    t = torch.nn.functional.pad(t, (0, 0) * (t.dim() - 1) + (0, pad))
            tensors.append(t)
        out[key] = torch.stack(tensors)
    if "pedal_weight" in items[0]:
        out["pedal_weight"] = torch.tensor([it["pedal_weight"] for it in items], dtype=torch.float32)
    out["n_frames"] = torch.tensor([it["n_frames"] for it in items])
    out["start_frame"] = torch.tensor([it["start_frame"] for it in items])
    out["audio_path"] = [it["audio_path"] for it in items]
    return out


class _Collate:
    """Picklable collate function bound to a padding value (for worker processes)."""

    def __init__(self, padding_value: Any) -> None:
        self.padding_value = padding_value

    def __call__(self, items):
        return collate_batch(items, self.padding_value)


def _dist_rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def create_dataloaders(
    data_config: DataConfig, model_config: ModelConfig, training_config: TrainingConfig
) -> tuple[DataLoader, DataLoader | None, DataLoader | None]:
    """``(train, val, test)`` loaders for ``data_config.dataset_dir`` (train also takes the
    train splits of ``data_config.extra_train_dirs``).

    Train yields random crops of ``crop_seconds`` in batches of ``batch_size``; val and test
    yield whole files one at a time (None when that split's manifest is absent or empty).
    Under an initialised process group (torchrun) each rank gets its shard of every split:
    ``batch_size`` is per process.
    """
    check_compatible(data_config, model_config)
    dataset_dir = Path(data_config.dataset_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(f"dataset directory not found: {dataset_dir}")
    rank, world = _dist_rank_world()
    common = dict(min_pitch=model_config.min_midi_note, num_keys=model_config.num_piano_keys, progress=training_config.progress and rank == 0)
    train_ds = PianoDataset(data_config, "train", crop_frames=data_config.crop_frames, random_crops=True,
                            seed=training_config.seed, extra_dirs=data_config.extra_train_dirs, **common)
    if len(train_ds) == 0:
        raise DatasetError(f"no training items: {dataset_dir / 'train.jsonl'} is missing or empty")
    use_cuda = training_config.device.startswith("cuda") or (training_config.device == "auto" and torch.cuda.is_available())
    loader_args = dict(
        collate_fn=_Collate(train_ds.padding_value), num_workers=training_config.num_workers,
        pin_memory=use_cuda, persistent_workers=training_config.num_workers > 0,
    )
    sampler = EpochSampler(len(train_ds), seed=training_config.seed, shuffle=True, rank=rank, world_size=world)
    train = DataLoader(train_ds, batch_size=training_config.batch_size, sampler=sampler, **loader_args)
    loaders: list[DataLoader | None] = []
    max_frames = int(round(data_config.val_max_seconds / data_config.hop_s)) if data_config.val_max_seconds else None
    for split in ("val", "test"):
        ds = PianoDataset(data_config, split, max_frames=max_frames, **common)
        shard = ShardSampler(len(ds), rank, world) if world > 1 else None
        loaders.append(DataLoader(ds, batch_size=1, shuffle=False, sampler=shard, **loader_args) if len(ds) else None)
    return train, loaders[0], loaders[1]
