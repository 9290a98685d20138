"""Does a consensus of several trained runs beat its runs, and can one model carry it?

For each group of trained models (one recipe, different seeds, same corpus and split), on the validation clips:
each model's accuracy, the consensus of the group (`consensus.consensus_clusters`), and one model that carries
the consensus: the group's most typical model (`consensus.most_typical_run`, as `training.Recipe.runs` does)
with its prior refitted to the consensus of the training clips (`consensus.adopt_clusters`: one M-step of the
tied mixture on that model's training codes, the consensus as hard responsibilities). No labels choose or
combine anything; the test split is not read.

    python benchmarks/recipe_search/consensus_groups.py --group A.keras B.keras C.keras [--group ...] \\
        [--data DIR] [--method average|kmeans] [--json OUT]
"""

import argparse
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", nargs="+", action="append", required=True, help="model files of one group")
    parser.add_argument("--data", help="the corpus folder (default: the bundled FSDD)")
    parser.add_argument("--method", default="average", choices=("average", "kmeans"),
                        help="how the runs' clusters are combined (consensus.consensus_clusters)")
    parser.add_argument("--json")
    args = parser.parse_args()
    from keras_uvac import consensus, datasets, metrics, pipeline
    from keras_uvac.atomic import write_json
    from keras_uvac.model import UVAC

    splits = datasets.load_audio(args.data).split("random", seed=0)
    report = {"command": "python benchmarks/recipe_search/consensus_groups.py " + " ".join(sys.argv[1:]),
              "data": args.data or "bundled FSDD", "method": args.method, "groups": []}
    features = {}
    for paths in args.group:
        models = [UVAC.from_preset(os.path.join(ROOT, path)) for path in paths]
        for name in ("train", "validation"):
            if name not in features:
                features[name] = pipeline.extract_features(splits[name], models[0].feature_config_object(),
                                                           progress=False)
        labels = splits["validation"].labels
        train_runs = consensus.run_assignments(models, features["train"])
        validation_runs = consensus.run_assignments(models, features["validation"])
        typical, _ = consensus.most_typical_run(train_runs)
        train_consensus = consensus.consensus_clusters(train_runs, models[0].num_clusters, args.method)
        carried_each = []
        for model in models:
            consensus.adopt_clusters(model, features["train"], train_consensus)
            carried_each.append(model.predict_clusters(features["validation"])[0])
        carried = carried_each[typical]
        row = {"models": paths,
               "accuracy": [metrics.unsupervised_accuracy(labels, run) for run in validation_runs],
               "consensus": metrics.unsupervised_accuracy(
                   labels, consensus.consensus_clusters(validation_runs, models[0].num_clusters, args.method)),
               "most_typical": paths[typical],
               "carried_by_each": [metrics.unsupervised_accuracy(labels, run) for run in carried_each],
               "carried": metrics.unsupervised_accuracy(labels, carried),
               "carried_nmi": metrics.clustering_report(carried, labels)["nmi"]}
        row["mean"] = statistics.mean(row["accuracy"])
        report["groups"].append(row)
        print(json.dumps(row))
    if args.json:
        write_json(args.json, report, indent=2)


if __name__ == "__main__":
    main()
