import numpy as np

from keras_uvac import baselines


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, (3, 4, 5))
    labels = np.repeat([0, 1, 2], 15)
    return centres[labels] + rng.normal(0, 0.01, (45, 4, 5)), labels


def test_baselines_recover_well_separated_clusters():
    spectrograms, labels = blobs()
    rows = baselines.baseline_table(spectrograms, labels)
    assert list(rows) == ["labels as clusters", "K-means", "GMM-EM"]
    for report in rows.values():
        assert report["accuracy"] == 1.0 and report["silhouette"] > 0.5


def test_baselines_are_seeded():
    spectrograms = np.random.default_rng(1).uniform(size=(40, 6))
    assert np.array_equal(baselines.kmeans_clusters(spectrograms, 4, seed=2),
                          baselines.kmeans_clusters(spectrograms, 4, seed=2))
    assert np.array_equal(baselines.gmm_em_clusters(spectrograms, 4, seed=2),
                          baselines.gmm_em_clusters(spectrograms, 4, seed=2))
