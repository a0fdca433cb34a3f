"""``sound2sheet train``: build loaders and model from a run config and train."""

from __future__ import annotations

import logging

from sound2sheet.runconfig import RunConfig

log = logging.getLogger(__name__)


def run_training(run: RunConfig) -> list[dict]:
    """Train as ``run`` describes; returns the history. Evaluates the test split at the end."""
    from sound2sheet.fileio import atomic_write_json
    from sound2sheet.model import Sound2SheetModel, Trainer
    from sound2sheet.model.dataset import create_dataloaders

    train, val, test = create_dataloaders(run.data, run.model, run.training)
    log.info("training on %d crops (%.1f h of audio)", len(train.dataset), train.dataset.total_seconds / 3600)
    model = Sound2SheetModel(run.model)
    trainer = Trainer(model, train, val, run.model, run.training, run.data, run.inference)
    atomic_write_json(trainer.checkpoint_dir / "run_config.json", run.to_dict())
    history = trainer.train()
    if test is not None and trainer.is_main:
        scores = trainer.evaluate(test)
        atomic_write_json(trainer.checkpoint_dir / "test_scores.json", scores)
        log.info("test: note_onset_f1=%.4f frame_f1=%.4f", scores.get("note_onset_f1", 0.0), scores["frame_f1"])
    return history
