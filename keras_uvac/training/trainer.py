"""`train`: the whole recipe on a collection, from its runs to the model card."""

import contextlib
import os
import shutil
import tempfile
import time
import warnings

from keras_uvac import _private_apis, consensus, distribution, novelty, nuisance, pipeline, quality, validation
from keras_uvac.atomic import write_json
from keras_uvac.features import FeatureConfig
from keras_uvac.model_arguments import check_model_arguments
from keras_uvac.training.card import model_card
from keras_uvac.training.checkpoints import (
    CHECKPOINTS,
    TrainingError,
    latest_checkpoint,
    run_lock,
    save_for_inference,
)
from keras_uvac.training.clusters import choose_clusters
from keras_uvac.training.consensus_runs import choose_restart, consensus_of_runs, sub_runs
from keras_uvac.training.recipes import RECIPES
from keras_uvac.training.run import train_one_run
from keras_uvac.training.speakers import speaker_source


def train(train_collection, out_path=None, recipe="default", validation_collection=None, feature_config=None,
          seed=0, resume=False, tensorboard=False, verbose=1, callbacks=(), precision="float32", speakers="auto",
          distribute="none", test_collection=None, card=None, validation_every=5, **model_overrides):
    """Trains a UVAC model on a collection; with `out_path`, saves it, its card and its checkpoints.

    Without `out_path` the model is trained in memory and nothing is left on
    disk (the run's checkpoints go to a temporary folder that is removed at the
    end). Python's, NumPy's and Keras' global random states, and the dtype
    policy, are as they were when `train` returns: the run seeds itself.

    Args:
        train_collection: a `datasets.AudioCollection` (labels not needed).
        out_path: the final `.keras` file, or None to train in memory. The
            card goes to `<out_path>.card.json`, the checkpoints to
            `<out_path>.run/`.
        recipe: a `Recipe` or the name of one in `RECIPES`.
        validation_collection: labeled clips for clustering metrics
            (accuracy, NMI, silhouette, DBI) in the epoch logs.
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
        validation_every: compute the validation metrics every this many
            epochs and after a run's last (they cost about 5% of an epoch
            when computed after each); 0: never.
        **model_overrides: `UVAC` arguments that replace the recipe's;
            `num_clusters="auto"` chooses the number of clusters without
            labels (`keras_uvac.training.clusters`), recorded in the card
            under `"clusters"`.

    Returns:
        `(model, history)`: the trained model and the per-epoch records.
        The model card, also written to `<out_path>.card.json`, is
        `model.card`; its `"quality"` is the label-free quality report
        (`keras_uvac.quality`).

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
    >>> model, history = train(splits["train"], recipe=RECIPES["default"].with_epochs(40))  # doctest: +SKIP
    >>> model, history = train(splits["train"], "uvac.keras", test_collection=splits["test"])  # doctest: +SKIP
    """
    recipe = RECIPES[recipe] if isinstance(recipe, str) else recipe
    validation.number("validation_every", validation_every, 0, whole=True)
    if out_path is not None:
        validation.output_file(out_path, "out_path", (".keras",))
    elif resume or tensorboard or distribute == "multi-worker":
        raise ValueError("resume, tensorboard and distribute='multi-worker' need an out_path for the run's files")
    with _private_apis.global_random_state_kept(), contextlib.ExitStack() as in_memory:
        if out_path is None:
            out_path = os.path.join(in_memory.enter_context(tempfile.TemporaryDirectory(prefix="uvac-")), "model.keras")
        return _train(train_collection, out_path, recipe, validation_collection, feature_config, seed, resume,
                      tensorboard, verbose, callbacks, precision, speakers, distribute, test_collection, card,
                      validation_every, model_overrides)


def _train(train_collection, out_path, recipe, validation_collection, feature_config, seed, resume, tensorboard,
           verbose, callbacks, precision, speakers, distribute, test_collection, card, validation_every,
           model_overrides):
    choose_k = model_overrides.get("num_clusters") == "auto"
    if choose_k:  # the number is chosen below, after the pretraining it is chosen on
        if not recipe.pretrain_epochs:
            raise ValueError(f"--clusters auto chooses K on the codes of the recipe's pretraining; recipe "
                             f"{recipe.name!r} has none (pretrain_epochs 0)")
        model_overrides = {name: value for name, value in model_overrides.items() if name != "num_clusters"}
    num_clusters = 2 if choose_k else {**recipe.model, **model_overrides}.get("num_clusters", 10)
    if len(train_collection) < num_clusters:
        raise ValueError(f"{num_clusters} clusters need at least {num_clusters} training clips; got "
                         f"{len(train_collection)}")
    check_model_arguments({**recipe.model, **model_overrides})
    speakers = speaker_source(train_collection, speakers)
    if speakers == "pseudo":
        # Resolved once, so that every run and the card name the descriptor that grouped the clips.
        recipe = recipe.with_changes(
            {"pseudo_speaker_descriptor": nuisance.resolve_descriptor(recipe.pseudo_speaker_descriptor)})
    feature_config = feature_config or FeatureConfig()
    run_directory = os.fspath(out_path) + ".run"
    os.makedirs(run_directory, exist_ok=True)
    collections = (train_collection, validation_collection, test_collection)
    hint = f"; the checkpoints in {run_directory} are kept: restore the file and resume (--resume)"
    with pipeline.files_named_on_failure(*collections, hint=hint), distribution.Replicas(distribute) as replicas:
        steps_per_epoch = replicas.steps_per_epoch(len(train_collection), recipe.batch_size)
        recipe, extra = _with_enough_steps(recipe, steps_per_epoch, verbose)
        # Workers other than the chief neither write nor lock; they read the chief's checkpoint to resume.
        lock = run_lock(run_directory) if replicas.is_chief else contextlib.nullcontext()
        with lock:
            checkpoint = latest_checkpoint(run_directory)
            # A finished run of a consensus is an earlier run too (its checkpoints are gone).
            earlier = checkpoint or any(latest_checkpoint(folder) or os.path.exists(folder[:-len(".run")])
                                        for folder in sub_runs(run_directory))
            if earlier and not resume:
                raise TrainingError(f"{run_directory} holds a checkpoint of an earlier run: pass resume=True "
                                    "(--resume) to continue it, or delete the folder to start over")
            start = time.perf_counter()

            def run(run_out_path, run_seed, run_checkpoint, stop_after=None, start_from=None, **overrides):
                return train_one_run(train_collection, run_out_path, recipe, validation_collection, feature_config,
                                     run_seed, run_checkpoint, tensorboard, verbose, callbacks, precision, speakers,
                                     {**model_overrides, **overrides}, replicas, stop_after, start_from,
                                     validation_every)

            run_seed = seed
            if choose_k:
                extra["clusters"] = choose_clusters(run, run_directory, seed, recipe, train_collection,
                                                    feature_config, verbose, replicas.is_chief)
                model_overrides = {**model_overrides, "num_clusters": extra["clusters"]["chosen"]}
            if recipe.restarts > 1 and replicas.mode == "multi-worker":
                # Each worker would need the chief's candidate checkpoints the moment they are written.
                warnings.warn("the recipe's restarts need one process (distribute='mirrored' is fine); training "
                              "one run on these workers", stacklevel=2)
            elif recipe.runs > 1:
                model, history, extra["consensus"] = consensus_of_runs(
                    run, run_directory, seed, recipe, train_collection, feature_config, speakers, verbose, replicas)
            elif recipe.restarts > 1 and recipe.gmm_initialization and recipe.pretrain_epochs < recipe.epochs:
                extra["restarts"] = choose_restart(run, run_directory, seed, recipe, verbose, replicas.is_chief)
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
            _warn_if_clusters_empty(extra, model.num_clusters)
            runs = None
            if "consensus" in extra:
                finished = {"consensus": extra["consensus"], "recipe": recipe.get_config()}
                runs = quality.consensus_runs(out_path, finished, train_collection)
            if runs:
                # Fitted on clips the model did not train on where there are some; no labels are read.
                extra["temperature"] = quality.calibrate_temperature(model, runs,
                                                                     validation_collection or train_collection)
                if verbose:
                    record = extra["temperature"]
                    print(f"cluster probabilities calibrated to the runs' agreement: temperature "
                          f"{record['temperature']:.2f}, mean top probability {record['before']:.2f} -> "
                          f"{record['after']:.2f} ({100 * record['runs_agreeing']:.0f}% of runs agree on "
                          f"{record['clips']} clips)", flush=True)
            if replicas.is_chief and ("consensus" in extra or recipe.balanced_clusters):
                save_for_inference(model, out_path)
            if replicas.is_chief:
                extra["novelty"] = novelty.fit_reference(novelty.novelty_terms(model, train_collection))
                extra["quality"] = quality.quality_report(model, train_collection, runs, extra)
                card = {**(card or {}), **extra}
                model.card = model_card(model, history, recipe, seed, feature_config, speakers, replicas.count,
                                        {"train": train_collection, "validation": validation_collection,
                                         "test": test_collection}, time.perf_counter() - start, card)
                write_json(os.fspath(out_path) + ".card.json", model.card, indent=2)
                # The run is complete: the candidates' weights are no longer needed, their histories stay.
                for candidate_run in sub_runs(run_directory):
                    shutil.rmtree(os.path.join(candidate_run, CHECKPOINTS), ignore_errors=True)
            return model, history


def _with_enough_steps(recipe, steps_per_epoch, verbose):
    """The recipe with its `min_steps`, and what the card records when that added epochs."""
    scaled = recipe.with_steps_per_epoch(steps_per_epoch)
    if scaled is recipe:
        return recipe, {}
    record = {"min_steps": recipe.min_steps, "steps_per_epoch": steps_per_epoch, "recipe_epochs": recipe.epochs,
              "epochs": scaled.epochs}
    if verbose:
        print(f"{recipe.epochs} epochs of {steps_per_epoch} steps are fewer than the recipe's {recipe.min_steps} "
              f"optimiser steps: training {scaled.epochs} epochs, the phases scaled with them", flush=True)
    return scaled, {"epochs_for_steps": record}


def _warn_if_clusters_empty(extra, num_clusters):
    """Warns when a run of the consensus, or the model before its balanced refit, left clusters without clips."""
    used = {}
    if "consensus" in extra:
        used = {f"the run of seed {seed}": count
                for seed, count in zip(extra["consensus"]["seeds"], extra["consensus"]["clusters_used"])}
    if "balanced_clusters" in extra:
        used["the model before its balanced refit"] = sum(
            size > 0 for size in extra["balanced_clusters"]["cluster_sizes_before"])
    short = [f"{what} ({count})" for what, count in used.items() if count < num_clusters]
    if short:
        warnings.warn(f"fewer than {num_clusters} clusters hold training clips in {', '.join(short)}: too few "
                      "clips or steps for this many clusters (a larger Recipe.min_steps, or fewer clusters, may help)",
                      stacklevel=4)
