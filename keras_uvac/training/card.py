"""The model card: how a model was trained, on what, how long it took, and Table I on the test clips."""

import os
import platform

import keras

from keras_uvac import evaluation


def model_card(model, history, recipe, seed, feature_config, speakers, replicas, collections, seconds, extra=None):
    """What a trained model is: how it was trained, on what, how long it took, and Table I on the test clips.

    Example:
    >>> card = model_card(model, history, RECIPES["default"], 0, FeatureConfig(), "ids", 1, splits,
    ...                   600.0)  # doctest: +SKIP
    """


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

