"""Audio in, notes out, for any length with bounded memory.

Audio is read in blocks, features are computed for chunks of ``chunk_frames`` output frames
with at least ``context_frames`` of context either side, and the probabilities stream into
:class:`~sound2sheet.decoding.StreamingDecoder`, which carries notes across chunk borders.
Each chunk's input starts on a multiple of the encoder's window step and spans
``window + k * step`` frames, so its encoder windows are exactly the windows a whole-file
pass would use (AST's position embeddings make outputs depend on where a window starts).
Memory depends on the chunk size, not on the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from sound2sheet.decoding import StreamingDecoder
from sound2sheet.errors import AudioError, CheckpointError
from sound2sheet.notes import NoteEvent, sort_notes

log = logging.getLogger(__name__)


@dataclass
class Transcription:
    """Notes of one recording, with what produced them."""

    notes: list[NoteEvent]
    duration: float  # seconds of audio
    source: str | None = None
    model: dict = field(default_factory=dict)


def default_checkpoint() -> Path:
    """The model shipped inside the package."""
    from importlib import resources

    path = Path(str(resources.files("sound2sheet") / "weights" / "default.pt"))
    if not path.exists():
        raise CheckpointError("no default model ships with this installation yet; pass a checkpoint (--checkpoint PATH)")
    return path


def load_model(checkpoint: str | Path | None = None, device: str = "cpu", fast_start: bool = True):
    """A trained model from ``checkpoint`` (file or run directory), or the shipped default, for
    inference. ``fast_start``: on the CPU, the encoder's traced graph from the start-up cache
    (:mod:`sound2sheet.startup_cache`; same outputs, ~2 s less to load, cannot train)."""
    from sound2sheet.model import Sound2SheetModel

    return Sound2SheetModel.from_pretrained(checkpoint if checkpoint is not None else default_checkpoint(),
                                            map_location=device, fast_start=fast_start)


class Transcriber:
    """Runs a trained model over recordings, chunk by chunk.

    ``chunk_frames``: output frames per chunk. Each chunk also computes ``context_frames``
    either side, rounded out to the encoder's window grid, so short chunks repeat work: 4-minute
    chunks ran the dev set ~20 % faster than 1-minute ones for ~230 MB more peak memory
    (docs/experiments.md #14)."""

    def __init__(self, model, inference_config=None, chunk_frames: int = 24000, context_frames: int | None = None,
                 batch_windows: int | None = None) -> None:
        from sound2sheet.core.audio import AudioProcessor
        from sound2sheet.model import DataConfig, InferenceConfig

        self.model = model.eval()
        self.data_config = model.data_config or DataConfig()
        self.processor = AudioProcessor.from_config(self.data_config)
        self.config = inference_config or model.inference_config or InferenceConfig()
        self.chunk = chunk_frames
        self.window = model.encoder.window
        self.step = model.encoder.window - model.encoder.overlap
        # Context either side of a chunk: the encoder's cross-fade, the head's convolutions
        # (refiner included) and the pitch spectrum's long window, so chunked output equals
        # whole-file output.
        needed = model.encoder.overlap + model.config.head_radius_frames + self.data_config.feature_reach_frames + 16
        self.context = context_frames if context_frames is not None else max(self.window // 2, needed)
        if self.context < needed:
            log.warning("context_frames=%d is less than the %d frames this model looks across: chunked "
                        "output will differ slightly from a whole-file pass near chunk edges", self.context, needed)
        if batch_windows:
            model.encoder.batch_windows = batch_windows
        self.device = next(model.parameters()).device
        from sound2sheet.model.precision import inference_dtype

        self.dtype = inference_dtype(self.config.precision, self.device)  # None: fp32

    def describe(self) -> dict:
        from sound2sheet import __version__

        c = self.model.config
        return {"sound2sheet_version": __version__, "encoder_size": c.encoder_size, "pretrained": c.pretrained,
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "precision": "fp32" if self.dtype is None else str(self.dtype).removeprefix("torch.")}

    def _decoder(self) -> StreamingDecoder:
        cfg = self.config
        return StreamingDecoder(**cfg.decoder_kwargs(self.processor.hop_s, self.model.config.min_midi_note),
                                use_onsets=cfg.use_onsets and "onset" in self.model.heads)

    def transcribe_blocks(self, blocks: Iterable[np.ndarray], gain: float = 1.0) -> tuple[list[NoteEvent], int]:
        """Notes from a stream of mono blocks at the model's sample rate, each scaled by
        ``gain``; also the sample count."""
        import torch

        from sound2sheet.model.precision import autocast

        hop, win = self.processor.hop_length, self.processor.win_length
        decoder = self._decoder()
        notes: list[NoteEvent] = []
        buf = np.zeros(0, dtype=np.float32)
        buf_start = 0  # absolute sample of buf[0]
        next_frame = 0
        total = 0
        blocks = iter(blocks)
        ended = False
        while True:
            if not ended:
                block = next(blocks, None)
                if block is None:
                    ended = True
                else:
                    block = np.asarray(block, dtype=np.float32)
                    buf = np.concatenate([buf, block * np.float32(gain) if gain != 1.0 else block])
                    total += len(block)
            available = 0 if total < win else 1 + (total - win) // hop
            while next_frame < available:
                first, last = self._span(next_frame, available, ended)
                if last is None:
                    break  # wait for more audio
                a, b = first * hop - buf_start, (last - 1) * hop + win - buf_start
                if last == available:  # the file's last samples, as a whole-file pass sees them
                    b = total - buf_start  # (the pitch spectrum's long window reaches them)
                mel = self.processor.feature_tensor(buf[a:b]).to(self.device)
                with torch.inference_mode(), autocast(self.device, self.dtype):
                    heads = self.model.forward_heads(mel.unsqueeze(0))
                probs = {k: torch.sigmoid(v.float())[0].cpu().numpy() for k, v in heads.items()}
                count = min(self.chunk, available - next_frame)
                rows = slice(next_frame - first, next_frame - first + count)
                pedal = probs["pedal"][rows] if "pedal" in probs and self.config.use_pedal else None
                notes += decoder.push(probs["frame"][rows], probs["onset"][rows] if "onset" in probs else None,
                                      probs["velocity"][rows] if "velocity" in probs else None, pedal,
                                      probs["offset"][rows] if "offset" in probs else None)
                next_frame += count
                next_first = min(max(0, (next_frame - self.context) // self.step * self.step),
                                 self._tail_first(available))  # a span may still have to run to the end
                drop = max(0, next_first * hop - buf_start)
                buf, buf_start = buf[drop:], buf_start + drop
            if ended:
                break
        notes += decoder.finish()
        return sort_notes(notes), total

    def _span(self, start: int, available: int, ended: bool) -> tuple[int, int | None]:
        """Input frames ``[first, last)`` for the chunk of outputs starting at ``start``: on the
        global window grid, with at least ``context`` frames either side where the audio has them.
        ``last`` is None when the stream must deliver more audio first.

        A whole-file pass ends with a window aligned to the file's end, off the grid, that
        blends into the last ``window`` frames. So a span that stops short of the end needs a
        full window of audio after it; otherwise it runs to the end and starts at least a window
        before it, so it includes that window."""
        first = max(0, (start - self.context) // self.step * self.step)
        need = start + self.chunk + self.context - first  # frames wanted from ``first``
        steps = max(0, -(-(need - self.window) // self.step))
        last = first + self.window + steps * self.step
        if last + self.window <= available:
            return first, last
        if not ended:
            return first, None
        return min(first, self._tail_first(available)), available

    def _tail_first(self, available: int) -> int:
        """The latest grid frame a span running to the end (``available`` frames) may start at:
        at least a window before the end, so it holds the whole-file pass's last window."""
        return max(0, available - self.window) // self.step * self.step

    def transcribe_file(self, path: str | Path) -> Transcription:
        from sound2sheet.core.audio import file_peak, iter_audio_blocks, peak_gain

        # A first pass for the peak (InferenceConfig.normalize_peak) keeps memory bounded.
        gain = peak_gain(file_peak(path), self.config.normalize_peak) if self.config.normalize_peak else 1.0
        notes, samples = self.transcribe_blocks(iter_audio_blocks(path, self.processor.sample_rate), gain)
        return Transcription(notes, samples / self.processor.sample_rate, str(path), self.describe())

    def transcribe_array(self, audio: np.ndarray, sample_rate: int) -> Transcription:
        """Like :meth:`transcribe_file`; non-finite samples are silenced with a warning, as for files."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim not in (1, 2) or audio.size == 0:  # [samples] or [samples, channels]
            raise AudioError(f"expected non-empty mono or [samples, channels] audio, got shape {audio.shape}")
        from sound2sheet.core.audio import audio_peak, mix_to_mono, peak_gain

        size = audio.size
        audio, bad = mix_to_mono(audio)
        if bad == size:
            raise AudioError("every sample of the audio array is NaN or infinite")
        if bad:
            log.warning("audio array: replaced %d non-finite samples with silence", bad)
        gain = peak_gain(audio_peak(audio), self.config.normalize_peak)  # before resampling, as for files
        if sample_rate != self.processor.sample_rate:
            import soxr

            audio = soxr.resample(audio, sample_rate, self.processor.sample_rate, quality="HQ").astype(np.float32)
        step = self.processor.sample_rate * 30
        notes, samples = self.transcribe_blocks((audio[i:i + step] for i in range(0, len(audio), step)), gain)
        return Transcription(notes, samples / self.processor.sample_rate, None, self.describe())


def transcribe(path_or_array, sample_rate: int | None = None, checkpoint: str | Path | None = None,
               inference_config=None, model=None) -> list[NoteEvent]:
    """Transcribe a file path or an audio array (give ``sample_rate`` with an array).

    Uses the shipped default model unless ``checkpoint`` or ``model`` is given.
    """
    transcriber = Transcriber(model if model is not None else load_model(checkpoint), inference_config)
    if isinstance(path_or_array, (str, Path)):
        return transcriber.transcribe_file(path_or_array).notes
    if sample_rate is None:
        raise AudioError("transcribing an array needs its sample_rate")
    return transcriber.transcribe_array(path_or_array, sample_rate).notes


def iter_files(paths: Iterable[str | Path], extensions: tuple[str, ...]) -> Iterator[Path]:
    """Files and the matching files inside folders (recursive, sorted)."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.suffix.lower() in extensions)
        else:
            yield p
