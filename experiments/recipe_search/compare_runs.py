"""Validation accuracy of the runs behind `benchmarks/fsdd_clustering.py` results JSONs, side by side.

For each results JSON: per seed, the validation accuracy after the first joint epoch (the mixture fit), at the end,
and the mean of the last three epochs (one epoch moves it by up to 4 points on the FSDD's 300 validation clips,
so the three-epoch mean compares recipes with less noise). Reads the training histories only; nothing here
looks at the test split.

    python benchmarks/recipe_search/compare_runs.py fsdd_clustering_pseudo_speakers fsdd_whitened_pseudo_speakers
    python benchmarks/recipe_search/compare_runs.py results/a_seed1.history.json,results/a_seed2.history.json
"""

import argparse
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from fsdd_clustering import load_result  # noqa: E402


def run_history(model):
    """`(history, pretrain_epochs)` of a trained model's run (`model` relative to the repository or absolute)."""
    run = os.path.join(ROOT, model + ".run")
    with open(os.path.join(run, "history.json")) as handle:
        history = json.load(handle)
    with open(os.path.join(run, "recipe.json")) as handle:
        return history, json.load(handle)["recipe"]["pretrain_epochs"]


def validation_summary(name, pretrain_epochs=12):
    """`{seed: {"after_fit", "final", "last_three"}}` plus `"mean"`, from a results JSON's run histories.

    `name` may also be a list of copied `history.json` files (runs whose folders are gone; `pretrain_epochs` then
    says where the joint phase starts), each a row named by its file.
    """
    rows = {}
    if isinstance(name, list):
        runs = {os.path.basename(path).replace(".history.json", ""): path for path in name}
    else:
        runs = {seed: run["model"] for seed, run in load_result(name)["seeds"].items()}
    for seed, run in runs.items():
        if run.endswith(".json"):
            with open(run) as handle:
                records = json.load(handle)
        else:
            records, pretrain_epochs = run_history(run)
        history = [record["val_accuracy"] for record in records]
        rows[seed] = {"after_fit": history[pretrain_epochs], "final": history[-1],
                      "last_three": statistics.mean(history[-3:])}
    rows["mean"] = {key: statistics.mean(row[key] for row in rows.values()) for key in next(iter(rows.values()))}
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="results JSONs of benchmarks/fsdd_clustering.py, without .json, or "
                                                 "groups of copied history files, comma-separated")
    args = parser.parse_args()
    print("| runs | after the first joint epoch | final | mean of the last three epochs |")
    print("| --- | --- | --- | --- |")
    for name in args.names:
        copied = name.endswith(".history.json")
        rows = validation_summary(name.split(",") if copied else name)
        seeds = [seed for seed in rows if seed != "mean"]
        cells = [" / ".join(f"{100 * rows[seed][key]:.1f}" for seed in seeds) + f" ({100 * rows['mean'][key]:.1f})"
                 for key in ("after_fit", "final", "last_three")]
        print(f"| {' / '.join(seeds) if copied else name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
