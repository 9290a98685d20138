"""Classical baselines of the paper's Table I, on the same STFT features.

K-means and a GMM fitted by EM cluster the flattened spectrograms of a split;
"labels as clusters" scores the true labels as if they were a clustering, which
shows how well the classes themselves form clusters in feature space.
"""

import numpy as np
from sklearn import cluster as sk_cluster
from sklearn import mixture as sk_mixture

from keras_uvac import metrics


def kmeans_clusters(spectrograms, num_clusters, seed=0):
    """K-means (k-means++ initialisation, 10 restarts) on flattened features.

    Args:
        spectrograms: `(N, ...)` array.
        num_clusters: number of clusters.
        seed: random seed.

    Returns:
        int array of N cluster indices.

    Example:
    >>> kmeans_clusters(np.array([[0.0], [0.1], [5.0], [5.1]]), 2).tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    """
    flat = np.asarray(spectrograms, dtype=np.float64).reshape(len(spectrograms), -1)
    return sk_cluster.KMeans(num_clusters, n_init=10, random_state=seed).fit_predict(flat)


def gmm_em_clusters(spectrograms, num_clusters, seed=0):
    """A diagonal-covariance Gaussian mixture fitted by EM on flattened features.

    A full covariance is out of reach at 12,672 dimensions and a few hundred
    clips, so each component has a diagonal covariance, initialised by k-means.

    Args:
        spectrograms: `(N, ...)` array.
        num_clusters: number of components.
        seed: random seed.

    Returns:
        int array of N cluster indices (the most probable component).

    Example:
    >>> gmm_em_clusters(np.array([[0.0], [0.1], [5.0], [5.1]]), 2).tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    """
    flat = np.asarray(spectrograms, dtype=np.float64).reshape(len(spectrograms), -1)
    mixture = sk_mixture.GaussianMixture(num_clusters, covariance_type="diag", reg_covar=1e-4, n_init=3,
                                         random_state=seed)
    return mixture.fit_predict(flat)


def baseline_table(spectrograms, labels, num_clusters=None, seed=0):
    """Table I rows for the baselines: labels as clusters, K-means and GMM-EM.

    Args:
        spectrograms: `(N, bins, frames)` features of the evaluated split.
        labels: their true classes.
        num_clusters: clusters to find (default: number of distinct labels).
        seed: random seed of K-means and EM.

    Returns:
        A dict from method name to `metrics.clustering_report`, all computed
        on the flattened spectrograms.

    Example:
    >>> rows = baseline_table(test_arrays["spectrogram"], test.labels)  # doctest: +SKIP
    >>> print(metrics.format_table(rows))  # doctest: +SKIP
    """
    labels = np.asarray(labels)
    num_clusters = num_clusters or len(np.unique(labels))
    return {
        "labels as clusters": metrics.clustering_report(labels, labels, spectrograms),
        "K-means": metrics.clustering_report(kmeans_clusters(spectrograms, num_clusters, seed), labels,
                                             spectrograms),
        "GMM-EM": metrics.clustering_report(gmm_em_clusters(spectrograms, num_clusters, seed), labels,
                                            spectrograms),
    }
