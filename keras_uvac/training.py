"""Training: recipes, their epoch schedule, and runs that keep their work.

Two recipes are named:

- `"paper"`: the paper as written: Adam 0.005 decaying to 0.0005, batch 64,
  500 epochs, equal weights, one sample, the paper's initialisation, and the
  literal per-cell mean squared error.
- `"default"`: what clusters real speech here, chosen by measurement on the
  FSDD validation split (the runs are summarised in the README):
  1. A literal reading puts every clip in one cluster: the prior starts far
     from the codes and one component wins. So the first 12 epochs train the
     network without the KL term and without sampling, and the mixture is
     then fitted to the codes of the training clips by EM (as VaDE does).
  2. Plain autoencoder codes hold speaker and loudness more than the word
     (a linear probe read the speaker better than the digit). Throughout, a
     contrastive term (weight 100) makes each clip's latent mean invariant to
     voice-, microphone- and timing-like changes of the spectrogram
     (`layers.SpectrogramAugment`): the word survives them, the voice does not.
  3. In the joint phase (8 epochs) the two augmented views must also agree
     on their cluster under the GMM posterior, with a batch-entropy bonus
     against collapse (SCAN's clustering step on the paper's own posterior).
     This lifted validation accuracy by about 8 points over the mixture fit.
  4. The KL term rises over 2 epochs to 0.25, not 1: at 1 it pulled the codes
     onto the initial components faster than they improved, and validation
     accuracy fell from 0.36 to 0.25 in three epochs. Mixture weights stay as
     fitted (learned weights let components die: two took 95% of the clips)
     and variances are floored at exp(-4).
  5. Speakers, where the data names them (FSDD and AudioMNIST file names do;
     class labels are never used): the codes of steps 1-4 sort clips into
     speaker-and-word islands (10 nearest neighbours: 92% same word, 95% same
     speaker), so 10 clusters split voices as much as words. Two terms join
     the objective: the share of the codes' variance that the speakers' mean
     codes explain (weight 100), and a nearest-neighbour term that draws each
     clip's code to its closest clip of another speaker in the batch (weight
     1 relative to the contrastive term, as in NNCLR). With them the
     mixture shares one diagonal variance between components (tied), which
     fitted the resulting codes better than one variance per component. On
     seed 0, test accuracy went from 0.49 to 0.84 (docs/recipe_search.md). Data
     without speaker ids trains without these two terms (or pass
     `use_speakers=False`).

A run writes `<out>.run/`: `checkpoint.keras` after every epoch (model and
optimizer, written atomically), `history.json`, and TensorBoard logs on
request. `resume=True` continues an interrupted run where it stopped; a NaN
loss stops the run with a clear error and leaves the last good checkpoint.
"""

import dataclasses
import json
import math
import os
import time

import keras
import numpy as np
from sklearn import mixture as sk_mixture

from keras_uvac import metrics, pipeline
from keras_uvac.atomic import atomic_path, write_json
from keras_uvac.features import FeatureConfig
from keras_uvac.model import UVAC


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a UVAC model is trained.

    Args:
        name: the recipe's name.
        epochs: total epochs, pretraining included.
        batch_size: clips per step.
        learning_rate: Adam's initial learning rate.
        final_learning_rate: the rate reached, by exponential decay, at the end.
        pretrain_epochs: epochs as a plain autoencoder before the prior is used.
        gmm_initialization: fit the prior to the pretrained codes with EM.
        kl_warmup_epochs: epochs over which the KL weight rises from 0 to `kl_weight`.
        kl_weight: the KL term's weight after the warm-up (the paper: 1).
        cluster_weight: weight, relative to the contrastive term, of the
            cluster-agreement term in the joint phase (0: none).
        model: keyword arguments of `UVAC` this recipe sets.

    Example:
    >>> Recipe.from_config(RECIPES["paper"].get_config()) == RECIPES["paper"]
    True
    """

    name: str
    epochs: int
    batch_size: int = 64
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4
    pretrain_epochs: int = 0
    gmm_initialization: bool = False
    kl_warmup_epochs: int = 0
    kl_weight: float = 1.0
    cluster_weight: float = 0.0
    model: dict = dataclasses.field(default_factory=dict)

    def get_config(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def with_epochs(self, epochs):
        """The same recipe for `epochs`, its phases scaled in proportion."""
        scale = epochs / self.epochs
        return dataclasses.replace(self, epochs=epochs,
                                   pretrain_epochs=min(epochs - 1, round(self.pretrain_epochs * scale)),
                                   kl_warmup_epochs=round(self.kl_warmup_epochs * scale))


RECIPES = {
    "paper": Recipe(name="paper", epochs=500, batch_size=64, learning_rate=5e-3, final_learning_rate=5e-4,
                    model={"reconstruction_loss": "mse", "prior_initialization": "paper"}),
    "default": Recipe(name="default", epochs=20, batch_size=64, learning_rate=1e-3, final_learning_rate=1e-4,
                      pretrain_epochs=12, gmm_initialization=True, kl_warmup_epochs=2, kl_weight=0.25,
                      cluster_weight=1.0,
                      model={"reconstruction_loss": "sse", "min_log_variance": -4.0, "learn_mixture_weights": False,
                             "consistency_weight": 100.0, "speaker_weight": 100.0, "cross_speaker_weight": 1.0,
                             "tied_prior_variances": True}),
}


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN loss, or a run directory in the way)."""


class RecipeSchedule(keras.callbacks.Callback):
    """Sets the model's phase at the start of every epoch, from the epoch alone.

    Autoencoder pretraining (KL weight 0, no sampling) for
    `recipe.pretrain_epochs`; at the first joint epoch, the prior is fitted to
    the codes of `embedding_data` when `recipe.gmm_initialization`; then the
    KL weight rises linearly to `recipe.kl_weight` over `recipe.kl_warmup_epochs`. Depending on
    the epoch only, a resumed run picks up the same schedule.

    Args:
        recipe: a `Recipe`.
        embedding_data: training features (unshuffled) for the mixture fit.
        seed: seed of the EM fit.
    """

    def __init__(self, recipe, embedding_data=None, seed=0):
        super().__init__()
        self.recipe = recipe
        self.embedding_data = embedding_data
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        joint_epoch = epoch - self.recipe.pretrain_epochs
        if joint_epoch < 0:
            self.model.kl_weight.assign(0.0)
            self.model.sampling.assign(0.0)
            self.model.cluster_weight.assign(0.0)
            return
        if joint_epoch == 0 and self.recipe.gmm_initialization and self.embedding_data is not None:
            fit_prior_to_codes(self.model, self.embedding_data, self.seed)
        warmup = self.recipe.kl_warmup_epochs
        ramp = min(1.0, (joint_epoch + 1) / warmup) if warmup else 1.0
        self.model.kl_weight.assign(ramp * self.recipe.kl_weight)
        self.model.sampling.assign(1.0)
        self.model.cluster_weight.assign(self.recipe.cluster_weight)


def fit_prior_to_codes(model, data, seed=0):
    """Fits the model's GMM prior to the latent means of `data` with EM.

    Args:
        model: a `UVAC`.
        data: features to encode.
        seed: seed of the EM fit.

    Returns:
        The fitted scikit-learn `GaussianMixture`.

    Example:
    >>> fit_prior_to_codes(model, feature_dataset(train, batch_size=256))  # doctest: +SKIP
    """
    codes = model.latent_mean(data)
    floor = math.exp(model.min_log_variance)
    tied = model.tied_prior_variances
    mixture = sk_mixture.GaussianMixture(model.num_clusters, covariance_type="tied" if tied else "diag", n_init=5,
                                         reg_covar=floor, random_state=seed).fit(codes)
    # A tied fit shares one covariance; the prior keeps its diagonal.
    variances = np.tile(np.diag(mixture.covariances_), (model.num_clusters, 1)) if tied else mixture.covariances_
    model.prior.set_mixture(mixture.weights_, mixture.means_, np.maximum(variances, floor))
    return mixture


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves model and optimizer after every good epoch; stops on a NaN loss.

    Args:
        run_directory: where `checkpoint.keras` and `history.json` go.
    """

    def __init__(self, run_directory):
        super().__init__()
        self.run_directory = run_directory
        self.checkpoint_path = os.path.join(run_directory, "checkpoint.keras")
        self.history_path = os.path.join(run_directory, "history.json")
        self.history = read_history(run_directory)
        self.failure = None
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.failure is None:
            self.failure = f"loss became {float(loss)} at batch {batch + 1}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.failure is not None:
            self.failure = f"epoch {epoch + 1}: {self.failure}"
            return
        record = {"epoch": epoch + 1, "seconds": time.perf_counter() - self._epoch_start}
        record.update({name: float(value) for name, value in (logs or {}).items()})
        self.history.append(record)
        with atomic_path(self.checkpoint_path) as temporary:
            self.model.save(temporary)
        write_json(self.history_path, self.history)


def read_history(run_directory):
    """The per-epoch records of a run (empty for a new run)."""
    path = os.path.join(run_directory, "history.json")
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return json.load(handle)


def build_model(recipe, seed=0, **overrides):
    """A compiled UVAC model for `recipe`, with `overrides` of its model arguments.

    Example:
    >>> model = build_model(RECIPES["default"], steps_per_epoch=38)  # doctest: +SKIP
    """
    steps_per_epoch = overrides.pop("steps_per_epoch", 1)
    model = UVAC(**{**recipe.model, **overrides, "seed": seed})
    total_steps = max(1, recipe.epochs * steps_per_epoch)
    schedule = keras.optimizers.schedules.ExponentialDecay(
        recipe.learning_rate, decay_steps=total_steps, decay_rate=recipe.final_learning_rate / recipe.learning_rate)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    return model


def train(train_collection, out_path, recipe="default", validation_collection=None, feature_config=None,
          seed=0, resume=False, tensorboard=False, verbose=1, callbacks=(), precision="float32", use_speakers=True,
          **model_overrides):
    """Trains a UVAC model on a collection and saves it atomically to `out_path`.

    Args:
        train_collection: a `datasets.AudioCollection` (labels not needed).
        out_path: the final `.keras` file.
        recipe: a `Recipe` or the name of one in `RECIPES`.
        validation_collection: labeled clips for clustering metrics per epoch.
        feature_config: a `features.FeatureConfig`.
        seed: seed of initialisation, shuffling and sampling.
        resume: continue the interrupted run in `<out_path>.run/`.
        tensorboard: write TensorBoard logs to `<out_path>.run/tensorboard`.
        verbose: Keras progress bar mode.
        callbacks: further Keras callbacks.
        precision: `"float32"`, or `"mixed"` (bfloat16 compute on CPUs,
            float16 on GPUs, float32 weights, prior and loss).
        use_speakers: feed the collection's speaker ids (if it has them) to
            the speaker terms of the model; False trains as if none were known.
        **model_overrides: `UVAC` arguments that replace the recipe's.

    Returns:
        `(model, history)`: the trained model and the per-epoch records.

    Raises:
        TrainingError: a NaN loss (the last good checkpoint is kept), or an
            earlier run's checkpoint exists and `resume` is False.

    Example:
    >>> splits = load_audio().split(seed=0)  # doctest: +SKIP
    >>> model, history = train(splits["train"], "uvac.keras", epochs=40)  # doctest: +SKIP
    """
    recipe = RECIPES[recipe] if isinstance(recipe, str) else recipe
    feature_config = feature_config or FeatureConfig()
    run_directory = os.fspath(out_path) + ".run"
    checkpoint_path = os.path.join(run_directory, "checkpoint.keras")
    if os.path.exists(checkpoint_path) and not resume:
        raise TrainingError(f"{run_directory} holds a checkpoint of an earlier run: pass resume=True (--resume) "
                            "to continue it, or delete the folder to start over")
    os.makedirs(run_directory, exist_ok=True)
    keras.utils.set_random_seed(seed)
    set_precision(precision)
    train_data = pipeline.feature_dataset(train_collection, feature_config, recipe.batch_size, shuffle=True,
                                          seed=seed, cache=True, with_labels=False, with_speakers=use_speakers)
    embedding_data = pipeline.feature_dataset(train_collection, feature_config, 256, with_labels=False)
    steps_per_epoch = math.ceil(len(train_collection) / recipe.batch_size)

    checkpoint = EpochCheckpoint(run_directory)
    if resume and os.path.exists(checkpoint_path):
        model = keras.models.load_model(checkpoint_path)
        initial_epoch = len(checkpoint.history)
    else:
        checkpoint.history = []
        model = build_model(recipe, seed, steps_per_epoch=steps_per_epoch,
                            feature_config=feature_config.get_config(), **model_overrides)
        initial_epoch = 0
    write_json(os.path.join(run_directory, "recipe.json"), {"recipe": recipe.get_config(), "seed": seed,
                                                             "model": model.get_config()})
    callbacks = [RecipeSchedule(recipe, embedding_data, seed), *callbacks]
    if validation_collection is not None and validation_collection.labels is not None:
        callbacks.append(metrics.ClusteringMetricsCallback(
            pipeline.feature_dataset(validation_collection, feature_config, 256)))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(run_directory, "tensorboard")))
    callbacks.append(checkpoint)
    if initial_epoch < recipe.epochs:
        model.fit(train_data, epochs=recipe.epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                  verbose=verbose, shuffle=False)
    if checkpoint.failure is not None:
        kept = (f"the last good checkpoint (epoch {len(checkpoint.history)}) is {checkpoint_path}"
                if checkpoint.history else "no epoch finished, so there is no checkpoint")
        raise TrainingError(f"training stopped: {checkpoint.failure}; {kept}. Lower the learning rate or "
                            "check the data, then resume or start over.")
    save_for_inference(model, out_path)
    # The run is complete: the optimizer state is no longer needed, the history stays.
    os.remove(checkpoint_path)
    return model, checkpoint.history


def set_precision(precision):
    """Sets Keras' global dtype policy: `"float32"` or `"mixed"`.

    `"mixed"` is bfloat16 compute on a CPU (fast where the CPU has bfloat16
    instructions) and float16 with loss scaling on a GPU.

    Example:
    >>> set_precision("float32")
    """
    if precision not in ("float32", "mixed"):
        raise ValueError(f"precision must be 'float32' or 'mixed', got {precision!r}")
    if precision == "float32":
        keras.mixed_precision.set_global_policy("float32")
        return
    import tensorflow as tf

    on_gpu = keras.backend.backend() == "tensorflow" and bool(tf.config.list_physical_devices("GPU"))
    keras.mixed_precision.set_global_policy("mixed_float16" if on_gpu else "mixed_bfloat16")


def save_for_inference(model, path):
    """Saves a UVAC model without its optimizer state, atomically.

    Args:
        model: a `UVAC`.
        path: the `.keras` file to write.

    Example:
    >>> save_for_inference(model, "saved_models/uvac_fsdd.keras")  # doctest: +SKIP
    """
    bare = UVAC.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    with atomic_path(path) as temporary:
        bare.save(temporary)

