"""Label-free ways to read the clusters out of a trained model's codes, scored on validation clips.

For each model of a `benchmarks/fsdd_clustering.py` results JSON: validation accuracy of the model's own
posterior, and of clusterings fitted to the training clips' latent means without labels: a tied-covariance
Gaussian mixture (10 restarts, the one of highest likelihood kept), K-means, and over-clustering (a tied
mixture of 20 or 30 components whose means are merged into 10 by Ward linkage, each clip taking its
component's cluster), and a tied mixture whose EM starts from the model's own prior. Nothing here looks at
the test split.

    python benchmarks/recipe_search/final_clusters.py fsdd_clustering_pseudo_speakers [--json OUT]
"""

import argparse
import json
import os
import sys

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.mixture import GaussianMixture

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def merged_mixture(codes, components, clusters, seed):
    """A tied mixture of `components` over `codes`, its means merged into `clusters` by Ward linkage."""
    mixture = GaussianMixture(components, covariance_type="tied", n_init=3, random_state=seed).fit(codes)
    merge = AgglomerativeClustering(clusters, linkage="ward").fit_predict(mixture.means_)
    return lambda values: merge[mixture.predict(values)]


def diagonal_of(mixture):
    """The tied mixture's posterior with only the diagonal of its shared covariance (as `GMMPrior` keeps it)."""
    variances = np.diag(mixture.covariances_)

    def predict(values):
        distances = (((values[:, None, :] - mixture.means_[None]) ** 2) / variances).sum(-1)
        return np.argmax(np.log(mixture.weights_)[None] - 0.5 * distances, axis=1)
    return predict


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a results JSON of benchmarks/fsdd_clustering.py, without .json")
    parser.add_argument("--json")
    args = parser.parse_args()
    from fsdd_clustering import load_runs

    from keras_uvac import metrics, pipeline
    from keras_uvac.model import UVAC

    result, splits = load_runs(args.name)
    rows = {}
    for seed, run in result["seeds"].items():
        model = UVAC.from_preset(os.path.join(ROOT, run["model"]))
        arrays = {name: pipeline.extract_features(splits[name], model.feature_config_object(), progress=False)
                  for name in ("train", "validation")}
        codes = {name: np.asarray(model.latent_mean(value)) for name, value in arrays.items()}
        labels = np.asarray(splits["validation"].labels)
        clusters = model.num_clusters
        tied = GaussianMixture(clusters, covariance_type="tied", n_init=10, random_state=0).fit(codes["train"])
        posterior = model.predict_clusters(arrays["validation"])[0]
        # EM started from the trained prior stays near the model's own clusters (same component order).
        from_prior = GaussianMixture(clusters, covariance_type="tied", random_state=0,
                                     weights_init=np.exp(np.asarray(model.prior.log_weights())),
                                     means_init=np.asarray(model.prior.means)).fit(codes["train"])
        readers = {
            "model_posterior": lambda values, posterior=posterior: posterior,
            "tied_mixture_refit": tied.predict,
            "tied_mixture_refit_diagonal": diagonal_of(tied),
            "tied_mixture_from_prior": from_prior.predict,
            "diagonal_mixture_refit": GaussianMixture(clusters, covariance_type="diag", n_init=10,
                                                      random_state=0).fit(codes["train"]).predict,
            "kmeans": KMeans(clusters, n_init=10, random_state=0).fit(codes["train"]).predict,
            "tied_20_merged": merged_mixture(codes["train"], 20, clusters, 0),
            "tied_30_merged": merged_mixture(codes["train"], 30, clusters, 0),
        }
        rows[seed] = {name: round(metrics.unsupervised_accuracy(labels, reader(codes["validation"])), 4)
                      for name, reader in readers.items()}
        rows[seed]["tied_refit_train_log_likelihood"] = float(tied.score(codes["train"]))
        print(seed, json.dumps(rows[seed]), flush=True)
    means = {name: round(float(np.mean([row[name] for row in rows.values()])), 4) for name in next(iter(rows.values()))}
    print("mean", json.dumps(means))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": f"python benchmarks/recipe_search/final_clusters.py {args.name} --json {args.json}",
                       "split": "validation", "seeds": rows, "mean": means}, handle, indent=2)


if __name__ == "__main__":
    main()
