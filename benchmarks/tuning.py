"""Does the tuner's label-free objective rank trials as the labels would? A search on the bundled FSDD.

Runs `keras_uvac.tuning.tune` (random search, label-free objective, the default
recipe's model and knobs) on the seeded random split's training and validation
clips; then scores every trial's model (its best epoch by the objective, as the
tuner keeps it) on the test split. Reports, per trial, the hyperparameters, the
label-free objective and the test accuracy; the Spearman correlation between
the two; and how far the trial the objective picks is from the best trial by
accuracy. Results: `benchmarks/results/tuning_fsdd.json`. The search folder
(`runs/tuning_fsdd/`) resumes if interrupted.

    python benchmarks/tuning.py [--trials 8] [--epochs 8] [--architecture full]
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def at_step(trial, metric, step):
    """A trial's logged value of `metric` at epoch `step` (0-based)."""
    return next(float(sum(observation.value) / len(observation.value))
                for observation in trial.metrics.get_history(metric) if observation.step == step)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=8, help="epochs per trial (the recipe's phases scale)")
    parser.add_argument("--architecture", default="full", choices=("full", "small", "tiny"))
    parser.add_argument("--directory", default=os.path.join(ROOT, "runs", "tuning_fsdd"))
    args = parser.parse_args()

    import scipy.stats

    from keras_uvac import datasets, evaluation, tuning
    from keras_uvac.atomic import write_json

    splits = datasets.load_audio().split(seed=0)
    _, best_values, search = tuning.tune(splits["train"], splits["validation"], args.directory,
                                         max_trials=args.trials, epochs=args.epochs,
                                         architecture=args.architecture, verbose=2)
    trials = []
    for trial in search.oracle.get_best_trials(args.trials):
        model = search.load_model(trial)
        rows, _ = evaluation.evaluate(model, splits["test"], with_baselines=False)
        best_step = trial.metrics.get_best_step("val_label_free")
        trials.append({"trial": trial.trial_id, "hyperparameters": trial.hyperparameters.values,
                       "label_free_objective": trial.score,
                       "stability": at_step(trial, "val_stability", best_step),
                       "balance": at_step(trial, "val_balance", best_step), "best_epoch": best_step + 1,
                       "test_accuracy": rows["UVAC"]["accuracy"], "test_nmi": rows["UVAC"]["nmi"]})
        print(json.dumps(trials[-1]), flush=True)
    objective = [trial["label_free_objective"] for trial in trials]
    accuracy = [trial["test_accuracy"] for trial in trials]
    spearman = scipy.stats.spearmanr(objective, accuracy)
    picked = max(trials, key=lambda trial: trial["label_free_objective"])
    best = max(trials, key=lambda trial: trial["test_accuracy"])
    payload = {"what": f"random search, {len(trials)} trials of the default recipe's model ({args.architecture} "
                       f"encoder, {args.epochs} epochs each), label-free objective on the FSDD validation split, "
                       "each trial's model scored on the test split",
               "command": "python benchmarks/tuning.py " + " ".join(sys.argv[1:]),
               "trials": trials, "spearman": float(spearman.statistic), "spearman_p_value": float(spearman.pvalue),
               "picked_trial": picked["trial"], "picked_test_accuracy": picked["test_accuracy"],
               "best_trial_by_accuracy": best["trial"], "best_test_accuracy": best["test_accuracy"],
               "picked_points_below_best": 100 * (best["test_accuracy"] - picked["test_accuracy"]),
               "best_hyperparameters": best_values}
    write_json(os.path.join(ROOT, "benchmarks", "results", "tuning_fsdd.json"), payload, indent=2)
    print(json.dumps({key: payload[key] for key in ("spearman", "picked_test_accuracy", "best_test_accuracy")}))


if __name__ == "__main__":
    main()
