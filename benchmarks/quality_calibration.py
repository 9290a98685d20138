"""Does the quality report track accuracy? Many models, good and deliberately weak, scored with and without labels.

Trains a list of settings (`SETTINGS`): the default recipe on the FSDD and on two FSDD subsets, shortened to
1-8 epochs, with the right and wrong number of clusters, speaker ids, pseudo-speakers or none, and the compact
encoders, and at its full 20 epochs on 60 speakers derived from the FSDD's six; each a consensus of three runs
as the default trains it, in `runs/quality_calibration/`. Each model's quality report (`keras_uvac.quality`, no
labels) is set beside its validation and test accuracy; the Spearman correlation of the report's headline with
test accuracy over all models is the calibration, and `docs/figures/quality_calibration.png` plots it. Which
number heads the report, and the verdict's thresholds, were chosen on the validation accuracies, never on the
test split.

The FSDD subsets (`benchmarks/data/make_fsdd_subsets.py`; development corpora of other shapes than the FSDD):
`fsdd5`, the digits 0-4, and `fsdd_unequal`, ten digits of 300 down to 25 clips. And `derived_fsdd`, 60 speakers
derived from the FSDD's six (`python experiments/speaker_gap/make_derived_fsdd.py runs/derived_fsdd`), on which
the default recipe at its full 20 epochs is a hard case (`derived_e20`: the same training as `python
experiments/speaker_gap/train_gap.py runs/derived_fsdd/data ids`, whose model it reuses when copied to
`runs/quality_calibration/derived_e20.keras`).

    python benchmarks/quality_calibration.py [--only NAME ...] [--train-only | --score-only]

Resumable: a setting whose model exists is scored again, not retrained; results are rewritten after each one.
"""

import argparse
import dataclasses
import json
import os
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str
    corpus: str  # fsdd, fsdd5, fsdd_unequal or derived_fsdd
    epochs: int
    clusters: int
    speakers: str = "ids"
    architecture: str = "full"


# Trained in this order: the cheapest first, so that any prefix spans weak and good models.
SETTINGS = [
    Setting("fsdd5_e4", "fsdd5", 4, 5),
    Setting("fsdd5_e2_none", "fsdd5", 2, 5, "none"),
    Setting("derived_e20", "derived_fsdd", 20, 10),
    Setting("unequal_e4", "fsdd_unequal", 4, 10),
    Setting("fsdd5_e1", "fsdd5", 1, 5),
    Setting("fsdd5_e2_small", "fsdd5", 2, 5, "ids", "small"),
    Setting("fsdd5_e4_tiny", "fsdd5", 4, 5, "ids", "tiny"),
    Setting("unequal_e2_none", "fsdd_unequal", 2, 10, "none"),
    Setting("fsdd_e3_none_tiny", "fsdd", 3, 10, "none", "tiny"),
    Setting("fsdd5_e3", "fsdd5", 3, 5),
    Setting("fsdd_e1", "fsdd", 1, 10),
    Setting("fsdd5_e8", "fsdd5", 8, 5),
    Setting("fsdd5_e3_k7_pseudo", "fsdd5", 3, 7, "pseudo"),
    Setting("fsdd5_e4_k10", "fsdd5", 4, 10),
    Setting("fsdd5_e4_pseudo", "fsdd5", 4, 5, "pseudo"),
    Setting("fsdd5_e4_k3", "fsdd5", 4, 3),
    Setting("unequal_e4_pseudo", "fsdd_unequal", 4, 10, "pseudo"),
    Setting("unequal_e4_k5", "fsdd_unequal", 4, 5),
    Setting("fsdd5_e4_none", "fsdd5", 4, 5, "none"),
    Setting("fsdd_e2", "fsdd", 2, 10),
]


def corpus(name):
    """The bundled FSDD, one of its subsets (`data/make_fsdd_subsets.py`) or the derived corpus, labeled.

    Example:
    >>> len(corpus("fsdd_unequal"))  # doctest: +SKIP
    1350
    """
    from data.make_fsdd_subsets import subset_indices

    from keras_uvac import datasets

    if name == "derived_fsdd":
        return datasets.load_audio(os.path.join(ROOT, "runs", "derived_fsdd", "data"))
    fsdd = datasets.load_audio()
    return fsdd if name == "fsdd" else fsdd.subset(subset_indices(fsdd.labels, name))


def train_setting(setting, folder):
    """Trains (or reads back) one setting's model; its path and the splits it used."""
    from keras_uvac import training
    from keras_uvac.model import UVAC
    from keras_uvac.model_arguments import ARCHITECTURES

    splits = corpus(setting.corpus).split(seed=0)
    path = os.path.join(folder, f"{setting.name}.keras")
    if os.path.exists(path):
        return UVAC.from_preset(path), path, splits
    recipe = training.RECIPES["default"].with_epochs(setting.epochs)
    overrides = {**ARCHITECTURES.get(setting.architecture, {}), "num_clusters": setting.clusters}
    resume = os.path.isdir(path + ".run")
    model, _ = training.train(splits["train"], path, recipe, validation_collection=None, seed=0, resume=resume,
                              verbose=0, speakers=setting.speakers, test_collection=None,
                              card={"setting": dataclasses.asdict(setting)}, **overrides)
    return model, path, splits


def probability_check(model, runs, splits):
    """The temperature fitted on the validation clips, and on the test clips the mean top probability before and
    after it beside the share of runs that put a clip in the model's cluster (what it should equal)."""
    from keras_uvac import consensus, pipeline, quality

    fitted = quality.calibrate_temperature(model, runs, splits["validation"])
    data = pipeline.feature_dataset(splits["test"], model.feature_config_object(), 256, with_labels=False)
    logits = np.asarray(model.prior.cluster_logits(model.latent_mean(data)))
    agreeing = consensus.runs_agreeing(consensus.run_assignments(runs, data), logits.argmax(axis=1))
    return {"fitted_on_validation": fitted, "test_runs_agreeing": float(agreeing.mean()),
            "test_mean_top_probability_before": quality.mean_top_probability(logits),
            "test_mean_top_probability_after": quality.mean_top_probability(logits, fitted["temperature"])}


def score(model, path, splits):
    """Accuracy and NMI on the validation and test clips, the quality report (no labels) with the other numbers
    that could head it, and the probabilities' calibration."""
    from keras_uvac import evaluation, quality

    row = {}
    for part in ("validation", "test"):
        rows, _ = evaluation.evaluate(model, splits[part], with_baselines=part == "test")
        row[part] = {"accuracy": rows["UVAC"]["accuracy"], "nmi": rows["UVAC"]["nmi"]}
        if part == "test":
            row["kmeans_test_accuracy"] = rows["K-means"]["accuracy"]
    # The runs as training leaves them for the report: each with the recipe's equal-size refit.
    runs = quality.consensus_runs(path, model.card, splits["train"])
    row["quality"] = quality.quality_report(model, splits["train"], runs, model.card)
    row["candidates"] = {"run_agreement_before_refit": float(np.mean(model.card["consensus"]["agreement"])),
                         "run_agreement": row["quality"]["run_agreement"],
                         "label_free_score": row["quality"]["label_free_score"],
                         "stability": row["quality"]["stability"]}
    row["probabilities"] = probability_check(model, runs, splits)
    row["training_seconds"] = model.card.get("training_seconds_all_epochs")
    return row


def thresholds(values, validation_accuracies, good_accuracy=0.7, poor_accuracy=0.5):
    """The verdict's thresholds by the rule of the research log, from validation accuracies only.

    "good" from the lowest value above which every model reached `good_accuracy`; "poor" below the highest value
    under which no model reached `poor_accuracy`.

    Example:
    >>> thresholds([0.3, 0.5, 0.6, 0.8], [0.3, 0.45, 0.72, 0.8])
    {'good': 0.6, 'moderate': 0.6}
    """
    pairs = sorted(zip(values, validation_accuracies))
    # No model good enough: nothing is "good" (the threshold lies above every model).
    good = next((value for index, (value, _) in enumerate(pairs)
                 if all(accuracy >= good_accuracy for _, accuracy in pairs[index:])), pairs[-1][0] + 0.01)
    below = [value for index, (value, _) in enumerate(pairs)
             if all(accuracy < poor_accuracy for _, accuracy in pairs[:index])]
    return {"good": round(good, 2), "moderate": round(min(max(below), good), 2)}


def spearman(x, y):
    from scipy import stats

    return float(stats.spearmanr(x, y).statistic)


def plot(results, path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 4))
    axes = figure.subplots()
    markers = {"fsdd": "o", "fsdd5": "s", "fsdd_unequal": "^", "derived_fsdd": "D"}
    for corpus_name, marker in markers.items():
        rows = [row for row in results["models"].values() if row["setting"]["corpus"] == corpus_name]
        axes.scatter([row["quality"]["headline"]["value"] for row in rows],
                     [100 * row["test"]["accuracy"] for row in rows], marker=marker, label=corpus_name)
    names = {"label_free_score": "label-free score (stability under augmentation x balance)",
             "run_agreement": "agreement of the independent runs (NMI)"}
    axes.set_xlabel(names[next(iter(results["models"].values()))["quality"]["headline"]["name"]])
    axes.set_ylabel("test accuracy (%)")
    axes.set_title(f"{len(results['models'])} models: Spearman {results['spearman_headline_test_accuracy']:.2f}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="settings to train or score (default: all, in order)")
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results", "quality_calibration.json"))
    parser.add_argument("--plot", default=os.path.join(ROOT, "docs", "figures", "quality_calibration.png"))
    parser.add_argument("--folder", default=os.path.join(ROOT, "runs", "quality_calibration"))
    parser.add_argument("--train-only", action="store_true", help="train the models, score none")
    parser.add_argument("--score-only", action="store_true", help="score the models already trained, train none")
    args = parser.parse_args()
    from keras_uvac.atomic import write_json
    from keras_uvac.training import repeatable_op_order

    repeatable_op_order()
    os.makedirs(args.folder, exist_ok=True)
    results = {"command": "python benchmarks/quality_calibration.py", "models": {}}
    if os.path.exists(args.json):
        with open(args.json) as handle:
            results = json.load(handle)
    for setting in SETTINGS:
        if args.only and setting.name not in args.only:
            continue
        if args.score_only and not os.path.exists(os.path.join(args.folder, f"{setting.name}.keras")):
            continue
        start = time.perf_counter()
        model, path, splits = train_setting(setting, args.folder)
        print(f"{setting.name}: trained in {time.perf_counter() - start:.0f} s", flush=True)
        if args.train_only:
            continue
        results["models"][setting.name] = {"setting": dataclasses.asdict(setting), **score(model, path, splits)}
        row = results["models"][setting.name]
        print(f"  {row['quality']['headline']['name']} {row['quality']['headline']['value']:.3f}, "
              f"validation {row['validation']['accuracy']:.3f}, test {row['test']['accuracy']:.3f}", flush=True)
        rows = list(results["models"].values())
        if len(rows) >= 3:
            headline = [row["quality"]["headline"]["value"] for row in rows]
            results["spearman_headline_test_accuracy"] = spearman(headline, [row["test"]["accuracy"] for row in rows])
            results["spearman_headline_validation_accuracy"] = spearman(
                headline, [row["validation"]["accuracy"] for row in rows])
            results["spearman_label_free_score_test_accuracy"] = spearman(
                [row["quality"]["label_free_score"] for row in rows], [row["test"]["accuracy"] for row in rows])
            validation = [row["validation"]["accuracy"] for row in rows]
            results["candidates_spearman_validation_accuracy"] = {
                name: spearman([row["candidates"][name] for row in rows], validation) for name in rows[0]["candidates"]}
            results["thresholds_from_validation"] = thresholds(headline, validation)
        write_json(args.json, results, indent=2)
    if len(results["models"]) >= 3 and not args.train_only:
        plot(results, args.plot)
        print(f"Spearman (headline, test accuracy) over {len(results['models'])} models: "
              f"{results['spearman_headline_test_accuracy']:.3f}")


if __name__ == "__main__":
    main()
