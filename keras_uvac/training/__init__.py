"""Training: recipes, one run, a consensus of runs, checkpoints, speakers and the model card.

`train` is the entry point; the modules below it each hold one responsibility:

- `recipes`: `Recipe`, `RECIPES` (`"paper"`, `"default"`), the phase schedule and the mixture fit.
- `run`: one run of a recipe, epoch by epoch, checkpointed and resumable.
- `consensus_runs`: several runs of one recipe and the model that carries their consensus.
- `clusters`: the number of clusters chosen without labels (`num_clusters="auto"`).
- `checkpoints`: what a run keeps on disk, its lock, and the final save.
- `speakers`: the groups the speaker terms use (the data's ids, pseudo-speakers, or none).
- `card`: the model card.

Example:
>>> from keras_uvac import training
>>> training.RECIPES["default"].runs
3
"""

from keras_uvac.training import clusters
from keras_uvac.training.card import model_card
from keras_uvac.training.checkpoints import (
                                             CHECKPOINTS,
                                             EpochCheckpoint,
                                             TrainingError,
                                             latest_checkpoint,
                                             load_checkpoint,
                                             read_history,
                                             run_lock,
                                             save_checkpoint,
                                             save_for_inference,
)
from keras_uvac.training.recipes import RECIPES, Recipe, RecipeSchedule, build_model, fit_prior_to_codes
from keras_uvac.training.run import repeatable_op_order, set_precision, train_one_run
from keras_uvac.training.speakers import (
                                             SPEAKER_MODES,
                                             describe_speakers,
                                             speaker_groups,
                                             speaker_run_length,
                                             speaker_source,
)
from keras_uvac.training.trainer import train

__all__ = ["CHECKPOINTS", "RECIPES", "SPEAKER_MODES", "EpochCheckpoint", "Recipe", "RecipeSchedule", "TrainingError",
           "build_model", "clusters", "describe_speakers", "fit_prior_to_codes", "latest_checkpoint", "load_checkpoint",
           "model_card", "read_history", "repeatable_op_order", "run_lock", "save_checkpoint", "save_for_inference",
           "set_precision", "speaker_groups", "speaker_run_length", "speaker_source", "train", "train_one_run"]
