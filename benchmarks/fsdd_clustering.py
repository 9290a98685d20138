"""UVAC on the bundled FSDD: the default recipe over three training seeds.

Seed 0 is trained straight into `saved_models/uvac_fsdd.keras` (the shipped
model), the other seeds into `runs/fsdd/`. Each seed is trained with `uvac
train` (resumed if an earlier run was interrupted, skipped if its model
exists), then scored on the test split of the seeded 80/10/10 split beside
K-means and GMM-EM. Results go to benchmarks/results/fsdd_clustering.json, from
which `benchmarks/update_readme.py` writes the README table.

    python benchmarks/fsdd_clustering.py [--seeds 0 1 2] [--epochs N]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join("saved_models", "uvac_fsdd.keras")


def model_path(seed):
    return SHIPPED if seed == 0 else os.path.join("runs", "fsdd", f"uvac_seed{seed}.keras")


def train(seed, epochs):
    out = model_path(seed)
    if os.path.exists(os.path.join(ROOT, out)):
        print(f"seed {seed}: {out} exists, not retrained")
        return
    command = [sys.executable, "-m", "keras_uvac.cli", "train", "--seed", str(seed), "--out", out]
    if epochs:
        command += ["--epochs", str(epochs)]
    if os.path.exists(os.path.join(ROOT, out + ".run", "checkpoint.keras")):
        command.append("--resume")
    print("running", " ".join(command[1:]), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "fsdd_clustering.json"))
    args = parser.parse_args()
    for seed in args.seeds:
        train(seed, args.epochs)

    from keras_uvac.atomic import atomic_path

    seeds = {}
    for seed in args.seeds:
        with open(os.path.join(ROOT, model_path(seed) + ".card.json")) as handle:
            card = json.load(handle)
        seeds[str(seed)] = {"model": model_path(seed), "rows": card["test_metrics"],
                            "training_seconds": card["training_seconds_all_epochs"], "epochs": card["epochs_done"]}
    uvac = [result["rows"]["UVAC"] for result in seeds.values()]
    summary = {name: statistics.mean(row[name] for row in uvac) for name in ("accuracy", "nmi", "silhouette", "dbi")}
    beats = {seed: all(result["rows"]["UVAC"]["accuracy"] > result["rows"][method]["accuracy"]
                       for method in ("K-means", "GMM-EM")) for seed, result in seeds.items()}
    payload = {"what": "UVAC, default recipe, bundled FSDD test split (seeded random 80/10/10, split seed 0)",
               "command": "python benchmarks/fsdd_clustering.py " + " ".join(sys.argv[1:]),
               "seeds": seeds, "uvac_mean": summary, "every_seed_beats_kmeans_and_gmm_em": all(beats.values()),
               "beats_by_seed": beats}
    with atomic_path(args.out) as temporary, open(temporary, "w") as handle:
        json.dump(payload, handle, indent=2)
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
