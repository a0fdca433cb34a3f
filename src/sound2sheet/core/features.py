"""Kaldi-style log-mel filterbank, vectorised in torch.

It reproduces ``transformers.ASTFeatureExtractor`` (its numpy path, which is also what the
AudioSet AST weights were trained with through torchaudio's Kaldi fbank): per 25 ms frame,
remove the DC offset, pre-emphasise (0.97), symmetric Hann window, 512-point power spectrum,
Kaldi mel filters (20 Hz to Nyquist), log with floor 1.19e-7. The filter bank and window come
from ``transformers.audio_utils`` so they are the extractor's own.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

MEL_FLOOR = 1.192092955078125e-07
# Frames per chunk when framing long audio; bounds the [frames, win] buffer to ~16 MB.
_CHUNK_FRAMES = 10000


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
        from transformers.audio_utils import mel_filter_bank, window_function

        self.win_length, self.hop_length, self.n_fft = win_length, hop_length, n_fft
        self.preemphasis = preemphasis
        self.window = torch.from_numpy(window_function(win_length, "hann", periodic=False)).double()
        with warnings.catch_warnings():
            # AST's own setting (128 filters over 257 bins) leaves a filter empty; that is expected.
            warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
            bank = mel_filter_bank(
                num_frequency_bins=n_fft // 2 + 1,
                num_mel_filters=n_mels,
                min_frequency=f_min,
                max_frequency=f_max if f_max is not None else sample_rate / 2,
                sampling_rate=sample_rate,
                norm=None,
                mel_scale="kaldi",
                triangularize_in_mel_space=True,
            )
        self.mel_bank = torch.from_numpy(np.asarray(bank)).double()  # [n_fft//2+1, n_mels]

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        waveform = waveform.reshape(-1).double()
        n = waveform.numel()
        if n < self.win_length:
            return torch.zeros(0, self.mel_bank.shape[1], dtype=torch.float32)
        frames_total = 1 + (n - self.win_length) // self.hop_length
        out = []
        for first in range(0, frames_total, _CHUNK_FRAMES):
            count = min(_CHUNK_FRAMES, frames_total - first)
            start = first * self.hop_length
            stop = start + (count - 1) * self.hop_length + self.win_length
            out.append(self._chunk(waveform[start:stop]))
        return torch.cat(out).float()

    def _chunk(self, waveform: torch.Tensor) -> torch.Tensor:
        frames = waveform.unfold(0, self.win_length, self.hop_length)  # [F, win]
        frames = frames - frames.mean(dim=1, keepdim=True)
        emphasised = torch.empty_like(frames)
        emphasised[:, 1:] = frames[:, 1:] - self.preemphasis * frames[:, :-1]
        emphasised[:, 0] = frames[:, 0] * (1.0 - self.preemphasis)
        power = torch.fft.rfft(emphasised * self.window, n=self.n_fft).abs().pow(2)  # [F, bins]
        return torch.clamp(power @ self.mel_bank, min=MEL_FLOOR).log()
