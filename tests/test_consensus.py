import keras
import numpy as np
from sklearn import cluster as sk_cluster
from sklearn import metrics as sk_metrics

from keras_uvac import consensus, metrics
from keras_uvac.model import UVAC


def noisy_copies(truth, noise_levels, seed=0):
    rng = np.random.default_rng(seed)
    runs = []
    for level in noise_levels:
        permuted = rng.permutation(truth.max() + 1)[truth]  # cluster names differ between runs
        flipped = rng.random(len(truth)) < level
        runs.append(np.where(flipped, rng.integers(0, truth.max() + 1, len(truth)), permuted))
    return np.stack(runs)


def test_the_most_typical_run_is_the_least_noisy_one():
    truth = np.repeat(np.arange(5), 40)
    typical, agreement = consensus.most_typical_run(noisy_copies(truth, [0.5, 0.05, 0.4]))
    assert typical == 1 and agreement.shape == (3,)


def test_the_consensus_beats_every_run_it_combines():
    truth = np.repeat(np.arange(5), 40)
    runs = noisy_copies(truth, [0.3, 0.3, 0.3, 0.3, 0.3])
    combined = consensus.consensus_clusters(runs, 5)
    accuracies = [metrics.unsupervised_accuracy(truth, run) for run in runs]
    assert metrics.unsupervised_accuracy(truth, combined) > max(accuracies)


def test_combine_runs_targets_only_the_clips_every_run_agrees_on():
    truth = np.repeat(np.arange(5), 40)
    runs = noisy_copies(truth, [0.3, 0.05, 0.3])
    clusters, targets, typical, agreement = consensus.combine_runs(runs, 5, seed=0)
    np.testing.assert_array_equal(clusters, consensus.consensus_clusters(runs, 5, "kmeans", 0))
    assert typical == 1 and agreement.shape == (3,)
    agree = consensus.agreeing_clips(runs, clusters)
    np.testing.assert_array_equal(targets[agree], clusters[agree])
    assert np.all(targets[~agree] == -1) and 0 < agree.sum() < len(truth)


def test_a_model_adopts_given_clusters_of_its_codes():
    # Seeded: with some random initialisations the Gaussian boundaries cut a k-means cluster's edge (ARI 0.79).
    keras.utils.set_random_seed(1)
    model = UVAC(num_clusters=3, latent_dim=4, encoder_channels=(4, 8), gru_units=(8,), decoder_channels=(8, 4),
                 tied_prior_variances=True)
    config = model.feature_config_object()
    rng = np.random.default_rng(0)
    features = {"spectrogram": rng.random((60, config.num_bins, config.num_frames)).astype("float32"),
                "activity_mask": np.ones((60, config.num_frames), "float32")}
    clusters = sk_cluster.KMeans(3, n_init=5, random_state=0).fit_predict(model.latent_mean(features))
    before = model.predict_clusters(features)[0]
    consensus.adopt_clusters(model, features, clusters)
    after = model.predict_clusters(features)[0]
    assert sk_metrics.adjusted_rand_score(clusters, after) > 0.8 > sk_metrics.adjusted_rand_score(clusters, before)
    np.testing.assert_allclose(np.exp(model.prior.log_weights()), np.bincount(clusters) / 60, rtol=1e-5)
    # Runs that agree on fewer clusters leave the rest without weight, so no clip goes there.
    consensus.adopt_clusters(model, features, np.minimum(clusters, 1))
    assert set(model.predict_clusters(features)[0]) <= {0, 1}


def test_equal_size_clusters_follow_the_posterior_and_undo_a_skewed_prior():
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 25)
    log_posterior = np.log(np.eye(4)[truth] * 0.9 + 0.025) + rng.normal(0, 0.1, (100, 4))
    np.testing.assert_array_equal(consensus.equal_size_clusters(log_posterior), truth)
    # A prior that overweights cluster 0 puts every clip there; equal sizes undo the weight.
    skewed = log_posterior.copy()
    skewed[:, 0] += 5.0
    assert np.all(skewed.argmax(axis=1) == 0)
    np.testing.assert_array_equal(consensus.equal_size_clusters(skewed), truth)


def test_a_balanced_prior_splits_a_cluster_of_two_groups_and_joins_a_group_over_two():
    keras.utils.set_random_seed(0)
    model = UVAC(num_clusters=3, latent_dim=2, encoder_channels=(4,), gru_units=(4,), decoder_channels=(4,),
                 tied_prior_variances=True)
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(3), 20)
    codes = np.array([[-4.0, 0.0], [0.0, 0.0], [4.0, 0.0]])[groups] + rng.normal(0, 0.3, (60, 2))
    model.latent_mean = lambda features: codes  # the codes of three equal groups, as an encoder would give them
    # One component over the first two groups, two over the third.
    model.prior.set_mixture([1 / 3] * 3, [[-2.0, 0.0], [3.5, 0.0], [4.5, 0.0]], [[1.0, 1.0]] * 3)
    record = consensus.balance_prior(model, None)
    assert record["cluster_sizes_before"][0] == 40
    assert record["cluster_sizes"] == [20, 20, 20] and 1 <= record["steps"] < 100, "it stops at its fixed point"
    clusters = np.argmax(keras.ops.convert_to_numpy(model.prior.cluster_logits(codes)), axis=1)
    assert sk_metrics.adjusted_rand_score(groups, clusters) == 1.0
