"""Audio input: loading and features."""

from sound2sheet.core.audio import AUDIO_EXTENSIONS, AudioProcessor, iter_audio_blocks

__all__ = ["AUDIO_EXTENSIONS", "AudioProcessor", "iter_audio_blocks"]
