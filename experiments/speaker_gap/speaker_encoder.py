"""Pseudo-speaker groups from a pretrained speaker encoder (Resemblyzer, Apache-2.0), against today's descriptor.

Issue 37, item 2 (no training). Today's descriptor carries the words, so its groups follow the digits as soon as
there are more groups than voices (FSDD, 48 groups: digit NMI 0.54), and the count cannot be chosen from it. A
speaker encoder trained to ignore what is said should give groups that follow voices at any count, and a BIC curve
with its minimum near the number of voices. Training split only; each clip's loudest second at 16 kHz, as the
descriptor sees it. The embeddings are the package's (`keras_uvac.speaker_encoder`, `pip install -e ".[speakers]"`),
which equal Resemblyzer's own `embed_utterance` to cosine 0.9999999 (session 30; the first tables were made with it).

    python experiments/speaker_gap/speaker_encoder.py DATA [DATA ...] [--json F]
    python experiments/speaker_gap/speaker_encoder.py DATA --save-groups F [--rule floor6] [--seed S] --only-save

`--rule floor6` (session 30): the package's `nuisance.group_embeddings` (a tied mixture of max(6, threshold count)
components) instead of average linkage.
"""

import json
import os

import numpy as np
from common import corpora_parser, scored, splits, write_rows
from sklearn import cluster, decomposition, mixture, preprocessing

from keras_uvac import nuisance, speaker_encoder

COUNTS = (6, 12, 24, 48, 96)
# Cosine distances at which average-linkage merging stops: a count of voices read from the encoder, not chosen.
THRESHOLDS = (0.2, 0.3, 0.4, 0.5)
SAVED_THRESHOLD = 0.3


def cached_embeddings(data, train):
    """The embeddings of `train`, kept in runs/speaker_gap so that each rule and seed does not re-embed the corpus."""
    path = f"runs/speaker_gap/embeddings_{os.path.basename(os.path.normpath(data))}.npy"
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(path, speaker_encoder.collection_embeddings(train, nuisance.DESCRIPTOR_CONFIG))
    return np.load(path)


def mixture_groups(embedded, count):
    """A tied mixture on the standardised 32 principal directions of the embeddings, and those directions (for BIC)."""
    reduced = decomposition.PCA(nuisance.ENCODER_DIRECTIONS, random_state=0).fit_transform(embedded)
    standardised = preprocessing.StandardScaler().fit_transform(reduced)
    fitted = mixture.GaussianMixture(count, covariance_type="tied", n_init=5, random_state=0).fit(standardised)
    return fitted, standardised


def merged(embedded, threshold):
    """Average-linkage groups of the embeddings, merged until the cosine distance between groups reaches `threshold`."""
    return cluster.AgglomerativeClustering(None, metric="cosine", linkage="average",
                                           distance_threshold=threshold).fit_predict(embedded)


def main():
    parser = corpora_parser()
    parser.add_argument("--save-groups", metavar="JSON",
                        help="write each training clip's group at threshold 0.3 (give one DATA)")
    parser.add_argument("--only-save", action="store_true", help="skip the tables")
    parser.add_argument("--rule", choices=["threshold", "floor6"], default="threshold")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = []
    for data in args.data:
        train = splits(data)["train"]
        embedded = cached_embeddings(data, train)
        if args.save_groups:
            if args.rule == "floor6":
                groups = nuisance.group_embeddings(embedded, 6, args.seed)
            else:
                groups = merged(embedded, SAVED_THRESHOLD)
            scored(train, groups, data=data, rule=args.rule, seed=args.seed, groups=int(len(np.unique(groups))))
            with open(args.save_groups, "w") as handle:
                json.dump(dict(zip(map(str, train.paths), groups.tolist())), handle)
            if args.only_save:
                continue
        for threshold in THRESHOLDS:
            groups = merged(embedded, threshold)
            sizes = np.bincount(groups)
            results.append(scored(train, groups, data=data, descriptor="resemblyzer, average linkage",
                                  threshold=threshold, groups=int(len(sizes)),
                                  groups_of_10_or_more=int(np.sum(sizes >= 10))))
        for count in COUNTS:
            fitted, standardised = mixture_groups(embedded, count)
            results.append(scored(train, fitted.predict(standardised), data=data, descriptor="resemblyzer",
                                  groups=count, bic=round(float(fitted.bic(standardised)), 1)))
    write_rows(args.json, results)


if __name__ == "__main__":
    main()
