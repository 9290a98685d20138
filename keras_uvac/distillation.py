"""Distillation: a compact encoder trained to give a trained model's codes, for microcontrollers.

The default recipe clusters well with the paper's encoder, but the compact
encoders of `model.ARCHITECTURES`, trained from scratch by the same recipe, end
far below it (measured on the paper's features: 50-60% FSDD test accuracy against
77-78% distilled). A trained model knows
its codes, so a compact student can simply learn them: the student's encoder
regresses the teacher's latent means on the training clips and on augmented
views of them (the recipe's own augmentation), and keeps the teacher's GMM
prior and decoder. No labels are used; the clusters are the teacher's.
"""

import math
import time

import keras
import numpy as np

from keras_uvac import _private_apis, pipeline
from keras_uvac.atomic import atomic_path, write_json
from keras_uvac.model import UVAC
from keras_uvac.model_arguments import ARCHITECTURES


def student_of(teacher, architecture="small", **overrides):
    """An untrained UVAC with `architecture`'s encoder and the teacher's prior and decoder (weights copied).

    Example:
    >>> student = student_of(UVAC.from_preset("uvac_fsdd"), "tiny")  # doctest: +SKIP
    """
    config = {**teacher.get_config(), **ARCHITECTURES[architecture], **overrides}
    student = UVAC.from_config(config)
    student.prior.set_weights(teacher.prior.get_weights())
    student.decoder.set_weights(teacher.decoder.get_weights())
    return student


def teacher_targets(teacher, spectrograms, views=4, batch_size=256):
    """The clips and `views` augmented views of each, with the teacher's latent means for each.

    Returns:
        `(inputs, codes)`: `((views + 1) * N, bins, frames)` and `((views + 1) * N, latent_dim)`.
    """
    inputs, codes = [], []
    for start in range(0, len(spectrograms), batch_size):
        batch = spectrograms[start:start + batch_size]
        for view in range(views + 1):
            seen = batch if view == 0 else keras.ops.convert_to_numpy(teacher.augment(batch, training=True))
            inputs.append(seen)
            codes.append(keras.ops.convert_to_numpy(teacher.encode(seen)[0]))
    return np.concatenate(inputs), np.concatenate(codes)


def distill(teacher, train_collection, out_path=None, architecture="small", epochs=30, views=4, batch_size=64,
            learning_rate=1e-3, seed=0, verbose=1, test_collection=None, card=None, **overrides):
    """Trains a compact student of `teacher` on `train_collection` (no labels needed).

    Args:
        teacher: a trained `UVAC`.
        train_collection: the clips the teacher was trained on (or any from its corpus).
        out_path: where to save the student (`.keras`), or None.
        architecture: a key of `model.ARCHITECTURES`.
        epochs: passes over the clips and their views.
        views: augmented views per clip, beside the clip itself.
        batch_size: clips per step.
        learning_rate: Adam's initial rate (decays tenfold over the run).
        seed: seed of the student's initialisation, the views and the order (the global random state is
            as it was when `distill` returns).
        verbose: Keras progress bar mode.
        test_collection: labeled clips to score the student on for its card, or None.
        card: extra entries for the student's card (e.g. the command), or None.
        **overrides: other `UVAC` arguments of the student.

    Returns:
        `(student, history)`: the student `UVAC` (its card, also written to
        `<out_path>.card.json`, is `student.card`) and the per-epoch mean
        squared code error.

    Example:
    >>> student, history = distill(UVAC.from_preset("uvac_fsdd"), splits["train"], "small.keras")  # doctest: +SKIP
    """
    # Seeded for the run, and the caller's global random state put back afterwards.
    with _private_apis.global_random_state_kept():
        return _distill(teacher, train_collection, out_path, architecture, epochs, views, batch_size, learning_rate,
                        seed, verbose, test_collection, card, overrides)


def _distill(teacher, train_collection, out_path, architecture, epochs, views, batch_size, learning_rate, seed,
             verbose, test_collection, card, overrides):
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    student = student_of(teacher, architecture, seed=seed, **overrides)
    spectrograms = pipeline.extract_features(train_collection, teacher.feature_config_object(),
                                             progress=verbose == 1)["spectrogram"]
    inputs, codes = teacher_targets(teacher, spectrograms, views)
    steps = epochs * math.ceil(len(inputs) / batch_size)
    encoder_inputs = keras.Input((student.num_bins, student.num_frames))
    regression = keras.Model(encoder_inputs, student.encoder(encoder_inputs)[0])
    regression.compile(optimizer=keras.optimizers.Adam(
        keras.optimizers.schedules.ExponentialDecay(learning_rate, steps, 0.1)), loss="mse")
    fitted = regression.fit(inputs, codes, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose)
    history = [{"epoch": epoch + 1, "code_mse": float(loss)} for epoch, loss in enumerate(fitted.history["loss"])]
    student.card = {**(card or {}), "seed": seed, "architecture": architecture,
                    "distillation": {"teacher_card": getattr(teacher, "card", None), "epochs": epochs,
                                     "views": views, "batch_size": batch_size, "learning_rate": learning_rate,
                                     "final_code_mse": history[-1]["code_mse"]},
                    "training_seconds": time.perf_counter() - started, "parameters": student.parameter_counts(),
                    "feature_config": student.feature_config_object().get_config()}
    student.card.setdefault("split", {})["clips"] = {
        "train": len(train_collection), **({"test": len(test_collection)} if test_collection is not None else {})}
    if test_collection is not None and test_collection.labels is not None:
        from keras_uvac import evaluation

        student.card["test_metrics"], _ = evaluation.evaluate(student, test_collection, seed=seed)
    if out_path is not None:
        with atomic_path(out_path) as temporary:
            student.save(temporary)
        write_json(str(out_path) + ".card.json", student.card, indent=2)
    return student, history
