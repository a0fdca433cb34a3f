"""Exceptions with one-line, user-facing messages.

The CLI prints ``str(error)`` for these and exits non-zero without a traceback; anything
else is a bug and keeps its traceback.
"""


class Sound2SheetError(Exception):
    """Base class for errors caused by the user's input or environment, not by a bug."""


class AudioError(Sound2SheetError):
    """An audio file is missing, unreadable, empty or otherwise unusable."""


class MidiError(Sound2SheetError):
    """A MIDI file is missing or cannot be parsed."""


class ConfigError(Sound2SheetError, ValueError):
    """A configuration value is invalid or inconsistent with another one."""


class CheckpointError(Sound2SheetError):
    """A checkpoint is missing, not a Sound2Sheet checkpoint, or does not fit the model."""


class DatasetError(Sound2SheetError):
    """A dataset directory or manifest is missing, malformed or points outside the dataset."""


class EncoderUnavailableError(Sound2SheetError):
    """Pretrained encoder weights could not be loaded (no network, wrong path)."""
