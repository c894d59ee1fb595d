"""Small, tested helpers that the course notebooks import.

One module per concern: `batches` (mini-batches), `progress` (the status bar), `softplus`
(a numerically stable activation), `training` (the custom training loop: one step in
`train_step`, many steps per compiled call in `multi_step`, the NaN undo in `non_finite`, argument
checks in `training_inputs`, checkpoints in `checkpointing` and Ctrl-C in `interrupts`),
`runtime` (notebook set-up and distribution strategies), `one_cycle` (the 1cycle schedule),
`lr_finder` (the learning-rate finder), `mc_dropout` (Monte Carlo dropout), `restartable` (one
compiled model trained many times, each run as if on a new model), `glue` (computed numbers for
the website's text) and `arguments` (the checks of numeric arguments they share).
"""

from helpers.batches import epoch_batches, random_batch
from helpers.lr_finder import LearningRateFinder
from helpers.mc_dropout import MCDropout, mc_predict
from helpers.one_cycle import OneCycleScheduler
from helpers.progress import StatusBar, format_status, print_status_bar
from helpers.restartable import RestartableModel
from helpers.runtime import distribution_strategy, setup
from helpers.softplus import stable_softplus
from helpers.training import train

__all__ = [
    "LearningRateFinder",
    "MCDropout",
    "OneCycleScheduler",
    "RestartableModel",
    "mc_predict",
    "StatusBar",
    "distribution_strategy",
    "epoch_batches",
    "format_status",
    "print_status_bar",
    "random_batch",
    "setup",
    "stable_softplus",
    "train",
]
