"""Issue 38, item 3: does a final prior whose cluster sizes follow the data beat the equal-size refit on unequal
classes, and keep it on equal ones? Offline, on models already trained (session 26's quality calibration, 2-4
epochs, balanced at the end): each variant refits only the prior to the model's training codes, then clusters the
validation clips.

Variants: `equal` (today's `consensus.balance_prior`, a fixed point of the trained model), `free` (hard EM with
free mixture weights from the trained prior), and `follow` (Sinkhorn to estimated marginals: each step's target
sizes are the soft posterior's mean, floored at `floor / K`, the equal-size plan's optimal transport with those
marginals instead of uniform ones).

    python experiments/unequal_sizes/prior_sizes.py [--json experiments/results/unequal_sizes/prior_sizes.json]
"""

import argparse
import json
import os
import sys

import numpy as np
from sklearn.metrics import normalized_mutual_info_score

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from quality_calibration import corpus  # noqa: E402

from keras_uvac import consensus, metrics, pipeline  # noqa: E402
from keras_uvac.model import UVAC  # noqa: E402

MODELS = {"unequal_e4": "fsdd_unequal", "unequal_e4_pseudo": "fsdd_unequal", "unequal_e2_none": "fsdd_unequal",
          "fsdd5_e4": "fsdd5", "fsdd5_e8": "fsdd5", "fsdd_e2": "fsdd"}


def transported_clusters(log_posterior, marginals, iterations=50):
    """Each clip's most probable cluster under the posterior scaled to cluster marginals `marginals`."""
    log_plan = np.asarray(log_posterior, "float64")
    log_marginals = np.log(marginals)
    for _ in range(iterations):
        log_plan = log_plan - np.logaddexp.reduce(log_plan, axis=0, keepdims=True) + log_marginals
        log_plan = log_plan - np.logaddexp.reduce(log_plan, axis=1, keepdims=True) - np.log(len(log_plan))
    return log_plan.argmax(axis=1)


def refit(model, codes, variant, floor, max_steps=100):
    clusters = None
    for _ in range(max_steps):
        logits = np.asarray(model.prior.cluster_logits(codes))
        if variant == "free":
            new = logits.argmax(axis=1)
        else:
            posterior = np.exp(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))
            marginals = np.maximum(posterior.mean(axis=0), floor / model.num_clusters)
            new = transported_clusters(logits, marginals / marginals.sum())
        if np.array_equal(new, clusters):
            break
        clusters = new
        consensus._fit_prior(model, codes, clusters)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    args = parser.parse_args()
    results = {}
    for name, corpus_name in MODELS.items():
        path = os.path.join(ROOT, "runs", "quality_calibration", f"{name}.keras")
        model = UVAC.from_preset(path)
        splits = corpus(corpus_name).split(seed=0)
        train = pipeline.extract_features(splits["train"], progress=False)
        validation = pipeline.extract_features(splits["validation"], progress=False)
        codes = model.latent_mean(train)
        results[name] = {}
        for variant, floor in [("equal", None), ("free", None), ("follow", 0.1), ("follow", 0.3), ("follow", 0.5)]:
            candidate = UVAC.from_preset(path)  # each variant refits the trained prior
            if variant == "equal":
                consensus.balance_prior(candidate, train)
            else:
                refit(candidate, codes, variant, floor)
            clusters, _ = candidate.predict_clusters(validation)
            key = variant if floor is None else f"{variant}_{floor}"
            results[name][key] = {"accuracy": metrics.unsupervised_accuracy(splits["validation"].labels, clusters),
                                  "nmi": normalized_mutual_info_score(splits["validation"].labels, clusters),
                                  "sizes": np.bincount(clusters, minlength=model.num_clusters).tolist()}
            print(name, key, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in results[name][key].items()},
                  flush=True)
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as handle:
            json.dump({"command": "python experiments/unequal_sizes/prior_sizes.py --json " + args.json,
                       "split": "validation (seeded 80/10/10, split seed 0)", "results": results}, handle, indent=1)


if __name__ == "__main__":
    main()
