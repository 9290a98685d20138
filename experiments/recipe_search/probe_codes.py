"""What a model's codes hold: linear probes for digit and speaker, and K-means on z (all FSDD clips).

    python benchmarks/recipe_search/probe_codes.py MODEL.keras
"""

import sys

import keras
import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score
from sklearn.model_selection import cross_val_score

import keras_uvac  # noqa: F401  (registers the model classes)
from keras_uvac import datasets, metrics, pipeline


def main():
    collection = datasets.load_audio()
    features = pipeline.extract_features(collection, progress=False)
    labels, speakers = collection.labels, np.array(collection.speakers)
    model = keras.models.load_model(sys.argv[1])
    codes = model.latent_mean(features)
    standardised = (codes - codes.mean(0)) / codes.std(0)
    for target, values in (("digit", labels), ("speaker", speakers)):
        probe = cross_val_score(LogisticRegression(max_iter=2000), standardised, values, cv=3).mean()
        print(f"linear probe, {target}: {probe:.3f}")
    kmeans = KMeans(10, n_init=5, random_state=0).fit_predict(standardised)
    print(f"K-means on z: accuracy {metrics.unsupervised_accuracy(labels, kmeans):.3f}, "
          f"NMI with speaker {normalized_mutual_info_score(speakers, kmeans):.3f}")
    clusters, _ = model.predict_clusters(features)
    print(f"GMM prior clusters: accuracy {metrics.unsupervised_accuracy(labels, clusters):.3f}, "
          f"sizes {np.bincount(clusters, minlength=model.num_clusters).tolist()}")


if __name__ == "__main__":
    main()
