"""Finished one-run trainings reused as the runs of a consensus, so that they are not trained again.

A consensus run of seed S with N runs (`training.Recipe.runs`) trains the seeds `S * N` to `S * N + N - 1`
as ordinary runs in `<out>.run/runs/seed-<seed>.keras`, and reads back any that is already there. This copies
finished trainings into those places, after checking that each is the run the consensus would train: its
seed, its speaker source and its recipe must match. Runs older than a recipe field are read as the field's
off value (`Recipe`'s defaults, the behaviour before the field existed; a removed option must have been off;
runs from before the speaker option trained on the data's ids), the fields of what happens after the runs
(`name`, `runs`, `consensus_epochs`, `balanced_clusters`, `restarts`) are not compared, and the speaker-run
fields are compared by what they do for the run's speaker count (`training.speaker_run_length`). Then
`uvac train ... --resume` (or `benchmarks/fsdd_clustering.py`) only combines them.

    python benchmarks/recipe_search/reuse_runs.py OUT.keras --seed S --speakers ids|pseudo [--data DIR] RUN.keras ...
"""

import argparse
import dataclasses
import json
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IGNORED = ("name", "runs", "consensus_epochs", "balanced_clusters", "restarts", "clips_per_speaker",
           "speaker_runs_from")


def effective_recipe(config, speaker_count):
    """What a recipe config trains, as a dict that two equivalent recipes share."""
    from keras_uvac import training

    fields = {field.name for field in dataclasses.fields(training.Recipe)}
    removed = {key: value for key, value in config.items() if key not in fields}
    if any(removed.values()):
        raise ValueError(f"the run used options that no longer exist: {removed}")
    recipe = training.Recipe.from_config({key: value for key, value in config.items() if key in fields})
    effective = {key: value for key, value in recipe.get_config().items() if key not in IGNORED}
    effective["speaker_run_length"] = training.speaker_run_length(recipe, range(speaker_count))
    return effective


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the consensus model's path (its runs go to OUT.run/runs/)")
    parser.add_argument("runs", nargs="+", help="finished runs (.keras, each with its .keras.run/), in seed order")
    parser.add_argument("--seed", type=int, required=True, help="the consensus run's seed")
    parser.add_argument("--speakers", required=True, choices=("ids", "pseudo"))
    parser.add_argument("--recipe", default="default")
    parser.add_argument("--data", help="the corpus folder (default: the bundled FSDD), for its speaker count")
    args = parser.parse_args()
    from keras_uvac import datasets, training

    recipe = dataclasses.replace(training.RECIPES[args.recipe], runs=len(args.runs))
    speaker_count = (recipe.pseudo_speakers if args.speakers == "pseudo"
                     else len(set(datasets.load_audio(args.data).split("random", seed=0)["train"].speakers)))
    folder = os.path.join(ROOT, args.out + ".run", training.MEMBERS)
    for index, run in enumerate(args.runs):
        seed = args.seed * recipe.runs + index
        with open(os.path.join(ROOT, run + ".run", "recipe.json")) as handle:
            trained = json.load(handle)
        problems = [name for name, ok in (("seed", trained["seed"] == seed),
                                          ("speakers", trained.get("speakers", "ids") == args.speakers),
                                          ("recipe", effective_recipe(trained["recipe"], speaker_count)
                                           == effective_recipe(recipe.get_config(), speaker_count))) if not ok]
        if problems:
            sys.exit(f"{run} is not the consensus' run of seed {seed}: its {', '.join(problems)} differ")
        target = os.path.join(folder, f"seed-{seed}.keras")
        os.makedirs(target + ".run", exist_ok=True)
        for name in ("history.json", "recipe.json"):
            shutil.copy(os.path.join(ROOT, run + ".run", name), target + ".run")
        shutil.copy(os.path.join(ROOT, run), target)
        print(f"{run} -> {os.path.relpath(target, ROOT)}")


if __name__ == "__main__":
    main()
