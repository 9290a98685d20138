"""Hyperparameter search with keras-tuner, over the model and recipe that ship.

`UVACHyperModel` builds every trial with `training.build_model`, the builder
the default recipe uses, so a search tunes what `uvac train` trains: the same
loss terms, speaker terms (the data's ids, or pseudo-speakers without them),
tied variances and schedule. It searches the recipe's knobs: the weights of
the contrastive, speaker, cross-speaker, cluster and KL terms, the learning
rate, the share of epochs spent pretraining, and the latent size.

The default objective needs no labels: `metrics.label_free_score` (stability
of the clusters under augmentation times the balance of their usage) on the
validation clips, from the joint phase on. The silhouette (`"silhouette"`)
rewards a few far-apart clusters and picked a 12%-accuracy trial on the FSDD;
with labeled validation clips, `"accuracy"` searches on validation accuracy.
`benchmarks/tuning.py` measures how well the label-free objective ranks trials.
"""

import dataclasses
import math
import os

import keras_tuner
import numpy as np

from keras_uvac import metrics, pipeline, training
from keras_uvac.atomic import write_json
from keras_uvac.features import FeatureConfig
from keras_uvac.model_arguments import ARCHITECTURES

OBJECTIVES = {"label-free": keras_tuner.Objective("val_label_free", "max"),
              "silhouette": keras_tuner.Objective("val_silhouette", "max"),
              "accuracy": keras_tuner.Objective("val_accuracy", "max")}
TUNERS = {"random": keras_tuner.RandomSearch, "bayesian": keras_tuner.BayesianOptimization,
          "hyperband": keras_tuner.Hyperband}


class UVACHyperModel(keras_tuner.HyperModel):
    """A keras-tuner HyperModel of the shipped UVAC recipe.

    Args:
        train_collection: clips to train on (labels not needed).
        validation_collection: clips the objective is computed on.
        feature_config: a `features.FeatureConfig` (default: `FeatureConfig()`).
        recipe: the `training.Recipe` (or its name) every trial starts from.
        architecture: a key of `model.ARCHITECTURES`.
        speakers: what the speaker terms group clips by (see `training.train`).
        model_overrides: other fixed `UVAC` arguments, or None.
        with_labels: feed validation labels to the metrics (for the accuracy objective).
        seed: seed of every trial's initialisation and data order.
        **kwargs: passed to `keras_tuner.HyperModel`.

    Example:
    >>> tuner = keras_tuner.RandomSearch(UVACHyperModel(train, validation), OBJECTIVES["label-free"],
    ...                                  max_trials=8, directory="tuning")  # doctest: +SKIP
    >>> tuner.search()  # doctest: +SKIP
    """

    def __init__(self, train_collection, validation_collection, feature_config=None, recipe="default",
                 architecture="full", speakers="auto", model_overrides=None, with_labels=False, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.train_collection = train_collection
        self.validation_collection = validation_collection
        self.feature_config = feature_config or FeatureConfig()
        self.recipe = training.RECIPES[recipe] if isinstance(recipe, str) else recipe
        self.architecture = architecture
        self.speakers = speakers
        self.model_overrides = dict(model_overrides or {})
        self.with_labels = with_labels
        self.seed = seed
        # What the speaker terms group by is found once, for every trial.
        self._grouped_collection = dataclasses.replace(
            train_collection, speakers=training.speaker_groups(train_collection, speakers, self.recipe, seed))

    def trial_recipe(self, hp, epochs=None):
        """The recipe a trial trains with: the base recipe's schedule with the trial's values."""
        epochs = epochs or self.recipe.epochs
        share = hp.Choice("pretrain_share", [0.4, 0.6, 0.8], default=0.6)
        return dataclasses.replace(
            self.recipe, epochs=epochs, pretrain_epochs=min(epochs - 1, max(1, round(share * epochs))),
            learning_rate=hp.Float("learning_rate", 3e-4, 3e-3, sampling="log", default=self.recipe.learning_rate),
            final_learning_rate=self.recipe.final_learning_rate,
            kl_weight=hp.Choice("kl_weight", [0.1, 0.25, 0.5, 1.0], default=self.recipe.kl_weight),
            cluster_weight=hp.Choice("cluster_weight", [0.0, 1.0, 2.0], default=self.recipe.cluster_weight))

    def build(self, hp):
        recipe = self.trial_recipe(hp)
        overrides = {
            **ARCHITECTURES[self.architecture], **self.model_overrides,
            "latent_dim": hp.Choice("latent_dim", [10, 16], default=10),
            "consistency_weight": hp.Choice("consistency_weight", [30.0, 100.0, 300.0], default=100.0),
            "speaker_weight": hp.Choice("speaker_weight", [30.0, 100.0, 300.0], default=100.0),
            "cross_speaker_weight": hp.Choice("cross_speaker_weight", [0.5, 1.0, 2.0], default=1.0),
        }
        steps = math.ceil(len(self.train_collection) / recipe.batch_size)
        model = training.build_model(recipe, self.seed, steps_per_epoch=steps,
                                     feature_config=self.feature_config.get_config(), **overrides)
        # keras-tuner reloads the best model from weights: it must have been called once.
        model({"spectrogram": np.zeros((1, model.num_bins, model.num_frames), "float32")})
        return model

    def fit(self, hp, model, *args, callbacks=(), epochs=None, initial_epoch=0, verbose=1, **kwargs):
        # Hyperband passes its own epoch budget; the other tuners use the recipe's.
        recipe = self.trial_recipe(hp, epochs)
        collection = self._grouped_collection
        train_data = pipeline.feature_dataset(collection, self.feature_config, recipe.batch_size, shuffle=True,
                                              seed=self.seed, cache="auto", with_labels=False,
                                              with_speakers=collection.speakers is not None,
                                              clips_per_speaker=training.speaker_run_length(recipe,
                                                                                            collection.speakers))
        embedding_data = pipeline.feature_dataset(collection, self.feature_config, 256, with_labels=False)
        validation = pipeline.feature_dataset(self.validation_collection, self.feature_config, 256,
                                              with_labels=self.with_labels)
        callbacks = [training.RecipeSchedule(recipe, embedding_data, self.seed),
                     metrics.ClusteringMetricsCallback(validation, label_free=True,
                                                       scored_from=recipe.pretrain_epochs),
                     *callbacks]
        return model.fit(train_data, epochs=recipe.epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                         verbose=verbose, shuffle=False)


def tune(train_collection, validation_collection, directory, tuner="random", max_trials=8, objective="label-free",
         epochs=None, feature_config=None, out_path=None, seed=0, verbose=1, architecture="full", speakers="auto",
         model_overrides=None):
    """Runs (or resumes) a search and saves the best hyperparameters and model.

    Args:
        train_collection: training clips.
        validation_collection: clips for the objective.
        directory: the search's folder; a search found there is resumed.
        tuner: `"random"`, `"bayesian"` or `"hyperband"`.
        max_trials: trials to run (Hyperband: its `max_epochs` is `epochs`).
        objective: `"label-free"` (default), `"silhouette"` or `"accuracy"` (needs labels).
        epochs: epochs per trial (default: the default recipe's; its phases scale with it).
        feature_config: a `features.FeatureConfig`.
        out_path: the best model's `.keras` file (default: `directory/best.keras`).
        seed: the tuner's and the trials' seed.
        verbose: Keras progress bar mode.
        architecture: a key of `model.ARCHITECTURES`.
        speakers: see `training.train`.
        model_overrides: other fixed `UVAC` arguments, or None.

    Returns:
        `(best_model, best_hyperparameters_dict, the keras-tuner tuner)`.

    Example:
    >>> model, values, search = tune(splits["train"], splits["validation"], "tuning/")  # doctest: +SKIP
    """
    if objective == "accuracy" and validation_collection.labels is None:
        raise ValueError("the accuracy objective needs labeled validation data; use 'label-free'")
    recipe = training.RECIPES["default"]
    if epochs:
        recipe = recipe.with_epochs(epochs)
    hypermodel = UVACHyperModel(train_collection, validation_collection, feature_config, recipe,
                                architecture=architecture, speakers=speakers, model_overrides=model_overrides,
                                with_labels=objective == "accuracy", seed=seed)
    options = {"max_epochs": recipe.epochs, "factor": 3} if tuner == "hyperband" else {"max_trials": max_trials}
    search = TUNERS[tuner](hypermodel, objective=OBJECTIVES[objective], directory=str(directory),
                           project_name="uvac", overwrite=False, seed=seed, **options)
    search.search(verbose=verbose)
    best_values = search.get_best_hyperparameters(1)[0].values
    best_model = search.get_best_models(1)[0]
    out_path = out_path or os.path.join(directory, "best.keras")
    training.save_for_inference(best_model, out_path)
    write_json(os.path.join(directory, "best_hyperparameters.json"), best_values)
    return best_model, best_values, search
