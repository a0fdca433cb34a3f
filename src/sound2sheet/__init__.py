"""Sound2Sheet: piano transcription with an Audio Spectrogram Transformer.

Heavy modules (torch, transformers) are imported lazily so that ``import sound2sheet``
and ``sound2sheet --help`` stay instant.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
