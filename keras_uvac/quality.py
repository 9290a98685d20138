"""How far to trust a model's clusters, without labels: the quality report that `train` ends with.

A clustering of unlabeled audio can look confident and mean little. The report
measures what can be measured without labels:

- `run_agreement`, the headline: how well the independent runs of the
  consensus agree with each other (mean NMI between their clusters of the
  training clips). Runs that find the same clusters from different seeds have
  found structure in the data; runs that disagree have found one of many
  equally good partitions. Over the models of
  `benchmarks/quality_calibration.py` it ranks test accuracy with Spearman
  0.xx (README, "How good are the clusters?").
- `stability`, overall and per cluster: the share of clips whose cluster stays
  the same in augmented views (the model's own augmentation, seeded).
- `cluster_sizes` and `balance` (the entropy of the sizes over log K; 1: equal).
- `label_free_score`: stability times balance (`metrics.label_free_score`),
  the headline of a model trained as one run.

The verdict compares the headline with thresholds chosen on the validation
clips of those models (`THRESHOLDS`).
"""

import numpy as np
from keras import ops

from keras_uvac import layers, pipeline

# Chosen on validation accuracy in benchmarks/quality_calibration.py (results/quality_calibration.json): at or
# above "good" the models reached at least 75% validation accuracy; below "moderate", none reached 60%.
THRESHOLDS = {"run_agreement": {"good": 0.75, "moderate": 0.6},
              "label_free_score": {"good": 0.8, "moderate": 0.6}}
ADVICE = {
    "good": "the clusters are reproducible: independent runs find the same ones",
    "moderate": "some clusters are reproducible and others split differently from run to run; look at the least "
                "stable clusters, and try another number of clusters (--clusters), a longer window (--duration) or "
                "more data",
    "poor": "the clusters change from run to run and may not mean much; try another number of clusters "
            "(--clusters), a longer window (--duration), more data, or speaker ids in the file names",
}


def run_agreement(card):
    """Mean NMI between the consensus' runs, from a model card; None for a model trained as one run.

    Example:
    >>> run_agreement({"consensus": {"agreement": [0.8, 0.7, 0.75]}})
    0.75
    """
    agreement = (card or {}).get("consensus", {}).get("agreement")
    return float(np.mean(agreement)) if agreement else None


def cluster_stability(model, collection, views=2, seed=0, batch_size=256):
    """Each clip's cluster, and the share of its augmented views that stay in it.

    The views come from a copy of the model's augmentation seeded with `seed`, so the numbers repeat and the
    model's own random state is left alone.

    Args:
        model: a trained `UVAC`.
        collection: a `datasets.AudioCollection` (e.g. the training clips).
        views: augmented views per clip.
        seed: seed of the augmentation.
        batch_size: clips per batch.

    Returns:
        `(clusters, stable)`: int array `(clips,)` and float array `(clips,)` in [0, 1].

    Example:
    >>> clusters, stable = cluster_stability(model, load_audio("clips/"))  # doctest: +SKIP
    """
    augment = layers.SpectrogramAugment.from_config({**model.augment.get_config(), "seed": seed})
    data = pipeline.feature_dataset(collection, model.feature_config_object(), batch_size, with_labels=False)

    def clusters_of(spectrogram):
        return ops.convert_to_numpy(ops.argmax(model.prior.cluster_logits(model.encode(spectrogram)[0]), axis=-1))

    clusters, stable = [], []
    with pipeline.files_named_on_failure(collection):
        for batch in data:
            spectrogram = batch["spectrogram"]
            batch_clusters = clusters_of(spectrogram)
            clusters.append(batch_clusters)
            stable.append(np.mean([clusters_of(augment(spectrogram, training=True)) == batch_clusters
                                   for _ in range(views)], axis=0))
    return np.concatenate(clusters), np.concatenate(stable)


def verdict(name, value):
    """`"good"`, `"moderate"` or `"poor"` for a headline number, by `THRESHOLDS`.

    Example:
    >>> verdict("run_agreement", 0.9)
    'good'
    """
    thresholds = THRESHOLDS[name]
    return "good" if value >= thresholds["good"] else "moderate" if value >= thresholds["moderate"] else "poor"


def quality_report(model, collection, card=None, views=2, seed=0):
    """The quality report of a trained model on its training clips, without labels.

    Args:
        model: a trained `UVAC`.
        collection: its training clips (a `datasets.AudioCollection`).
        card: its model card (for the runs' agreement), or None.
        views: augmented views per clip for the stability.
        seed: seed of the augmentation.

    Returns:
        A dict: `headline` (`name`, `value`), `verdict`, `advice`, `thresholds`, `run_agreement` (None for one
        run), `runs`, `stability`, `cluster_stability` (per cluster; None for an empty one), `cluster_sizes`,
        `balance` and `label_free_score`.

    Example:
    >>> report = quality_report(model, splits["train"], model.card)  # doctest: +SKIP
    >>> print(format_report(report))  # doctest: +SKIP
    """
    clusters, stable = cluster_stability(model, collection, views, seed)
    sizes = np.bincount(clusters, minlength=model.num_clusters)
    usage = sizes[sizes > 0] / len(clusters)
    balance = float(-np.sum(usage * np.log(usage)) / np.log(model.num_clusters)) if model.num_clusters > 1 else 1.0
    stability = float(np.mean(stable))
    agreement = run_agreement(card)
    runs = len((card or {}).get("consensus", {}).get("agreement") or []) or 1
    name, value = (("run_agreement", agreement) if agreement is not None
                   else ("label_free_score", stability * balance))
    rating = verdict(name, value)
    return {"headline": {"name": name, "value": value}, "verdict": rating, "advice": ADVICE[rating],
            "thresholds": THRESHOLDS[name], "run_agreement": agreement, "runs": runs, "stability": stability,
            "cluster_stability": [float(np.mean(stable[clusters == cluster])) if size else None
                                  for cluster, size in enumerate(sizes)],
            "cluster_sizes": sizes.tolist(), "balance": balance, "label_free_score": stability * balance}


def format_report(report):
    """The report in a few lines of words, as `uvac train` prints it.

    Example:
    >>> print(format_report(report))  # doctest: +SKIP
    quality (no labels): runs agree well (NMI 0.84 between 3 runs; good from 0.75): the clusters are ...
    """
    headline = report["headline"]
    if headline["name"] == "run_agreement":
        what = (f"runs agree {'well' if report['verdict'] == 'good' else report['verdict'] + 'ly'} "
                f"(NMI {headline['value']:.2f} between {report['runs']} runs")
    else:
        what = (f"{report['verdict']} (one run, so no agreement of runs: label-free score "
                f"{headline['value']:.2f}")
    thresholds = report["thresholds"]
    lines = [f"quality (no labels): {what}; good from {thresholds['good']}, poor below {thresholds['moderate']}): "
             f"{report['advice']}"]
    used = [cluster for cluster, size in enumerate(report["cluster_sizes"]) if size]
    least = sorted(used, key=lambda cluster: report["cluster_stability"][cluster])[:3]
    lines.append(f"  stable under augmentation: {100 * report['stability']:.0f}% of clips; least stable clusters: "
                 + ", ".join(f"{cluster} ({100 * report['cluster_stability'][cluster]:.0f}%)" for cluster in least))
    lines.append(f"  training clips per cluster: {report['cluster_sizes']} (balance {report['balance']:.2f})")
    return "\n".join(lines)
