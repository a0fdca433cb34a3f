"""Audio loading (any rate, any channel count; WAV/FLAC/OGG) and the model's input features."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Iterator

import numpy as np

from sound2sheet.errors import AudioError, first_line
from sound2sheet.model.config import AUDIOSET_MEAN, AUDIOSET_STD, DataConfig

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
_BLOCK_SECONDS = 30.0


def _open(path: Path):
    import soundfile as sf

    if not path.exists():
        raise AudioError(f"audio file not found: {path}")
    if path.is_dir():
        raise AudioError(f"expected an audio file, got a directory: {path}")
    try:
        return sf.SoundFile(str(path))
    except Exception as exc:  # libsndfile raises several types for unreadable files
        raise AudioError(f"cannot read audio file {path}: {first_line(exc)}") from None


def declared_wav_frames(path: Path) -> int | None:
    """Frames a WAV file's header announces (its ``data`` chunk size), or None when it is not a
    plain RIFF/WAVE file or the size is a streaming placeholder. libsndfile quietly shortens a
    truncated file to what is there; comparing with this tells the user."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            block_align = None
            while True:
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(size + (size & 1))
                    block_align = struct.unpack("<H", fmt[12:14])[0] if len(fmt) >= 14 else None
                elif cid == b"data":
                    if not block_align or size in (0, 0xFFFFFFFF):
                        return None
                    return size // block_align
                else:
                    fh.seek(size + (size & 1), 1)
    except OSError:
        return None


def mix_to_mono(data: np.ndarray) -> tuple[np.ndarray, int]:
    """``[samples, channels]`` (or ``[samples]``) -> mono float32 and the number of non-finite
    samples, silenced per channel before mixing so one bad channel does not blank the others."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    finite = np.isfinite(data)
    bad = int(data.size - np.count_nonzero(finite))
    if bad:
        data = np.where(finite, data, 0.0).astype(np.float32)
    return (data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]), bad


def iter_audio_blocks(path: str | Path, sample_rate: int | None, block_seconds: float = _BLOCK_SECONDS,
                      warn: bool = True) -> Iterator[np.ndarray]:
    """Stream a file as mono float32 blocks at ``sample_rate`` (None: the file's own rate);
    memory stays bounded by the block.

    Channels are averaged; non-finite samples are replaced by 0 (logged once unless ``warn``
    is off, as for a second pass). A file with no finite sample at all is an AudioError: it
    holds no audio, and "no notes" would hide that.
    """
    import soxr

    path = Path(path)
    with _open(path) as f:
        if f.frames == 0:
            raise AudioError(f"audio file has no samples: {path}")
        resampler = None
        if sample_rate is not None and f.samplerate != sample_rate:
            resampler = soxr.ResampleStream(f.samplerate, sample_rate, 1, dtype="float32", quality="HQ")
        block = max(1, int(block_seconds * f.samplerate))
        bad = 0
        read = 0
        while True:
            try:
                data = f.read(block, dtype="float32", always_2d=True)
            except Exception as exc:
                raise AudioError(f"cannot decode audio file {path} after {read / f.samplerate:.1f} s: {exc}") from None
            last = data.shape[0] < block
            read += data.shape[0]
            mono, n_bad = mix_to_mono(data)
            bad += n_bad
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            if mono.size:
                yield np.ascontiguousarray(mono, dtype=np.float32)
            if last:
                break
        if read == 0:
            raise AudioError(f"audio file has no samples: {path}")
        if bad >= read * f.channels:
            raise AudioError(f"every sample of {path} is NaN or infinite")
        if bad and warn:
            log.warning("%s: replaced %d non-finite samples with silence", path, bad)
        declared = declared_wav_frames(path) if f.format == "WAV" and warn else None
        if declared is not None and declared > read:
            log.warning("%s is truncated: its header announces %.2f s, the file holds %.2f s (transcribed what is there)",
                        path, declared / f.samplerate, read / f.samplerate)


def audio_peak(audio: np.ndarray) -> float:
    """The largest absolute sample of ``audio`` (0 for an empty array)."""
    return float(np.max(np.abs(audio))) if np.size(audio) else 0.0


def file_peak(path: str | Path) -> float:
    """The largest absolute mono sample of a file, read block by block (a first pass before
    level normalisation; bounded memory, no resampling)."""
    return max((audio_peak(b) for b in iter_audio_blocks(path, None, warn=False)), default=0.0)


def peak_gain(peak: float, target: float, max_gain_db: float = 40.0) -> float:
    """The factor that moves ``peak`` to ``target``, at most ``max_gain_db`` up; 1 for
    silence or ``target`` 0 (normalisation off)."""
    if target <= 0 or peak < 1e-7:
        return 1.0
    return float(min(target / peak, 10.0 ** (max_gain_db / 20.0)))


class AudioProcessor:
    """Loads audio and computes the features the encoder was trained with.

    Defaults reproduce ``transformers.ASTFeatureExtractor`` (AudioSet AST): see
    :mod:`sound2sheet.core.features`. Build it from a checkpoint's ``DataConfig`` with
    :meth:`from_config` so inference sees exactly the training features.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 128,
        hop_length: int = 160,
        win_length: int = 400,
        n_fft: int = 512,
        f_min: float = 20.0,
        f_max: float | None = None,
        preemphasis: float = 0.97,
        normalize: bool = True,
        norm_mean: float = AUDIOSET_MEAN,
        norm_std: float = AUDIOSET_STD,
        pitch_bins_per_semitone: int = 0,
        pitch_n_fft: int = 2048,
    ) -> None:
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.hop_length = hop_length
        self.win_length = win_length
        self.normalize = normalize
        self.norm_mean = norm_mean
        self.norm_std = norm_std
        self._fbank_args = dict(
            sample_rate=sample_rate, n_mels=n_mels, win_length=win_length, hop_length=hop_length,
            n_fft=n_fft, f_min=f_min, f_max=f_max, preemphasis=preemphasis,
        )
        self._fbank = None
        self.pitch_bins_per_semitone = pitch_bins_per_semitone
        self._pitch_args = dict(sample_rate=sample_rate, bins_per_semitone=pitch_bins_per_semitone,
                                n_fft=pitch_n_fft, hop_length=hop_length, win_length=win_length)
        self._pitch = None

    @classmethod
    def from_config(cls, config: DataConfig) -> "AudioProcessor":
        return cls(
            sample_rate=config.sample_rate, n_mels=config.n_mels, hop_length=config.hop_length,
            win_length=config.win_length, n_fft=config.n_fft, f_min=config.f_min, f_max=config.f_max,
            preemphasis=config.preemphasis, normalize=config.normalize,
            norm_mean=config.norm_mean, norm_std=config.norm_std,
            pitch_bins_per_semitone=config.pitch_bins_per_semitone, pitch_n_fft=config.pitch_n_fft,
        )

    @property
    def hop_s(self) -> float:
        return self.hop_length / self.sample_rate

    @property
    def padding_value(self) -> float:
        """Normalised value of an all-zero fbank frame: what ASTFeatureExtractor pads with."""
        return self._normalize(0.0)

    @property
    def n_pitch_bins(self) -> int:
        """Pitch-spectrum rows after the mel rows in :meth:`features` (0: mel only)."""
        from sound2sheet.core.features import pitch_bin_midis

        return len(pitch_bin_midis(self.sample_rate, self.pitch_bins_per_semitone))

    @property
    def n_features(self) -> int:
        return self.n_mels + self.n_pitch_bins

    @property
    def feature_padding(self) -> np.ndarray:
        """``[n_features]``: each row's value for silence, what crops and batches pad with."""
        from sound2sheet.core.features import PITCH_FLOOR, normalize_pitch

        pitch = normalize_pitch(math.log(PITCH_FLOOR))
        return np.array([self.padding_value] * self.n_mels + [pitch] * self.n_pitch_bins, dtype=np.float32)

    @property
    def feature_floor(self) -> np.ndarray:
        """``[n_features]``: each row's value for digital silence (the fbank's clamp), the
        lowest a row can read; below the padding for the mel rows (AST pads with log 1)."""
        from sound2sheet.core.features import MEL_FLOOR, PITCH_FLOOR, normalize_pitch

        mel = self._normalize(math.log(MEL_FLOOR))
        pitch = normalize_pitch(math.log(PITCH_FLOOR))
        return np.array([mel] * self.n_mels + [pitch] * self.n_pitch_bins, dtype=np.float32)

    @property
    def feature_units_per_db(self) -> np.ndarray:
        """``[n_features]``: how far 1 dB of power moves each row (see :attr:`units_per_db`)."""
        from sound2sheet.core.features import normalize_pitch

        pitch = normalize_pitch(math.log(10.0) / 10.0) - normalize_pitch(0.0)
        return np.array([self.units_per_db] * self.n_mels + [pitch] * self.n_pitch_bins, dtype=np.float32)

    @property
    def feature_positions(self) -> np.ndarray:
        """``[n_features]``: each row's place on the mel axis, 0 (lowest mel bin) to 1 (highest),
        so a random EQ curve drawn over the mel bins applies to the pitch rows by frequency."""
        from transformers.audio_utils import hertz_to_mel

        from sound2sheet.core.features import pitch_bin_hz

        mel = np.linspace(0.0, 1.0, self.n_mels)
        if not self.n_pitch_bins:
            return mel
        hz = pitch_bin_hz(self.sample_rate, self.pitch_bins_per_semitone)
        lo, hi = (hertz_to_mel(f, mel_scale="kaldi") for f in (self._fbank_args["f_min"], self._fbank_args["f_max"] or self.sample_rate / 2))
        return np.concatenate([mel, np.clip((hertz_to_mel(hz, mel_scale="kaldi") - lo) / (hi - lo), 0.0, 1.0)])

    def load_audio(self, path: str | Path) -> np.ndarray:
        """Whole file as mono float32 ``[samples]`` at ``sample_rate``."""
        blocks = list(iter_audio_blocks(path, self.sample_rate))
        return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)

    def to_mel_spectrogram(self, audio) -> np.ndarray:
        """Mono audio ``[samples]`` at ``sample_rate`` -> normalised log-mel ``[n_mels, frames]``."""
        return self.mel_tensor(audio).numpy()

    def mel_tensor(self, audio) -> "torch.Tensor":  # noqa: F821
        """Like :meth:`to_mel_spectrogram` but returns a float32 torch tensor."""
        return self._mel(self._wave(audio))

    @staticmethod
    def _wave(audio) -> "torch.Tensor":  # noqa: F821
        """Mono float32 tensor, non-finite samples zeroed; a clear error for anything else."""
        import torch

        wave = torch.as_tensor(np.asarray(audio, dtype=np.float32))
        if wave.ndim != 1:
            raise AudioError(f"expected mono audio of shape [samples], got shape {tuple(wave.shape)}")
        if not torch.isfinite(wave).all():
            wave = torch.nan_to_num(wave, nan=0.0, posinf=0.0, neginf=0.0)
        return wave

    def _mel(self, wave) -> "torch.Tensor":  # noqa: F821
        if self._fbank is None:
            from sound2sheet.core.features import KaldiFbank

            self._fbank = KaldiFbank(**self._fbank_args)
        fbank = self._fbank(wave)  # [frames, n_mels]
        return self._normalize(fbank).T.contiguous()

    def features(self, audio) -> np.ndarray:
        """The model's input ``[n_features, frames]``: the normalised log-mel, then (when
        ``pitch_bins_per_semitone``) the normalised pitch spectrum, frame for frame."""
        return self.feature_tensor(audio).numpy()

    def feature_tensor(self, audio) -> "torch.Tensor":  # noqa: F821
        """Like :meth:`features` but returns a float32 torch tensor."""
        import torch

        wave = self._wave(audio)
        mel = self._mel(wave)
        if not self.pitch_bins_per_semitone:
            return mel
        from sound2sheet.core.features import PitchSpectrum, normalize_pitch

        if self._pitch is None:
            self._pitch = PitchSpectrum(**self._pitch_args)
        return torch.cat([mel, normalize_pitch(self._pitch(wave)).T], dim=0).contiguous()

    @property
    def units_per_db(self) -> float:
        """How far 1 dB of power moves a feature value (natural-log fbank, then normalised):
        gain and EQ are additive in these units (sound2sheet.model.feature_augment)."""
        return float(self._normalize(math.log(10.0) / 10.0) - self._normalize(0.0))

    def _normalize(self, x):
        return (x - self.norm_mean) / (self.norm_std * 2.0) if self.normalize else x
