"""``sound2sheet train``: build loaders and model from a run config and train.

Launched by ``torchrun --nproc_per_node=N -m sound2sheet train ...`` it trains with
DistributedDataParallel (see :mod:`sound2sheet.model.distributed`); ``training.batch_size`` is
then per process, the global batch ``batch_size * N``.
"""

from __future__ import annotations

import logging

from sound2sheet.runconfig import RunConfig

log = logging.getLogger(__name__)


def run_training(run: RunConfig) -> list[dict]:
    """Train as ``run`` describes; returns the history. Evaluates the test split at the end."""
    from sound2sheet.model.distributed import distributed_session

    with distributed_session(run.training.device):
        return _train(run)


def _train(run: RunConfig) -> list[dict]:
    import torch

    from sound2sheet.fileio import atomic_write_json
    from sound2sheet.model import Sound2SheetModel, Trainer
    from sound2sheet.model.dataset import create_dataloaders

    train, val, test = create_dataloaders(run.data, run.model, run.training)  # after joining: sharded
    log.info("training on %d crops (%.1f h of audio)", len(train.dataset), train.dataset.total_seconds / 3600)
    torch.manual_seed(run.training.seed)  # the same seed gives the same initial weights
    model = Sound2SheetModel(run.model)
    trainer = Trainer(model, train, val, run.model, run.training, run.data, run.inference)
    if trainer.is_main:
        atomic_write_json(trainer.checkpoint_dir / "run_config.json", run.to_dict())
    history = trainer.train()
    if test is not None:
        scores = trainer.evaluate(test)  # every rank evaluates its shard; the scores are gathered
        if trainer.is_main:
            atomic_write_json(trainer.checkpoint_dir / "test_scores.json", scores)
            log.info("test: note_onset_f1=%.4f frame_f1=%.4f", scores.get("note_onset_f1", 0.0), scores["frame_f1"])
    return history
