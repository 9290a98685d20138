import sys, json, time, dataclasses
import numpy as np
from keras_uvac import datasets, pipeline, metrics, training
name, epochs = sys.argv[1], int(sys.argv[2])
overrides = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
recipe_over = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
splits = datasets.load_audio().split(seed=0)
recipe = dataclasses.replace(training.RECIPES["default"].with_epochs(epochs), **recipe_over)
t = time.time()
model, history = training.train(splits["train"], f"runs/{name}.keras", recipe, validation_collection=splits["validation"], seed=seed, verbose=0, **overrides)
test = pipeline.feature_dataset(splits["test"], batch_size=256)
clusters, _ = model.predict_clusters(test)
z = model.latent_mean(test)
print("EPOCHS", [(h["epoch"], round(h.get("val_accuracy", -1), 3), round(h["loss"], 1), round(h["kl"], 2), round(h["consistency"], 3), round(h["seconds"])) for h in history])
print("TEST", name, seed, json.dumps(metrics.clustering_report(clusters, splits["test"].labels, z)), "time", time.time() - t)
