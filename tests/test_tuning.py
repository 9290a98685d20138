import json
import os

import keras
import pytest

pytest.importorskip("keras_tuner")

from keras_uvac import datasets, tuning  # noqa: E402


@pytest.fixture(scope="module")
def splits():
    collection = datasets.load_audio().subset(range(0, 3000, 40))
    return collection.split(seed=0, fractions=(0.6, 0.4, 0.0))


@pytest.mark.slow
def test_search_finds_saves_and_resumes(tmp_path, splits):
    directory = tmp_path / "search"
    model, values = tuning.tune(splits["train"], splits["validation"], directory, max_trials=2, epochs=2,
                                widths=(4,), verbose=0)
    assert {"latent_dim", "learning_rate", "kl_weight", "pretrain_share", "consistency_weight"} <= set(values)
    assert json.loads((directory / "best_hyperparameters.json").read_text()) == values
    best = keras.models.load_model(directory / "best.keras")
    assert best.latent_dim == values["latent_dim"]
    trials = lambda: [name for name in os.listdir(directory / "uvac") if name.startswith("trial_")]  # noqa: E731
    assert len(trials()) == 2
    tuning.tune(splits["train"], splits["validation"], directory, max_trials=3, epochs=2, widths=(4,), verbose=0)
    assert len(trials()) == 3  # the earlier two were kept, one more ran


@pytest.mark.slow
@pytest.mark.parametrize("tuner", ["bayesian", "hyperband"])
def test_other_tuners_search_on_validation_accuracy(tmp_path, splits, tuner):
    _, values = tuning.tune(splits["train"], splits["validation"], tmp_path / tuner, tuner=tuner, max_trials=1,
                            objective="accuracy", epochs=2, widths=(4,), verbose=0)
    assert "learning_rate" in values and (tmp_path / tuner / "best.keras").exists()


def test_accuracy_objective_needs_labels(tmp_path, splits):
    unlabeled = splits["validation"].subset(range(5))
    unlabeled.labels = None
    with pytest.raises(ValueError, match="needs labeled validation data"):
        tuning.tune(splits["train"], unlabeled, tmp_path, objective="accuracy")
