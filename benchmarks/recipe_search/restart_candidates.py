"""Did the restarts pick well? Every candidate of a restarts benchmark, trained to the end.

A run of the default recipe trains three candidates to the end of the first joint epoch and continues the one of
lowest consistency term (`training.Recipe.restarts`); the others stop there. With `--continue`, each candidate
checkpoint kept in `--checkpoints` (`seed-<seed>/`, the first joint epoch's checkpoint, copied aside while the
benchmark ran) is trained on to the recipe's end as an ordinary one-run training of its seed, into
`runs/<name>_candidates/`. Without it, the table: per run of the benchmark, each candidate's criterion, its
validation accuracy (mean of the last three epochs) and which one the run continued. Nothing here looks at the
test split.

    python benchmarks/recipe_search/restart_candidates.py fsdd_restarts_pseudo_speakers --continue \\
        --checkpoints runs/restart_candidates
    python benchmarks/recipe_search/restart_candidates.py fsdd_restarts_pseudo_speakers [--json OUT]
"""

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from fsdd_clustering import load_runs  # noqa: E402


def candidate_model(name, seed):
    return os.path.join(ROOT, "runs", f"{name}_candidates", f"uvac_seed{seed}.keras")


def continue_candidates(name, checkpoints):
    from keras_uvac import training

    result, splits = load_runs(name)
    recipe = dataclasses.replace(training.RECIPES[result.get("recipe", "default")], restarts=1)
    for run in result["seeds"].values():
        with open(os.path.join(ROOT, run["model"] + ".run", "restarts", "choice.json")) as handle:
            choice = json.load(handle)
        for candidate in choice["candidates"]:
            out = candidate_model(name, candidate["seed"])
            kept = os.path.join(checkpoints, f"seed-{candidate['seed']}")
            if os.path.exists(out) or not os.path.isdir(kept):
                continue
            shutil.copytree(kept, os.path.join(out + ".run", "checkpoints", os.path.basename(candidate["checkpoint"])),
                            dirs_exist_ok=True)
            training.train(splits["train"], out, recipe, validation_collection=splits["validation"],
                           seed=candidate["seed"], speakers=result["speakers"], verbose=2, resume=True)


def last_three(model):
    with open(model + ".run/history.json") as handle:
        return statistics.mean(record["val_accuracy"] for record in json.load(handle)[-3:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a results JSON of benchmarks/fsdd_clustering.py, without .json")
    parser.add_argument("--continue", dest="train", action="store_true")
    parser.add_argument("--checkpoints", default=os.path.join(ROOT, "runs", "restart_candidates"))
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.train:
        continue_candidates(args.name, args.checkpoints)
        return
    result, _ = load_runs(args.name)
    report = {}
    print("| run | candidate seeds | consistency, first joint epoch | validation, last three epochs | continued |")
    print("| --- | --- | --- | --- | --- |")
    for seed, run in result["seeds"].items():
        with open(os.path.join(ROOT, run["model"] + ".run", "restarts", "choice.json")) as handle:
            choice = json.load(handle)
        rows = []
        for candidate in choice["candidates"]:
            chosen = candidate["seed"] == choice["chosen_seed"]
            model = os.path.join(ROOT, run["model"]) if chosen else candidate_model(args.name, candidate["seed"])
            validation = last_three(model) if os.path.exists(model + ".run/history.json") else None
            rows.append({"seed": candidate["seed"], "consistency": candidate["consistency"], "validation": validation})
        report[seed] = {"candidates": rows, "chosen_seed": choice["chosen_seed"]}
        print(f"| {seed} | " + " / ".join(str(row["seed"]) for row in rows) + " | "
              + " / ".join(f"{row['consistency']:.3f}" for row in rows) + " | "
              + " / ".join("-" if row["validation"] is None else f"{100 * row['validation']:.1f}" for row in rows)
              + f" | {choice['chosen_seed']} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": f"python benchmarks/recipe_search/restart_candidates.py {args.name}",
                       "runs": report}, handle, indent=1)


if __name__ == "__main__":
    main()
