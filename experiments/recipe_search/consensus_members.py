"""What each seed's consensus of a `benchmarks/fsdd_clustering.py` result was made of.

Per seed: its runs' final validation accuracy, the run that carries the consensus, and the sizes of the consensus
clusters on the training clips (a cluster far above the corpus's clips per word holds merged words). Reads the
runs' histories and `consensus.json` under `runs/`; nothing here looks at the test split.

    python benchmarks/recipe_search/consensus_members.py fsdd_kl1c_pseudo fsdd_kl1c_ids \\
        --json benchmarks/recipe_search/results/consensus_members_kl1c.json
"""

import argparse
import json
import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from fsdd_clustering import load_result  # noqa: E402

from keras_uvac.atomic import write_json  # noqa: E402
from keras_uvac.training import read_history  # noqa: E402


def seed_members(model):
    """The consensus behind one trained model (`model` relative to the repository)."""
    runs = os.path.join(ROOT, model + ".run", "runs")
    with open(os.path.join(runs, "consensus.json")) as handle:
        consensus = json.load(handle)
    validation = {str(seed): read_history(os.path.join(runs, f"seed-{seed}.keras.run"))[-1]["val_accuracy"]
                  for seed in consensus["seeds"]}
    return {"runs_final_validation_accuracy": validation, "carrying_seed": consensus["carrying_seed"],
            "cluster_sizes": sorted(consensus["cluster_sizes"], reverse=True),
            "clips_with_targets": consensus["clips_with_targets"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="results names (benchmarks/results/NAME.json)")
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args()
    report = {"command": "python benchmarks/recipe_search/consensus_members.py " + shlex.join(sys.argv[1:]),
              "results": {}}
    for name in args.names:
        result = load_result(name)
        report["results"][name] = {seed: seed_members(run["model"]) for seed, run in result["seeds"].items()}
    print(json.dumps(report, indent=2))
    if args.json:
        write_json(args.json, report)


if __name__ == "__main__":
    main()
