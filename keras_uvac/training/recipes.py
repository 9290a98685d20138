"""Recipes: how a UVAC model is trained, and the schedule that moves it through its phases.

Two recipes are named. `"paper"` is the paper as written (Adam 0.005 decaying
to 0.0005, batch 64, 500 epochs, equal weights, one sample, the paper's
initialisation, the per-cell mean squared error). `"default"` is what clusters
real speech here: autoencoder pretraining, the mixture fitted to the codes by
EM, a contrastive term and the speaker terms throughout, a KL term that warms
up, a consensus of three runs, and a prior of equal cluster sizes.
docs/design.md gives each component, the validation evidence for it and what
it assumes.
"""

import dataclasses
import math

import keras
import numpy as np
from sklearn import mixture as sk_mixture

from keras_uvac import nuisance, validation
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
        pseudo_speakers: voice-and-channel groups found for the speaker
            terms when the data names no speakers (`keras_uvac.nuisance`);
            with the speaker encoder, the fewest groups.
        pseudo_speaker_descriptor: what the pseudo-speakers are found from:
            `"voice"` (the voice-and-channel descriptor, `pseudo_speakers`
            groups), `"encoder"` (a pretrained speaker encoder's embeddings,
            the number of groups read from them; `pip install
            "keras_uvac[speakers]"`), or `"auto"` (the encoder when it is
            installed).
        clips_per_speaker: deal each epoch's shuffled clips in runs of this
            many clips of one speaker (or pseudo-speaker), so that the
            speaker terms see every speaker of a batch more than once; 0:
            plain shuffling.
        speaker_runs_from: deal runs only when the training data has at
            least this many speakers; with fewer, a plain shuffled batch
            already holds several clips of each.
        restarts: train this many candidate runs (seeds `seed * restarts`
            to `seed * restarts + restarts - 1`) to the end of the first
            joint epoch and continue the one whose consistency term (the
            augmentation-invariance and cluster-agreement loss) was lowest in
            that epoch; 1: one run. `train` only (a keras-tuner trial is one run).
        runs: train this many whole runs (seeds `seed * runs` to
            `seed * runs + runs - 1`) and keep one model that carries their
            consensus (`keras_uvac.consensus`): the most typical run, its
            prior refitted to the clusters that the runs agree on; 1: one
            run. `train` only.
        shared_pretraining: with `runs`, pretrain once (the first run's
            seed) and continue every run from that checkpoint with its own
            seed (its data order, mixture fit, and sampling and augmentation
            draws), instead of pretraining each run; the pretraining is most
            of a run's epochs. `train` only.
        consensus_epochs: with `runs`, epochs that the carrying model then
            trains with the consensus as each clip's target cluster, where
            every run agrees with it (self-labelling); 0: the refit only.
        min_steps: `train` gives the recipe enough epochs for at least this
            many optimiser steps, its phases scaled as `with_epochs` scales
            them, so that a small corpus is not left with a few hundred steps
            (on 480 clips the default's 20 epochs are 160 steps, and its runs
            collapsed into a few clusters); 0: the epochs as they are.
        balanced_clusters: end by refitting the prior to clusters of equal
            size of the training codes (`consensus.balance_prior`), for
            corpora whose classes are about equal in number, as spoken digits
            are; `train` only.
        initial_posterior_variance: after the mixture fit, q(z|x)'s variance
            starts at this fraction of the fitted prior's variances (the
            encoder's variance output gets no gradient in pretraining, and
            left as it is, its noise is as wide as the codes); 0 keeps it.
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
    pseudo_speakers: int = 6
    pseudo_speaker_descriptor: str = "voice"
    clips_per_speaker: int = 0
    speaker_runs_from: int = 17
    restarts: int = 1
    runs: int = 1
    shared_pretraining: bool = False
    consensus_epochs: int = 0
    min_steps: int = 0
    balanced_clusters: bool = False
    initial_posterior_variance: float = 0.0
    model: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        try:
            for name in ("epochs", "batch_size", "restarts", "runs", "pseudo_speakers"):
                validation.number(name, getattr(self, name), 1, whole=True)
            for name in ("pretrain_epochs", "kl_warmup_epochs", "clips_per_speaker", "speaker_runs_from",
                         "consensus_epochs", "min_steps"):
                validation.number(name, getattr(self, name), 0, whole=True)
            for name in ("learning_rate", "final_learning_rate"):
                validation.number(name, getattr(self, name), 0, 10, low_open=True)
            for name in ("kl_weight", "cluster_weight", "initial_posterior_variance"):
                validation.number(name, getattr(self, name), 0)
            for name in ("gmm_initialization", "balanced_clusters", "shared_pretraining"):
                validation.flag(name, getattr(self, name))
            if self.pseudo_speaker_descriptor not in nuisance.DESCRIPTORS:
                raise validation.InvalidValue("pseudo_speaker_descriptor", f"one of {nuisance.DESCRIPTORS}",
                                              self.pseudo_speaker_descriptor)
            if not isinstance(self.model, dict):
                raise validation.InvalidValue("model", "an object of UVAC arguments", self.model)
        except validation.InvalidValue as error:
            raise error.named(error.name, "Recipe") from None
        if self.restarts > 1 and self.runs > 1:
            raise ValueError(f"a recipe trains restarts ({self.restarts}) or a consensus of runs ({self.runs}), "
                             "not both")

    def get_config(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def with_changes(self, changes):
        """The same recipe with some fields changed, e.g. from a JSON object.

        Args:
            changes: a mapping of `Recipe` field names to new values.

        Returns:
            A new `Recipe`.

        Raises:
            ValueError: `changes` is not a mapping, or a name is not a field of `Recipe`.

        Example:
        >>> RECIPES["default"].with_changes({"cluster_weight": 3.0}).cluster_weight
        3.0
        """
        if not isinstance(changes, dict):
            raise ValueError(f"a recipe config is an object of recipe fields, not {changes!r}")
        unknown = sorted(set(changes) - {field.name for field in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"not a recipe field: {', '.join(unknown)} (the fields: "
                             f"{', '.join(field.name for field in dataclasses.fields(self))})")
        return dataclasses.replace(self, **changes)

    def with_epochs(self, epochs):
        """The same recipe for exactly `epochs` (no `min_steps`), its phases scaled in proportion.

        Example:
        >>> recipe = RECIPES["default"].with_epochs(40)
        >>> recipe.epochs, recipe.pretrain_epochs, recipe.kl_warmup_epochs, recipe.min_steps
        (40, 24, 4, 0)
        """
        scale = epochs / self.epochs
        return dataclasses.replace(self, epochs=epochs, min_steps=0,
                                   pretrain_epochs=min(epochs - 1, round(self.pretrain_epochs * scale)),
                                   kl_warmup_epochs=round(self.kl_warmup_epochs * scale))

    def with_steps_per_epoch(self, steps_per_epoch):
        """The recipe with enough epochs for `min_steps` optimiser steps; itself when it has them.

        Args:
            steps_per_epoch: the optimiser steps of one epoch on the training clips.

        Returns:
            A `Recipe` (scaled by `with_epochs`) or this one.

        Example:
        >>> RECIPES["default"].with_steps_per_epoch(8).epochs  # 480 clips in batches of 64
        40
        >>> RECIPES["default"].with_steps_per_epoch(38).epochs
        20
        """
        epochs = math.ceil(self.min_steps / steps_per_epoch)
        return self.with_epochs(epochs) if epochs > self.epochs else self


RECIPES = {
    "paper": Recipe(name="paper", epochs=500, batch_size=64, learning_rate=5e-3, final_learning_rate=5e-4,
                    model={"reconstruction_loss": "mse", "prior_initialization": "paper"}),
    "default": Recipe(name="default", epochs=20, batch_size=64, learning_rate=1e-3, final_learning_rate=1e-4,
                      pretrain_epochs=12, gmm_initialization=True, kl_warmup_epochs=2, kl_weight=1.0,
                      cluster_weight=1.0, clips_per_speaker=4, runs=3, consensus_epochs=3,
                      min_steps=320, balanced_clusters=True,
                      model={"reconstruction_loss": "sse", "min_log_variance": -4.0, "learn_mixture_weights": False,
                             "consistency_weight": 100.0, "speaker_weight": 100.0, "cross_speaker_weight": 1.0,
                             "tied_prior_variances": True}),
}


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
            if self.recipe.initial_posterior_variance:
                prior_variances = np.exp(keras.ops.convert_to_numpy(self.model.prior.log_variances())).mean(axis=0)
                self.model.encoder.set_log_variance(np.log(self.recipe.initial_posterior_variance * prior_variances))
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
    # A tied fit shares one covariance; the prior keeps its diagonal (holding all of it lost 15 points with
    # speaker ids: docs/design.md, "Speaker terms").
    variances = np.tile(np.diag(mixture.covariances_), (model.num_clusters, 1)) if tied else mixture.covariances_
    model.prior.set_mixture(mixture.weights_, mixture.means_, np.maximum(variances, floor))
    return mixture


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

