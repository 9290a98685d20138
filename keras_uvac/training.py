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
  4. The KL term rises over 2 epochs to the paper's weight of 1. An early
     design without the speaker terms lost accuracy at 1 and used 0.25; with
     the terms of step 5, 1 gained on every run measured (five runs on two
     corpora, +3.4 validation points on average; docs/recipe_search.md,
     twelfth round). Mixture weights stay as fitted (learned weights let
     components die: two took 95% of the clips) and variances are floored at
     exp(-4).
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
     seed 0, test accuracy went from 0.49 to 0.84 (docs/recipe_search.md).
  6. Data without speaker ids feeds the same terms with pseudo-speakers:
     groups of clips that share a voice and a recording channel, found by a
     tied-covariance Gaussian mixture on each clip's background spectrum and mean cepstrum
     (`keras_uvac.nuisance`); `speakers="none"` drops the terms.
  7. Seeds differ by up to 14 points, decided before the mixture fit, in the
     pretrained codes. `Recipe.restarts` (`uvac train --restarts 3`) trains
     candidates to the end of the first joint epoch and continues the one of
     lowest consistency term; measured, it picked the best of three seeds as
     often as a worse one (docs/recipe_search.md, eighth round). So the
     default trains three whole runs (`Recipe.runs`) and keeps one model
     that carries their consensus: the clusters the runs agree on, read by
     the most typical run's refitted prior, then trained three epochs with
     the consensus as targets where all runs agree (`keras_uvac.consensus`;
     ninth round). `uvac train --runs 1` trains one run, in a third of the
     time.
  8. Runs and consensus alike can end with two words in one cluster and one
     word over two. The default ends by refitting the prior to clusters of
     equal size of the training codes (`Recipe.balanced_clusters`,
     `consensus.balance_prior`; thirteenth round), since spoken-digit corpora
     hold about as many clips of every word.

A run writes `<out>.run/`: after every epoch a checkpoint folder
`checkpoints/epoch-NNNN/` (model, optimizer, random generators' states and
history, renamed into place when complete), `history.json`, a `lock` while it
trains, and TensorBoard logs on request. `resume=True` continues an interrupted
run to the weights of the uninterrupted one; a NaN loss stops the run with a
clear error and leaves the last good checkpoint. The card goes beside the model.
"""

import contextlib
import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
import warnings

import keras
import numpy as np
from sklearn import mixture as sk_mixture

from keras_uvac import consensus, distribution, metrics, novelty, pipeline, validation
from keras_uvac.atomic import atomic_path, write_json
from keras_uvac.features import FeatureConfig
from keras_uvac.model import UVAC, check_model_arguments


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
            terms when the data names no speakers (`keras_uvac.nuisance`).
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
        consensus_epochs: with `runs`, epochs that the carrying model then
            trains with the consensus as each clip's target cluster, where
            every run agrees with it (self-labelling); 0: the refit only.
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
    clips_per_speaker: int = 0
    speaker_runs_from: int = 17
    restarts: int = 1
    runs: int = 1
    consensus_epochs: int = 0
    balanced_clusters: bool = False
    initial_posterior_variance: float = 0.0
    model: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        try:
            for name in ("epochs", "batch_size", "restarts", "runs", "pseudo_speakers"):
                validation.number(name, getattr(self, name), 1, whole=True)
            for name in ("pretrain_epochs", "kl_warmup_epochs", "clips_per_speaker", "speaker_runs_from",
                         "consensus_epochs"):
                validation.number(name, getattr(self, name), 0, whole=True)
            for name in ("learning_rate", "final_learning_rate"):
                validation.number(name, getattr(self, name), 0, 10, low_open=True)
            for name in ("kl_weight", "cluster_weight", "initial_posterior_variance"):
                validation.number(name, getattr(self, name), 0)
            for name in ("gmm_initialization", "balanced_clusters"):
                validation.flag(name, getattr(self, name))
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
        """The same recipe for `epochs`, its phases scaled in proportion."""
        scale = epochs / self.epochs
        return dataclasses.replace(self, epochs=epochs,
                                   pretrain_epochs=min(epochs - 1, round(self.pretrain_epochs * scale)),
                                   kl_warmup_epochs=round(self.kl_warmup_epochs * scale))


RECIPES = {
    "paper": Recipe(name="paper", epochs=500, batch_size=64, learning_rate=5e-3, final_learning_rate=5e-4,
                    model={"reconstruction_loss": "mse", "prior_initialization": "paper"}),
    "default": Recipe(name="default", epochs=20, batch_size=64, learning_rate=1e-3, final_learning_rate=1e-4,
                      pretrain_epochs=12, gmm_initialization=True, kl_warmup_epochs=2, kl_weight=1.0,
                      cluster_weight=1.0, clips_per_speaker=4, runs=3, consensus_epochs=3,
                      balanced_clusters=True,
                      model={"reconstruction_loss": "sse", "min_log_variance": -4.0, "learn_mixture_weights": False,
                             "consistency_weight": 100.0, "speaker_weight": 100.0, "cross_speaker_weight": 1.0,
                             "tied_prior_variances": True}),
}
# Runs of one speaker whatever the speaker count (the default deals them from 17 speakers on, where a batch of 64
# would hold fewer than 4 clips of each): docs/recipe_search.md, seventh round.
RECIPES["speaker_runs"] = dataclasses.replace(RECIPES["default"], name="speaker_runs", speaker_runs_from=0)


CHECKPOINTS = "checkpoints"


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
    # speaker ids: docs/recipe_search.md, seventh round).
    variances = np.tile(np.diag(mixture.covariances_), (model.num_clusters, 1)) if tied else mixture.covariances_
    model.prior.set_mixture(mixture.weights_, mixture.means_, np.maximum(variances, floor))
    return mixture


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves a resumable checkpoint after every good epoch; stops on a NaN loss.

    A checkpoint is one folder, `checkpoints/epoch-NNNN/`, holding the model
    with its optimizer (`model.keras`), the state of every random generator
    (`random_state.npz`) and the history up to that epoch (`history.json`).
    It is written under a temporary name and renamed when complete, so a run
    killed at any point resumes from a whole checkpoint whose history matches
    its weights. `history.json` beside it is a copy for readers.

    Args:
        run_directory: the run's folder.
        write: write the checkpoints (False on the workers of a multi-worker
            run other than the chief).
    """

    def __init__(self, run_directory, write=True):
        super().__init__()
        self.run_directory = os.fspath(run_directory)
        self.write = write
        self.history_path = os.path.join(self.run_directory, "history.json")
        self.history = []
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
        if self.write:
            save_checkpoint(self.model, self.history, self.run_directory)
            write_json(self.history_path, self.history)


def _seed_states(model):
    return [variable for variable in model.non_trainable_variables if variable.path.endswith("seed_generator_state")]


def save_checkpoint(model, history, run_directory):
    """Writes `checkpoints/epoch-NNNN/` atomically and removes older checkpoints.

    Example:
    >>> save_checkpoint(model, history, "uvac.keras.run")  # doctest: +SKIP
    """
    folder = os.path.join(run_directory, CHECKPOINTS)
    os.makedirs(folder, exist_ok=True)
    final = os.path.join(folder, f"epoch-{len(history):04d}")
    temporary = tempfile.mkdtemp(prefix=".epoch-", suffix=".partial", dir=folder)
    try:
        model.save(os.path.join(temporary, "model.keras"))
        # Keras does not save random generators' states; a resumed run needs them to draw the same noise.
        np.savez(os.path.join(temporary, "random_state.npz"),
                 *[keras.ops.convert_to_numpy(variable) for variable in _seed_states(model)])
        write_json(os.path.join(temporary, "history.json"), history)
        os.replace(temporary, final)
    except OSError as error:
        # A full disk names the checkpoint, not its temporary folder; the previous checkpoint is still there.
        raise OSError(error.errno, error.strerror or str(error), final) from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    for name in os.listdir(folder):
        if name != os.path.basename(final):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def latest_checkpoint(run_directory):
    """The newest complete checkpoint folder of a run, or None."""
    folder = os.path.join(run_directory, CHECKPOINTS)
    if not os.path.isdir(folder):
        return None
    complete = sorted(name for name in os.listdir(folder) if name.startswith("epoch-") and "." not in name)
    return os.path.join(folder, complete[-1]) if complete else None


def load_checkpoint(checkpoint):
    """`(model, history)` of a checkpoint folder, random states restored."""
    model = keras.models.load_model(os.path.join(checkpoint, "model.keras"))
    with np.load(os.path.join(checkpoint, "random_state.npz")) as states:
        for index, variable in enumerate(_seed_states(model)):
            variable.assign(states[f"arr_{index}"])
    with open(os.path.join(checkpoint, "history.json")) as handle:
        return model, json.load(handle)


def read_history(run_directory):
    """The per-epoch records of a run (empty for a new run); of a consensus, the run that carries it.

    Example:
    >>> read_history("saved_models/uvac_fsdd.keras.run")[-1]["val_accuracy"]  # doctest: +SKIP
    """
    path = os.path.join(run_directory, "history.json")
    consensus_record = os.path.join(run_directory, MEMBERS, "consensus.json")
    if not os.path.exists(path) and os.path.exists(consensus_record):
        with open(consensus_record) as handle:
            carrying_seed = json.load(handle)["carrying_seed"]
        path = os.path.join(run_directory, MEMBERS, f"seed-{carrying_seed}.keras.run", "history.json")
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return json.load(handle)


@contextlib.contextmanager
def run_lock(run_directory):
    """Holds `run_directory/lock` so that two trainings never write one run.

    A lock left by a process that no longer runs is taken over.

    Raises:
        TrainingError: another live process holds the lock.
    """
    path = os.path.join(run_directory, "lock")
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                with open(path) as handle:
                    owner = int(handle.read().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _process_alive(owner):
                raise TrainingError(f"{run_directory} is in use by another training (process {owner}); wait for it "
                                    "or choose another --out") from None
            os.remove(path)
    else:
        raise TrainingError(f"{run_directory}: cannot take its lock file")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(str(os.getpid()))
    try:
        yield
    finally:
        os.remove(path)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


SPEAKER_MODES = ("auto", "ids", "pseudo", "none")


def train(train_collection, out_path, recipe="default", validation_collection=None, feature_config=None,
          seed=0, resume=False, tensorboard=False, verbose=1, callbacks=(), precision="float32", speakers="auto",
          distribute="none", test_collection=None, card=None, **model_overrides):
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
        speakers: what the speaker terms group clips by: `"ids"` (the
            collection's speaker ids), `"pseudo"` (voice-and-channel groups
            found without ids, `keras_uvac.nuisance`), `"none"`, or `"auto"`
            (ids when the collection has them, else pseudo-speakers).
        distribute: `"none"`; `"mirrored"`: the replicas of one machine (on
            TensorFlow a `MirroredStrategy` over its GPUs, or its logical CPU
            devices; on JAX `keras.distribution.DataParallel` over its
            devices); `"multi-worker"` (TensorFlow): a
            `MultiWorkerMirroredStrategy` over the workers that `TF_CONFIG`
            names, each reading its own share of the files. The recipe's
            batch size is the global batch.
        test_collection: labeled clips on which the card reports Table I
            (UVAC beside K-means and GMM-EM), or None.
        card: facts for the model card that only the caller knows (the
            command, the data's name, the split).
        **model_overrides: `UVAC` arguments that replace the recipe's.

    Returns:
        `(model, history)`: the trained model and the per-epoch records.
        The model card, also written to `<out_path>.card.json`, is
        `model.card`.

    Raises:
        TrainingError: a NaN loss (the last good checkpoint is kept), an
            earlier run's checkpoint exists and `resume` is False, or another
            training is writing the same run.
        ValueError: too few clips, an out_path that cannot take a `.keras`
            file, or a model argument of the wrong type or range (all before
            any work).
        audio.AudioFileError: a file changed or disappeared while it was
            read (the last checkpoint is kept).

    Example:
    >>> splits = load_audio().split(seed=0)  # doctest: +SKIP
    >>> model, history = train(splits["train"], "uvac.keras", RECIPES["default"].with_epochs(40))  # doctest: +SKIP
    """
    recipe = RECIPES[recipe] if isinstance(recipe, str) else recipe
    validation.output_file(out_path, "out_path", (".keras",))
    num_clusters = {**recipe.model, **model_overrides}.get("num_clusters", 10)
    if len(train_collection) < num_clusters:
        raise ValueError(f"{num_clusters} clusters need at least {num_clusters} training clips; got "
                         f"{len(train_collection)}")
    check_model_arguments({**recipe.model, **model_overrides})
    speakers = speaker_source(train_collection, speakers)
    feature_config = feature_config or FeatureConfig()
    run_directory = os.fspath(out_path) + ".run"
    os.makedirs(run_directory, exist_ok=True)
    collections = (train_collection, validation_collection, test_collection)
    hint = f"; the checkpoints in {run_directory} are kept: restore the file and resume (--resume)"
    with pipeline.files_named_on_failure(*collections, hint=hint), distribution.Replicas(distribute) as replicas:
        # Workers other than the chief neither write nor lock; they read the chief's checkpoint to resume.
        lock = run_lock(run_directory) if replicas.is_chief else contextlib.nullcontext()
        with lock:
            checkpoint = latest_checkpoint(run_directory)
            # A finished run of a consensus is an earlier run too (its checkpoints are gone).
            earlier = checkpoint or any(latest_checkpoint(folder) or os.path.exists(folder[:-len(".run")])
                                        for folder in _sub_runs(run_directory))
            if earlier and not resume:
                raise TrainingError(f"{run_directory} holds a checkpoint of an earlier run: pass resume=True "
                                    "(--resume) to continue it, or delete the folder to start over")
            start = time.perf_counter()

            def run(run_out_path, run_seed, run_checkpoint, stop_after=None):
                return _train(train_collection, run_out_path, recipe, validation_collection, feature_config, run_seed,
                              run_checkpoint, tensorboard, verbose, callbacks, precision, speakers, model_overrides,
                              replicas, stop_after)

            run_seed, extra = seed, {}
            if max(recipe.restarts, recipe.runs) > 1 and replicas.mode == "multi-worker":
                # Each worker would need the chief's candidate checkpoints the moment they are written.
                warnings.warn("the recipe's restarts or runs need one process (distribute='mirrored' is fine); "
                              "training one run on these workers", stacklevel=2)
            elif recipe.runs > 1:
                model, history, extra["consensus"] = _consensus_of_runs(
                    run, run_directory, seed, recipe, train_collection, feature_config, speakers, verbose)
            elif recipe.restarts > 1 and recipe.gmm_initialization and recipe.pretrain_epochs < recipe.epochs:
                extra["restarts"] = _choose_restart(run, run_directory, seed, recipe, verbose, replicas.is_chief)
                run_seed = extra["restarts"]["chosen_seed"]
                checkpoint = checkpoint or os.path.join(run_directory, extra["restarts"]["checkpoint"])
            if "consensus" not in extra:
                model, history = run(out_path, run_seed, checkpoint)
            if recipe.balanced_clusters:
                extra["balanced_clusters"] = consensus.balance_prior(
                    model, pipeline.feature_dataset(train_collection, feature_config, 256, with_labels=False))
                if verbose:
                    print("prior refitted to clusters of equal size: training clips per cluster "
                          f"{extra['balanced_clusters']['cluster_sizes_before']} -> "
                          f"{extra['balanced_clusters']['cluster_sizes']}", flush=True)
            if replicas.is_chief and ("consensus" in extra or recipe.balanced_clusters):
                save_for_inference(model, out_path)
            if replicas.is_chief:
                extra["novelty"] = novelty.fit_reference(novelty.novelty_terms(model, train_collection))
                card = {**(card or {}), **extra}
                model.card = model_card(model, history, recipe, seed, feature_config, speakers, replicas.count,
                                        {"train": train_collection, "validation": validation_collection,
                                         "test": test_collection}, time.perf_counter() - start, card)
                write_json(os.fspath(out_path) + ".card.json", model.card, indent=2)
                # The run is complete: the candidates' weights are no longer needed, their histories stay.
                for candidate_run in _sub_runs(run_directory):
                    shutil.rmtree(os.path.join(candidate_run, CHECKPOINTS), ignore_errors=True)
            return model, history


RESTARTS = "restarts"
MEMBERS = "runs"


def _sub_runs(run_directory):
    """The run folders of a run's restart candidates and of the runs of its consensus."""
    runs = []
    for folder in (os.path.join(run_directory, RESTARTS), os.path.join(run_directory, MEMBERS)):
        if os.path.isdir(folder):
            runs += sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".keras.run"))
    return runs


def _consensus_of_runs(run, run_directory, seed, recipe, train_collection, feature_config, speakers, verbose):
    """Trains the recipe's runs to the end and carries their consensus in the most typical one.

    Each run is an ordinary run of its own seed in `runs/seed-<seed>.keras.run/`, made by
    `run(out_path, seed, checkpoint)`; an interrupted one resumes and a finished one is read back. The runs'
    clusters of the training clips are combined by `consensus.consensus_clusters` (K-means on their one-hot
    clusters), the run whose clusters agree best with the others' gets a prior refitted to that consensus
    (`consensus.adopt_clusters`), and then trains `recipe.consensus_epochs` more epochs with the consensus
    as the target of the clips on which every run agrees (self-labelling): docs/recipe_search.md, ninth round.
    Those epochs are short and not checkpointed: an interrupted one starts again from the finished runs.

    Returns:
        `(model, history, record)`: the carrying model, its run's history, and what the card records (every
        run's seed and agreement, the carrying seed, the consensus' cluster sizes, the self-labelling epochs'
        losses); also in `runs/consensus.json`.
    """
    folder = os.path.join(run_directory, MEMBERS)
    models, histories, seeds = [], [], [seed * recipe.runs + index for index in range(recipe.runs)]
    for index, member_seed in enumerate(seeds):
        member = os.path.join(folder, f"seed-{member_seed}.keras")
        os.makedirs(member + ".run", exist_ok=True)
        if os.path.exists(member):
            model, history = UVAC.from_preset(member), read_history(member + ".run")
        else:
            if verbose:
                print(f"run {index + 1} of {recipe.runs} (seed {member_seed})", flush=True)
            model, history = run(member, member_seed, latest_checkpoint(member + ".run"))
        models.append(model)
        histories.append(history)
    # Streamed, not held: a large corpus' features do not fit in memory.
    features = pipeline.feature_dataset(train_collection, feature_config, 256, with_labels=False)
    assignments = consensus.run_assignments(models, features)
    num_clusters = models[0].num_clusters
    clusters, targets, typical, agreement = consensus.combine_runs(assignments, num_clusters, seed)
    # Read back from its file: a run just trained may belong to a distribution strategy's scope.
    model = UVAC.from_preset(os.path.join(folder, f"seed-{seeds[typical]}.keras"))
    model = consensus.adopt_clusters(model, features, clusters)
    start = time.perf_counter()
    self_labelling = _train_on_targets(model, train_collection, feature_config, recipe, speakers, seeds[typical],
                                       targets, verbose) if recipe.consensus_epochs else []
    record = {"method": "K-means on the runs' one-hot clusters; the most typical run's prior refitted to it, then "
                        f"{recipe.consensus_epochs} epochs with the consensus as targets where the runs all agree",
              "clips": len(clusters), "seeds": seeds, "agreement": agreement.tolist(), "carrying_seed": seeds[typical],
              "cluster_sizes": np.bincount(clusters, minlength=num_clusters).tolist(),
              "clips_with_targets": int(np.sum(targets >= 0)), "self_labelling": self_labelling,
              "validation_accuracy_not_used": [history[-1].get("val_accuracy") for history in histories],
              "seconds": sum(epoch["seconds"] for history in histories for epoch in history)
              + time.perf_counter() - start}
    write_json(os.path.join(folder, "consensus.json"), record, indent=2)
    if verbose:
        print(f"consensus of {recipe.runs} runs carried by seed {seeds[typical]}", flush=True)
    return model, histories[typical], record


def _train_on_targets(model, train_collection, feature_config, recipe, speakers, seed, targets, verbose,
                      callbacks=None):
    """`recipe.consensus_epochs` epochs of the joint phase's loss with per-clip cluster targets; their logs."""
    # Seeded here, not by whatever ran before: finished runs read back (--resume) must give the model that
    # training them in this process gives.
    keras.utils.set_random_seed(seed)
    groups = speaker_groups(train_collection, speakers, recipe, seed)
    data = pipeline.feature_dataset(dataclasses.replace(train_collection, speakers=groups), feature_config,
                                    recipe.batch_size, shuffle=True, seed=seed, cache=True, with_labels=False,
                                    with_speakers=groups is not None, drop_remainder=True,
                                    clips_per_speaker=speaker_run_length(recipe, groups), targets=targets)
    model.compile(optimizer=keras.optimizers.Adam(recipe.final_learning_rate))
    model.kl_weight.assign(recipe.kl_weight)
    model.sampling.assign(1.0)
    model.cluster_weight.assign(recipe.cluster_weight)
    logs = model.fit(data, epochs=recipe.consensus_epochs, verbose=verbose, callbacks=callbacks).history
    return [{name: float(values[epoch]) for name, values in logs.items()} for epoch in range(recipe.consensus_epochs)]


def _choose_restart(run, run_directory, seed, recipe, verbose, is_chief):
    """Trains the recipe's candidate runs to the end of the first joint epoch and picks one, without labels.

    Each candidate is an ordinary run of its own seed (its pseudo-speakers included) in
    `restarts/seed-<seed>.keras.run/`, made by `run(out_path, seed, checkpoint, stop_after)` and stopped
    after the first joint epoch; an interrupted choice resumes. The lowest consistency term of that epoch
    wins: docs/recipe_search.md, eighth round.

    Returns:
        The choice, also written to `restarts/choice.json`: every candidate's seed and criterion (and, for the
        record only, its validation accuracy when validation clips are labeled), the chosen seed, and its
        checkpoint relative to `run_directory`.
    """
    folder = os.path.join(run_directory, RESTARTS)
    choice_path = os.path.join(folder, "choice.json")
    if os.path.exists(choice_path):
        with open(choice_path) as handle:
            return json.load(handle)
    first_joint_epoch = recipe.pretrain_epochs + 1
    candidates = []
    for index in range(recipe.restarts):
        candidate_seed = seed * recipe.restarts + index
        candidate = os.path.join(folder, f"seed-{candidate_seed}.keras")
        os.makedirs(candidate + ".run", exist_ok=True)
        history = read_history(candidate + ".run")
        if len(history) < first_joint_epoch:
            if verbose:
                print(f"restart {index + 1} of {recipe.restarts} (seed {candidate_seed}): training to the end of "
                      f"the first joint epoch ({first_joint_epoch} of {recipe.epochs})", flush=True)
            _, history = run(candidate, candidate_seed, latest_checkpoint(candidate + ".run"), first_joint_epoch)
        record = history[first_joint_epoch - 1]
        candidates.append({"seed": candidate_seed, "consistency": record["consistency"],
                           "seconds": sum(epoch["seconds"] for epoch in history),
                           "validation_accuracy_not_used": record.get("val_accuracy"),
                           "checkpoint": os.path.relpath(latest_checkpoint(candidate + ".run"), run_directory)})
    chosen = min(candidates, key=lambda candidate: candidate["consistency"])
    choice = {"criterion": "lowest consistency term in the first joint epoch", "candidates": candidates,
              "chosen_seed": chosen["seed"], "checkpoint": chosen["checkpoint"]}
    if verbose:
        print("restarts: " + ", ".join(f"seed {candidate['seed']} consistency {candidate['consistency']:.4f}"
                                       for candidate in candidates) + f"; continuing seed {chosen['seed']}", flush=True)
    if is_chief:
        write_json(choice_path, choice, indent=2)
    return choice


def model_card(model, history, recipe, seed, feature_config, speakers, replicas, collections, seconds, extra=None):
    """What a trained model is: how it was trained, on what, how long it took, and Table I on the test clips.

    Example:
    >>> card = model_card(model, history, RECIPES["default"], 0, FeatureConfig(), "ids", 1, splits,
    ...                   600.0)  # doctest: +SKIP
    """
    import platform

    from keras_uvac import evaluation

    card = {**(extra or {}), "seed": seed, "recipe": recipe.get_config(), "epochs_done": len(history),
            "speakers": speakers, "replicas": replicas, "training_seconds_this_session": seconds,
            "training_seconds_all_epochs": sum(record["seconds"] for record in history),
            "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                        "backend": keras.backend.backend()},
            "parameters": model.parameter_counts(), "feature_config": feature_config.get_config()}
    card.setdefault("split", {})["clips"] = {name: len(part) for name, part in collections.items() if part is not None}
    test = collections.get("test")
    if test is not None and test.labels is not None:
        card["test_metrics"], _ = evaluation.evaluate(model, test, seed=seed)
    return card


def speaker_source(collection, mode):
    """What the speaker terms group clips by for `mode`: `"ids"`, `"pseudo"` or `"none"`.

    Raises:
        ValueError: `mode` is `"ids"` and the collection names no speakers.

    Example:
    >>> speaker_source(load_audio(), "auto")  # doctest: +SKIP
    'ids'
    """
    if mode not in SPEAKER_MODES:
        raise ValueError(f"speakers must be one of {SPEAKER_MODES}, got {mode!r}")
    if mode == "ids" and collection.speakers is None:
        raise ValueError("speakers='ids' (--speakers ids), but the data names no speakers; use 'pseudo' or 'auto'")
    if mode == "none":
        return "none"
    return "pseudo" if mode == "pseudo" or collection.speakers is None else "ids"


def describe_speakers(collection, mode, recipe=None):
    """What the speaker terms will group clips by, in words.

    Example:
    >>> describe_speakers(load_audio(), "auto")  # doctest: +SKIP
    'the 6 speaker ids of the data'
    """
    source = speaker_source(collection, mode)
    if source == "none":
        return "none (the recipe clusters less well without them)"
    recipe = recipe or RECIPES["default"]
    if source == "pseudo":
        groups = np.arange(recipe.pseudo_speakers)
        text = f"{len(groups)} pseudo-speaker groups found from voice and channel (no speaker ids used)"
    else:
        groups = collection.speakers
        text = f"the {len(set(groups))} speaker ids of the data"
    run_length = speaker_run_length(recipe, groups)
    return text + (f", each batch dealt in runs of {run_length} clips of one speaker" if run_length else "")


def speaker_run_length(recipe, speakers):
    """Clips per run of one speaker in the recipe's shuffled batches for these speaker ids (0: plain shuffling).

    Example:
    >>> speaker_run_length(RECIPES["default"], np.arange(48)), speaker_run_length(RECIPES["default"], np.arange(6))
    (4, 0)
    """
    many = speakers is not None and len(np.unique(speakers)) >= recipe.speaker_runs_from
    return recipe.clips_per_speaker if many else 0


def speaker_groups(collection, mode, recipe, seed=0):
    """The speaker of each clip that the speaker terms use, as int32 indices from 0, or None for none.

    Example:
    >>> speaker_groups(load_audio(), "auto", RECIPES["default"])[:3]  # doctest: +SKIP
    array([0, 0, 0], dtype=int32)
    """
    source = speaker_source(collection, mode)
    if source == "none":
        return None
    if source == "pseudo":
        from keras_uvac import nuisance

        groups = nuisance.collection_pseudo_speakers(collection, recipe.pseudo_speakers, seed)
    else:
        groups = collection.speakers
    return np.unique(np.asarray(groups), return_inverse=True)[1].astype(np.int32)


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True


def _train(train_collection, out_path, recipe, validation_collection, feature_config, seed, checkpoint, tensorboard,
           verbose, callbacks, precision, speakers, model_overrides, replicas, stop_after=None):
    run_directory = os.fspath(out_path) + ".run"
    _remove_partial_files(out_path)
    keras.utils.set_random_seed(seed)
    previous_policy = keras.mixed_precision.global_policy()
    set_precision(precision)
    try:
        groups = speaker_groups(train_collection, speakers, recipe, seed)
        train_collection = dataclasses.replace(train_collection, speakers=groups)
        clips_per_speaker = speaker_run_length(recipe, groups)
        steps_per_epoch = replicas.steps_per_epoch(len(train_collection), recipe.batch_size)
        with replicas.scope():
            if checkpoint is not None:
                model, history = load_checkpoint(checkpoint)
            else:
                model = build_model(recipe, seed, steps_per_epoch=steps_per_epoch,
                                    feature_config=feature_config.get_config(), **model_overrides)
                history = []
        initial_epoch = len(history)

        def epochs_of_data(collection, batch_size, drop_remainder):
            # One pass over every remaining epoch, fast-forwarded past the finished ones: each epoch sees the clip
            # order of the uninterrupted run, so a resumed run ends with the same weights.
            data = pipeline.feature_dataset(collection, feature_config, batch_size, shuffle=True, seed=seed,
                                            cache=True, with_labels=False, with_speakers=groups is not None,
                                            drop_remainder=drop_remainder, clips_per_speaker=clips_per_speaker)
            batches = len(collection) // batch_size if drop_remainder else math.ceil(len(collection) / batch_size)
            return data.repeat(recipe.epochs).skip(initial_epoch * batches)

        train_data = replicas.dataset(train_collection, recipe.batch_size, epochs_of_data)
        # Every worker encodes every training clip for the mixture fit, so all fit the same mixture.
        embedding_data = pipeline.feature_dataset(train_collection, feature_config, 256, with_labels=False)
        if replicas.is_chief:
            write_json(os.path.join(run_directory, "recipe.json"),
                       {"recipe": recipe.get_config(), "seed": seed, "speakers": speakers, "replicas": replicas.count,
                        "model": model.get_config()})
        epoch_checkpoint = EpochCheckpoint(run_directory, write=replicas.is_chief)
        epoch_checkpoint.history = history
        callbacks = [RecipeSchedule(recipe, embedding_data, seed), *callbacks]
        if validation_collection is not None and validation_collection.labels is not None:
            callbacks.append(metrics.ClusteringMetricsCallback(
                pipeline.feature_dataset(validation_collection, feature_config, 256)))
        if tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(run_directory, "tensorboard")))
        callbacks.append(epoch_checkpoint)
        if stop_after:
            callbacks.append(_StopAfter(stop_after))
        if initial_epoch < recipe.epochs:
            model.fit(train_data, epochs=recipe.epochs, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                      callbacks=callbacks, verbose=verbose, shuffle=False)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    if epoch_checkpoint.failure is not None:
        latest = latest_checkpoint(run_directory)
        kept = (f"the last good checkpoint (epoch {len(epoch_checkpoint.history)}) is {latest}"
                if latest else "no epoch finished, so there is no checkpoint")
        raise TrainingError(f"training stopped: {epoch_checkpoint.failure}; {kept}. Lower the learning rate or "
                            "check the data, then resume or start over.")
    if not replicas.is_chief or stop_after:
        return model, epoch_checkpoint.history
    save_for_inference(model, out_path)
    # The run is complete: the optimizer state is no longer needed, the history stays.
    shutil.rmtree(os.path.join(run_directory, CHECKPOINTS), ignore_errors=True)
    return model, epoch_checkpoint.history


def _remove_partial_files(out_path):
    """Removes temporaries that an interrupted save left beside the model or in its run."""
    folder = os.path.dirname(os.path.abspath(out_path))
    stem = os.path.splitext(os.path.basename(out_path))[0]
    for name in os.listdir(folder):
        if name.startswith(f".{stem}.") and ".partial" in name:
            os.remove(os.path.join(folder, name))
    checkpoints = os.path.join(os.fspath(out_path) + ".run", CHECKPOINTS)
    if os.path.isdir(checkpoints):
        for name in os.listdir(checkpoints):
            if name.endswith(".partial"):
                shutil.rmtree(os.path.join(checkpoints, name), ignore_errors=True)


def repeatable_op_order():
    """Has TensorFlow run one op of a graph at a time (each op still uses every core), so that training repeats.

    With TensorFlow's default inter-op parallelism, the self-labelling epochs of a consensus gave other weights in
    every new process on a CPU from the same runs and seed (a clip or two of a test split apart after three epochs);
    with one op at a time they repeat bit for bit, at 0.94x the speed on two cores (`benchmarks/reproducibility.py`).
    Every `uvac` command calls this unless it distributes training over replicas (whose ops run side by side).
    TensorFlow takes the setting only before it runs its first op.

    Returns:
        True when set; False when Keras' backend is not TensorFlow (its own op order applies), or, with a warning,
        when TensorFlow has already started.

    Example:
    >>> repeatable_op_order()  # doctest: +SKIP
    True
    """
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        if tf.config.threading.get_inter_op_parallelism_threads() == 1:
            return True
        warnings.warn("TensorFlow has already started: its ops may run side by side, and training may not repeat "
                      "bit for bit in another process", stacklevel=2)
        return False
    return True


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

