"""Did the restarts pick well? Every candidate of a restarts benchmark, trained to the end.

A run of the default recipe trains three candidates to the end of the first joint epoch and continues the one of
lowest consistency term (`training.Recipe.restarts`); the others stop there. With `--continue`, each candidate
checkpoint kept in `--checkpoints` (`seed-<seed>/`, the first joint epoch's checkpoint, copied aside while the
benchmark ran) is trained on to the recipe's end as an ordinary one-run training of its seed (random split of
the FSDD or of `--data`), into
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
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from restart_criterion import history_numbers  # noqa: E402


def candidate_model(name, seed):
    return os.path.join(ROOT, "runs", f"{name}_candidates", f"uvac_seed{seed}.keras")


def choices(name):
    """`{seed: (model, choice)}` for each run of the benchmark that has made its restart choice."""
    folder = os.path.join(ROOT, "runs", name)
    found = {}
    for file_name in sorted(os.listdir(folder)):
        path = os.path.join(folder, file_name, "restarts", "choice.json")
        if file_name.endswith(".keras.run") and os.path.exists(path):
            with open(path) as handle:
                found[file_name[len("uvac_seed"):-len(".keras.run")]] = (os.path.join(folder, file_name[:-4]),
                                                                         json.load(handle))
    return found


def continue_candidates(name, checkpoints, data):
    from keras_uvac import datasets, training

    splits = datasets.load_audio(data).split("random", seed=0)
    for model, choice in choices(name).values():
        with open(model + ".run/recipe.json") as handle:
            run = json.load(handle)
        recipe = dataclasses.replace(training.Recipe.from_config(run["recipe"]), restarts=1)
        for candidate in choice["candidates"]:
            out = candidate_model(name, candidate["seed"])
            kept = os.path.join(checkpoints, f"seed-{candidate['seed']}")
            if candidate["seed"] == choice["chosen_seed"] or os.path.exists(out) or not os.path.isdir(kept):
                continue
            shutil.copytree(kept, os.path.join(out + ".run", "checkpoints", os.path.basename(candidate["checkpoint"])),
                            dirs_exist_ok=True)
            training.train(splits["train"], out, recipe, validation_collection=splits["validation"],
                           seed=candidate["seed"], speakers=run["speakers"], verbose=2, resume=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a results JSON of benchmarks/fsdd_clustering.py, without .json")
    parser.add_argument("--continue", dest="train", action="store_true")
    parser.add_argument("--checkpoints", default=os.path.join(ROOT, "runs", "restart_candidates"))
    parser.add_argument("--data", help="the benchmark's corpus folder (default: the bundled FSDD)")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.train:
        continue_candidates(args.name, args.checkpoints, args.data)
        return
    report = {}
    print("| run | candidate seeds | consistency, first joint epoch (the choice) | validation, last three epochs "
          "| continued | pick by consistency at the end of pretraining / in the last epoch / by the last loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    for seed, (run_model, choice) in choices(args.name).items():
        rows = []
        for candidate in choice["candidates"]:
            chosen = candidate["seed"] == choice["chosen_seed"]
            model = run_model if chosen else candidate_model(args.name, candidate["seed"])
            if not os.path.exists(model):
                model = None  # not trained to the end (yet)
            rows.append({"seed": candidate["seed"], "consistency": candidate["consistency"],
                         **(history_numbers(model) if model else {})})
        report[seed] = {"candidates": rows, "chosen_seed": choice["chosen_seed"]}
        finished = all("validation" in row for row in rows)
        other_picks = " / ".join(str(min(rows, key=lambda row, key=key: row[key])["seed"]) for key in (
            "consistency_end_of_pretraining", "consistency_last_epoch", "loss_last_epoch")) if finished else "-"
        print(f"| {seed} | " + " / ".join(str(row["seed"]) for row in rows) + " | "
              + " / ".join(f"{row['consistency']:.3f}" for row in rows) + " | "
              + " / ".join(f"{100 * row['validation']:.1f}" if "validation" in row else "-" for row in rows)
              + f" | {choice['chosen_seed']} | {other_picks} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": f"python benchmarks/recipe_search/restart_candidates.py {args.name}",
                       "runs": report}, handle, indent=1)


if __name__ == "__main__":
    main()
