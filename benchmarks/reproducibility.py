"""Does training repeat bit for bit in a new process? One self-labelling epoch of the shipped model, process by process.

The consensus step of `training.train` (the carrier's prior refitted to clusters, then self-labelling epochs) is
trained here from the shipped model on the FSDD training split, with its own clusters as the targets, for one epoch
from the same seed, in `--processes` fresh processes per setting: TensorFlow's default inter-op parallelism, and one
op at a time as `uvac train` sets it (`training.repeatable_op_order`). The processes of the two settings alternate,
so that both see the same load. Recorded per process: a digest of the trained weights, the epoch's loss and its
seconds; per setting: how many distinct digests, and the median seconds.

    python benchmarks/reproducibility.py [--processes 3] [--json benchmarks/results/reproducibility.json]
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = ("tensorflow_default", "one_op_at_a_time")


def train_once(setting):
    """One self-labelling epoch in this process; prints its digest, loss and seconds as JSON."""
    import dataclasses
    import hashlib

    import numpy as np

    from keras_uvac import consensus, datasets, pipeline, training
    from keras_uvac.model import UVAC
    from keras_uvac.training import consensus_runs

    if setting == "one_op_at_a_time":
        training.repeatable_op_order()
    train = datasets.load_audio().split("random", seed=0)["train"]
    model = UVAC.from_preset(os.path.join(ROOT, "saved_models", "uvac_fsdd.keras"))
    feature_config = model.feature_config_object()
    features = pipeline.feature_dataset(train, feature_config, 256, with_labels=False)
    clusters = model.predict_clusters(features)[0]
    consensus.adopt_clusters(model, features, clusters)
    recipe = dataclasses.replace(training.RECIPES["default"], consensus_epochs=1)
    start = time.perf_counter()
    logs = consensus_runs.train_on_targets(model, train, feature_config, recipe, "ids", 0, clusters, verbose=0)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256(b"".join(np.asarray(weight).tobytes() for weight in model.get_weights())).hexdigest()
    print(json.dumps({"setting": setting, "digest": digest[:16], "loss": logs[-1]["loss"], "seconds": seconds}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per setting")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        train_once(args.child)
        return
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = []
    for _ in range(args.processes):
        for setting in SETTINGS:
            result = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", setting], env=environment,
                                    capture_output=True, text=True, check=True)
            runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
            print(json.dumps(runs[-1]), flush=True)
    summary = {setting: {"distinct_digests": len({run["digest"] for run in runs if run["setting"] == setting}),
                         "median_seconds": statistics.median(run["seconds"] for run in runs
                                                             if run["setting"] == setting)}
               for setting in SETTINGS}
    report = {"command": "python " + shlex.join([os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
              "what": "one self-labelling epoch of the shipped model on the FSDD training split, same seed, "
                      "each in a fresh process", "cpus": os.cpu_count(), "runs": runs, "summary": summary}
    print(json.dumps(summary, indent=1))
    if args.json:
        from keras_uvac.atomic import write_json

        write_json(args.json, report, indent=2)


if __name__ == "__main__":
    main()
