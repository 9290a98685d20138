"""The label-free quality report (stability under augmentation, balance, the runs' agreement, the verdict) and the
calibrated probabilities."""

import shutil

import numpy as np
import pytest
from conftest import copy_fsdd_subset, run_uvac
from keras import ops

from keras_uvac import datasets, pipeline, presets, quality
from keras_uvac.model import UVAC


@pytest.fixture(scope="module")
def shipped():
    """The shipped model and 120 of its training clips."""
    return UVAC.from_preset("uvac_fsdd"), datasets.load_audio().split(seed=0)["train"].subset(range(0, 2400, 20))


def test_the_verdict_follows_the_thresholds():
    good, moderate = quality.THRESHOLDS["good"], quality.THRESHOLDS["moderate"]
    assert quality.verdict(good) == "good" and quality.verdict(max(good, 0.999)) == "good"
    assert quality.verdict(moderate - 0.01) == "poor"
    assert good == moderate or quality.verdict((good + moderate) / 2) == "moderate"
    assert quality.run_agreement([[0, 0, 1, 1], [1, 1, 0, 0], [0, 0, 1, 1]]) == pytest.approx(1.0)
    assert quality.run_agreement([[0, 0, 1, 1], [0, 1, 0, 1]]) == pytest.approx(0.0)


def test_the_shipped_models_report_is_headed_by_its_label_free_score_and_repeats(shipped):
    model, clips = shipped
    state = ops.convert_to_numpy(model.augment.seed_generator.state).copy()
    report = quality.quality_report(model, clips, card=model.card)
    assert report["headline"] == {"name": quality.HEADLINE, "value": report[quality.HEADLINE]}
    assert report["label_free_score"] == pytest.approx(report["stability"] * report["balance"])
    # Its runs were not kept: their agreement as the card recorded it.
    assert report["run_agreement"] == pytest.approx(np.mean(model.card["consensus"]["agreement"]))
    assert report["runs"] == 3 and sum(report["cluster_sizes"]) == len(clips)
    assert report["verdict"] == quality.verdict(report["headline"]["value"])
    assert 0.7 < report["stability"] <= 1 and 0.9 < report["balance"] <= 1
    assert report == quality.quality_report(model, clips, card=model.card)  # the views are seeded
    np.testing.assert_array_equal(ops.convert_to_numpy(model.augment.seed_generator.state), state)
    text = quality.format_report(report)
    assert text.startswith(f"quality (no labels): {report['verdict']} (label-free score")
    assert "independent runs agree: NMI" in text and "least stable clusters" in text


def test_stability_falls_as_the_augmentation_grows(shipped, monkeypatch):
    model, clips = shipped
    stabilities = []
    for strength in (0.0, 1.0, 4.0):
        config = {"frequency_warp": 0.1 * strength, "time_warp": 0.1 * strength, "time_shift": int(8 * strength),
                  "tilt": strength, "mask_bins": int(16 * strength), "mask_frames": int(12 * strength)}
        monkeypatch.setattr(model.augment, "get_config", lambda config=config: config)
        _, stable = quality.cluster_stability(model, clips)
        stabilities.append(stable.mean())
    assert stabilities[0] == 1.0 and stabilities[0] > stabilities[1] > stabilities[2]


def test_a_model_of_one_run_has_no_agreement_to_report(shipped):
    model, clips = shipped
    report = quality.quality_report(model, clips.subset(range(30)), card=None)
    assert report["run_agreement"] is None and report["runs"] == 1
    assert "independent runs" not in quality.format_report(report)


def test_the_report_names_the_least_stable_clusters_and_advises():
    report = {"verdict": "poor", "advice": quality.ADVICE["poor"], "thresholds": {"good": 0.8, "moderate": 0.6},
              "label_free_score": 0.41, "stability": 0.6, "balance": 0.68, "run_agreement": 0.3, "runs": 3,
              "cluster_stability": [0.9, None, 0.2, 0.5], "cluster_sizes": [10, 0, 5, 7]}
    text = quality.format_report(report)
    assert text.startswith("quality (no labels): poor (label-free score 0.41: 60% of clips keep their cluster")
    assert "good from 0.8, poor below 0.6" in text and "--clusters" in text
    assert "least stable clusters: 2 (20% of its clips stay), 3 (50% of its clips stay), 0 (90%" in text
    assert "independent runs agree: NMI 0.30 between 3 runs" in text


def test_the_fitted_temperature_brings_the_mean_top_probability_to_the_target():
    logits = np.random.default_rng(0).normal(scale=6.0, size=(200, 10))
    target = quality.mean_top_probability(logits, 2.5)
    assert quality.fit_temperature(logits, target) == pytest.approx(2.5, rel=1e-4)
    assert quality.mean_top_probability(logits, quality.fit_temperature(logits, 0.6)) == pytest.approx(0.6)
    assert quality.fit_temperature(logits, 1.0) == quality.TEMPERATURE_RANGE[0]
    assert quality.fit_temperature(logits, 0.1) == quality.TEMPERATURE_RANGE[1]


def test_the_temperature_softens_the_probabilities_not_the_clusters(shipped):
    model, clips = shipped
    features = pipeline.extract_features(clips.subset(range(40)), model.feature_config_object(), progress=False)
    clusters, confidence = model.predict_clusters(features)
    temperature = 3.0 * model.posterior_temperature
    warm = UVAC.from_config({**model.get_config(), "posterior_temperature": temperature})
    warm.set_weights(model.get_weights())
    warm_clusters, warm_confidence = warm.predict_clusters(features)
    np.testing.assert_array_equal(warm_clusters, clusters)
    assert (warm_confidence <= confidence + 1e-6).all() and warm_confidence.mean() < confidence.mean() - 0.05
    logits = ops.convert_to_numpy(model.prior.cluster_logits(model.latent_mean(features)))
    assert warm_confidence.mean() == pytest.approx(quality.mean_top_probability(logits, temperature), abs=1e-5)


def test_calibration_matches_the_share_of_runs_that_agree(shipped):
    model, clips = shipped
    calibrated = UVAC.from_config(model.get_config())
    calibrated.set_weights(model.get_weights())
    # Stand-ins for independent runs: the model itself (always agrees) and one whose cluster centres moved.
    moved = UVAC.from_config(model.get_config())
    moved.set_weights(model.get_weights())
    means = ops.convert_to_numpy(moved.prior.means)
    moved.prior.means.assign(means + np.random.default_rng(0).normal(scale=1.0, size=means.shape))
    record = quality.calibrate_temperature(calibrated, [model, moved], clips)
    assert 0.5 <= record["runs_agreeing"] < 1.0 and record["before"] > record["after"]
    assert record["after"] == pytest.approx(record["runs_agreeing"], abs=1e-4)
    assert calibrated.posterior_temperature == record["temperature"] > 1


def test_uvac_quality_reports_on_the_training_split(tmp_path, capsys):
    data, model = tmp_path / "data", tmp_path / "shipped.keras"
    data.mkdir()
    copy_fsdd_subset(data, every=25)
    # The shipped model and its card without its runs (they are not committed; a training leaves them beside it).
    model_file, card_file = presets.preset_files("uvac_fsdd")
    shutil.copy(model_file, model)
    shutil.copy(card_file, f"{model}.card.json")
    status, output, error = run_uvac(capsys, "quality", "--model", model, "--data", data)
    assert status == 0, error
    assert f"the quality report of {model} on its 96 training clips (its runs were not kept" in output
    assert "quality (no labels): " in output and "training clips per cluster" in output
