"""Hyperparameter search with keras-tuner.

`UVACHyperModel` searches the knobs that matter: latent size, encoder width,
learning rate, KL weight, the share of epochs spent pretraining, and the
weight of the contrastive term. Every trial trains with the default recipe's
schedule (`training.RecipeSchedule`). The default objective needs no labels:
the silhouette of the GMM clusters of the validation codes (`val_silhouette`,
higher is better). With labeled validation data, `objective="accuracy"`
searches on unsupervised validation accuracy instead.
"""

import dataclasses
import math
import os

import keras
import keras_tuner
import numpy as np

from keras_uvac import metrics, pipeline, training
from keras_uvac.atomic import write_json
from keras_uvac.model import UVAC

OBJECTIVES = {"silhouette": keras_tuner.Objective("val_silhouette", "max"),
              "accuracy": keras_tuner.Objective("val_accuracy", "max")}
TUNERS = {"random": keras_tuner.RandomSearch, "bayesian": keras_tuner.BayesianOptimization,
          "hyperband": keras_tuner.Hyperband}


class UVACHyperModel(keras_tuner.HyperModel):
    """A keras-tuner HyperModel for UVAC.

    Args:
        train_collection: clips to train on (labels not needed).
        validation_collection: clips the objective is computed on.
        feature_config: a `features.FeatureConfig`.
        recipe: the `training.Recipe` whose schedule every trial follows.
        widths: encoder widths to try (channels of the first convolution;
            each next one doubles).
        with_labels: feed validation labels to the metrics (for the accuracy objective).

    Example:
    >>> tuner = keras_tuner.RandomSearch(UVACHyperModel(train, validation), OBJECTIVES["silhouette"],
    ...                                  max_trials=3, directory="tuning")  # doctest: +SKIP
    >>> tuner.search()  # doctest: +SKIP
    """

    def __init__(self, train_collection, validation_collection, feature_config=None, recipe=None,
                 widths=(8, 16), with_labels=False, **kwargs):
        super().__init__(**kwargs)
        self.train_collection = train_collection
        self.validation_collection = validation_collection
        self.feature_config = feature_config
        self.recipe = recipe or training.RECIPES["default"].with_epochs(4)
        self.widths = tuple(widths)
        self.with_labels = with_labels

    def build(self, hp):
        width = hp.Choice("encoder_width", list(self.widths))
        model = UVAC(latent_dim=hp.Choice("latent_dim", [8, 10, 16]),
                     encoder_channels=tuple(width * 2**level for level in range(4)),
                     consistency_weight=hp.Choice("consistency_weight", [10.0, 100.0]),
                     reconstruction_loss="sse", min_log_variance=-4.0, learn_mixture_weights=False,
                     feature_config=(self.feature_config.get_config() if self.feature_config else None))
        learning_rate = hp.Float("learning_rate", 3e-4, 3e-3, sampling="log")
        steps = self.recipe.epochs * math.ceil(len(self.train_collection) / self.recipe.batch_size)
        schedule = keras.optimizers.schedules.ExponentialDecay(learning_rate, max(steps, 1), 0.1)
        model.compile(optimizer=keras.optimizers.Adam(schedule))
        # keras-tuner reloads the best model from weights: it must have been called once.
        model({"spectrogram": np.zeros((1, model.num_bins, model.num_frames), "float32")})
        return model

    def fit(self, hp, model, *args, callbacks=(), epochs=None, initial_epoch=0, verbose=1, **kwargs):
        # Hyperband passes its own epoch budget; the other tuners use the recipe's.
        epochs = epochs or self.recipe.epochs
        recipe = dataclasses.replace(
            self.recipe, epochs=epochs, kl_weight=hp.Float("kl_weight", 0.1, 1.0),
            pretrain_epochs=max(1, round(epochs * hp.Choice("pretrain_share", [0.3, 0.5, 0.7]))))
        train_data = pipeline.feature_dataset(self.train_collection, self.feature_config, recipe.batch_size,
                                              shuffle=True, cache=True, with_labels=False, with_speakers=True)
        embedding_data = pipeline.feature_dataset(self.train_collection, self.feature_config, 256,
                                                  with_labels=False)
        validation = pipeline.feature_dataset(self.validation_collection, self.feature_config, 256,
                                              with_labels=self.with_labels)
        callbacks = [training.RecipeSchedule(recipe, embedding_data), metrics.ClusteringMetricsCallback(validation),
                     *callbacks]
        return model.fit(train_data, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                         verbose=verbose, shuffle=False)


def tune(train_collection, validation_collection, directory, tuner="random", max_trials=3, objective="silhouette",
         epochs=4, feature_config=None, out_path=None, seed=0, verbose=1, widths=(8, 16)):
    """Runs (or resumes) a search and saves the best hyperparameters and model.

    Args:
        train_collection: training clips.
        validation_collection: clips for the objective.
        directory: the search's folder; a search found there is resumed.
        tuner: `"random"`, `"bayesian"` or `"hyperband"`.
        max_trials: trials to run (Hyperband: its `max_epochs` is `epochs`).
        objective: `"silhouette"` (no labels needed) or `"accuracy"`.
        epochs: epochs per trial.
        feature_config: a `features.FeatureConfig`.
        out_path: the best model's `.keras` file (default: `directory/best.keras`).
        seed: the tuner's seed.
        verbose: Keras progress bar mode.
        widths: encoder widths to search.

    Returns:
        `(best_model, best_hyperparameters_dict)`.

    Example:
    >>> model, values = tune(splits["train"], splits["validation"], "tuning/", max_trials=3)  # doctest: +SKIP
    """
    if objective == "accuracy" and validation_collection.labels is None:
        raise ValueError("the accuracy objective needs labeled validation data; use 'silhouette'")
    hypermodel = UVACHyperModel(train_collection, validation_collection, feature_config,
                                training.RECIPES["default"].with_epochs(epochs), widths=widths,
                                with_labels=objective == "accuracy")
    options = {"max_epochs": epochs, "factor": 3} if tuner == "hyperband" else {"max_trials": max_trials}
    search = TUNERS[tuner](hypermodel, objective=OBJECTIVES[objective], directory=str(directory),
                           project_name="uvac", overwrite=False, seed=seed, **options)
    search.search(verbose=verbose)
    best_values = search.get_best_hyperparameters(1)[0].values
    best_model = search.get_best_models(1)[0]
    out_path = out_path or os.path.join(directory, "best.keras")
    training.save_for_inference(best_model, out_path)
    write_json(os.path.join(directory, "best_hyperparameters.json"), best_values)
    return best_model, best_values
