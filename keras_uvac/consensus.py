"""Several training runs, one clustering: the most typical run, or the consensus of all.

Training seeds of the same recipe differ by several points of accuracy. Two
label-free ways to get the typical result rather than a lottery:

- `most_typical_run`: the run whose clusters agree best (mean NMI) with every
  other run's, chosen without labels;
- `consensus_clusters`: the co-association of the runs (how often two clips
  share a cluster) clustered by average linkage, as in evidence accumulation
  clustering (Fred and Jain).
"""

import numpy as np
from sklearn import cluster as sk_cluster
from sklearn import metrics as sk_metrics


def run_assignments(models, features):
    """The cluster of every clip under every model, `(runs, clips)`.

    Example:
    >>> assignments = run_assignments([UVAC.from_preset(p) for p in paths], features)  # doctest: +SKIP
    """
    return np.stack([model.predict_clusters(features)[0] for model in models])


def most_typical_run(assignments):
    """Index of the run whose clusters agree best with the others' (mean NMI), and every run's mean NMI.

    Example:
    >>> most_typical_run(np.array([[0, 0, 1, 1], [1, 1, 0, 0], [0, 1, 0, 1]]))[0]
    0
    """
    runs = len(assignments)
    agreement = np.array([np.mean([sk_metrics.normalized_mutual_info_score(assignments[i], assignments[j])
                                   for j in range(runs) if j != i]) for i in range(runs)])
    return int(np.argmax(agreement)), agreement


def consensus_clusters(assignments, num_clusters):
    """Clusters from the co-association of several runs (average linkage on 1 - co-association).

    Args:
        assignments: `(runs, clips)` int array.
        num_clusters: clusters wanted.

    Returns:
        An int array `(clips,)`.

    Example:
    >>> labels = consensus_clusters(np.array([[0, 0, 1, 1], [1, 1, 0, 0], [0, 0, 0, 1]]), 2)
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True
    """
    assignments = np.asarray(assignments)
    co_association = np.mean(assignments[:, :, None] == assignments[:, None, :], axis=0)
    linkage = sk_cluster.AgglomerativeClustering(num_clusters, metric="precomputed", linkage="average")
    return linkage.fit_predict(1.0 - co_association)
