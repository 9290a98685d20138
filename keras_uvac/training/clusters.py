"""Choosing the number of clusters without labels: `uvac train --clusters auto`.

The default recipe pretrains an autoencoder before the mixture is fitted, and
that phase does not depend on the number of clusters K. On its codes, a
mixture of K components is fitted (the recipe's own tied-covariance EM) to
seeded halves of the training clips; where K matches the structure of the
codes, the halves' mixtures partition all the clips alike, and where it does
not, they split or merge groups differently each time. The K whose halves
agree best (mean adjusted Rand index between every two) is chosen: stability
selection (Ben-Hur et al. 2002; Lange et al. 2004).

Experimental: on the development corpora it chose 8 clusters for the FSDD's
ten digits and 7 for five of them (docs/design.md, "Number of clusters"); the
pretrained codes group the clips more coarsely, or otherwise, than the classes.
"""

import json
import math
import os
import time

import numpy as np
from sklearn import metrics as sk_metrics
from sklearn import mixture as sk_mixture

from keras_uvac import pipeline
from keras_uvac.atomic import write_json
from keras_uvac.training.checkpoints import CLUSTER_CHOICE, latest_checkpoint, load_checkpoint

DEFAULT_RANGE = (2, 30)
HALVES = 4


def stability_curve(codes, cluster_range=DEFAULT_RANGE, halves=HALVES, seed=0, variance_floor=1e-2):
    """For each K in `cluster_range`, how alike mixtures fitted to seeded halves of `codes` partition them all.

    Args:
        codes: `(clips, latent_dim)` latent means of the training clips.
        cluster_range: `(smallest, largest)` K, both included; K beyond half the clips is left out.
        halves: mixtures fitted per K, each to a seeded random half of the clips.
        seed: seed of the halves and of EM.
        variance_floor: EM's `reg_covar` (the model's smallest prior variance, `exp(min_log_variance)`).

    Returns:
        A list of `{"k": K, "stability": mean adjusted Rand index, "clusters_used": the fewest clusters any
        half's mixture gave the clips}` in order of K.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> codes = np.concatenate([rng.normal(centre, 0.1, (40, 2)) for centre in (-3, 0, 3)])
    >>> max(stability_curve(codes, (2, 5)), key=lambda row: row["stability"])["k"]
    3
    """
    codes = np.asarray(codes, np.float64)
    smallest, largest = cluster_range
    rng = np.random.default_rng(seed)
    subsets = [rng.permutation(len(codes))[:len(codes) // 2] for _ in range(halves)]
    curve = []
    for k in range(smallest, min(largest, len(codes) // 4) + 1):
        partitions = [sk_mixture.GaussianMixture(k, covariance_type="tied", n_init=3, reg_covar=variance_floor,
                                                 random_state=seed + index).fit(codes[subset]).predict(codes)
                      for index, subset in enumerate(subsets)]
        agreement = [sk_metrics.adjusted_rand_score(partitions[first], partitions[second])
                     for first in range(halves) for second in range(first + 1, halves)]
        curve.append({"k": k, "stability": float(np.mean(agreement)),
                      "clusters_used": min(len(np.unique(partition)) for partition in partitions)})
    return curve


def choose_number_of_clusters(curve):
    """The K of `stability_curve` whose halves agree best; on a tie, the larger K.

    Groups that are well apart are also split stably into fewer clusters by merging neighbours (four groups in
    a row give two or three stable clusters as well as four), so among equally stable K the finest is the one
    that says the most. A K whose mixtures leave clusters empty is not one the codes hold (codes without any
    structure leave all but one empty, and agree perfectly); without any other, the smallest K.

    Example:
    >>> choose_number_of_clusters([{"k": 2, "stability": 1.0, "clusters_used": 2},
    ...                            {"k": 3, "stability": 1.0, "clusters_used": 3},
    ...                            {"k": 4, "stability": 1.0, "clusters_used": 3}])
    3
    """
    filled = [row for row in curve if row["clusters_used"] == row["k"]]
    if not filled:
        return min(row["k"] for row in curve)
    return max(filled, key=lambda row: (row["stability"], row["k"]))["k"]


def choose_clusters(run, run_directory, seed, recipe, train_collection, feature_config, verbose, is_chief,
                    cluster_range=DEFAULT_RANGE):
    """Pretrains one run of the recipe and chooses K on its codes (`stability_curve`); the choice as a dict.

    The pretraining is an ordinary run of `seed`, stopped after `recipe.pretrain_epochs`, in
    `clusters/seed-<seed>.keras.run/` (an interrupted one resumes; a finished choice is read back from
    `clusters/choice.json`). Its K is a placeholder: pretraining does not use the mixture.

    Returns:
        `{"criterion", "range", "curve", "chosen", "seconds"}`, also written to `clusters/choice.json`.
    """
    folder = os.path.join(run_directory, CLUSTER_CHOICE)
    choice_path = os.path.join(folder, "choice.json")
    if os.path.exists(choice_path):
        with open(choice_path) as handle:
            return json.load(handle)
    pretraining = os.path.join(folder, f"seed-{seed}.keras")
    os.makedirs(pretraining + ".run", exist_ok=True)
    if verbose:
        print(f"--clusters auto: pretraining {recipe.pretrain_epochs} epochs to choose the number of clusters",
              flush=True)
    checkpoint = latest_checkpoint(pretraining + ".run")
    model, history = load_checkpoint(checkpoint) if checkpoint else (None, [])
    if len(history) < recipe.pretrain_epochs:  # a finished pretraining is read back, not trained one epoch more
        model, history = run(pretraining, seed, checkpoint, stop_after=recipe.pretrain_epochs,
                             num_clusters=min(cluster_range[1], len(train_collection)))
    codes = model.latent_mean(pipeline.feature_dataset(train_collection, feature_config, 256, with_labels=False))
    start = time.perf_counter()
    curve = stability_curve(codes, cluster_range, seed=seed, variance_floor=math.exp(model.min_log_variance))
    chosen = choose_number_of_clusters(curve)
    choice = {"criterion": "stability of the mixture fitted to seeded halves of the pretrained codes (mean adjusted "
                           f"Rand index of {HALVES} halves), highest", "range": list(cluster_range), "curve": curve,
              "chosen": chosen,
              "seconds": sum(epoch["seconds"] for epoch in history) + time.perf_counter() - start}
    if verbose:
        print("--clusters auto: stability by K " + ", ".join(f"{row['k']}: {row['stability']:.2f}" for row in curve)
              + f"; {chosen} clusters", flush=True)
    if is_chief:
        write_json(choice_path, choice, indent=2)
    return choice
