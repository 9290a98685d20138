"""Which label-free number, read from a run's own training history, picks its best seed?

For each `benchmarks/fsdd_clustering.py` results JSON (three seeds of one recipe on one corpus), each candidate
criterion picks the seed where it is lowest: the consistency term (augmentation invariance, plus cluster
agreement once the prior is fitted) at the end of pretraining, in the first joint epoch, and in the last epoch,
and the total loss of the last epoch. Each pick is scored by its run's validation accuracy (mean of the last
three epochs) against the mean and the best of the three seeds. Reads the training histories only; nothing
here looks at the test split.

    python benchmarks/recipe_search/restart_criterion.py fsdd_clustering_pseudo_speakers fsdd_clustering \\
        synthetic_pseudo_speakers_gmm synthetic_speaker_ids synthetic_speaker_runs_ids [--json OUT]
"""

import argparse
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare_runs import run_history  # noqa: E402
from fsdd_clustering import load_result  # noqa: E402

CRITERIA = {
    "consistency_end_of_pretraining": lambda history, pretrain: history[pretrain - 1]["consistency"],
    "consistency_first_joint_epoch": lambda history, pretrain: history[pretrain]["consistency"],
    "consistency_last_epoch": lambda history, pretrain: history[-1]["consistency"],
    "loss_last_epoch": lambda history, pretrain: history[-1]["loss"],
}


def history_numbers(model):
    """Validation accuracy (mean of the last three epochs) and every criterion of a finished run's history."""
    history, pretrain_epochs = run_history(model)
    return {"validation": statistics.mean(record["val_accuracy"] for record in history[-3:]),
            **{key: criterion(history, pretrain_epochs) for key, criterion in CRITERIA.items()}}


def seed_rows(name):
    """`{seed: history_numbers}` for a results JSON's runs."""
    return {seed: history_numbers(run["model"]) for seed, run in load_result(name)["seeds"].items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="results JSONs of benchmarks/fsdd_clustering.py, without .json")
    parser.add_argument("--json")
    args = parser.parse_args()
    report = {}
    print("| runs | validation by seed (mean, best) | " + " | ".join(CRITERIA) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in CRITERIA) + " |")
    for name in args.names:
        rows = seed_rows(name)
        validation = {seed: row["validation"] for seed, row in rows.items()}
        picks = {key: min(rows, key=lambda seed, key=key: rows[seed][key]) for key in CRITERIA}
        report[name] = {"seeds": rows, "picks": picks, "mean": statistics.mean(validation.values()),
                        "best": max(validation.values())}
        cells = [f"seed {picks[key]}: {100 * validation[picks[key]]:.1f}" for key in CRITERIA]
        print(f"| {name} | " + " / ".join(f"{100 * value:.1f}" for value in validation.values())
              + f" ({100 * report[name]['mean']:.1f}, {100 * report[name]['best']:.1f}) | " + " | ".join(cells) + " |")
    gains = {key: statistics.mean(report[name]["seeds"][report[name]["picks"][key]]["validation"] - report[name]["mean"]
                                  for name in args.names) for key in CRITERIA}
    print("| mean gain over the seeds' mean | | " + " | ".join(f"{100 * gain:+.1f}" for gain in gains.values()) + " |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": "python benchmarks/recipe_search/restart_criterion.py " + " ".join(args.names),
                       "runs": report, "mean_gain": gains}, handle, indent=1)


if __name__ == "__main__":
    main()
