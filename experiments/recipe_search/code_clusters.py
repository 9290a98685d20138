"""How well the latent means of trained models cluster, beyond the model's own GMM posterior.

For each model: test accuracy of the model's posterior (eq. 14); of K-means and of
GMMs with diagonal, tied and spherical covariances fitted to the training codes;
digit and speaker purity of the 10 nearest training neighbours; and K-means on
training codes after centring each speaker's codes (uses speaker ids, not labels).

    python benchmarks/recipe_search/code_clusters.py MODEL.keras [MODEL.keras ...] [--json OUT]
"""

import argparse

import keras
import numpy as np
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

from keras_uvac import datasets, metrics, pipeline


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--json")
    args = parser.parse_args()
    splits = datasets.load_audio().split(seed=0)
    arrays = {name: pipeline.extract_features(splits[name], progress=False) for name in ("train", "test")}
    labels = {name: np.asarray(splits[name].labels) for name in arrays}
    speakers = np.asarray(splits["train"].speakers)
    results = {}
    for path in args.models:
        model = keras.saving.load_model(path)
        codes = {name: model.latent_mean(value) for name, value in arrays.items()}

        def test_accuracy(clusters):
            return round(metrics.unsupervised_accuracy(labels["test"], clusters), 3)

        kmeans = KMeans(10, n_init=10, random_state=0).fit(codes["train"])
        row = {"model_posterior": test_accuracy(model.predict_clusters(arrays["test"])[0]),
               "kmeans": test_accuracy(kmeans.predict(codes["test"]))}
        for covariance in ("diag", "tied", "spherical"):
            mixture = GaussianMixture(10, covariance_type=covariance, n_init=5, random_state=0).fit(codes["train"])
            row[f"gmm_{covariance}"] = test_accuracy(mixture.predict(codes["test"]))
        _, neighbours = NearestNeighbors(n_neighbors=11).fit(codes["train"]).kneighbors(codes["train"])
        neighbours = neighbours[:, 1:]
        train_labels = labels["train"]
        row["neighbour_digit_purity"] = round(float(np.mean(train_labels[neighbours] == train_labels[:, None])), 3)
        row["neighbour_speaker_purity"] = round(float(np.mean(speakers[neighbours] == speakers[:, None])), 3)
        centred = codes["train"].copy()
        for speaker in np.unique(speakers):
            centred[speakers == speaker] -= centred[speakers == speaker].mean(0)
        clusters = KMeans(10, n_init=10, random_state=0).fit_predict(centred)
        row["train_kmeans_speaker_centred"] = round(metrics.unsupervised_accuracy(train_labels, clusters), 3)
        row["train_kmeans"] = round(metrics.unsupervised_accuracy(train_labels, kmeans.labels_), 3)
        results[path] = row
        print(path, row, flush=True)
    if args.json:
        from keras_uvac.atomic import write_json

        command = f"python benchmarks/recipe_search/code_clusters.py {' '.join(args.models)} --json {args.json}"
        write_json(args.json, {"command": command, "results": results})


if __name__ == "__main__":
    main()
