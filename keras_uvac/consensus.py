"""Several training runs, one clustering: the most typical run, the consensus of all, and one model to carry it.

Training seeds of the same recipe differ by several points of accuracy. Label-free ways to get the typical
result rather than a lottery:

- `most_typical_run`: the run whose clusters agree best (mean NMI) with every
  other run's, chosen without labels;
- `consensus_clusters`: the clusters the runs agree on (K-means on their
  one-hot clusters, or evidence accumulation by average linkage, Fred and Jain);
- `adopt_clusters`: one model's prior refitted to such clusters, so that a
  single exportable model reads the consensus (`training.Recipe.runs`);
  `agreeing_clips` marks the clips on which every run agrees with it, the
  targets of the model's self-labelling (`training.Recipe.consensus_epochs`);
  `combine_runs` does all of it as training does.

Runs and their consensus alike can end with two words in one cluster and one word over two:
`balance_prior` refits the final model's prior to clusters of equal size
(`training.Recipe.balanced_clusters`).
"""

import keras
import numpy as np
from sklearn import cluster as sk_cluster
from sklearn import metrics as sk_metrics

from keras_uvac import metrics


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


def consensus_clusters(assignments, num_clusters, method="average", seed=0):
    """Clusters that several runs agree on.

    Two clips are as far apart as the share of runs that put them in different clusters. `"average"`
    clusters those distances by average linkage (evidence accumulation, Fred and Jain); with a few runs the
    distances take a few values, and average linkage then breaks many ties arbitrarily and can leave a few
    outlying clips a cluster of their own. `"kmeans"` runs K-means on the runs' concatenated one-hot
    clusters, whose squared distances are twice the number of runs that disagree: stable, and linear in the
    number of clips (average linkage is quadratic). `training.Recipe.runs` uses `"kmeans"`
    (docs/design.md, "Consensus of runs").

    Args:
        assignments: `(runs, clips)` int array.
        num_clusters: clusters wanted.
        method: `"average"` or `"kmeans"`.
        seed: seed of K-means.

    Returns:
        An int array `(clips,)`.

    Example:
    >>> labels = consensus_clusters(np.array([[0, 0, 1, 1], [1, 1, 0, 0], [0, 0, 0, 1]]), 2)
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True
    """
    assignments = np.asarray(assignments)
    if method == "kmeans":
        one_hot = np.concatenate([np.eye(run.max() + 1, dtype="float32")[run] for run in assignments], axis=1)
        return sk_cluster.KMeans(num_clusters, n_init=20, random_state=seed).fit_predict(one_hot)
    if method != "average":
        raise ValueError(f"method must be 'average' or 'kmeans', got {method!r}")
    co_association = np.mean(assignments[:, :, None] == assignments[:, None, :], axis=0)
    linkage = sk_cluster.AgglomerativeClustering(num_clusters, metric="precomputed", linkage="average")
    return linkage.fit_predict(1.0 - co_association)


def runs_agreeing(assignments, clusters):
    """The share of runs that put each clip in its cluster, each run's clusters matched (Hungarian) to `clusters`.

    Args:
        assignments: `(runs, clips)` int array.
        clusters: `(clips,)` int array, e.g. `consensus_clusters(assignments, ...)`.

    Returns:
        A float array `(clips,)` in [0, 1].

    Example:
    >>> runs_agreeing(np.array([[0, 0, 1, 1], [1, 1, 0, 1]]), np.array([0, 0, 1, 1])).tolist()
    [1.0, 1.0, 1.0, 0.5]
    """
    agree = np.zeros(len(clusters))
    for run in np.asarray(assignments):
        matched, consensus_index = metrics.matched_label_index(clusters, run)
        agree += matched == consensus_index
    return agree / len(assignments)


def agreeing_clips(assignments, clusters):
    """Which clips every run puts in its cluster matched (Hungarian) to the clip's consensus cluster.

    Example:
    >>> agreeing_clips(np.array([[0, 0, 1, 1], [1, 1, 0, 1]]), np.array([0, 0, 1, 1])).tolist()
    [True, True, True, False]
    """
    return runs_agreeing(assignments, clusters) == 1.0


def combine_runs(assignments, num_clusters, seed=0):
    """The runs' consensus as `training.Recipe.runs` uses it: clusters, carrier and self-labelling targets.

    Args:
        assignments: `(runs, clips)` int array, e.g. `run_assignments(models, features)`.
        num_clusters: clusters of the consensus.
        seed: seed of the K-means consensus.

    Returns:
        `(clusters, targets, typical, agreement)`: the K-means consensus `(clips,)`; each clip's consensus
        cluster where every run agrees with it and -1 elsewhere; the index of the most typical run (the
        carrier) and every run's mean NMI with the others.

    Example:
    >>> clusters, targets, typical, _ = combine_runs(np.array([[0, 0, 1, 1], [1, 1, 0, 1]]), 2)
    >>> (targets >= 0).tolist()  # the last clip's runs disagree
    [True, True, True, False]
    """
    clusters = consensus_clusters(assignments, num_clusters, "kmeans", seed)
    typical, agreement = most_typical_run(assignments)
    targets = np.where(agreeing_clips(assignments, clusters), clusters, -1)
    return clusters, targets, typical, agreement


def adopt_clusters(model, features, clusters):
    """Refits `model`'s GMM prior so that its posterior reads the given clusters of `features`.

    One M-step on the model's latent means with `clusters` as hard responsibilities: each
    cluster's share of the clips, mean code and code variance (floored as in training). Used to
    carry the consensus of several runs in one exportable model.

    Args:
        model: a trained `UVAC`; its prior is changed in place.
        features: features (dict, array or dataset) of the clips that `clusters` label.
        clusters: int array `(clips,)` in `[0, model.num_clusters)`; a cluster
            that holds no clip keeps its component, with weight 0.

    Returns:
        The model.

    Example:
    >>> adopt_clusters(models[0], train_features, consensus_clusters(assignments, 10))  # doctest: +SKIP
    """
    _fit_prior(model, model.latent_mean(features), np.asarray(clusters))
    return model


def _fit_prior(model, codes, clusters):
    """One M-step of the prior on `codes` with hard `clusters`."""
    floor = np.exp(model.min_log_variance)
    # A cluster that no clip holds (the runs agreed on fewer) keeps its component, with no weight.
    means = keras.ops.convert_to_numpy(model.prior.means).copy()
    variances = np.broadcast_to(np.exp(keras.ops.convert_to_numpy(model.prior.log_variances())), means.shape).copy()
    weights = np.bincount(clusters, minlength=model.num_clusters) / len(clusters)
    for cluster in np.flatnonzero(weights):
        members = codes[clusters == cluster]
        means[cluster] = members.mean(axis=0)
        variances[cluster] = np.maximum(members.var(axis=0), floor)
    model.prior.set_mixture(weights, means, variances)


def equal_size_clusters(log_posterior, iterations=50):
    """Clusters of about equal size that follow a posterior as closely as that allows.

    Sinkhorn-Knopp scaling of the posterior to uniform cluster marginals (the optimal transport of
    self-labelling, Asano et al. 2020), then each clip's most probable cluster under the scaled plan; clips
    with the same posterior go to the same cluster, so the sizes are equal only as far as the posteriors differ.

    Args:
        log_posterior: `(clips, clusters)` log probabilities or logits.
        iterations: Sinkhorn-Knopp iterations.

    Returns:
        An int array `(clips,)`.

    Example:
    >>> equal_size_clusters(np.log([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])).tolist()
    [0, 0, 1, 1]
    """
    log_plan = np.asarray(log_posterior, "float64")
    clips, clusters = log_plan.shape
    for _ in range(iterations):
        log_plan = log_plan - np.logaddexp.reduce(log_plan, axis=0, keepdims=True) - np.log(clusters)
        log_plan = log_plan - np.logaddexp.reduce(log_plan, axis=1, keepdims=True) - np.log(clips)
    return log_plan.argmax(axis=1)


def balance_prior(model, features, max_steps=100):
    """Refits `model`'s prior by hard EM on its codes of `features`, each step's clusters made equal in size.

    A model can end with two words in one cluster and one word over two; when the classes are about equal in
    number (spoken digits), the equal-size clusters of the codes split the one and join the other
    (docs/design.md, "A prior of equal cluster sizes"). Only the prior changes: each clip's cluster still depends
    on that clip alone. Stops at the fixed point, when a step changes no clip's cluster (trained models reached
    it within 28 steps; stopping at 10 cost 0.3 validation points).

    Args:
        model: a trained `UVAC`; its prior is changed in place.
        features: features (dict, array or dataset) of the training clips.
        max_steps: EM steps at most.

    Returns:
        What changed: `{"steps", "cluster_sizes_before", "cluster_sizes"}` (sizes under the model's posterior).

    Example:
    >>> record = balance_prior(model, train_features)  # doctest: +SKIP
    """
    codes = model.latent_mean(features)

    def posterior_logits():
        return keras.ops.convert_to_numpy(model.prior.cluster_logits(codes))

    logits = posterior_logits()
    sizes_before = np.bincount(logits.argmax(axis=1), minlength=model.num_clusters)
    clusters, steps = None, 0
    while steps < max_steps:
        balanced = equal_size_clusters(logits)
        if np.array_equal(balanced, clusters):
            break
        clusters, steps = balanced, steps + 1
        _fit_prior(model, codes, clusters)
        logits = posterior_logits()
    sizes = np.bincount(logits.argmax(axis=1), minlength=model.num_clusters)
    return {"steps": steps, "cluster_sizes_before": sizes_before.tolist(), "cluster_sizes": sizes.tolist()}

