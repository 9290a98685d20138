"""Do the consensus's merged words come apart if the carrying model's clusters are made equal in size?

In every consensus group of the default recipe one cluster holds 1.3 to 1.9 words' worth of training clips
(`consensus_members.py`). When all runs merge the same two words their one-hot clusters cannot split them,
so the split has to come from the codes. For each trained model (a consensus `uvac_seedN.keras` with its member
runs in `<model>.run/runs/seed-N.keras`, or a single run), on the validation clips, this compares:

- `members`: each member run (none for a single run); `final`: the trained model as it is;
- `final_balanced`: the final model's prior refitted by `consensus.balance_prior` (hard EM on its training codes,
  each step's assignment made equal in size by Sinkhorn-Knopp, as in self-labelling by optimal transport,
  Asano et al. 2020); `balanced`: that refit's record (steps, cluster sizes before and after);
- `final_split`: instead, the final model's largest cluster split in two by 2-means on its codes when it holds
  more than `--split-above` times clips/K, and the two clusters with the closest means merged;
- `carried`, `carried_balanced`: the most typical member with its prior refitted to the one-hot K-means
  consensus (`consensus.adopt_clusters`), before any self-labelling epoch, without and with the balanced refit.

The posterior of a clip never depends on other clips: balancing shapes only the prior. No labels choose or
combine anything; the test split is not read.

    python benchmarks/recipe_search/balanced_consensus.py runs/fsdd_kl1c_ids/uvac_seed0.keras ... [--data DIR]
        [--json OUT]
"""

import argparse
import glob
import json
import os
import shlex
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def split_largest(model, features, split_above):
    """Splits the largest cluster by 2-means and merges the closest pair of the others; False if none is large."""
    from sklearn import cluster as sk_cluster

    from keras_uvac import consensus

    codes = model.latent_mean(features)
    clusters = model.predict_clusters(features)[0]
    sizes = np.bincount(clusters, minlength=model.num_clusters)
    largest = int(sizes.argmax())
    if sizes[largest] <= split_above * len(codes) / model.num_clusters:
        return False
    halves = sk_cluster.KMeans(2, n_init=10, random_state=0).fit_predict(codes[clusters == largest])
    means = np.stack([codes[clusters == c].mean(axis=0) if sizes[c] else np.full(codes.shape[1], np.inf)
                      for c in range(model.num_clusters)])
    others = [c for c in range(model.num_clusters) if c != largest]
    pairs = [(np.sum((means[a] - means[b]) ** 2), a, b) for i, a in enumerate(others) for b in others[i + 1:]]
    _, keep, freed = min(pairs)
    clusters[clusters == freed] = keep
    members = np.flatnonzero(clusters == largest)
    clusters[members[halves == 1]] = freed
    consensus.adopt_clusters(model, features, clusters)
    return True


def validation_scorer(data, model_path):
    """The corpus' seeded random split, the features of `model_path`'s model for its training and validation
    clips, and a function giving a model's accuracy on the validation clips."""
    from keras_uvac import datasets, metrics, pipeline
    from keras_uvac.model import UVAC

    splits = datasets.load_audio(data).split("random", seed=0)
    feature_config = UVAC.from_preset(model_path).feature_config_object()
    features = {name: pipeline.extract_features(splits[name], feature_config, progress=False)
                for name in ("train", "validation")}

    def accuracy(model):
        return metrics.unsupervised_accuracy(splits["validation"].labels,
                                             model.predict_clusters(features["validation"])[0])

    return splits, feature_config, features, accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="trained consensus models (uvac_seedN.keras)")
    parser.add_argument("--data", help="the corpus folder (default: the bundled FSDD)")
    parser.add_argument("--split-above", type=float, default=1.5)
    parser.add_argument("--json")
    args = parser.parse_args()
    from keras_uvac import consensus
    from keras_uvac.atomic import write_json
    from keras_uvac.model import UVAC

    report = {"command": "python " + shlex.join([os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
              "data": args.data or "bundled FSDD", "split_above": args.split_above, "consensus": []}
    _, feature_config, features, accuracy = validation_scorer(args.data, args.models[0])
    for path in args.models:
        final = UVAC.from_preset(path)
        if final.feature_config_object() != feature_config:
            sys.exit(f"{path}: its features differ from {args.models[0]}'s; score them in separate runs")
        members = [UVAC.from_preset(member) for member in sorted(glob.glob(f"{path}.run/runs/seed-*.keras"))]
        row = {"model": path, "members": [accuracy(model) for model in members], "final": accuracy(final)}
        final_weights = final.get_weights()
        row["balanced"] = consensus.balance_prior(final, features["train"])
        row["final_balanced"] = accuracy(final)
        final.set_weights(final_weights)
        row["final_split"] = accuracy(final) if split_largest(final, features["train"], args.split_above) else None
        report["consensus"].append(row)
        if members:
            row.update(carried_rows(members, features, final.num_clusters, accuracy))
        print(json.dumps(row), flush=True)
    for key in ("final", "final_balanced", "carried", "carried_balanced"):
        values = [row[key] for row in report["consensus"] if key in row]
        print(key, round(float(np.mean(values)), 4) if values else None)
    if args.json:
        write_json(args.json, report, indent=2)


def carried_rows(members, features, num_clusters, accuracy):
    from keras_uvac import consensus

    train_runs = consensus.run_assignments(members, features["train"])
    typical, _ = consensus.most_typical_run(train_runs)
    carried = consensus.adopt_clusters(members[typical], features["train"],
                                       consensus.consensus_clusters(train_runs, num_clusters, "kmeans"))
    row = {"carried": accuracy(carried)}
    consensus.balance_prior(carried, features["train"])
    row["carried_balanced"] = accuracy(carried)
    return row


if __name__ == "__main__":
    main()
