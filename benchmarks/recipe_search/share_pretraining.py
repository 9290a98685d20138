"""Starts a run of a joint-phase variant from another run's checkpoint at the end of pretraining.

A recipe change that only acts in the joint phase (a loss weight that is zero in pretraining) leaves the first
`pretrain_epochs` epochs of a run unchanged, so the variant's run can resume from the default run's checkpoint
at that epoch (copied aside by `weight_average.py --watch`) instead of pretraining again: the same weights,
optimizer, random states and data order, so the result is what a run from scratch would give.

    python benchmarks/recipe_search/share_pretraining.py runs/swa/default_ids_seed1/epoch-0012 \\
        runs/NAME/uvac_seed1.keras
    python benchmarks/fsdd_clustering.py --runs 1 --seeds 1 --name NAME --recipe-config '{...}'  # resumes it
"""

import argparse
import os
import shutil


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a checkpoint folder, epoch-NNNN/")
    parser.add_argument("model", help="the variant's model path; its run folder must not exist yet")
    args = parser.parse_args()
    run = args.model + ".run"
    if os.path.exists(run):
        raise SystemExit(f"{run} exists already")
    shutil.copytree(args.checkpoint, os.path.join(run, "checkpoints", os.path.basename(args.checkpoint.rstrip("/"))))
    shutil.copy(os.path.join(args.checkpoint, "history.json"), os.path.join(run, "history.json"))
    print(f"{run} resumes from {args.checkpoint}")


if __name__ == "__main__":
    main()
