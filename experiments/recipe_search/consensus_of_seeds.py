"""Several seeds of one recipe: each seed, the most typical seed (chosen without labels), and their consensus.

Reads the seed models that `benchmarks/fsdd_clustering.py` trained for a results JSON, clusters the
validation and the test split with each, and scores each seed, the run `consensus.most_typical_run` picks
and `consensus.consensus_clusters` (no labels are used to pick or combine). Writes
`benchmarks/results/<name>_consensus.json`.

    python benchmarks/consensus.py fsdd_clustering_pseudo_speakers [--data DIR]
"""

import argparse
import json
import os
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a results JSON of benchmarks/fsdd_clustering.py, without .json")
    args = parser.parse_args()
    from fsdd_clustering import load_runs

    from keras_uvac import consensus, metrics, pipeline
    from keras_uvac.atomic import write_json
    from keras_uvac.model import UVAC

    result, splits = load_runs(args.name)
    models = [UVAC.from_preset(os.path.join(ROOT, run["model"])) for run in result["seeds"].values()]
    payload = {"what": f"{result['what']}; each seed, the most typical seed, and the consensus of the seeds",
               "command": "python benchmarks/consensus.py " + " ".join(sys.argv[1:]), "seeds": list(result["seeds"])}
    for split in ("validation", "test"):
        collection = splits[split]
        assignments = consensus.run_assignments(models, pipeline.extract_features(
            collection, models[0].feature_config_object(), progress=False))
        typical, agreement = consensus.most_typical_run(assignments)
        combined = consensus.consensus_clusters(assignments, models[0].num_clusters)
        seeds = [metrics.unsupervised_accuracy(collection.labels, row) for row in assignments]
        payload[split] = {
            "clips": len(collection),
            "accuracy_per_seed": seeds, "mean_accuracy": statistics.mean(seeds),
            "agreement_per_seed": agreement.tolist(), "most_typical_seed": list(result["seeds"])[typical],
            "most_typical_accuracy": seeds[typical],
            "consensus_accuracy": metrics.unsupervised_accuracy(collection.labels, combined),
            "consensus_nmi": metrics.clustering_report(combined, collection.labels)["nmi"]}
        print(split, json.dumps(payload[split]))
    write_json(os.path.join(ROOT, "benchmarks", "results", f"{args.name}_consensus.json"), payload, indent=2)


if __name__ == "__main__":
    main()
