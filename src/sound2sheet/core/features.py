"""Kaldi-style log-mel filterbank, vectorised in torch.

It reproduces ``transformers.ASTFeatureExtractor`` (its numpy path, which is also what the
AudioSet AST weights were trained with through torchaudio's Kaldi fbank): per 25 ms frame,
remove the DC offset, pre-emphasise (0.97), symmetric Hann window, 512-point power spectrum,
Kaldi mel filters (20 Hz to Nyquist), log with floor 1.19e-7. The filter bank and window come
from ``transformers.audio_utils`` so they are the extractor's own (cached on disk by
:func:`sound2sheet.startup_cache.cached_array`: importing transformers costs ~0.6 s).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

MEL_FLOOR = 1.192092955078125e-07
# Frames per chunk when framing long audio; bounds the [frames, win] buffer to ~16 MB.
_CHUNK_FRAMES = 10000


def frame_spans(frames: int, hop: int, win: int, chunk: int):
    """Sample ranges ``[start, stop)`` holding ``chunk`` frames at a time (``win`` samples every
    ``hop``): long audio is framed piece by piece so the ``[frames, win]`` buffer stays bounded."""
    for first in range(0, frames, chunk):
        count = min(chunk, frames - first)
        yield first * hop, first * hop + (count - 1) * hop + win


def power_spectrum(frames: torch.Tensor, n_fft: int) -> torch.Tensor:
    """``frames [F, win] -> |rfft|^2 [F, n_fft // 2 + 1]``. Squaring the real and imaginary parts
    skips the square root ``abs()`` takes: several times faster on a CPU, the same to rounding."""
    spectrum = torch.fft.rfft(frames, n=n_fft)
    return spectrum.real.square() + spectrum.imag.square()


def _hann(length: int) -> np.ndarray:
    """The extractor's symmetric Hann window ``[length]``."""
    from transformers.audio_utils import window_function

    return window_function(length, "hann", periodic=False)


def _kaldi_mel_bank(**kwargs) -> np.ndarray:
    """The extractor's Kaldi mel filters ``[num_frequency_bins, num_mel_filters]``."""
    from transformers.audio_utils import mel_filter_bank

    with warnings.catch_warnings():
        # AST's own setting (128 filters over 257 bins) leaves a filter empty; that is expected.
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        return np.asarray(mel_filter_bank(**kwargs, norm=None, mel_scale="kaldi", triangularize_in_mel_space=True))


class KaldiFbank:
    """``waveform [samples] -> log-mel [frames, n_mels]`` (un-normalised), ``snip_edges`` framing."""

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 128,
        win_length: int = 400,
        hop_length: int = 160,
        n_fft: int = 512,
        f_min: float = 20.0,
        f_max: float | None = None,
        preemphasis: float = 0.97,
    ) -> None:
        from sound2sheet.startup_cache import cached_array

        self.win_length, self.hop_length, self.n_fft = win_length, hop_length, n_fft
        self.preemphasis = preemphasis
        self.window = torch.from_numpy(cached_array("hann", {"length": win_length}, lambda: _hann(win_length))).double()
        bank_args = {"num_frequency_bins": n_fft // 2 + 1, "num_mel_filters": n_mels, "min_frequency": f_min,
                     "max_frequency": f_max if f_max is not None else sample_rate / 2, "sampling_rate": sample_rate}
        bank = cached_array("kaldi-mel", bank_args, lambda: _kaldi_mel_bank(**bank_args))
        self.mel_bank = torch.from_numpy(bank).double()  # [n_fft//2+1, n_mels]

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        waveform = waveform.reshape(-1).double()
        n = waveform.numel()
        if n < self.win_length:
            return torch.zeros(0, self.mel_bank.shape[1], dtype=torch.float32)
        frames_total = 1 + (n - self.win_length) // self.hop_length
        spans = frame_spans(frames_total, self.hop_length, self.win_length, _CHUNK_FRAMES)
        return torch.cat([self._chunk(waveform[start:stop]) for start, stop in spans]).float()

    def _chunk(self, waveform: torch.Tensor) -> torch.Tensor:
        frames = waveform.unfold(0, self.win_length, self.hop_length)  # [F, win]
        frames = frames - frames.mean(dim=1, keepdim=True)
        emphasised = torch.empty_like(frames)
        emphasised[:, 1:] = frames[:, 1:] - self.preemphasis * frames[:, :-1]
        emphasised[:, 0] = frames[:, 0] * (1.0 - self.preemphasis)
        power = power_spectrum(emphasised * self.window, self.n_fft)  # [F, bins]
        return torch.clamp(power @ self.mel_bank, min=MEL_FLOOR).log()


# ---------------------------------------------------------------------------------------------
# Pitch spectrum: a long-window, log-frequency companion to the fbank.
#
# AST's fbank has a 25 ms window (31 Hz bins): below C5 (523 Hz) neighbouring semitones share a
# bin, and recall on the dev set fell from ~0.9 above C5 to 0.2-0.5 below it. A 128 ms window
# (7.8 Hz bins) on a semitone grid resolves fundamentals down to about C3 and the harmonics of
# the notes below. Frames are centred where the fbank's are, so row f of both is the same 10 ms.

PITCH_FLOOR = 1e-10
PITCH_LOWEST_MIDI = 21.0  # A0
# Normalisation of the natural-log power: (x - mean) / (2 std), like AST's fbank, with the
# statistics of the standard training set's renders (40 files, first 60 s each: -6.56 / 5.11).
PITCH_MEAN = -6.5
PITCH_STD = 5.1


def pitch_bin_midis(sample_rate: int, bins_per_semitone: int) -> np.ndarray:
    """Centre of every pitch-spectrum row in MIDI numbers: from A0 up in ``1/bins_per_semitone``
    steps while below 95 % of Nyquist (16 kHz, 2 per semitone: 195 rows, A0 to ~F#8); none
    when ``bins_per_semitone`` is 0 (no pitch spectrum)."""
    if not bins_per_semitone:
        return np.zeros(0)
    top = 69.0 + 12.0 * np.log2(0.95 * sample_rate / 2 / 440.0)
    count = int(np.floor((top - PITCH_LOWEST_MIDI) * bins_per_semitone)) + 1
    return PITCH_LOWEST_MIDI + np.arange(count) / bins_per_semitone


def pitch_bin_hz(sample_rate: int, bins_per_semitone: int) -> np.ndarray:
    """The same centres in Hz."""
    return 440.0 * 2.0 ** ((pitch_bin_midis(sample_rate, bins_per_semitone) - 69.0) / 12.0)


def normalize_pitch(x):
    """Natural-log pitch power -> model units (``PITCH_MEAN`` / ``PITCH_STD``)."""
    return (x - PITCH_MEAN) / (2.0 * PITCH_STD)


def pitch_reach_frames(n_fft: int, win_length: int, hop_length: int) -> int:
    """Frames past a fbank frame's own samples that its pitch window reaches, either side."""
    return -(-(n_fft - win_length) // (2 * hop_length))


class PitchSpectrum:
    """``waveform [samples] -> log power [frames, bins]`` on a semitone grid, ``n_fft``-sample
    Hann window, frames centred on the fbank's (``win_length / 2`` after each hop), zeros
    outside the signal, as many frames as :class:`KaldiFbank` gives. Un-normalised; a transposed
    view of a ``[bins, frames]`` tensor, which is the layout the model reads."""

    def __init__(self, sample_rate: int = 16000, bins_per_semitone: int = 2, n_fft: int = 2048,
                 hop_length: int = 160, win_length: int = 400) -> None:
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.window = torch.hann_window(n_fft, periodic=False)
        freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
        centres = pitch_bin_hz(sample_rate, bins_per_semitone)
        # Triangles as wide as the grid step, never narrower than one FFT bin: low rows then
        # interpolate between FFT bins instead of catching none.
        half = np.maximum(centres * (2.0 ** (1.0 / (12 * bins_per_semitone)) - 1.0), sample_rate / n_fft)
        bank = np.clip(1.0 - np.abs(freqs[:, None] - centres[None, :]) / half[None, :], 0.0, None)
        self.bank = torch.from_numpy(bank / bank.sum(axis=0, keepdims=True)).float()  # [bins_fft, rows]
        # Each FFT bin feeds about two rows (~2 k of the bank's 200 k entries): the sparse
        # product takes a fraction of the dense one's time, with the same sums.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self._bank_rows = self.bank.T.contiguous().to_sparse_csr()  # [rows, bins_fft]

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        waveform = waveform.reshape(-1).float()
        n = waveform.numel()
        if n < self.win_length:
            return torch.zeros(0, self.bank.shape[1], dtype=torch.float32)
        frames_total = 1 + (n - self.win_length) // self.hop_length
        left = self.n_fft // 2 - self.win_length // 2
        need = (frames_total - 1) * self.hop_length + self.n_fft
        padded = torch.nn.functional.pad(waveform, (left, max(0, need - left - n)))
        out = []
        for start, stop in frame_spans(frames_total, self.hop_length, self.n_fft, _CHUNK_FRAMES // 4):
            power = power_spectrum(padded[start:stop].unfold(0, self.n_fft, self.hop_length) * self.window, self.n_fft)
            out.append(torch.clamp(self._bank_rows @ power.T, min=PITCH_FLOOR).log())
        return torch.cat(out, dim=1).T
