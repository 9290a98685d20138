"""Trains a recipe variant, printing K-means and GMM accuracy on validation codes every epoch.

    python benchmarks/recipe_search/train_variant_probe.py NAME EPOCHS PRETRAIN_EPOCHS [MODEL_JSON] [RECIPE_JSON]
"""

import dataclasses
import json
import sys

import keras
from sklearn.cluster import KMeans

from keras_uvac import datasets, metrics, pipeline, training


class CodeProbe(keras.callbacks.Callback):
    def __init__(self, features, labels):
        super().__init__()
        self.features, self.labels = features, labels

    def on_epoch_end(self, epoch, logs=None):
        codes = self.model.latent_mean(self.features)
        standardised = (codes - codes.mean(0)) / (codes.std(0) + 1e-6)
        kmeans = KMeans(10, n_init=5, random_state=0).fit_predict(standardised)
        clusters, _ = self.model.predict_clusters(self.features)
        print("EPOCH", epoch + 1, "kmeans", round(metrics.unsupervised_accuracy(self.labels, kmeans), 3),
              "gmm", round(metrics.unsupervised_accuracy(self.labels, clusters), 3),
              {name: round(float(value), 3) for name, value in logs.items()}, flush=True)


def main():
    name, epochs, pretrain = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    model_overrides = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    recipe_overrides = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    splits = datasets.load_audio().split(seed=0)
    validation = pipeline.extract_features(splits["validation"], progress=False)
    recipe = dataclasses.replace(training.RECIPES["default"], epochs=epochs, pretrain_epochs=pretrain,
                                 **recipe_overrides)
    training.train(splits["train"], f"runs/{name}.keras", recipe, seed=0, verbose=0,
                   callbacks=[CodeProbe(validation, splits["validation"].labels)], **model_overrides)


if __name__ == "__main__":
    main()
