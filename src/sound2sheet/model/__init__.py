"""The model training pipeline's public API."""

from sound2sheet.model.config import DataConfig, InferenceConfig, ModelConfig, TrainingConfig
from sound2sheet.model.sound2sheet_model import Sound2SheetModel
from sound2sheet.model.trainer import Trainer

__all__ = ["DataConfig", "InferenceConfig", "ModelConfig", "Sound2SheetModel", "Trainer", "TrainingConfig"]
