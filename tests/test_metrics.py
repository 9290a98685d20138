import keras
import numpy as np
import pytest

from keras_uvac import metrics


def test_accuracy_is_invariant_to_cluster_renaming():
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert metrics.unsupervised_accuracy(labels, np.array([2, 2, 0, 0, 1, 1])) == 1.0
    assert metrics.unsupervised_accuracy(labels, np.array([0, 0, 0, 1, 2, 2])) == pytest.approx(5 / 6)


def test_accuracy_with_more_or_fewer_clusters_than_labels():
    labels = np.array([0, 0, 1, 1])
    assert metrics.unsupervised_accuracy(labels, np.array([0, 0, 0, 0])) == 0.5
    assert metrics.unsupervised_accuracy(labels, np.array([0, 1, 2, 3])) == 0.5
    assert metrics.unsupervised_accuracy(np.array(["a", "b", "b"]), np.array([7, 9, 9])) == 1.0


def test_purity_lets_clusters_share_a_label_where_accuracy_does_not():
    labels = np.array([0, 0, 0, 0, 1, 1])
    split = np.array([0, 0, 1, 1, 2, 2])  # class 0 split in two pure clusters
    assert metrics.cluster_purity(labels, split) == 1.0
    assert metrics.unsupervised_accuracy(labels, split) == pytest.approx(4 / 6)
    assert metrics.cluster_purity(labels, np.zeros(6, int)) == pytest.approx(4 / 6)
    assert metrics.clustering_report(split, labels)["purity"] == 1.0
    assert metrics.clustering_report(split)["purity"] is None


def test_report_matches_scikit_learn_and_handles_degenerate_clusterings():
    rng = np.random.default_rng(0)
    embeddings = np.concatenate([rng.normal(0, 0.1, (20, 3)), rng.normal(5, 0.1, (20, 3))])
    labels = np.repeat([0, 1], 20)
    report = metrics.clustering_report(labels, labels, embeddings)
    assert report["accuracy"] == 1.0 and report["nmi"] == pytest.approx(1.0)
    assert report["silhouette"] > 0.9 and report["dbi"] < 0.1 and report["clusters_used"] == 2
    single = metrics.clustering_report(np.zeros(40, int), labels, embeddings)
    assert single["silhouette"] is None and single["dbi"] is None and single["accuracy"] == 0.5
    unlabeled = metrics.clustering_report(labels, embeddings=embeddings)
    assert unlabeled["accuracy"] is None and unlabeled["silhouette"] > 0.9


def test_accuracy_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="one length"):
        metrics.unsupervised_accuracy([0, 1], [0])


def test_table_formats_missing_values():
    table = metrics.format_table({"x": {"accuracy": None, "nmi": 0.5, "silhouette": None, "dbi": 1.0}})
    assert "| x | n/a | 0.50 | n/a | 1.00 |" in table


class ThresholdClusterer(keras.Model):
    """A fixed clusterer: cluster 1 when the mean input is above 0.5."""

    def call(self, inputs, training=False):
        score = keras.ops.mean(inputs["spectrogram"], axis=(1, 2))
        return keras.ops.stack([1 - score, score], axis=-1)

    def encode(self, inputs):
        mean = keras.ops.mean(inputs["spectrogram"], axis=(1, 2))[:, None]
        return mean, keras.ops.zeros_like(mean)


def test_callback_logs_metrics_every_n_epochs_and_after_the_last():
    import tensorflow as tf

    spectrograms = np.concatenate([np.full((6, 4, 3), 0.1), np.full((6, 4, 3), 0.9)]).astype("float32")
    labels = np.repeat([3, 7], 6)
    data = tf.data.Dataset.from_tensor_slices(({"spectrogram": spectrograms}, labels)).batch(4)
    callback = metrics.ClusteringMetricsCallback(data, every_n_epochs=2)
    callback.set_model(ThresholdClusterer())
    callback.set_params({"epochs": 5})
    logs_by_epoch = []
    for epoch in range(5):
        logs = {}
        callback.on_epoch_end(epoch, logs)
        logs_by_epoch.append(logs)
    assert logs_by_epoch[0] == {} and logs_by_epoch[2] == {}
    assert logs_by_epoch[1]["val_accuracy"] == 1.0 and logs_by_epoch[3]["val_nmi"] == pytest.approx(1.0)
    assert [entry["epoch"] for entry in callback.history] == [2, 4, 5]
