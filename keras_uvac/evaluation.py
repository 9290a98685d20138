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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(2.0, (len(latent_mean) - 1) / 3))
    points = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(latent_mean)
    panels = [(clusters, title)] + ([(labels, "coloured by label")] if labels is not None else [])
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for axis, (colours, panel_title) in zip(axes[0], panels):
        scatter = axis.scatter(points[:, 0], points[:, 1], c=colours, cmap="tab10", s=12, alpha=0.85)
        axis.legend(*scatter.legend_elements(), fontsize=7, loc="best", markerscale=0.8)
        axis.set_title(panel_title)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
