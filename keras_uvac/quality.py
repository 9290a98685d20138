"""How far to trust a model's clusters, without labels: the quality report that `train` ends with.

A clustering of unlabeled audio can look confident and mean little. The report
measures what can be measured without labels:

- `label_free_score`, the headline: `stability` times `balance`
  (`metrics.label_free_score`). Clusters that keep their clips when the audio
  is perturbed, and that are all used, have found structure in the data.
- `stability`, overall and per cluster: the share of clips whose cluster stays
  the same in augmented views (the model's own augmentation, seeded).
- `cluster_sizes` and `balance` (the entropy of the sizes over log K; 1: equal).
- `run_agreement`: how well the consensus' independent runs agree with each
  other (mean NMI between their clusters of the training clips, each run given
  the recipe's final equal-size refit).

Which number heads the report, and the verdict's thresholds (`HEADLINE`,
`THRESHOLDS`), were chosen on validation accuracy over the models of
`benchmarks/quality_calibration.py` (docs/design.md, "Quality report and
calibrated probabilities"); the README reports how it ranks their test
accuracy.

`calibrate_temperature` makes the cluster probabilities honest: a model's
posterior says 0.99 for nearly every clip, while independent runs of the same
recipe agree on far fewer. The temperature that `train` fits (on the
validation clips, without labels) makes the mean top probability equal to the
share of runs that put a clip in the model's cluster.
"""

import os

import numpy as np
import scipy.optimize
from keras import ops

from keras_uvac import consensus, layers, metrics, pipeline

TEMPERATURE_RANGE = (0.05, 100.0)

# By the rule of the research log, from benchmarks/results/quality_calibration.json.
HEADLINE = "label_free_score"
THRESHOLDS = {"good": 0.88, "moderate": 0.68}
ADVICE = {
    "good": "most clips keep their cluster when the audio is perturbed, and every cluster is used: the clusters "
            "are likely to mean something",
    "moderate": "some clusters are unstable or little used; look at the least stable ones, and try another number "
                "of clusters (--clusters), a longer window (--duration) or more data",
    "poor": "clusters change when the audio is perturbed, or few of them are used: they may not mean much; try "
            "another number of clusters (--clusters), a longer window (--duration), more data, or speaker ids in "
            "the file names",
}


def consensus_runs(model_file, card, collection):
    """The consensus' runs of a model trained to files, each ending as the recipe ends; None without them.

    A run's model is kept in `<model>.run/runs/seed-<seed>.keras`; when the recipe refits the final prior to
    clusters of equal size (the default), each run gets the same refit on `collection`, so that the runs are
    compared as finished models (a short run can leave clusters empty that the refit fills).

    Args:
        model_file: the trained model's `.keras` file.
        card: its card (the consensus' seeds, and the recipe's `balanced_clusters`).
        collection: its training clips.

    Returns:
        A list of `UVAC` models, or None when the card names no consensus or a run's file is gone.

    Example:
    >>> runs = consensus_runs("my_model.keras", model.card, splits["train"])  # doctest: +SKIP
    """
    from keras_uvac.model import UVAC

    seeds = (card or {}).get("consensus", {}).get("seeds")
    if not seeds:
        return None
    paths = [os.path.join(os.fspath(model_file) + ".run", "runs", f"seed-{seed}.keras") for seed in seeds]
    if not all(os.path.isfile(path) for path in paths):
        return None
    runs = [UVAC.from_preset(path) for path in paths]
    if card.get("recipe", {}).get("balanced_clusters"):
        data = pipeline.feature_dataset(collection, runs[0].feature_config_object(), 256, with_labels=False)
        for run in runs:
            consensus.balance_prior(run, data)
    return runs


def run_agreement(assignments):
    """Mean NMI between every two runs' clusters of the same clips.

    Example:
    >>> run_agreement(np.array([[0, 0, 1, 1], [1, 1, 0, 0]]))
    1.0
    """
    return float(np.mean(consensus.most_typical_run(np.asarray(assignments))[1]))


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


def verdict(value):
    """`"good"`, `"moderate"` or `"poor"` for the headline's value, by `THRESHOLDS`.

    Example:
    >>> verdict(0.9)
    'good'
    """
    return "good" if value >= THRESHOLDS["good"] else "moderate" if value >= THRESHOLDS["moderate"] else "poor"


def quality_report(model, collection, runs=None, card=None, views=2, seed=0):
    """The quality report of a trained model on its training clips, without labels.

    Args:
        model: a trained `UVAC`.
        collection: its training clips (a `datasets.AudioCollection`).
        runs: the consensus' runs (`consensus_runs`), whose agreement on `collection` the report gives; or None,
            and then the agreement the card recorded, if any.
        card: the model card, or None.
        views: augmented views per clip for the stability.
        seed: seed of the augmentation.

    Returns:
        A dict: `headline` (`name`, `value`), `verdict`, `advice`, `thresholds`, `label_free_score`, `stability`,
        `cluster_stability` (per cluster; None for an empty one), `cluster_sizes`, `balance`, `run_agreement`
        (None for one run) and `runs`.

    Example:
    >>> report = quality_report(model, splits["train"], runs)  # doctest: +SKIP
    >>> print(format_report(report))  # doctest: +SKIP
    """
    clusters, stable = cluster_stability(model, collection, views, seed)
    sizes = np.bincount(clusters, minlength=model.num_clusters)
    balance = metrics.cluster_balance(clusters, model.num_clusters)
    stability = float(np.mean(stable))
    recorded = (card or {}).get("consensus", {}).get("agreement")
    if runs:
        data = pipeline.feature_dataset(collection, model.feature_config_object(), 256, with_labels=False)
        agreement, count = run_agreement(consensus.run_assignments(runs, data)), len(runs)
    elif recorded:
        agreement, count = float(np.mean(recorded)), len(recorded)
    else:
        agreement, count = None, 1
    report = {"label_free_score": stability * balance, "stability": stability,
              "cluster_stability": [float(np.mean(stable[clusters == cluster])) if size else None
                                    for cluster, size in enumerate(sizes)],
              "cluster_sizes": sizes.tolist(), "balance": balance, "run_agreement": agreement, "runs": count}
    rating = verdict(report[HEADLINE])
    return {"headline": {"name": HEADLINE, "value": report[HEADLINE]}, "verdict": rating, "advice": ADVICE[rating],
            "thresholds": THRESHOLDS, **report}


def format_report(report):
    """The report in a few lines of words, as `uvac train` prints it.

    Example:
    >>> print(format_report(report))  # doctest: +SKIP
    quality (no labels): good (label-free score 0.92: 92% of clips keep their cluster under augmentation ...
    """
    thresholds = report["thresholds"]
    lines = [f"quality (no labels): {report['verdict']} (label-free score {report['label_free_score']:.2f}: "
             f"{100 * report['stability']:.0f}% of clips keep their cluster under augmentation, cluster sizes "
             f"balanced {report['balance']:.2f}; good from {thresholds['good']}, poor below "
             f"{thresholds['moderate']}): {report['advice']}"]
    if report["run_agreement"] is not None:
        lines.append(f"  independent runs agree: NMI {report['run_agreement']:.2f} between {report['runs']} runs")
    used = [cluster for cluster, size in enumerate(report["cluster_sizes"]) if size]
    least = sorted(used, key=lambda cluster: report["cluster_stability"][cluster])[:3]
    lines.append("  least stable clusters: " + ", ".join(
        f"{cluster} ({100 * report['cluster_stability'][cluster]:.0f}% of its clips stay)" for cluster in least))
    lines.append(f"  training clips per cluster: {report['cluster_sizes']}")
    return "\n".join(lines)


def fit_temperature(logits, target):
    """The temperature at which the mean top probability of `softmax(logits / T)` is `target`.

    The mean top probability falls as T grows, so one value matches; a target beyond what the range
    `TEMPERATURE_RANGE` reaches gets the range's end.

    Args:
        logits: `(clips, clusters)` posterior logits.
        target: the mean top probability wanted, in [1 / clusters, 1].

    Returns:
        A float.

    Example:
    >>> logits = np.log([[0.98, 0.02], [0.99, 0.01]])
    >>> round(fit_temperature(logits, 0.8), 2)
    3.05
    """
    logits = np.asarray(logits, "float64")

    def excess(log_temperature):
        return mean_top_probability(logits, np.exp(log_temperature)) - target

    low, high = np.log(TEMPERATURE_RANGE)
    if excess(low) <= 0:
        return TEMPERATURE_RANGE[0]
    if excess(high) >= 0:
        return TEMPERATURE_RANGE[1]
    return float(np.exp(scipy.optimize.brentq(excess, low, high, xtol=1e-6)))


def calibrate_temperature(model, runs, collection, batch_size=256):
    """Fits `model.posterior_temperature` to the agreement of independent runs, without labels.

    On each clip of `collection`, the share of `runs` that put it in the model's cluster (each run's clusters
    matched to the model's, Hungarian) is how often the recipe repeats that cluster; the temperature makes the
    mean top probability equal to its mean. Sets the model's temperature.

    Args:
        model: a trained `UVAC` (e.g. the consensus' carrier).
        runs: the independent runs' `UVAC` models.
        collection: clips to fit on (the validation clips; their labels are not used).
        batch_size: clips per batch.

    Returns:
        What was fitted: `temperature`, `clips`, `runs_agreeing` (the mean share) and the mean top probability
        `before` and `after`.

    Example:
    >>> runs = [UVAC.from_preset(path) for path in run_paths]  # doctest: +SKIP
    >>> record = calibrate_temperature(model, runs, splits["validation"])  # doctest: +SKIP
    """
    data = pipeline.feature_dataset(collection, model.feature_config_object(), batch_size, with_labels=False)
    codes = model.latent_mean(data)
    logits = ops.convert_to_numpy(model.prior.cluster_logits(codes)).astype("float64")
    clusters = logits.argmax(axis=1)
    agreeing = float(consensus.runs_agreeing(consensus.run_assignments(runs, data), clusters).mean())
    temperature = fit_temperature(logits, agreeing)
    model.posterior_temperature = temperature
    return {"temperature": temperature, "clips": len(clusters), "runs_agreeing": agreeing,
            "before": mean_top_probability(logits, 1.0), "after": mean_top_probability(logits, temperature)}


def mean_top_probability(logits, temperature=1.0):
    """The mean over clips of the largest probability of `softmax(logits / temperature)`.

    Example:
    >>> round(mean_top_probability(np.log([[0.9, 0.1], [0.6, 0.4]])), 2)
    0.75
    """
    scaled = np.asarray(logits, "float64") / temperature
    return float(np.mean(1.0 / np.exp(scaled - scaled.max(axis=1, keepdims=True)).sum(axis=1)))
