"""Trains one recipe variant and scores it on the FSDD test split (recipe search).

    python benchmarks/recipe_search/train_variant.py NAME EPOCHS [MODEL_JSON] [RECIPE_JSON] [SEED]
"""

import dataclasses
import json
import sys
import time

from keras_uvac import datasets, metrics, pipeline, training


def main():
    name, epochs = sys.argv[1], int(sys.argv[2])
    model_overrides = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    recipe_overrides = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    splits = datasets.load_audio().split(seed=0)
    recipe = dataclasses.replace(training.RECIPES["default"].with_epochs(epochs), **recipe_overrides)
    start = time.time()
    model, history = training.train(splits["train"], f"runs/{name}.keras", recipe,
                                    validation_collection=splits["validation"], seed=seed, verbose=0,
                                    **model_overrides)
    test = pipeline.feature_dataset(splits["test"], batch_size=256)
    clusters, _ = model.predict_clusters(test)
    report = metrics.clustering_report(clusters, splits["test"].labels, model.latent_mean(test))
    for record in history:
        print("EPOCH", json.dumps(record))
    print("TEST", name, seed, json.dumps(report), "seconds", round(time.time() - start))


if __name__ == "__main__":
    main()
