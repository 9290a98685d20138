"""Does the balanced prior's hard EM need more than the 10 steps it was first given?

`consensus.balance_prior` stops after `max_steps` EM steps or when a step changes no clip's cluster; with 10
steps almost every model of the thirteenth round stopped at the limit, not at a fixed point. For each trained
model (one from before the balanced prior, or any), on the validation clips, this refits the model's prior
from the same starting point with each step limit and reports the accuracy, the steps taken and whether the
EM reached a fixed point. No labels choose anything; the test split is not read. With `--save-dir`, each model
is also saved there as refitted with the last step limit (runs from before the balanced prior, balanced as
today's training ends a run).

    python benchmarks/recipe_search/balance_steps.py runs/fsdd_kl1c_ids/uvac_seed0.keras ... [--data DIR]
        [--max-steps 10 30 100] [--json OUT] [--save-dir DIR]
"""

import argparse
import json
import os
import shlex
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="trained models (.keras)")
    parser.add_argument("--data", help="the corpus folder (default: the bundled FSDD)")
    parser.add_argument("--max-steps", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--json")
    parser.add_argument("--save-dir")
    args = parser.parse_args()
    from balanced_consensus import validation_scorer

    from keras_uvac import consensus
    from keras_uvac.atomic import atomic_path, write_json
    from keras_uvac.model import UVAC

    report = {"command": "python " + shlex.join([os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
              "data": args.data or "bundled FSDD", "models": []}
    _, feature_config, features, accuracy = validation_scorer(args.data, args.models[0])
    for path in args.models:
        model = UVAC.from_preset(path)
        if model.feature_config_object() != feature_config:
            sys.exit(f"{path}: its features differ from {args.models[0]}'s; score them in separate runs")
        weights = model.get_weights()
        row = {"model": path, "start": accuracy(model), "limits": {}}
        for max_steps in args.max_steps:
            model.set_weights(weights)
            record = consensus.balance_prior(model, features["train"], max_steps=max_steps)
            row["limits"][str(max_steps)] = {"accuracy": accuracy(model), "steps": record["steps"],
                                             "fixed_point": record["steps"] < max_steps,
                                             "cluster_sizes": record["cluster_sizes"]}
        report["models"].append(row)
        if args.save_dir:
            with atomic_path(os.path.join(args.save_dir, os.path.basename(path))) as temporary:
                model.save(temporary)
        print(json.dumps({"model": path, "start": row["start"],
                          **{limit: (round(value["accuracy"], 4), value["steps"])
                             for limit, value in row["limits"].items()}}), flush=True)
    for limit in map(str, args.max_steps):
        print(f"max_steps {limit}: mean validation accuracy",
              round(float(np.mean([row["limits"][limit]["accuracy"] for row in report["models"]])), 4))
    if args.json:
        write_json(args.json, report, indent=2)


if __name__ == "__main__":
    main()
