"""Whole trainings' time by phase, each against a baseline trained on the same machine in the same session.

Reads the records that `uvac train` leaves (the card, every run's `history.json`; see
`recipe_profile.recorded_phases`) of a baseline model and of one or more candidates, and writes each one's wall
time, epochs and phases beside the baseline's, with the ratio of their totals. The ratio means something only when
the models trained one after another on one quiet machine, each in one process (a resumed training's wall time is
not on record); the card's `machine` is copied for that check.

    python benchmarks/recipe_time.py BASELINE MODEL [MODEL ...] [--out benchmarks/results/recipe_time.json]
"""

import argparse
import os
import sys

from recipe_profile import ROOT, recorded_phases

from keras_uvac.atomic import write_json


def timing(model_path):
    """A model's total seconds, epochs counted once, and phases, from its records."""
    records = recorded_phases(os.path.abspath(model_path))
    if min(phase["seconds"] for phase in records["phases"].values()) < 0:
        raise SystemExit(f"{model_path} was resumed in another process: its wall time is not on record")
    epochs = sum(run["pretraining_epochs"] + run["joint_epochs"] for run in records["runs"])
    consensus_epochs = records["recipe"]["consensus_epochs"] if records["recipe"]["runs"] > 1 else 0
    return {**records, "epochs": epochs + consensus_epochs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="a model trained by uvac train, with its .card.json and .run folder")
    parser.add_argument("models", nargs="+", help="models to set beside it")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "recipe_time.json"))
    args = parser.parse_args()
    baseline = timing(args.baseline)
    models = {path: timing(path) for path in args.models}
    for path, result in models.items():
        result["ratio_to_baseline"] = result["total_seconds"] / baseline["total_seconds"]
        print(f"{path}: {result['total_seconds']:.0f} s, {result['epochs']} epochs, "
              f"{result['ratio_to_baseline']:.2f}x the baseline's {baseline['total_seconds']:.0f} s "
              f"({baseline['epochs']} epochs)")
    payload = {"what": "wall time of whole trainings (uvac train, from their cards and histories) against a baseline "
                       "trained one after another on the same machine",
               "command": "python benchmarks/recipe_time.py " + " ".join(sys.argv[1:]),
               "baseline": baseline, "models": models}
    write_json(args.out, payload, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
