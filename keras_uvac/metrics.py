"""Clustering metrics: unsupervised accuracy, NMI, silhouette and Davies-Bouldin.

The four numbers of the paper's Table I, computed with SciPy (Hungarian
matching) and scikit-learn, for any number of clusters and labels.
"""

import keras
import numpy as np
import scipy.optimize
from sklearn import metrics as sk_metrics

METRIC_NAMES = ("accuracy", "nmi", "silhouette", "dbi")


def unsupervised_accuracy(labels, clusters):
    """Accuracy after the best one-to-one matching of clusters to labels.

    Clusters and labels may differ in number; an unmatched cluster counts as
    wrong for all its clips.

    Args:
        labels: int array of true classes.
        clusters: int array of cluster indices, same length.

    Returns:
        A float in [0, 1].

    Example:
    >>> unsupervised_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    if labels.shape != clusters.shape or labels.size == 0:
        raise ValueError(f"labels and clusters must be non-empty and of one length, got {labels.shape} "
                         f"and {clusters.shape}")
    matched, label_index = matched_label_index(labels, clusters)
    return float(np.mean(matched == label_index))


def _contingency(labels, clusters):
    """Clips per (cluster, label) pair, with each clip's cluster and label as indices into the table."""
    _, label_index = np.unique(np.asarray(labels), return_inverse=True)
    _, cluster_index = np.unique(np.asarray(clusters), return_inverse=True)
    contingency = np.zeros((cluster_index.max() + 1, label_index.max() + 1), dtype=np.int64)
    np.add.at(contingency, (cluster_index, label_index), 1)
    return contingency, cluster_index, label_index


def matched_label_index(labels, clusters):
    """Per clip, the label (as an index into `np.unique(labels)`) matched to its cluster one-to-one (Hungarian).

    Returns:
        `(matched, label_index)`: int arrays `(clips,)`; `matched` is -1 for a clip whose cluster no label is
        matched to, `label_index` is each clip's own label as the same kind of index.

    Example:
    >>> matched_label_index([5, 5, 7], [0, 1, 2])[0].tolist()  # three clusters, two labels
    [0, -1, 1]
    """
    contingency, cluster_index, label_index = _contingency(labels, clusters)
    rows, columns = scipy.optimize.linear_sum_assignment(contingency, maximize=True)
    label_of_cluster = np.full(cluster_index.max() + 1, -1)
    label_of_cluster[rows] = columns
    return label_of_cluster[cluster_index], label_index


def cluster_purity(labels, clusters):
    """Share of clips whose cluster's most common label is their own.

    With more clusters than labels, accuracy's one-to-one matching counts the extra clusters as wrong; purity
    lets several clusters share a label, so it says whether clusters split classes (high purity) or mix them.

    Example:
    >>> cluster_purity([0, 0, 1, 1], [0, 1, 2, 2])  # three clusters, each of one label
    1.0
    >>> cluster_purity([0, 1, 0, 1], [0, 0, 0, 0])
    0.5
    """
    contingency, _, label_index = _contingency(labels, clusters)
    return float(contingency.max(axis=1).sum() / len(label_index))


def clustering_report(clusters, labels=None, embeddings=None):
    """The paper's four clustering metrics in one dict.

    Args:
        clusters: int array, the cluster of each clip.
        labels: true classes, or None (accuracy and NMI need them).
        embeddings: `(N, ...)` array the clusters live in (flattened), or None
            (silhouette and DBI need it).

    Returns:
        A dict with `accuracy`, `nmi`, `silhouette`, `dbi` (None where it
        cannot be computed: no labels, no embeddings, or fewer than two
        clusters in use), `purity` (`cluster_purity`, None without labels)
        and `clusters_used`.

    Example:
    >>> report = clustering_report([0, 0, 1, 1], labels=[0, 0, 1, 1],
    ...                            embeddings=[[0.0], [0.1], [1.0], [1.1]])
    >>> report["accuracy"], report["nmi"]
    (1.0, 1.0)
    """
    clusters = np.asarray(clusters)
    report = dict.fromkeys(METRIC_NAMES)
    report["clusters_used"] = int(len(np.unique(clusters)))
    report["purity"] = None
    if labels is not None:
        report["purity"] = cluster_purity(labels, clusters)
        report["accuracy"] = unsupervised_accuracy(labels, clusters)
        report["nmi"] = float(sk_metrics.normalized_mutual_info_score(labels, clusters))
    if embeddings is not None and 2 <= report["clusters_used"] < len(clusters):
        flat = np.asarray(embeddings, dtype=np.float64).reshape(len(clusters), -1)
        report["silhouette"] = float(sk_metrics.silhouette_score(flat, clusters))
        report["dbi"] = float(sk_metrics.davies_bouldin_score(flat, clusters))
    return report


TABLE_LEGEND = ("accuracy: clusters matched one-to-one to labels (Hungarian), higher is better; NMI: 0 to 1, "
                "higher is better; silhouette: -1 to 1, higher is better; DBI (Davies-Bouldin): lower is better")


def format_table(rows):
    """Formats `{method: report}` as a Markdown table like the paper's Table I.

    Args:
        rows: dict from method name to a `clustering_report` dict.

    Returns:
        The table as a string.

    Example:
    >>> print(format_table({"K-means": {"accuracy": 0.5, "nmi": 0.4, "silhouette": 0.1, "dbi": 2.0}}))
    | method | accuracy (%) | NMI | silhouette | DBI |
    | --- | --- | --- | --- | --- |
    | K-means | 50.00 | 0.40 | 0.10 | 2.00 |
    """

    def cell(value, scale=1.0):
        return "n/a" if value is None else f"{value * scale:.2f}"

    lines = ["| method | accuracy (%) | NMI | silhouette | DBI |", "| --- | --- | --- | --- | --- |"]
    for method, report in rows.items():
        lines.append(f"| {method} | {cell(report['accuracy'], 100)} | {cell(report['nmi'])} | "
                     f"{cell(report['silhouette'])} | {cell(report['dbi'])} |")
    return "\n".join(lines)


def cluster_balance(clusters, num_clusters):
    """How evenly `num_clusters` clusters are used: the entropy of their sizes over log K (1: equal; 0: one).

    Example:
    >>> cluster_balance([0, 1, 0, 1], 2)
    1.0
    """
    if num_clusters < 2:
        return 1.0
    usage = np.bincount(np.asarray(clusters), minlength=num_clusters) / len(clusters)
    usage = usage[usage > 0]
    return float(-np.sum(usage * np.log(usage)) / np.log(num_clusters))


def label_free_score(model, spectrograms, views=2):
    """A clustering quality that needs no labels: stable under augmentation, and using every cluster.

    `stability` is the share of clips whose most probable cluster stays the
    same in augmented views (the model's own `augment`: pitch-, tempo- and
    channel-like changes that keep the word); `balance` is the entropy of the
    clusters' usage over log K (1: all used equally). Their product, `score`,
    does not reward collapse as the silhouette does: one cluster for
    everything is perfectly stable but has balance 0.

    Args:
        model: a `UVAC` (with `augment`, `encode` and `prior`).
        spectrograms: `(N, bins, frames)` validation features.
        views: augmented views per clip.

    Returns:
        A dict with `stability`, `balance` and `score`, each in [0, 1].

    Example:
    >>> label_free_score(model, validation["spectrogram"])["score"]  # doctest: +SKIP
    0.71
    """
    def clusters_of(batch):
        return np.argmax(keras.ops.convert_to_numpy(model.prior(model.encode(batch)[0])), axis=-1)

    clusters = clusters_of(spectrograms)
    stability = float(np.mean([np.mean(clusters_of(model.augment(spectrograms, training=True)) == clusters)
                               for _ in range(views)]))
    balance = cluster_balance(clusters, model.num_clusters)
    return {"stability": stability, "balance": balance, "score": stability * balance}


class ClusteringMetricsCallback(keras.callbacks.Callback):
    """Logs clustering metrics on a validation set every N epochs.

    The model's `predict` must give cluster probabilities; when it also has an
    `encode` method returning `(z_mean, z_log_var)`, silhouette and DBI are
    computed on `z_mean`, as in the paper. Without labels in the data, only
    those two are logged (an unsupervised criterion, e.g. for tuning).
    Metrics go into the epoch logs as
    `val_accuracy`, `val_nmi`, `val_silhouette`, `val_dbi` (so History,
    TensorBoard and keras-tuner objectives see them) and into `self.history`.
    With `label_free=True`, `label_free_score`'s three values are logged too
    (`val_stability`, `val_balance`, `val_label_free`); before the epoch
    `scored_from` (the pretraining, when the mixture is not yet fitted) they
    are logged as 0, so that a tuner takes a trial's best epoch from the joint
    phase.

    Args:
        validation_data: a dataset of `(features, label)` batches, or of
            feature dicts alone.
        every_n_epochs: compute on epochs N, 2N, ... and on the last epoch
            of `fit` (and never in between).
        prefix: prefix of the logged names.
        label_free: also log `label_free_score`.
        scored_from: first epoch (0-based) whose label-free score counts.

    Example:
    >>> callback = ClusteringMetricsCallback(feature_dataset(validation), every_n_epochs=5)  # doctest: +SKIP
    >>> model.fit(train_dataset, epochs=50, callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(self, validation_data, every_n_epochs=1, prefix="val_", label_free=False, scored_from=0):
        super().__init__()
        self.validation_data = validation_data
        self.every_n_epochs = every_n_epochs
        self.prefix = prefix
        self.label_free = label_free
        self.scored_from = scored_from
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs and epoch + 1 != (self.params or {}).get("epochs"):
            return
        labels, clusters, embeddings, spectrograms = [], [], [], []
        for batch in self.validation_data:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            if self.label_free:
                spectrograms.append(keras.ops.convert_to_numpy(inputs["spectrogram"]))
            clusters.append(np.argmax(keras.ops.convert_to_numpy(self.model(inputs, training=False)), axis=-1))
            if hasattr(self.model, "encode"):
                embeddings.append(keras.ops.convert_to_numpy(self.model.encode(inputs)[0]))
            if isinstance(batch, (tuple, list)):
                labels.append(np.asarray(batch[1]))
        report = clustering_report(np.concatenate(clusters), np.concatenate(labels) if labels else None,
                                   np.concatenate(embeddings) if embeddings else None)
        if embeddings and report["silhouette"] is None:
            # Everything in one cluster: the worst silhouette, so a tuner ranks such a trial last.
            report["silhouette"] = -1.0
        names = [name for name in METRIC_NAMES if report[name] is not None]
        if self.label_free:
            free = (label_free_score(self.model, np.concatenate(spectrograms)) if epoch >= self.scored_from
                    else {"stability": 0.0, "balance": 0.0, "score": 0.0})
            report.update({"stability": free["stability"], "balance": free["balance"], "label_free": free["score"]})
            names += ["stability", "balance", "label_free"]
        report["epoch"] = epoch + 1
        self.history.append(report)
        if logs is not None:
            for name in names:
                logs[self.prefix + name] = report[name]
