"""One run of training: a recipe, a seed and a collection, epoch by epoch, checkpointed."""

import dataclasses
import math
import os
import shutil
import warnings

import keras

from keras_uvac import metrics, pipeline
from keras_uvac.atomic import write_json
from keras_uvac.training.checkpoints import (
    CHECKPOINTS,
    EpochCheckpoint,
    TrainingError,
    latest_checkpoint,
    load_checkpoint,
    remove_partial_files,
    reseed,
    save_for_inference,
)
from keras_uvac.training.recipes import RecipeSchedule, build_model
from keras_uvac.training.speakers import speaker_groups, speaker_run_length


class _StopAfter(keras.callbacks.Callback):
    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True


def train_one_run(train_collection, out_path, recipe, validation_collection, feature_config, seed, checkpoint,
                  tensorboard, verbose, callbacks, precision, speakers, model_overrides, replicas, stop_after=None,
                  start_from=None, validation_every=1):
    """One run of `recipe` to `out_path` (or, with `stop_after`, to the end of that epoch); `(model, history)`.

    `train` calls it for each run of a recipe; its arguments are `train`'s, resolved. Without a `checkpoint` of
    its own, a run given `start_from` (another run's checkpoint: a shared pretraining) continues from it with
    fresh random draws of its own seed.
    """
    run_directory = os.fspath(out_path) + ".run"
    remove_partial_files(out_path)
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
            elif start_from is not None:
                model, history = load_checkpoint(start_from)
                reseed(model, seed)
            else:
                model = build_model(recipe, seed, steps_per_epoch=steps_per_epoch,
                                    feature_config=feature_config.get_config(), **model_overrides)
                history = []
        initial_epoch = len(history)

        def epochs_of_data(collection, batch_size, drop_remainder):
            # One pass over every remaining epoch, fast-forwarded past the finished ones: each epoch sees the clip
            # order of the uninterrupted run, so a resumed run ends with the same weights.
            data = pipeline.feature_dataset(collection, feature_config, batch_size, shuffle=True, seed=seed,
                                            cache="auto", with_labels=False, with_speakers=groups is not None,
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
        if validation_every and validation_collection is not None and validation_collection.labels is not None:
            callbacks.append(metrics.ClusteringMetricsCallback(
                pipeline.feature_dataset(validation_collection, feature_config, 256), every_n_epochs=validation_every))
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

