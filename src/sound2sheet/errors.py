"""Exceptions with one-line, user-facing messages.

The CLI prints ``str(error)`` for these and exits non-zero without a traceback; anything
else is a bug and keeps its traceback.
"""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's first message line (its type's name when the message is blank), at
    most ``limit`` characters: what a one-line error or warning quotes of its cause."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


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
