import keras
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from keras_uvac import layers


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def prior_with(weights, means, variances):
    prior = layers.GMMPrior(num_clusters=len(weights), latent_dim=means.shape[1], min_log_variance=-20.0)
    prior.build()
    prior.set_mixture(weights, means, variances)
    return prior


def test_kl_with_one_component_is_the_exact_gaussian_kl():
    rng = np.random.default_rng(0)
    mean, prior_mean = rng.normal(size=(5, 3)), rng.normal(size=(1, 3))
    log_var, prior_var = rng.normal(size=(5, 3)), np.exp(rng.normal(size=(1, 3)))
    prior = prior_with(np.ones(1), prior_mean, prior_var)
    variance = np.exp(log_var)
    exact = 0.5 * np.sum((mean - prior_mean) ** 2 / prior_var + np.log(prior_var / variance) - 1
                         + variance / prior_var, axis=1)
    np.testing.assert_allclose(numpy(prior.kl_divergence(mean.astype("float32"), log_var.astype("float32"))),
                               exact, rtol=1e-4)


def test_kl_matches_equation_11_and_stays_finite_far_from_every_component():
    rng = np.random.default_rng(1)
    weights, means, variances = np.array([0.2, 0.5, 0.3]), rng.normal(size=(3, 2)), np.exp(rng.normal(size=(3, 2)))
    prior = prior_with(weights, means, variances)
    mean, log_var = rng.normal(size=(4, 2)), rng.normal(size=(4, 2)) * 0.3
    inner = 0.5 * np.sum((mean[:, None] - means) ** 2 / variances + np.log(variances) - log_var[:, None] - 1
                         + np.exp(log_var[:, None]) / variances, axis=-1)
    expected = -logsumexp(np.log(weights) - inner, axis=1)
    np.testing.assert_allclose(numpy(prior.kl_divergence(mean.astype("float32"), log_var.astype("float32"))),
                               expected, rtol=1e-4)
    far = numpy(prior.kl_divergence(np.full((1, 2), 1e4, "float32"), np.zeros((1, 2), "float32")))
    assert np.all(np.isfinite(far)) and far[0] > 1e6


def test_cluster_posterior_is_equation_14():
    rng = np.random.default_rng(2)
    weights, means, variances = np.array([0.6, 0.4]), rng.normal(size=(2, 3)), np.exp(rng.normal(size=(2, 3)))
    prior = prior_with(weights, means, variances)
    z = rng.normal(size=(6, 3))
    joint = np.stack([w * multivariate_normal(m, np.diag(v)).pdf(z) for w, m, v in zip(weights, means, variances)], 1)
    np.testing.assert_allclose(numpy(prior(z.astype("float32"))), joint / joint.sum(1, keepdims=True), atol=1e-5)


def test_variance_floor_and_paper_initialisation():
    prior = layers.GMMPrior(num_clusters=4, latent_dim=2, min_log_variance=-3.0)
    prior.build()
    assert np.all(numpy(prior.log_variances()) == 0.0)  # the paper's "variances set as zero": log-variance 0
    weights = np.exp(numpy(prior.log_weights()))
    assert weights.sum() == pytest.approx(1.0) and np.ptp(weights) > 0  # pi ~ U(0, 1), renormalised
    prior.raw_log_variances.assign(np.full((4, 2), -10.0, "float32"))
    assert np.all(numpy(prior.log_variances()) == -3.0)


def test_tied_variances_are_one_diagonal_shared_by_every_component():
    prior = layers.GMMPrior(num_clusters=3, latent_dim=2, tied_variances=True)
    prior.build()
    assert tuple(prior.raw_log_variances.shape) == (1, 2)
    weights = np.array([0.5, 0.25, 0.25])
    variances = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    prior.set_mixture(weights, np.zeros((3, 2)), variances)
    np.testing.assert_allclose(numpy(prior.log_variances()), np.log([[2.5, 2.0]] * 3), rtol=1e-6)
    z = np.random.default_rng(0).normal(size=(5, 2)).astype("float32")
    untied = prior_with(weights, np.zeros((3, 2)), np.array([[2.5, 2.0]] * 3))
    np.testing.assert_allclose(numpy(prior(z)), numpy(untied(z)), atol=1e-6)


@pytest.mark.parametrize("layer", [
    layers.GMMPrior(num_clusters=3, latent_dim=2, initialization="zeros", min_log_variance=-2.0),
    layers.GMMPrior(num_clusters=3, latent_dim=2, tied_variances=True),
    layers.Encoder(latent_dim=4, channels=(4, 8), gru_units=(8, 6), unroll=True, activation_limits=(6.0, 4.0)),
    layers.Encoder(latent_dim=4, channels=(4, 8), gru_units=(), kernel_size=5, padding="same"),
    layers.Decoder(num_bins=64, num_frames=50, channels=(8, 4)),
    layers.SpectrogramAugment(frequency_warp=0.2, time_warp=0.1, time_shift=3, seed=5),
])
def test_layers_round_trip_through_config(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def test_tilt_and_masks_keep_features_in_unit_range_and_zero_a_band():
    spectrogram = np.ones((32, 128, 99), "float32")
    augmented = numpy(layers.SpectrogramAugment(frequency_warp=0.0, time_warp=0.0, time_shift=0, tilt=1.0,
                                                mask_bins=20, mask_frames=10, seed=1)(spectrogram, training=True))
    assert augmented.min() >= 0 and np.allclose(augmented.max(axis=(1, 2)), 1.0)
    assert np.all((augmented == 0).sum(axis=(1, 2)) > 0) and np.all((augmented == 0).mean(axis=(1, 2)) < 0.35)


def test_compact_encoder_options():
    spectrogram = np.random.default_rng(0).uniform(size=(2, 128, 99)).astype("float32")
    pooled = layers.Encoder(latent_dim=4, channels=(4, 8), gru_units=(), kernel_size=5, padding="same")
    z_mean, _ = pooled(spectrogram)
    assert z_mean.shape == (2, 4) and not pooled.recurrent
    # "same" padding: no padding layers, and each stride-2 block halves rows and frames, rounding up.
    assert not any(isinstance(layer, keras.layers.ZeroPadding2D) for layer in pooled.convolutions)
    assert [tuple(block.shape[1:3]) for block in pooled.convolution_activations(spectrogram)] == [(64, 50), (32, 25)]
    paper = layers.Encoder(latent_dim=4, channels=(4, 8), gru_units=(8,), kernel_size=5)
    assert [tuple(block.shape[1:3]) for block in paper.convolution_activations(spectrogram)] == [(64, 50), (32, 25)]
    with pytest.raises(ValueError, match="padding must be"):
        layers.Encoder(padding="valid")


def test_encoder_and_decoder_shapes():
    z_mean, z_log_var = layers.Encoder(latent_dim=4, channels=(4, 8), gru_units=(8,))(np.zeros((2, 128, 99), "float32"))
    assert z_mean.shape == z_log_var.shape == (2, 4)
    output = numpy(layers.Decoder(channels=(8, 4))(np.zeros((2, 10), "float32")))
    assert output.shape == (2, 128, 99) and output.min() >= 0 and output.max() <= 1


def test_augmentation_is_identity_at_inference_and_with_zero_ranges():
    spectrogram = np.random.default_rng(3).uniform(size=(2, 128, 99)).astype("float32")
    spectrogram /= spectrogram.max(axis=(1, 2), keepdims=True)
    augment = layers.SpectrogramAugment(seed=0)
    np.testing.assert_array_equal(numpy(augment(spectrogram, training=False)), spectrogram)
    still = layers.SpectrogramAugment(frequency_warp=0.0, time_warp=0.0, time_shift=0, tilt=0.0, mask_bins=0,
                                      mask_frames=0, seed=0)
    np.testing.assert_allclose(numpy(still(spectrogram, training=True)), spectrogram, atol=1e-6)


def test_augmentation_moves_content_in_time_and_frequency():
    spectrogram = np.zeros((64, 128, 99), "float32")
    spectrogram[:, 40, 50] = 1.0
    moved = numpy(layers.SpectrogramAugment(frequency_warp=0.2, time_warp=0.0, time_shift=5, tilt=0.0, mask_bins=0,
                                            mask_frames=0, seed=0)(spectrogram, training=True))
    peak_bins = moved.max(axis=2).argmax(axis=1)
    peak_frames = moved.max(axis=1).argmax(axis=1)
    assert len(set(peak_bins)) > 5 and np.all(np.abs(peak_bins - 40) <= 40 * 0.25 + 1)
    assert len(set(peak_frames)) > 3 and np.all(np.abs(peak_frames - 50) <= 6)
