"""The default recipe on the bundled FSDD on two simulated devices, beside the single-device seeds.

TensorFlow's one CPU device is split into two logical devices before anything else runs, and
`training.train(distribute="mirrored")` trains each seed of the default recipe as one run (no consensus of runs,
like the single-device seeds it is compared with; speaker ids, random 80/10/10
split, split seed 0) with a MirroredStrategy over them (a seed whose model exists is only scored); the test
metrics are written beside the same seeds' single-device runs of `benchmarks/results/fsdd_clustering.json`
to `benchmarks/results/fsdd_clustering_two_devices.json`.

    python benchmarks/distributed_fsdd.py [--seeds 0 1 2]
"""

import argparse
import dataclasses
import json
import os
import statistics
import sys

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_uvac import datasets, training
    from keras_uvac.atomic import write_json

    splits = datasets.load_audio().split(seed=0)
    command = "python benchmarks/distributed_fsdd.py " + " ".join(sys.argv[1:])
    runs = {}
    for seed in args.seeds:
        out = os.path.join(ROOT, "runs", "fsdd_two_devices", f"uvac_seed{seed}.keras")
        if os.path.exists(out):
            with open(out + ".card.json") as handle:
                card = json.load(handle)
        else:
            one_run = dataclasses.replace(training.RECIPES["default"], runs=1)
            model, _ = training.train(splits["train"], out, one_run, validation_collection=splits["validation"],
                                      test_collection=splits["test"], seed=seed, distribute="mirrored",
                                      resume=os.path.isdir(out + ".run/checkpoints"), verbose=2,
                                      card={"command": command, "data": "bundled FSDD",
                                            "split": {"method": "random", "seed": 0}})
            card = model.card
        runs[str(seed)] = {"model": os.path.relpath(out, ROOT), "replicas": card["replicas"],
                           "rows": card["test_metrics"], "training_seconds": card["training_seconds_all_epochs"]}
    with open(os.path.join(ROOT, "benchmarks", "results", "fsdd_clustering.json")) as handle:
        single = json.load(handle)
    single_accuracy = {seed: run["rows"]["UVAC"]["accuracy"] for seed, run in single["seeds"].items()}
    accuracy = {seed: run["rows"]["UVAC"]["accuracy"] for seed, run in runs.items()}
    spread = [min(single_accuracy.values()), max(single_accuracy.values())]
    payload = {"what": "default recipe, speaker ids, bundled FSDD test split, MirroredStrategy over two logical CPU "
                       "devices, beside the single-device seeds",
               "command": command, "seeds": runs, "accuracy_by_seed": accuracy,
               "mean_accuracy": statistics.mean(accuracy.values()),
               "mean_nmi": statistics.mean(run["rows"]["UVAC"]["nmi"] for run in runs.values()),
               "single_device_accuracy_by_seed": single_accuracy, "single_device_spread": spread,
               "single_device_mean": statistics.mean(single_accuracy.values()),
               "mean_within_single_device_spread": spread[0] <= statistics.mean(accuracy.values()) <= spread[1]}
    write_json(os.path.join(ROOT, "benchmarks", "results", "fsdd_clustering_two_devices.json"), payload, indent=2)
    print(json.dumps({key: payload[key] for key in ("accuracy_by_seed", "mean_accuracy", "single_device_spread",
                                                    "mean_within_single_device_spread")}))


if __name__ == "__main__":
    main()
