import json
import os

import keras
import numpy as np
import pytest

pytest.importorskip("keras_tuner")

from keras_uvac import datasets, metrics, pipeline, tuning  # noqa: E402
from keras_uvac.model import UVAC  # noqa: E402

# The tiny encoder and a small decoder: the search runs the shipped recipe, fast.
FAST = {"architecture": "tiny", "model_overrides": {"decoder_channels": (8, 4)}}


@pytest.fixture(scope="module")
def splits():
    collection = datasets.load_audio().subset(range(0, 3000, 40))
    return collection.split(seed=0, fractions=(0.6, 0.4, 0.0))


@pytest.mark.slow
def test_search_finds_saves_and_resumes(tmp_path, splits):
    directory = tmp_path / "search"
    model, values, search = tuning.tune(splits["train"], splits["validation"], directory, max_trials=1, epochs=2,
                                        verbose=0, **FAST)
    assert {"latent_dim", "learning_rate", "kl_weight", "pretrain_share", "consistency_weight", "speaker_weight",
            "cross_speaker_weight", "cluster_weight"} <= set(values)
    # The trial model is the recipe's: its speaker and contrastive terms, tied variances, the tiny encoder.
    assert model.speaker_weight == values["speaker_weight"] and model.tied_prior_variances
    assert model.encoder_channels == (4, 8, 16, 32) and model.gru_units == ()
    trial = search.oracle.get_best_trials(1)[0]
    assert 0.0 <= trial.score <= 1.0 and trial.metrics.exists("val_stability")
    assert json.loads((directory / "best_hyperparameters.json").read_text()) == values
    best = keras.models.load_model(directory / "best.keras")
    assert best.latent_dim == values["latent_dim"]
    trials = lambda: [name for name in os.listdir(directory / "uvac") if name.startswith("trial_")]  # noqa: E731
    assert len(trials()) == 1
    tuning.tune(splits["train"], splits["validation"], directory, max_trials=2, epochs=2, verbose=0, **FAST)
    assert len(trials()) == 2  # the earlier trial was kept, one more ran


@pytest.mark.slow
@pytest.mark.parametrize("tuner", ["bayesian", "hyperband"])
def test_other_tuners_search_on_validation_accuracy(tmp_path, splits, tuner):
    _, values, _ = tuning.tune(splits["train"], splits["validation"], tmp_path / tuner, tuner=tuner, max_trials=1,
                               objective="accuracy", epochs=2, verbose=0, **FAST)
    assert "learning_rate" in values and (tmp_path / tuner / "best.keras").exists()


def test_accuracy_objective_needs_labels(tmp_path, splits):
    unlabeled = splits["validation"].subset(range(5))
    unlabeled.labels = None
    with pytest.raises(ValueError, match="needs labeled validation data"):
        tuning.tune(splits["train"], unlabeled, tmp_path, objective="accuracy")


def test_label_free_score_punishes_collapse_and_instability(splits):
    spectrograms = pipeline.extract_features(splits["validation"], progress=False)["spectrogram"]
    keras.utils.set_random_seed(0)
    # A low variance floor: an untrained encoder's codes lie close together.
    model = UVAC(encoder_channels=(4, 8), gru_units=(8,), decoder_channels=(8, 4), num_clusters=4, latent_dim=2,
                 min_log_variance=-30.0, seed=0)
    codes = keras.ops.convert_to_numpy(model.encode(spectrograms)[0])
    # A mixture far from every code but one component: every clip in one cluster, stable but unbalanced.
    far = np.full((4, 2), 1e3, "float32")
    far[0] = codes.mean(axis=0)
    model.prior.set_mixture(np.full(4, 0.25), far, np.ones((4, 2)))
    collapsed = metrics.label_free_score(model, spectrograms)
    assert collapsed["stability"] == 1.0 and collapsed["balance"] == 0.0 and collapsed["score"] == 0.0
    # Components on the codes' quartiles along their first axis: clusters used, some clips move under augmentation.
    parts = np.array_split(np.argsort(codes[:, 0]), 4)
    means = np.stack([codes[part].mean(axis=0) for part in parts]).astype("float32")
    within = np.mean([codes[part].var(axis=0) for part in parts], axis=0)
    model.prior.set_mixture(np.full(4, 0.25), means, np.tile(within, (4, 1)))
    spread = metrics.label_free_score(model, spectrograms)
    assert spread["balance"] > 0.75 and 0.0 < spread["stability"] < 1.0
    assert spread["score"] == pytest.approx(spread["stability"] * spread["balance"])
