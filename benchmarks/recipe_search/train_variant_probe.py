import sys, json, time, dataclasses
import numpy as np, keras
from sklearn.cluster import KMeans
from keras_uvac import datasets, pipeline, metrics, training
name, epochs, pre = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
overrides = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
recipe_over = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
splits = datasets.load_audio().split(seed=0)
val = pipeline.extract_features(splits["validation"], progress=False)
class Probe(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        z = self.model.latent_mean(val)
        zs = (z - z.mean(0)) / (z.std(0) + 1e-6)
        k = KMeans(10, n_init=5, random_state=0).fit_predict(zs)
        c, _ = self.model.predict_clusters(val)
        print("EPOCH", epoch + 1, "kmeans", round(metrics.unsupervised_accuracy(splits["validation"].labels, k), 3), "gmm", round(metrics.unsupervised_accuracy(splits["validation"].labels, c), 3), {k: round(float(v), 3) for k, v in logs.items()}, flush=True)
recipe = dataclasses.replace(training.RECIPES["default"], epochs=epochs, pretrain_epochs=pre, **recipe_over)
model, history = training.train(splits["train"], f"runs/{name}.keras", recipe, seed=0, verbose=0, callbacks=[Probe()], **overrides)
