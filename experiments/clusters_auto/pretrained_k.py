"""Issue 38: can the number of clusters be read from the pretrained codes, before the mixture is fitted?

The default recipe pretrains an autoencoder for 12 epochs whatever K is, then fits the mixture to the codes by EM.
If a criterion on those codes finds K, `--clusters auto` costs one sweep of EM fits. For K in a range, on the
codes of the training clips of a pretrained checkpoint (the recipe's tied-covariance EM, as the recipe fits it):
BIC on the training codes, the mean log-likelihood of the validation codes, and stability (mean adjusted Rand
index between mixtures fitted to seeded halves of the training codes, compared on all of them; with
`--product`, exactly `keras_uvac.training.clusters.stability_curve`, the same halves for every K). Labels are read
only to report each K's NMI on the validation clips.

    python experiments/clusters_auto/pretrained_k.py CHECKPOINT_MODEL.keras [--data DIR] [--product] --json OUT.json
"""

import argparse
import json
import math

import keras
import numpy as np
from sklearn import metrics, mixture

from keras_uvac import datasets, pipeline
from keras_uvac.training import clusters


def fit(codes, k, floor, seed):
    return mixture.GaussianMixture(k, covariance_type="tied", n_init=3, reg_covar=floor,
                                   random_state=seed).fit(codes)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--data")
    parser.add_argument("--k", type=int, nargs=2, default=(2, 30))
    parser.add_argument("--halves", type=int, default=4)
    parser.add_argument("--product", action="store_true", help="only the product's stability curve")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    model = keras.saving.load_model(args.model)
    config = model.feature_config_object()
    splits = datasets.load_audio(args.data).split("random", seed=0)
    codes = {name: model.latent_mean(pipeline.feature_dataset(splits[name], config, 256, with_labels=False))
             for name in ("train", "validation")}
    floor = math.exp(model.min_log_variance)
    if args.product:
        return product_curve(args, model, splits, codes, floor)
    rng = np.random.default_rng(0)
    rows = []
    for k in range(args.k[0], args.k[1] + 1):
        full = fit(codes["train"], k, floor, 0)
        partitions = []
        for half in range(args.halves):
            chosen = rng.permutation(len(codes["train"]))[:len(codes["train"]) // 2]
            partitions.append(fit(codes["train"][chosen], k, floor, half + 1).predict(codes["train"]))
        stability = np.mean([metrics.adjusted_rand_score(partitions[i], partitions[j])
                             for i in range(len(partitions)) for j in range(i + 1, len(partitions))])
        row = {"k": k, "bic": float(full.bic(codes["train"])),
               "validation_log_likelihood": float(full.score(codes["validation"])), "stability_ari": float(stability),
               "validation_nmi_not_used": float(metrics.normalized_mutual_info_score(
                   splits["validation"].labels, full.predict(codes["validation"])))}
        rows.append(row)
        print(json.dumps(row), flush=True)
    result = {"model": args.model, "data": args.data or "bundled FSDD", "classes": len(splits["train"].class_names),
              "rows": rows, "chosen": {
                  "bic": min(rows, key=lambda row: row["bic"])["k"],
                  "validation_log_likelihood": max(rows, key=lambda row: row["validation_log_likelihood"])["k"],
                  "stability_ari": max(rows, key=lambda row: row["stability_ari"])["k"]}}
    print(result["chosen"])
    with open(args.json, "w") as handle:
        json.dump(result, handle, indent=2)


def product_curve(args, model, splits, codes, floor):
    rows = clusters.stability_curve(codes["train"], tuple(args.k), variance_floor=floor)
    for row in rows:
        row["validation_nmi_not_used"] = float(metrics.normalized_mutual_info_score(
            splits["validation"].labels, fit(codes["train"], row["k"], floor, 0).predict(codes["validation"])))
        print(json.dumps(row), flush=True)
    result = {"model": args.model, "data": args.data or "bundled FSDD", "classes": len(splits["train"].class_names),
              "criterion": "keras_uvac.training.clusters.stability_curve", "rows": rows,
              "chosen": clusters.choose_number_of_clusters(rows)}
    print("chosen", result["chosen"], "classes", result["classes"])
    with open(args.json, "w") as handle:
        json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
