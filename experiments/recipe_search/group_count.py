"""Can the number of pseudo-speaker groups be chosen without labels? Stability of the tied mixture per count.

For each group count, the tied Gaussian mixture of `keras_uvac.nuisance` is fitted to pairs of random halves
of the training clips' descriptors (different seeds) and the two fits' groupings of all clips are compared
(adjusted Rand index): groups that follow real speakers come back from any half, arbitrary splits of one
voice do not. Printed beside each count: the speaker and digit NMI of the full fit (labels only to judge
the rule, never to choose).

    python benchmarks/recipe_search/group_count.py [--data DIR] [--split random|speaker] [--json OUT]
"""

import argparse
import json
import sys

import numpy as np
from sklearn import metrics, mixture, preprocessing

from keras_uvac import datasets, nuisance

COUNTS = (2, 3, 4, 5, 6, 8, 10, 12, 16, 24)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data")
    parser.add_argument("--split", default="random", choices=("random", "speaker"))
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    collection = datasets.load_audio(args.data).split(args.split, seed=0)["train"]
    speakers = np.unique(collection.speakers, return_inverse=True)[1]
    digits = np.asarray(collection.labels)
    scaled = preprocessing.StandardScaler().fit_transform(nuisance.collection_descriptors(collection))
    rng = np.random.default_rng(0)
    rows = {}
    for count in COUNTS:
        agreement = []
        for pair in range(args.pairs):
            order = rng.permutation(len(scaled))
            halves = order[:len(order) // 2], order[len(order) // 2:]
            fits = [mixture.GaussianMixture(count, covariance_type="tied", n_init=2, random_state=10 * pair + side)
                    .fit(scaled[half]) for side, half in enumerate(halves)]
            agreement.append(metrics.adjusted_rand_score(fits[0].predict(scaled), fits[1].predict(scaled)))
        groups = nuisance.group_descriptors(scaled, count)
        rows[count] = {"stability_ari": float(np.mean(agreement)),
                       "speaker_nmi": metrics.normalized_mutual_info_score(speakers, groups),
                       "digit_nmi": metrics.normalized_mutual_info_score(digits, groups)}
        print(count, "  ".join(f"{key} {value:.3f}" for key, value in rows[count].items()), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": " ".join(["python", *sys.argv]), "speakers": int(speakers.max() + 1),
                       "counts": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
