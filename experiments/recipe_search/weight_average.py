"""Averaging a run's weights over its last joint epochs (as in SWA), scored on validation clips.

A run's validation accuracy moves by up to 7 points from one joint epoch to the next, so the model that the last
epoch leaves is a draw from that noise. Two steps:

    python benchmarks/recipe_search/weight_average.py --watch runs/NAME/uvac_seed0.keras OUT_FOLDER
        while the run trains, copies each epoch's checkpoint to OUT_FOLDER/epoch-NNNN/ (the run keeps only its latest
        checkpoint, and removes it when it finishes)
    python benchmarks/recipe_search/weight_average.py OUT_FOLDER ... [--data DIR] [--json OUT]
        per folder: validation accuracy of each joint epoch's model, and of the model whose weights (batch-norm
        statistics included) are the mean of the last K epochs' weights, K = 2 to 8

Nothing here looks at the test split.
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def watch(model_path, out_folder, poll_seconds=1.0):
    """Copies every complete epoch checkpoint of the run of `model_path` until the model itself is written."""
    os.makedirs(out_folder, exist_ok=True)
    checkpoints = os.path.join(model_path + ".run", "checkpoints")
    while True:
        for folder in sorted(glob.glob(os.path.join(checkpoints, "epoch-[0-9][0-9][0-9][0-9]"))):
            # The whole checkpoint (optimizer, random states, history): a run of a joint-phase variant can resume
            # from the end of this run's pretraining, which the variant shares.
            target = os.path.join(out_folder, os.path.basename(folder))
            if not os.path.exists(target):
                try:
                    shutil.copytree(folder, target + ".partial", dirs_exist_ok=True)
                    os.replace(target + ".partial", target)
                    print("copied", target, flush=True)
                except (FileNotFoundError, shutil.Error):  # pruned while copying: the next one is complete
                    shutil.rmtree(target + ".partial", ignore_errors=True)
        if os.path.exists(model_path):
            # The run removes its last checkpoint once the model is written; the model holds the same weights.
            with open(os.path.join(model_path + ".run", "history.json")) as handle:
                last = os.path.join(out_folder, f"epoch-{len(json.load(handle)):04d}")
            if not os.path.exists(last):
                os.makedirs(last)
                shutil.copy(model_path, os.path.join(last, "model.keras"))
            return
        time.sleep(poll_seconds)


def average_weights(weight_lists):
    """The element-wise mean of several models' `get_weights()` lists, as a list for `set_weights`."""
    return [np.mean(values, axis=0) for values in zip(*weight_lists)]


def score(folder, splits, pretrain_epochs, longest=8):
    import keras

    from keras_uvac import metrics, pipeline

    paths = sorted(glob.glob(os.path.join(folder, "epoch-[0-9][0-9][0-9][0-9]*")))
    epochs = [int(os.path.basename(path)[len("epoch-"):][:4]) for path in paths]
    # Only the joint phase's models are scored or averaged; the pretraining epochs are not loaded.
    joint = {epoch: os.path.join(path, "model.keras") if os.path.isdir(path) else path
             for epoch, path in zip(epochs, paths) if epoch > pretrain_epochs}
    model = keras.saving.load_model(joint[max(joint)], compile=False)
    features = pipeline.extract_features(splits["validation"], model.feature_config_object(), progress=False)
    labels = np.asarray(splits["validation"].labels)

    def accuracy():
        return round(metrics.unsupervised_accuracy(labels, model.predict_clusters(features)[0]), 4)

    weights, per_epoch = [], {}
    for epoch, path in joint.items():
        weights.append(keras.saving.load_model(path, compile=False).get_weights())
        model.set_weights(weights[-1])
        per_epoch[epoch] = accuracy()
    averaged = {}
    for count in range(2, min(longest, len(weights)) + 1):
        model.set_weights(average_weights(weights[-count:]))
        averaged[count] = accuracy()
    return {"epochs": epochs, "validation_by_epoch": per_epoch,
            "last_three_epochs_mean": round(statistics.mean(list(per_epoch.values())[-3:]), 4),
            "validation_of_average_of_last": averaged}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", help="folders of copied epoch models")
    parser.add_argument("--watch", nargs=2, metavar=("MODEL", "OUT_FOLDER"))
    parser.add_argument("--data", help="the corpus the runs trained on (default: the bundled FSDD)")
    parser.add_argument("--split", default="random")
    parser.add_argument("--pretrain-epochs", type=int, default=12)
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.watch:
        watch(*args.watch)
        return
    from keras_uvac import datasets
    from keras_uvac.atomic import write_json

    splits = datasets.load_audio(args.data).split(args.split, seed=0)
    results = {os.path.relpath(folder, ROOT): score(folder, splits, args.pretrain_epochs) for folder in args.folders}
    for folder, result in results.items():
        print(folder, "by epoch", result["validation_by_epoch"], "averaged", result["validation_of_average_of_last"])
    if args.json:
        write_json(args.json, {"command": "python benchmarks/recipe_search/weight_average.py " + " ".join(sys.argv[1:]),
                               "runs": results}, indent=2)


if __name__ == "__main__":
    main()
