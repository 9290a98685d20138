import numpy as np

from keras_uvac import consensus, metrics


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
