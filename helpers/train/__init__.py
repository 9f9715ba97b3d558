"""Training: the loop every episode uses, its loss history, checkpoints, and the CLI.

Episode 01 trains with it first (section 8, "the race"); episode 06 opens the loop up
(section 6, "training live") and loads checkpoints (section 7). One module per job:

- ``loop``         ``TrainConfig``, the learning-rate schedule, AdamW, ``train``
- ``history``      ``History``: the losses as data, written as JSON or CSV
- ``checkpoints``  ``save_checkpoint`` / ``load_checkpoint``, RNG states for resuming
- ``distributed``  DistributedDataParallel set-up for several processes (``torchrun``)
- ``presets``      the named settings of ``--preset``
- ``sweep``        a learning-rate sweep (``python -m helpers.train.sweep``, ``make lr-sweep``)
- ``cli``          ``python -m helpers.train`` (run by ``__main__``)

The library (everything but ``cli`` and ``sweep.main``) parses no command line and
imports no plotting.
"""

from helpers.train.checkpoints import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from helpers.train.history import History, write_history
from helpers.train.loop import (
    TrainConfig,
    TrainResult,
    estimate_loss,
    lr_at,
    make_optimizer,
    train,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "History",
    "TrainConfig",
    "TrainResult",
    "estimate_loss",
    "load_checkpoint",
    "lr_at",
    "make_optimizer",
    "save_checkpoint",
    "train",
    "write_history",
]
