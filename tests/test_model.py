import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_uvac import datasets, pipeline
from keras_uvac.features import FeatureConfig
from keras_uvac.model import UVAC, speaker_dependence

TINY = {"encoder_channels": (4, 8), "gru_units": (8,), "decoder_channels": (8, 4), "num_clusters": 3,
        "latent_dim": 4}


@pytest.fixture(scope="module")
def small_features():
    collection = datasets.load_audio().subset(range(0, 3000, 50))
    return collection, pipeline.extract_features(collection, progress=False)


def test_default_configuration_has_the_papers_parameter_counts():
    model = UVAC()
    assert 1.85e6 < model.count_params() < 2.05e6  # paper: about 2M
    inference = model.encoder.count_params() + model.prior.count_params()
    assert 1.2e6 < inference < 1.3e6  # paper: about 1.3M


def test_fit_takes_the_pipeline_dataset_labeled_or_not_and_loss_decreases(small_features):
    collection, _ = small_features
    keras.utils.set_random_seed(0)
    model = UVAC(**TINY, consistency_weight=1.0, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    labeled = pipeline.feature_dataset(collection, batch_size=20, cache=True)
    history = model.fit(labeled, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert set(history.history) == {"loss", "reconstruction", "kl", "consistency", "speaker"}
    assert losses[-1] < 0.7 * losses[0]
    unlabeled = pipeline.feature_dataset(collection, batch_size=20, with_labels=False)
    assert np.isfinite(model.fit(unlabeled, epochs=1, verbose=0).history["loss"][0])
    assert set(model.evaluate(labeled, verbose=0, return_dict=True)) >= {"loss", "kl"}


def test_speaker_dependence_is_the_share_of_variance_between_speaker_means():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(60, 3)).astype("float32")
    speakers = np.repeat(np.arange(3), 20)
    expected_means = np.stack([codes[speakers == s].mean(0) for s in speakers])
    expected = np.sum((expected_means - codes.mean(0)) ** 2) / np.sum((codes - codes.mean(0)) ** 2)
    assert float(speaker_dependence(codes, speakers)) == pytest.approx(expected, rel=1e-4)
    shifted = codes + 5.0 * speakers[:, None]  # speaker-specific offsets dominate
    assert float(speaker_dependence(shifted, speakers)) > 0.9
    centred = shifted - np.stack([shifted[speakers == s].mean(0) for s in speakers])
    assert float(speaker_dependence(centred, speakers)) < 1e-6


def test_cross_speaker_term_draws_codes_to_their_nearest_other_speaker_clip():
    still = {"frequency_warp": 0.0, "time_warp": 0.0, "time_shift": 0, "tilt": 0.0, "mask_bins": 0, "mask_frames": 0}
    keras.utils.set_random_seed(0)
    model = UVAC(**TINY, consistency_weight=1.0, cross_speaker_weight=1.0, augmentation=still, seed=0)
    rng = np.random.default_rng(0)
    inputs = {"spectrogram": rng.uniform(size=(6, 128, 99)).astype("float32"),
              "activity_mask": np.ones((6, 99), "float32"), "speaker": np.array([0, 0, 0, 1, 1, 1])}
    codes = model.latent_mean(inputs)
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    similarity = unit @ unit.T / 0.2
    log_probabilities = similarity - np.log(np.exp(similarity).sum(1, keepdims=True))
    other = inputs["speaker"][:, None] != inputs["speaker"][None, :]
    nearest = np.where(other, similarity, -np.inf).argmax(1)
    contrastive = -0.5 * (np.diag(log_probabilities).mean()
                          + np.diag(similarity - np.log(np.exp(similarity).sum(0, keepdims=True))).mean())
    expected = contrastive - log_probabilities[np.arange(6), nearest].mean()
    terms = model.loss_terms(inputs, training=False)
    assert float(terms["consistency"]) == pytest.approx(expected, rel=1e-3)
    without_speakers = model.loss_terms({k: v for k, v in inputs.items() if k != "speaker"}, training=False)
    assert float(without_speakers["consistency"]) == pytest.approx(contrastive, rel=1e-3)
    one_speaker = model.loss_terms({**inputs, "speaker": np.zeros(6, "int32")}, training=False)
    assert float(one_speaker["consistency"]) == pytest.approx(contrastive, rel=1e-3)


def test_targets_add_the_cross_entropy_of_both_views_posteriors_to_the_cluster_term():
    still = {"frequency_warp": 0.0, "time_warp": 0.0, "time_shift": 0, "tilt": 0.0, "mask_bins": 0, "mask_frames": 0}
    model = UVAC(**TINY, consistency_weight=1.0, augmentation=still, seed=0)
    model.cluster_weight.assign(1.0)
    rng = np.random.default_rng(0)
    inputs = {"spectrogram": rng.uniform(size=(6, 128, 99)).astype("float32"),
              "activity_mask": np.ones((6, 99), "float32")}
    posterior = keras.ops.convert_to_numpy(model(inputs))  # with still views, both views' posteriors are this
    targets = np.array([0, 1, 2, -1, -1, 2])
    labeled = targets >= 0
    expected = -np.log(posterior[np.flatnonzero(labeled), targets[labeled]] + 1e-8).mean()
    plain = float(model.loss_terms(inputs, training=False)["consistency"])
    with_targets = float(model.loss_terms({**inputs, "target": targets}, training=False)["consistency"])
    assert with_targets - plain == pytest.approx(expected, rel=1e-3)
    none_labeled = model.loss_terms({**inputs, "target": np.full(6, -1)}, training=False)["consistency"]
    assert float(none_labeled) == pytest.approx(plain, rel=1e-5)


def test_reconstructing_from_a_view_saves_an_encoder_pass_and_with_still_views_changes_no_term():
    still = {"frequency_warp": 0.0, "time_warp": 0.0, "time_shift": 0, "tilt": 0.0, "mask_bins": 0, "mask_frames": 0}
    rng = np.random.default_rng(0)
    inputs = {"spectrogram": rng.uniform(size=(6, 128, 99)).astype("float32"),
              "activity_mask": np.ones((6, 99), "float32"), "speaker": np.array([0, 0, 0, 1, 1, 1])}
    terms, passes, weights = {}, {}, None
    for from_view in (False, True):
        model = UVAC(**TINY, consistency_weight=1.0, speaker_weight=1.0, reconstruct_from_view=from_view,
                     augmentation=still, seed=0)
        weights = weights or model.get_weights()
        model.set_weights(weights)
        model.sampling.assign(0.0)
        encode, passes[from_view] = model._encode_float32, []
        model._encode_float32 = lambda *args, encode=encode, seen=passes[from_view]: seen.append(1) or encode(*args)
        terms[from_view] = {name: float(value) for name, value in model.loss_terms(inputs, training=True).items()}
    assert len(passes[False]) == 3 and len(passes[True]) == 2
    assert terms[True] == pytest.approx(terms[False], rel=1e-3)  # the still views interpolate: float32 round-off
    assert UVAC.from_config(model.get_config()).reconstruct_from_view is True


def test_speaker_term_is_trained_when_batches_carry_speakers(small_features):
    collection, _ = small_features
    keras.utils.set_random_seed(0)
    model = UVAC(**TINY, speaker_weight=10.0, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    with_speakers = pipeline.feature_dataset(collection, batch_size=30, cache=True, with_speakers=True)
    history = model.fit(with_speakers, epochs=4, verbose=0).history["speaker"]
    assert history[0] > 0 and history[-1] < history[0]
    without = pipeline.feature_dataset(collection, batch_size=30, with_labels=False)
    assert model.evaluate(without, verbose=0, return_dict=True)["speaker"] == 0.0


def test_predict_gives_cluster_probabilities_and_methods_give_z_and_clusters(small_features):
    collection, arrays = small_features
    model = UVAC(**TINY, seed=0)
    probabilities = model.predict(pipeline.feature_dataset(collection, batch_size=16), verbose=0)
    assert probabilities.shape == (len(collection), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    clusters, confidence = model.predict_clusters(arrays)
    np.testing.assert_array_equal(clusters, probabilities.argmax(axis=1))
    np.testing.assert_allclose(confidence, probabilities.max(axis=1), rtol=1e-5)
    assert model.latent_mean(arrays).shape == (len(collection), 4)


def test_keras_file_round_trips_exactly_with_safe_mode(tmp_path, small_features):
    collection, arrays = small_features
    model = UVAC(**TINY, consistency_weight=0.5, augmentation={"time_shift": 4}, seed=3,
                 feature_config={"sample_rate": 48000})
    model.compile(optimizer="adam")
    model.fit(pipeline.feature_dataset(collection, batch_size=30), epochs=1, verbose=0)
    model.kl_weight.assign(0.25)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.latent_mean(arrays), model.latent_mean(arrays))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(arrays)), keras.ops.convert_to_numpy(model(arrays)))
    assert float(loaded.kl_weight.numpy()) == 0.25
    assert loaded.feature_config_object().sample_rate == 48000


def test_unknown_reconstruction_loss_is_refused():
    with pytest.raises(ValueError, match="reconstruction_loss"):
        UVAC(reconstruction_loss="l1")


BACKEND_SCRIPT = textwrap.dedent("""
    import keras, numpy as np
    from keras_uvac import datasets, pipeline
    from keras_uvac.model import UVAC, speaker_dependence
    assert keras.backend.backend() == "{backend}"
    keras.utils.set_random_seed(0)
    collection = datasets.load_audio().subset(range(0, 3000, 50))
    data = pipeline.feature_dataset(collection, batch_size=20, cache=True, with_speakers=True)
    model = UVAC(encoder_channels=(4, 8), gru_units=(8,), decoder_channels=(8, 4), num_clusters=3, latent_dim=4,
                 consistency_weight=1.0, speaker_weight=1.0, cross_speaker_weight=1.0, tied_prior_variances=True,
                 seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    losses = model.fit(data, epochs=6, verbose=0).history["loss"]
    print("LOSSES", losses)
    assert all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses
    model.kl_weight.assign(0.5)
    assert np.isfinite(model.evaluate(data, verbose=0, return_dict=True)["loss"])
    assert model.predict(data, verbose=0).shape == (len(collection), 3)
    codes, speakers = np.array([[0.0, 1.0], [2.0, 1.0]], "float32"), np.array([0, 1])
    assert abs(float(keras.ops.convert_to_numpy(speaker_dependence(codes, speakers))) - 1.0) < 1e-5
""")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_training_runs_on_other_backends(backend):
    pytest.importorskip(backend)
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", BACKEND_SCRIPT.format(backend=backend)], env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "LOSSES" in result.stdout


def test_mixed_precision_trains_with_float32_weights_prior_and_loss(small_features):
    from keras_uvac import training

    collection, arrays = small_features
    training.set_precision("mixed")
    try:
        model = UVAC(**TINY, consistency_weight=1.0, seed=0)
        model.compile(optimizer="adam")
        losses = model.fit(pipeline.feature_dataset(collection, batch_size=20), epochs=2, verbose=0).history["loss"]
        assert model.encoder.compute_dtype == "bfloat16" and model.prior.compute_dtype == "float32"
        assert all(variable.dtype == "float32" for variable in model.trainable_variables)
        assert np.all(np.isfinite(losses))
        assert model.latent_mean(arrays).dtype == np.float32
    finally:
        training.set_precision("float32")


@pytest.mark.parametrize("config", [FeatureConfig(duration=2.0), FeatureConfig(sample_rate=48000)],
                         ids=["two_seconds", "48_kHz"])
def test_the_feature_config_sets_the_input_shape_and_the_model_trains_on_waveforms(tmp_path, config):
    collection = datasets.load_audio().subset(range(0, 3000, 150))
    model = UVAC(encoder_channels=(4, 8), gru_units=(8,), decoder_channels=(8, 4), num_clusters=4,
                 feature_config=config, seed=0)
    assert (model.num_bins, model.num_frames) == (config.num_bins, config.num_frames)
    model.compile(optimizer="adam")
    # The model computes the features from the waveforms itself, in its training step.
    waveforms = pipeline.feature_dataset(collection, config, batch_size=10, on_device=True)
    history = model.fit(waveforms, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    from_waveforms, _ = model.predict_clusters(waveforms)
    from_features, _ = model.predict_clusters(pipeline.extract_features(collection, config, progress=False))
    np.testing.assert_array_equal(from_waveforms, from_features)
    model.save(tmp_path / "model.keras")
    assert keras.models.load_model(tmp_path / "model.keras").num_frames == config.num_frames


def test_an_input_shape_that_contradicts_the_feature_config_is_refused():
    with pytest.raises(ValueError, match="num_frames=99, but the feature config gives 199"):
        UVAC(num_frames=99, feature_config=FeatureConfig(duration=2.0))
