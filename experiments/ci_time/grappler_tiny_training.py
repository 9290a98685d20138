"""Time of the reliability tests' tiny training with TensorFlow's Grappler on and off, in one process.

The measurement behind `tests/conftest.py::pytest_configure` (Grappler off in the test process).

    python experiments/ci_time/grappler_tiny_training.py [--json experiments/results/ci_time/grappler.json]
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))

from conftest import copy_fsdd_subset  # noqa: E402
from test_reliability import RECIPE, TINY  # noqa: E402

from keras_uvac import datasets, training  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    args = parser.parse_args()
    import tensorflow as tf

    folder = tempfile.mkdtemp()
    collection = datasets.load_audio(copy_fsdd_subset(folder, 50))
    seconds = {"warm-up": [], "grappler on": [], "grappler off": []}
    # Alternated, so that the machine's load falls on both settings alike.
    for setting in ["warm-up"] + ["grappler on", "grappler off"] * 5:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": setting == "grappler off"})
        start = time.time()
        training.train(collection, os.path.join(folder, f"{len(os.listdir(folder))}.keras"), RECIPE, verbose=0, **TINY)
        seconds[setting].append(round(time.time() - start, 2))
        print(setting, seconds[setting][-1], flush=True)
    seconds["medians"] = {name: sorted(values)[len(values) // 2] for name, values in seconds.items() if values}
    print(seconds["medians"])
    if args.json:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as handle:
            json.dump(seconds, handle, indent=1)


if __name__ == "__main__":
    main()
