"""Writes the notebooks in this folder (run from the repository root: python notebooks/make_notebooks.py).

Cell ids are numbered, so regenerating changes only what changed, and ruff then
tidies the notebooks' imports as it does the package's.
"""

import subprocess
import sys

import nbformat as nbf

WRITTEN = []

SMALL = '''import os
# Small settings (CI and a quick look): set UVAC_NOTEBOOK_SMALL=1, or change this line.
SMALL = os.environ.get("UVAC_NOTEBOOK_SMALL", "0") == "1"'''


def notebook(path, cells):
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbf.v4.new_markdown_cell(text) if kind == "md" else nbf.v4.new_code_cell(text) for kind, text in cells]
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"
    nbf.write(nb, path)
    WRITTEN.append(path)



notebook("notebooks/01_quickstart.ipynb", [
    ("md", "# Quickstart: cluster spoken digits with UVAC\n\nThe bundled Free Spoken Digit Dataset (CC BY-SA 4.0, "
           "Zohar Jackson and contributors), the tf.data pipeline, `model.fit`, the Table I comparison with K-means "
           "and GMM-EM, and the figures."),
    ("code", SMALL),
    ("code", '''import keras
import keras_uvac
from keras_uvac import baselines, evaluation, metrics, training

splits = keras_uvac.load_audio().split(seed=0)            # seeded 80/10/10
if SMALL:
    splits = {name: part.subset(range(0, len(part), 10)) for name, part in splits.items()}
print({name: len(part) for name, part in splits.items()})'''),
    ("md", "## Train with `model.fit`\n\n`training.train` runs the default recipe (autoencoder pretraining with the "
           "contrastive and speaker terms, the mixture fitted to the codes, then the joint phase) three times, and "
           "keeps one model that carries the three runs' consensus; every epoch is checkpointed. "
           "FSDD's speaker ids feed the speaker terms; the digit labels are never used. Plain `model.fit` works "
           "too; here a few epochs of the recipe, or a tiny network in small mode."),
    ("code", '''recipe = training.RECIPES["default"].with_epochs(2 if SMALL else 20)
if SMALL:
    recipe = recipe.with_changes({"runs": 1})  # tests/test_training.py trains consensus runs
small_network = dict(encoder_channels=(4, 8, 16, 32), gru_units=(16, 16), decoder_channels=(32, 16, 8, 4))
model, history = training.train(splits["train"], "quickstart_uvac.keras", recipe,
                                validation_collection=splits["validation"], resume=True,
                                verbose=0 if SMALL else 1, **(small_network if SMALL else {}))
print(history[-1])'''),
    ("code", '''# The same model object is an ordinary Keras model: fit on the pipeline's dataset directly.
train_data = keras_uvac.feature_dataset(splits["train"], batch_size=64, shuffle=True, cache=True, with_speakers=True)
model.fit(train_data, epochs=1, verbose=0)'''),
    ("md", "## Evaluate against K-means and GMM-EM (Table I)"),
    ("code", '''rows, arrays = evaluation.evaluate(model, splits["test"])
print(metrics.format_table(rows))'''),
    ("md", "## Figures"),
    ("code", '''from IPython.display import Image, display

paths = evaluation.write_figures(arrays, "quickstart_figures", history=history)
for path in paths:
    display(Image(path))'''),
])

notebook("notebooks/02_tuning.ipynb", [
    ("md", "# Hyperparameter search with keras-tuner\n\n`UVACHyperModel` builds each trial with the default "
           "recipe's own builder and searches its knobs: the weights of the contrastive, speaker, cross-speaker, "
           "cluster and KL terms, the learning rate, the pretraining share and the latent size. The default "
           "objective needs no labels: the clusters' stability under augmentation times the balance of their "
           "usage (`val_label_free`); `objective=\"accuracy\"` uses labeled validation clips."),
    ("code", SMALL),
    ("code", '''import keras_tuner
import keras_uvac
from keras_uvac import tuning

splits = keras_uvac.load_audio().split(seed=0)
if SMALL:
    splits = {name: part.subset(range(0, len(part), 20)) for name, part in splits.items()}'''),
    ("code", '''model, best, search = tuning.tune(splits["train"], splits["validation"], "tuning_notebook",
                                  tuner="random", max_trials=1 if SMALL else 8, epochs=2 if SMALL else None,
                                  architecture="tiny" if SMALL else "full", verbose=0)
best'''),
    ("md", "The search folder keeps every trial: running the cell again resumes it, and a larger `max_trials` adds "
           "trials. The best model is saved as `tuning_notebook/best.keras`."),
    ("code", '''from keras_uvac import evaluation, metrics
rows, _ = evaluation.evaluate(model, splits["test"], with_baselines=False)
print(metrics.format_table(rows))'''),
])

notebook("notebooks/03_export_tflite_micro.ipynb", [
    ("md", "# Export to int8 TFLite and run it in TensorFlow Lite for Microcontrollers\n\nOnly the encoder and the "
           "GMM posterior are exported; the posterior becomes one dense layer on `[z^2, z]`, so the int8 graph "
           "holds only TFLite Micro builtin operators."),
    ("code", SMALL),
    ("code", '''import keras
import numpy as np
import keras_uvac
from keras_uvac import export, pipeline

model = keras_uvac.UVAC.from_preset("uvac_fsdd")
splits = keras_uvac.load_audio().split(seed=0)
config = model.feature_config_object()
calibration = pipeline.extract_features(export.representative_subset_collection(splits["train"]), config,
                                        progress=False)["spectrogram"]
test = splits["test"].subset(range(0, 300, 15)) if SMALL else splits["test"]
check = pipeline.extract_features(test, config, progress=False)["spectrogram"]'''),
    ("code", '''report = export.export(model, "tflite-int8", "uvac_int8.tflite", calibration, check)
{key: report[key] for key in ("bytes", "arena_bytes", "operators", "cluster_agreement")}'''),
    ("md", "The model bytes as a C array for a microcontroller project:"),
    ("code", '''print(open("uvac_int8.h").read())
print(open("uvac_int8.cc").read()[:300], "...")'''),
    ("md", "Run one clip in the TFLite Micro interpreter by hand:"),
    ("code", '''runner = export.TFLiteRunner(open("uvac_int8.tflite", "rb").read())
micro = export.MicroRunner(open("uvac_int8.tflite", "rb").read(), (runner.input, runner.output))
probabilities = micro(check[:1])
print("cluster", probabilities.argmax(), "Keras:", np.asarray(model(check[:1])).argmax())'''),
])

notebook("notebooks/04_your_own_data.ipynb", [
    ("md", "# Your own data: AudioMNIST by path, or an unlabeled folder\n\nThe full AudioMNIST (Becker et al., "
           "MIT license; 30,000 clips at 48 kHz) is what the paper uses. Point `AUDIOMNIST` at your copy (the "
           "folder holding `data/`); without it, the six-file sample shipped with the tests stands in."),
    ("code", SMALL),
    ("code", '''import os
import keras
import keras_uvac
from keras_uvac import FeatureConfig, pipeline

AUDIOMNIST = os.environ.get("AUDIOMNIST", os.path.join("..", "tests", "data", "audiomnist_sample"))
collection = keras_uvac.load_audio(AUDIOMNIST, on_error="skip")     # AudioMNIST layout detected
print(len(collection), "clips;", len(collection.skipped), "skipped; speakers:", sorted(set(collection.speakers))[:6])
print(collection.speaker_metadata[collection.speakers[0]])'''),
    ("md", "`FeatureConfig(sample_rate=48000)` is the paper's STFT exactly (960-sample window, 480 hop); the "
           "default 16 kHz gives the same 128 x 99 input from a third of the samples."),
    ("code", '''arrays = pipeline.extract_features(collection, FeatureConfig(sample_rate=48000), progress=False)
arrays["spectrogram"].shape, arrays["activity_mask"].sum(axis=1)'''),
    ("md", "With the full dataset, split by speaker and train as in the quickstart:\n\n"
           "```python\nsplits = collection.split(\"speaker\", seed=0)\n"
           "model, history = training.train(splits[\"train\"], \"audiomnist.keras\", "
           "validation_collection=splits[\"validation\"], feature_config=FeatureConfig(sample_rate=48000))\n```"),
    ("md", "## An unlabeled folder\n\nClustering needs no labels: any folder of WAV files works, and the shipped "
           "model (or yours) gives each file a cluster and its probability."),
    ("code", '''folder = keras_uvac.datasets.bundled_fsdd_path()
unlabeled = keras_uvac.load_audio(folder, layout="unlabeled")
if SMALL:
    unlabeled = unlabeled.subset(range(20))
model = keras_uvac.UVAC.from_preset("uvac_fsdd")
clusters, probability = model.predict_clusters(pipeline.extract_features(unlabeled, progress=False))
list(zip([os.path.basename(path) for path in unlabeled.paths[:8]], clusters[:8], probability[:8].round(3)))'''),
])

subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--quiet", *WRITTEN], check=True)
