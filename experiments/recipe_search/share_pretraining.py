"""Starts a run of a joint-phase variant from another run's checkpoint at the end of pretraining.

A recipe change that only acts in the joint phase (a loss weight that is zero in pretraining) leaves the first
`pretrain_epochs` epochs of a run unchanged, so the variant's run can resume from the default run's checkpoint
at that epoch (copied aside by `weight_average.py --watch`) instead of pretraining again: the same weights,
optimizer, random states and data order, so the result is what a run from scratch would give.

    python benchmarks/recipe_search/share_pretraining.py runs/swa/default_ids_seed1/epoch-0012 \\
        runs/NAME/uvac_seed1.keras
    python benchmarks/fsdd_clustering.py --runs 1 --seeds 1 --name NAME --recipe-config '{...}'  # resumes it

`--model-config JSON` sets `UVAC` arguments in the copied model, for a model argument that acts only in the joint
phase (e.g. `neighbour_cluster_weight`, at commit c37c41b); pass the same JSON to `fsdd_clustering.py` so that its
JSON records it.
"""

import argparse
import json
import os
import shutil
import zipfile


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint folder, epoch-NNNN/")
    parser.add_argument("model", help="the variant's model path; its run folder must not exist yet")
    parser.add_argument("--model-config", type=json.loads, default={},
                        help="UVAC arguments to set in the copied model, a JSON object")
    args = parser.parse_args()
    run = args.model + ".run"
    if os.path.exists(run):
        raise SystemExit(f"{run} exists already")
    copy = os.path.join(run, "checkpoints", os.path.basename(args.checkpoint.rstrip("/")))
    shutil.copytree(args.checkpoint, copy)
    if args.model_config:
        set_model_config(os.path.join(copy, "model.keras"), args.model_config)
    shutil.copy(os.path.join(args.checkpoint, "history.json"), os.path.join(run, "history.json"))
    print(f"{run} resumes from {args.checkpoint}")


def set_model_config(path, changes):
    """Rewrites a `.keras` file with `changes` over its model's constructor arguments."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"].update(changes)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path + ".partial", "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    os.replace(path + ".partial", path)


if __name__ == "__main__":
    main()
