"""Which label-free rule best tells "another speaker" apart, for the cross-speaker neighbour term?

The term draws each code to its nearest neighbour among clips of *other* speakers. Without ids, "other"
must be guessed. Two errors matter: contamination, the share of the clips taken as another speaker that are
in fact the same speaker (those pull a clip toward its own voice), and coverage, the share of the truly other
speakers' clips that stay candidates (fewer candidates, fewer same-word neighbours). Measured on the FSDD
training split (or `--data DIR`'s) with the `keras_uvac.nuisance` descriptor, over random batches of 64 as in
training. The tied mixture's BIC per group count is printed and kept too.

    python benchmarks/recipe_search/other_voice.py --json benchmarks/recipe_search/results/other_voice.json
    python benchmarks/recipe_search/other_voice.py --data runs/synthetic_digits \
        --json benchmarks/recipe_search/results/other_voice_synthetic.json
    python benchmarks/recipe_search/other_voice.py --split speaker \
        --json benchmarks/recipe_search/results/other_voice_speaker_split.json
"""

import argparse
import json
import sys

import numpy as np
from sklearn import cluster, metrics, mixture, preprocessing

from keras_uvac import datasets, nuisance


def rules(descriptors, seed=0):
    """name -> function(batch indices) -> (batch, batch) bool matrix "taken as another speaker"; the groupings; BIC."""
    scaled = preprocessing.StandardScaler().fit_transform(descriptors)
    found = {}
    for groups in (6, 12):
        labels = cluster.KMeans(groups, n_init=5, random_state=seed).fit_predict(scaled)
        found[f"kmeans {groups} groups"] = labels
    bic = {}
    for groups in (3, 4, 6, 12, 24, 48):
        fitted = mixture.GaussianMixture(groups, covariance_type="tied", n_init=3, random_state=seed).fit(scaled)
        found[f"tied GMM {groups} groups"] = fitted.predict(scaled)
        bic[groups] = fitted.bic(scaled)
    print("tied GMM BIC by group count:", {groups: round(value) for groups, value in bic.items()})
    found["ward 6 groups"] = cluster.AgglomerativeClustering(6, linkage="ward").fit_predict(scaled)
    table = {name: (lambda batch, labels=labels: labels[batch][:, None] != labels[batch][None, :])
             for name, labels in found.items()}
    for share in (0.5, 0.67, 0.8):
        def far(batch, share=share):
            distances = np.linalg.norm(scaled[batch][:, None] - scaled[batch][None, :], axis=-1)
            threshold = np.quantile(distances, 1 - share, axis=1, keepdims=True)
            return distances > threshold
        table[f"farthest {share:.0%} of the batch"] = far
    return table, found, bic


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data")
    parser.add_argument("--split", default="random", choices=("random", "speaker"))
    parser.add_argument("--json")
    args = parser.parse_args()
    collection = datasets.load_audio(args.data).split(args.split, seed=0)["train"]
    speakers = np.unique(collection.speakers, return_inverse=True)[1]
    digits = np.asarray(collection.labels)
    descriptors = nuisance.collection_descriptors(collection)
    rng = np.random.default_rng(0)
    batches = [rng.choice(len(speakers), 64, replace=False) for _ in range(200)]
    results = {}
    table, groupings, bic = rules(descriptors)
    for name, other in table.items():
        contamination, coverage, same_word, poisoned = [], [], [], []
        for batch in batches:
            taken = other(batch)
            truly_other = speakers[batch][:, None] != speakers[batch][None, :]
            contamination.append((taken & ~truly_other).sum() / max(taken.sum(), 1))
            coverage.append((taken & truly_other).sum() / truly_other.sum())
            word = digits[batch][:, None] == digits[batch][None, :]
            same_word.append((taken & truly_other & word).any(1).mean())
            # A same-voice, same-word candidate is the likeliest nearest neighbour, and it teaches nothing.
            poisoned.append((taken & ~truly_other & word & ~np.eye(len(batch), dtype=bool)).any(1).mean())
        results[name] = {"contamination": float(np.mean(contamination)), "coverage": float(np.mean(coverage)),
                         "clips_with_an_other_speaker_same_word_candidate": float(np.mean(same_word)),
                         "clips_with_a_same_speaker_same_word_candidate": float(np.mean(poisoned))}
        if name in groupings:
            results[name]["speaker_nmi"] = metrics.normalized_mutual_info_score(speakers, groupings[name])
            results[name]["digit_nmi"] = metrics.normalized_mutual_info_score(digits, groupings[name])
        print(f"{name:32s} " + "  ".join(f"{key} {value:.3f}" for key, value in results[name].items()))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": " ".join(["python", *sys.argv]), "results": results, "tied_gmm_bic": bic}, handle,
                      indent=2)


if __name__ == "__main__":
    main()
