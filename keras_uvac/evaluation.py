"""Evaluation: UVAC's Table I row beside the baselines, and the t-SNE figure.

As in the paper, UVAC's silhouette and DBI are computed on the latent means z,
the baselines' on the STFT features.
"""

import os

import numpy as np

from keras_uvac import baselines, metrics, pipeline


def evaluate(model, collection, feature_config=None, seed=0, with_baselines=True):
    """Clusters a labeled collection with `model` and scores it.

    Args:
        model: a trained `UVAC`.
        collection: a labeled `datasets.AudioCollection` (usually the test split).
        feature_config: its `features.FeatureConfig` (default: the model's).
        seed: seed of the baselines.
        with_baselines: add the K-means, GMM-EM and labels-as-clusters rows.

    Returns:
        `(rows, arrays)`: `{method: clustering_report}` with UVAC first, and a
        dict of the `spectrogram`, `latent_mean`, `clusters`, `confidence`
        and `labels` arrays behind it.

    Example:
    >>> rows, arrays = evaluate(model, load_audio().split(seed=0)["test"])  # doctest: +SKIP
    >>> print(metrics.format_table(rows))  # doctest: +SKIP
    """
    if collection.labels is None:
        raise ValueError("evaluation needs labels; use `uvac cluster` for unlabeled audio")
    feature_config = feature_config or model.feature_config_object()
    features = pipeline.extract_features(collection, feature_config, progress=False)
    latent_mean = model.latent_mean(features)
    clusters, confidence = model.predict_clusters(features)
    rows = {"UVAC": metrics.clustering_report(clusters, collection.labels, latent_mean)}
    if with_baselines:
        rows.update(baselines.baseline_table(features["spectrogram"], collection.labels, model.num_clusters, seed))
    arrays = {"spectrogram": features["spectrogram"], "latent_mean": latent_mean, "clusters": clusters,
              "confidence": confidence, "labels": np.asarray(collection.labels)}
    return rows, arrays


def _figure(rows=1, columns=1, figsize=None, squeeze=True):
    """A figure and its axes, outside pyplot: the user's plotting backend and open figures are left alone."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    return figure, figure.subplots(rows, columns, squeeze=squeeze)


def _save(figure, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def plot_tsne(latent_mean, clusters, path, labels=None, seed=0, title="UVAC clusters (t-SNE of z)"):
    """Saves the paper's Fig. 3: a t-SNE of the latent means coloured by cluster.

    With labels, a second panel colours the same points by label.

    Args:
        latent_mean: `(N, latent_dim)` array.
        clusters: `(N,)` cluster indices.
        path: the PNG to write.
        labels: optional `(N,)` true classes.
        seed: seed of t-SNE.
        title: title of the cluster panel.

    Returns:
        The path written.

    Example:
    >>> plot_tsne(arrays["latent_mean"], arrays["clusters"], "tsne.png", arrays["labels"])  # doctest: +SKIP
    """
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(2.0, (len(latent_mean) - 1) / 3))
    points = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(latent_mean)
    panels = [(clusters, title)] + ([(labels, "coloured by label")] if labels is not None else [])
    figure, axes = _figure(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for axis, (colours, panel_title) in zip(axes[0], panels):
        scatter = axis.scatter(points[:, 0], points[:, 1], c=colours, cmap="tab10", s=12, alpha=0.85)
        axis.legend(*scatter.legend_elements(), fontsize=7, loc="best", markerscale=0.8)
        axis.set_title(panel_title)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    return _save(figure, path)


def plot_contingency(clusters, labels, path, class_names=None):
    """Saves a cluster-versus-label count heatmap, clusters ordered by their Hungarian match.

    Args:
        clusters: `(N,)` cluster indices.
        labels: `(N,)` true classes.
        path: the PNG to write.
        class_names: names of the label values, in order.

    Returns:
        The path written.

    Example:
    >>> plot_contingency(arrays["clusters"], arrays["labels"], "contingency.png")  # doctest: +SKIP
    """
    import scipy.optimize

    label_values, label_index = np.unique(labels, return_inverse=True)
    cluster_values, cluster_index = np.unique(clusters, return_inverse=True)
    counts = np.zeros((len(cluster_values), len(label_values)), dtype=int)
    np.add.at(counts, (cluster_index, label_index), 1)
    rows, columns = scipy.optimize.linear_sum_assignment(counts, maximize=True)
    order = list(rows[np.argsort(columns)]) + [row for row in range(len(cluster_values)) if row not in rows]
    counts = counts[order]
    figure, axis = _figure(figsize=(1.0 + 0.55 * len(label_values), 1.0 + 0.45 * len(order)))
    image = axis.imshow(counts, cmap="Blues")
    for (row, column), value in np.ndenumerate(counts):
        axis.text(column, row, str(value), ha="center", va="center", fontsize=7,
                  color="white" if value > counts.max() / 2 else "black")
    axis.set_xticks(range(len(label_values)), class_names or [str(value) for value in label_values])
    axis.set_yticks(range(len(order)), [f"cluster {cluster_values[row]}" for row in order])
    axis.set_xlabel("label")
    axis.set_title("clusters against labels")
    figure.colorbar(image, ax=axis, fraction=0.04)
    figure.tight_layout()
    return _save(figure, path)


def plot_cluster_means(spectrograms, clusters, path, bin_hz=50.0, hop_ms=10.0):
    """Saves the mean spectrogram of each cluster, to see what each one heard.

    Args:
        spectrograms: `(N, bins, frames)` features.
        clusters: `(N,)` cluster indices.
        path: the PNG to write.
        bin_hz: width of a frequency bin, for the axis.
        hop_ms: hop between frames, for the axis.

    Returns:
        The path written.

    Example:
    >>> plot_cluster_means(arrays["spectrogram"], arrays["clusters"], "cluster_means.png")  # doctest: +SKIP
    """
    values = np.unique(clusters)
    columns = min(5, len(values))
    rows = int(np.ceil(len(values) / columns))
    figure, axes = _figure(rows, columns, figsize=(2.6 * columns, 2.3 * rows), squeeze=False)
    bins, frames = spectrograms.shape[1:]
    extent = (0, frames * hop_ms / 1000, bin_hz, (bins + 1) * bin_hz)
    for axis in axes.flat:
        axis.axis("off")
    for axis, value in zip(axes.flat, values):
        members = clusters == value
        axis.axis("on")
        axis.imshow(spectrograms[members].mean(axis=0), origin="lower", aspect="auto", cmap="magma",
                    extent=extent)
        axis.set_title(f"cluster {value} ({members.sum()} clips)", fontsize=8)
        axis.tick_params(labelsize=6)
    figure.supxlabel("time (s)", fontsize=8)
    figure.supylabel("frequency (Hz)", fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def plot_training_curves(history, path):
    """Saves the per-epoch loss terms and, when logged, validation clustering metrics.

    Args:
        history: the records of a run (`training.read_history`).
        path: the PNG to write.

    Returns:
        The path written.

    Example:
    >>> plot_training_curves(training.read_history("uvac.keras.run"), "training.png")  # doctest: +SKIP
    """
    epochs = [record["epoch"] for record in history]
    metric_names = [name for name in ("val_accuracy", "val_nmi", "val_silhouette") if name in history[-1]]
    figure, axes = _figure(1, 2 if metric_names else 1, figsize=(11 if metric_names else 6, 4), squeeze=False)
    for name in ("reconstruction", "kl", "consistency", "loss"):
        if name in history[-1]:
            axes[0][0].plot(epochs, [record.get(name, np.nan) for record in history], label=name)
    axes[0][0].set_yscale("log")
    axes[0][0].set_xlabel("epoch")
    axes[0][0].set_title("training loss terms (per clip)")
    axes[0][0].legend(fontsize=8)
    if metric_names:
        for name in metric_names:
            # Computed every few epochs (`train(validation_every=...)`): a point where there is one.
            logged = [record for record in history if name in record]
            axes[0][1].plot([record["epoch"] for record in logged], [record[name] for record in logged], "o-",
                            markersize=3, label=name[4:])
        axes[0][1].set_xlabel("epoch")
        axes[0][1].set_title("validation clustering")
        axes[0][1].legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def write_figures(arrays, directory, history=None, class_names=None, bin_hz=50.0, hop_ms=10.0):
    """Writes every evaluation figure as PNG into `directory`.

    Args:
        arrays: the arrays returned by `evaluate`.
        directory: the folder to write.
        history: a run's per-epoch records, for the training curves.
        class_names: names of the labels.
        bin_hz: frequency bin width of the features.
        hop_ms: frame hop of the features.

    Returns:
        The list of paths written.

    Example:
    >>> write_figures(arrays, "figures/", history=training.read_history("uvac.keras.run"))  # doctest: +SKIP
    """
    paths = [plot_tsne(arrays["latent_mean"], arrays["clusters"], os.path.join(directory, "tsne_clusters.png"),
                       arrays["labels"]),
             plot_contingency(arrays["clusters"], arrays["labels"], os.path.join(directory, "contingency.png"),
                              class_names),
             plot_cluster_means(arrays["spectrogram"], arrays["clusters"], os.path.join(directory, "cluster_means.png"),
                                bin_hz, hop_ms)]
    if history:
        paths.append(plot_training_curves(history, os.path.join(directory, "training_curves.png")))
    return paths
