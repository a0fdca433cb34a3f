"""Sound2Sheet: piano transcription with an Audio Spectrogram Transformer.

Heavy modules (torch, transformers) are imported lazily so that ``import sound2sheet``
and ``sound2sheet --help`` stay instant.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["NoteEvent", "Transcriber", "__version__", "load_model", "transcribe"]


def transcribe(path_or_array, sample_rate=None, checkpoint=None, inference_config=None, model=None):
    """Transcribe a recording (file path, or array with ``sample_rate``) into a list of
    :class:`~sound2sheet.notes.NoteEvent`; uses the shipped model unless ``checkpoint`` or
    ``model`` is given. See :mod:`sound2sheet.inference`."""
    from sound2sheet.inference import transcribe as _transcribe

    return _transcribe(path_or_array, sample_rate, checkpoint, inference_config, model)


def __getattr__(name: str):
    if name in ("Transcriber", "load_model"):
        from sound2sheet import inference

        return getattr(inference, name)
    if name == "NoteEvent":
        from sound2sheet.notes import NoteEvent

        return NoteEvent
    raise AttributeError(f"module 'sound2sheet' has no attribute {name!r}")
