"""The default recipe on the bundled FSDD on two simulated devices, beside the single-device seeds.

TensorFlow's one CPU device is split into two logical devices before anything else runs, and
`training.train(distribute="mirrored")` trains seed 0 of the default recipe (speaker ids, random 80/10/10
split, split seed 0) with a MirroredStrategy over them; the test metrics are written beside the
single-device seeds of `benchmarks/results/fsdd_clustering.json` to
`benchmarks/results/fsdd_clustering_two_devices.json`.

    python benchmarks/distributed_fsdd.py [--seed 0]
"""

import argparse
import json
import os
import statistics
import sys

import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_uvac import datasets, training
    from keras_uvac.atomic import write_json

    splits = datasets.load_audio().split(seed=0)
    out = os.path.join(ROOT, "runs", "fsdd_two_devices", f"uvac_seed{args.seed}.keras")
    command = "python benchmarks/distributed_fsdd.py " + " ".join(sys.argv[1:])
    model, history = training.train(splits["train"], out, "default", validation_collection=splits["validation"],
                                    test_collection=splits["test"], seed=args.seed, distribute="mirrored",
                                    resume=os.path.isdir(out + ".run/checkpoints"), verbose=2,
                                    card={"command": command, "data": "bundled FSDD",
                                          "split": {"method": "random", "seed": 0}})
    with open(os.path.join(ROOT, "benchmarks", "results", "fsdd_clustering.json")) as handle:
        single = json.load(handle)
    single_accuracy = {seed: run["rows"]["UVAC"]["accuracy"] for seed, run in single["seeds"].items()}
    payload = {"what": "default recipe, speaker ids, bundled FSDD test split, MirroredStrategy over two logical CPU "
                       "devices, beside the single-device seeds",
               "command": command, "seed": args.seed, "replicas": model.card["replicas"],
               "rows": model.card["test_metrics"], "training_seconds": model.card["training_seconds_all_epochs"],
               "epochs": len(history), "single_device_accuracy_by_seed": single_accuracy,
               "single_device_spread": [min(single_accuracy.values()), max(single_accuracy.values())],
               "single_device_mean": statistics.mean(single_accuracy.values()),
               "within_single_device_spread": min(single_accuracy.values())
               <= model.card["test_metrics"]["UVAC"]["accuracy"] <= max(single_accuracy.values())}
    write_json(os.path.join(ROOT, "benchmarks", "results", "fsdd_clustering_two_devices.json"), payload, indent=2)
    print(json.dumps({key: payload[key] for key in ("rows", "single_device_spread", "within_single_device_spread")}))


if __name__ == "__main__":
    main()
