"""Probe: how much of a seed's result is decided by the mixture fit at the end of pretraining?

`--pretrain` trains the default recipe's pretraining phase only (its first `pretrain_epochs` epochs, the same
schedule as a full run) for each seed on the training split, and keeps its last checkpoint in
`runs/<name>/checkpoint_seed<seed>/`. Without it, the kept pretrained models are read and the tied
mixture that the recipe fits to the training codes is fitted from many EM starts; each start is scored on
the validation clips (the posterior the prior holds: the means and the diagonal of the shared covariance)
beside label-free criteria: the fit's log-likelihood per clip and the entropy of its cluster sizes on the
training clips. The test split is not looked at.

    python benchmarks/recipe_search/mixture_starts.py --pretrain [--data DIR --name NAME]
    python benchmarks/recipe_search/mixture_starts.py [--json OUT]
    python benchmarks/recipe_search/mixture_starts.py --joint OUT_NAME '{"initial_posterior_variance": 0.01}'

`--joint` resumes each seed's kept pretraining checkpoint for the joint phase of the default recipe with the
given fields replaced (`training.Recipe`), validation scored every epoch, to `runs/OUT_NAME/`: the same
pretrained codes, so two variants of the joint phase compare on equal terms. A run with no fields replaced
is the default recipe's run. Speaker terms use pseudo-speakers throughout.
"""

import argparse
import dataclasses
import json
import os
import shutil
import sys

import keras
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from final_clusters import diagonal_of  # noqa: E402  (the posterior the prior holds)

STARTS = 30
SPEAKERS = "pseudo"


class StopAfterPretraining(keras.callbacks.Callback):
    """Stops after pretraining and keeps its last checkpoint (a finished run deletes its checkpoints)."""

    def __init__(self, pretrain_epochs, run_directory, kept):
        super().__init__()
        self.pretrain_epochs = pretrain_epochs
        self.run_directory = run_directory
        self.kept = kept

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 >= self.pretrain_epochs:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        shutil.copytree(os.path.join(self.run_directory, "checkpoints", f"epoch-{self.pretrain_epochs:04d}"),
                        self.kept, dirs_exist_ok=True)


def train_joint_phase(splits, folder, seed, recipe, out_name):
    """The rest of a default-recipe run from the kept pretraining checkpoint, with `recipe`'s mixture fit."""
    from keras_uvac import training

    out = os.path.join(ROOT, "runs", out_name, f"uvac_seed{seed}.keras")
    if os.path.exists(out):
        return
    checkpoints = os.path.join(out + ".run", "checkpoints")
    shutil.copytree(os.path.join(folder, f"checkpoint_seed{seed}"),
                    os.path.join(checkpoints, f"epoch-{recipe.pretrain_epochs:04d}"), dirs_exist_ok=True)
    training.train(splits["train"], out, recipe, validation_collection=splits["validation"], seed=seed,
                   speakers=SPEAKERS, verbose=2, resume=True)


def tied_start(codes, clusters, seed, n_init):
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(clusters, covariance_type="tied", n_init=n_init, reg_covar=np.exp(-4.0),
                           random_state=seed).fit(codes)


def size_entropy(assignments, clusters):
    shares = np.bincount(assignments, minlength=clusters) / len(assignments)
    shares = shares[shares > 0]
    return float(-(shares * np.log(shares)).sum() / np.log(clusters))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain", action="store_true")
    parser.add_argument("--joint", nargs=2, metavar=("OUT_NAME", "RECIPE_JSON"),
                        help="train the joint phase from the kept pretraining, the default recipe's fields replaced")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--data", help="a corpus folder (default: the bundled FSDD)")
    parser.add_argument("--name", default="pretrained_fsdd_pseudo")
    parser.add_argument("--json")
    args = parser.parse_args()
    from keras_uvac import datasets, metrics, pipeline, training
    from keras_uvac.model import UVAC

    splits = datasets.load_audio(args.data).split("random", seed=0)
    folder = os.path.join(ROOT, "runs", args.name)
    recipe = dataclasses.replace(training.RECIPES["default"], runs=1)  # one run per seed
    if args.pretrain:
        for seed in args.seeds:
            out = os.path.join(folder, f"pretrained_seed{seed}.keras")
            if not os.path.exists(out):
                stop = StopAfterPretraining(recipe.pretrain_epochs, out + ".run",
                                            os.path.join(folder, f"checkpoint_seed{seed}"))
                training.train(splits["train"], out, recipe, seed=seed, speakers=SPEAKERS, verbose=2, callbacks=[stop])
        return
    if args.joint:
        out_name, changes = args.joint
        variant = dataclasses.replace(recipe, **json.loads(changes))
        for seed in args.seeds:
            train_joint_phase(splits, folder, seed, variant, out_name)
        return
    labels = np.asarray(splits["validation"].labels)
    rows = {}
    for seed in args.seeds:
        model = UVAC.from_preset(os.path.join(folder, f"checkpoint_seed{seed}", "model.keras"))
        codes = {name: np.asarray(model.latent_mean(pipeline.extract_features(
            splits[name], model.feature_config_object(), progress=False))) for name in ("train", "validation")}
        starts = []
        for start in range(STARTS):
            mixture = tied_start(codes["train"], model.num_clusters, start, n_init=1)
            starts.append({
                "start": start,
                "log_likelihood": round(float(mixture.score(codes["train"])), 4),
                "size_entropy": round(size_entropy(diagonal_of(mixture)(codes["train"]), model.num_clusters), 4),
                "validation_accuracy": round(metrics.unsupervised_accuracy(
                    labels, diagonal_of(mixture)(codes["validation"])), 4)})
        recipe_fit = tied_start(codes["train"], model.num_clusters, seed, n_init=5)
        accuracies = np.array([row["validation_accuracy"] for row in starts])
        likelihoods = np.array([row["log_likelihood"] for row in starts])
        entropies = np.array([row["size_entropy"] for row in starts])
        rows[seed] = {
            "recipe_fit_validation_accuracy": round(metrics.unsupervised_accuracy(
                labels, diagonal_of(recipe_fit)(codes["validation"])), 4),
            "starts_accuracy_min_median_max": [float(accuracies.min()), float(np.median(accuracies)),
                                               float(accuracies.max())],
            "best_likelihood_start_accuracy": float(accuracies[likelihoods.argmax()]),
            "most_balanced_start_accuracy": float(accuracies[entropies.argmax()]),
            "correlation_accuracy_likelihood": round(float(np.corrcoef(accuracies, likelihoods)[0, 1]), 3),
            "correlation_accuracy_size_entropy": round(float(np.corrcoef(accuracies, entropies)[0, 1]), 3),
            "kmeans_validation_accuracy": round(metrics.unsupervised_accuracy(labels, _kmeans(codes)), 4),
            "starts": starts,
        }
        print(seed, json.dumps({key: value for key, value in rows[seed].items() if key != "starts"}), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"name": args.name, "seeds": rows}, handle, indent=1)


def _kmeans(codes):
    from sklearn.cluster import KMeans

    return KMeans(10, n_init=10, random_state=0).fit(codes["train"]).predict(codes["validation"])


if __name__ == "__main__":
    main()
