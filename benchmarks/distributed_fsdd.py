"""The whole default recipe on the bundled FSDD across two devices or two worker processes, beside one device.

Each seed trains the recipe as `uvac train` does (the consensus of its runs included; speaker ids, random 80/10/10
split, split seed 0), either on two logical CPU devices of one process (`--placement devices`,
`distribute="mirrored"`) or in two local worker processes (`--placement workers`, `distribute="multi-worker"`
with a `TF_CONFIG` for each, one TensorFlow thread pool per worker so that they share the cores). A seed whose
model exists is only scored. The test metrics, the card's placement of the runs and the wall time are written
beside the same seeds' single-device results (`--baseline`, a `benchmarks/fsdd_clustering.py` results name run
with the same recipe) to `benchmarks/results/fsdd_two_<placement>[_<name>].json`.

    python benchmarks/distributed_fsdd.py --placement devices [--seeds 0 1 2] [--recipe-config JSON]
        [--model-config JSON] [--baseline fsdd_pows_cons_ids] [--name NAME]
"""

import argparse
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_name(args):
    return f"fsdd_two_{args.placement}" + (f"_{args.name}" if args.name else "")


def model_path(seed, args):
    return os.path.join(ROOT, "runs", run_name(args), f"uvac_seed{seed}.keras")


def train(seed, args, distribute):
    """Trains one seed in this process (a logical-device replica set, or one worker of several)."""
    from keras_uvac import datasets, training

    recipe = training.RECIPES["default"].with_changes(json.loads(args.recipe_config or "{}"))
    splits = datasets.load_audio().split(seed=0)
    out = model_path(seed, args)
    command = "python benchmarks/distributed_fsdd.py " + shlex.join(sys.argv[1:])
    training.train(splits["train"], out, recipe, validation_collection=splits["validation"],
                   test_collection=splits["test"], seed=seed, distribute=distribute, speakers="ids",
                   resume=os.path.isdir(out + ".run"), verbose=2,
                   card={"command": command, "data": "bundled FSDD", "split": {"method": "random", "seed": 0}},
                   **json.loads(args.model_config or "{}"))


def free_port():
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


def train_on_workers(seed, args):
    """Starts this script once per worker for one seed and waits for both."""
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        command = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--worker-seed", str(seed)]
        processes.append(subprocess.Popen(command, cwd=ROOT, env={**os.environ, "TF_CONFIG": json.dumps(config)}))
    codes = [process.wait() for process in processes]
    if any(codes):
        raise SystemExit(f"seed {seed}: the workers exited with {codes}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--placement", required=True, choices=("devices", "workers"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipe-config", help="Recipe fields as JSON over the default's")
    parser.add_argument("--model-config", help="UVAC arguments as JSON over the recipe's")
    parser.add_argument("--baseline", default="fsdd_pows_cons_ids",
                        help="the single-device results (benchmarks/results/NAME.json) of the same recipe")
    parser.add_argument("--name", help="suffix of the runs folder and the results file")
    parser.add_argument("--worker-seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import tensorflow as tf

    if args.worker_seed is not None:
        # Two workers on one machine: one thread pool each, so that they share the cores instead of fighting.
        tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 2) // 2))
        train(args.worker_seed, args, "multi-worker")
        return
    if args.placement == "devices":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from fsdd_clustering import training_seconds

    from keras_uvac.atomic import write_json

    runs = {}
    for seed in args.seeds:
        out = model_path(seed, args)
        if not os.path.exists(out):
            train_on_workers(seed, args) if args.placement == "workers" else train(seed, args, "mirrored")
        with open(out + ".card.json") as handle:
            card = json.load(handle)
        runs[str(seed)] = {"model": os.path.relpath(out, ROOT), "replicas": card["replicas"],
                           "placement": card["consensus"]["placement"] if card.get("consensus") else None,
                           "rows": card["test_metrics"], "training_seconds": training_seconds(card)}
    with open(os.path.join(ROOT, "benchmarks", "results", f"{args.baseline}.json")) as handle:
        single = json.load(handle)
    single_accuracy = {seed: run["rows"]["UVAC"]["accuracy"] for seed, run in single["seeds"].items()
                       if seed in runs}
    accuracy = {seed: run["rows"]["UVAC"]["accuracy"] for seed, run in runs.items()}
    spread = [min(single_accuracy.values()), max(single_accuracy.values())]
    payload = {"what": f"default recipe, speaker ids, bundled FSDD test split, on two {args.placement} of one "
                       "2-core machine, beside the same seeds on one device",
               "command": "python benchmarks/distributed_fsdd.py " + shlex.join(sys.argv[1:]),
               "recipe_config": json.loads(args.recipe_config or "{}"),
               "model_config": json.loads(args.model_config or "{}"), "baseline": args.baseline,
               "seeds": runs, "accuracy_by_seed": accuracy, "mean_accuracy": statistics.mean(accuracy.values()),
               "mean_nmi": statistics.mean(run["rows"]["UVAC"]["nmi"] for run in runs.values()),
               "single_device_accuracy_by_seed": single_accuracy, "single_device_spread": spread,
               "single_device_mean": statistics.mean(single_accuracy.values()),
               "mean_within_single_device_spread": spread[0] <= statistics.mean(accuracy.values()) <= spread[1]}
    write_json(os.path.join(ROOT, "benchmarks", "results", f"{run_name(args)}.json"), payload, indent=2)
    print(json.dumps({key: payload[key] for key in ("accuracy_by_seed", "mean_accuracy", "single_device_spread",
                                                    "mean_within_single_device_spread")}))


if __name__ == "__main__":
    main()
