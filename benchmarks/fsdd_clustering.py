"""UVAC on the bundled FSDD: the default recipe over three training seeds.

Seed 0 is trained straight into `saved_models/uvac_fsdd.keras` (the shipped
model), the other seeds into `runs/fsdd/`. Each seed is trained with `uvac
train` (resumed if an earlier run was interrupted, skipped if its model
exists), then scored on the test split of the seeded 80/10/10 split beside
K-means and GMM-EM. Results go to benchmarks/results/fsdd_clustering.json, from
which `benchmarks/update_readme.py` writes the README table. `--precision
mixed` trains every seed with mixed precision into `runs/fsdd_mixed/` and
writes benchmarks/results/fsdd_clustering_mixed.json.

    python benchmarks/fsdd_clustering.py [--seeds 0 1 2] [--epochs N] [--precision mixed]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join("saved_models", "uvac_fsdd.keras")


def model_path(seed, precision="float32"):
    if precision == "mixed":
        return os.path.join("runs", "fsdd_mixed", f"uvac_seed{seed}.keras")
    return SHIPPED if seed == 0 else os.path.join("runs", "fsdd", f"uvac_seed{seed}.keras")


def train(seed, epochs, precision):
    out = model_path(seed, precision)
    if os.path.exists(os.path.join(ROOT, out)):
        print(f"seed {seed}: {out} exists, not retrained")
        return
    command = [sys.executable, "-m", "keras_uvac.cli", "train", "--seed", str(seed), "--out", out,
               "--precision", precision]
    if epochs:
        command += ["--epochs", str(epochs)]
    if os.path.isdir(os.path.join(ROOT, out + ".run", "checkpoints")):
        command.append("--resume")
    print("running", " ".join(command[1:]), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed"))
    parser.add_argument("--out", help="the JSON (default: benchmarks/results/fsdd_clustering[_mixed].json)")
    args = parser.parse_args()
    suffix = "_mixed" if args.precision == "mixed" else ""
    args.out = args.out or os.path.join(ROOT, "benchmarks", "results", f"fsdd_clustering{suffix}.json")
    for seed in args.seeds:
        train(seed, args.epochs, args.precision)

    from keras_uvac.atomic import atomic_path

    seeds = {}
    for seed in args.seeds:
        with open(os.path.join(ROOT, model_path(seed, args.precision) + ".card.json")) as handle:
            card = json.load(handle)
        seeds[str(seed)] = {"model": model_path(seed, args.precision), "rows": card["test_metrics"],
                            "training_seconds": card["training_seconds_all_epochs"], "epochs": card["epochs_done"]}
    uvac = [result["rows"]["UVAC"] for result in seeds.values()]
    summary = {name: statistics.mean(row[name] for row in uvac) for name in ("accuracy", "nmi", "silhouette", "dbi")}
    beats = {seed: all(result["rows"]["UVAC"]["accuracy"] > result["rows"][method]["accuracy"]
                       for method in ("K-means", "GMM-EM")) for seed, result in seeds.items()}
    payload = {"what": "UVAC, default recipe, bundled FSDD test split (seeded random 80/10/10, split seed 0)",
               "precision": args.precision,
               "command": "python benchmarks/fsdd_clustering.py " + " ".join(sys.argv[1:]),
               "seeds": seeds, "uvac_mean": summary, "every_seed_beats_kmeans_and_gmm_em": all(beats.values()),
               "beats_by_seed": beats}
    with atomic_path(args.out) as temporary, open(temporary, "w") as handle:
        json.dump(payload, handle, indent=2)
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
