"""Probe: do more joint epochs help? Continues trained models of a results JSON for more epochs.

Each model of `benchmarks/fsdd_clustering.py`'s results JSON (saved without its optimizer) is trained with a
fresh Adam at its recipe's final learning rate for `--epochs` more joint epochs on its training split, with the
speaker groups its run used (ids, or the pseudo-speakers of the same seed), and scored on the validation clips
after every epoch (the model's posterior; the test split is not looked at). Nothing is saved.

    python benchmarks/recipe_search/continue_joint.py fsdd_clustering_pseudo_speakers [--epochs 8] [--json OUT]
"""

import argparse
import dataclasses
import json
import os
import sys

import keras
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--json")
    args = parser.parse_args()
    from fsdd_clustering import load_runs

    from keras_uvac import metrics, pipeline, training
    from keras_uvac.model import UVAC

    result, splits = load_runs(args.name)
    validation = pipeline.extract_features(splits["validation"], progress=False)
    labels = np.asarray(splits["validation"].labels)
    curves = {}
    for seed, run in result["seeds"].items():
        model = UVAC.from_preset(os.path.join(ROOT, run["model"]))
        card = model.card
        recipe = training.Recipe.from_config(card["recipe"])
        keras.utils.set_random_seed(int(seed) + 1000)
        model.compile(optimizer=keras.optimizers.Adam(recipe.final_learning_rate))
        groups = training.speaker_groups(splits["train"], card["speakers"], recipe, int(seed))
        train = dataclasses.replace(splits["train"], speakers=groups)
        data = pipeline.feature_dataset(train, model.feature_config_object(), recipe.batch_size, shuffle=True,
                                        seed=int(seed), cache=True, with_labels=False, with_speakers=True)
        curve = [metrics.unsupervised_accuracy(labels, model.predict_clusters(validation)[0])]
        for _ in range(args.epochs):
            model.fit(data, epochs=1, verbose=0)
            curve.append(metrics.unsupervised_accuracy(labels, model.predict_clusters(validation)[0]))
        curves[seed] = [round(value, 4) for value in curve]
        print(seed, curves[seed], flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": f"python benchmarks/recipe_search/continue_joint.py {args.name} --epochs "
                                  f"{args.epochs}", "split": "validation", "accuracy_after_extra_epochs": curves},
                      handle, indent=2)


if __name__ == "__main__":
    main()
