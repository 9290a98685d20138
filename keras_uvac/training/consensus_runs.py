"""Several runs of one recipe: a consensus of whole runs, or restarts that continue the most promising one."""

import dataclasses
import json
import os
import time

import keras
import numpy as np

from keras_uvac import consensus, pipeline
from keras_uvac.atomic import write_json
from keras_uvac.model import UVAC
from keras_uvac.training.checkpoints import (
    CHECKPOINTS,
    CLUSTER_CHOICE,
    MEMBERS,
    RESTARTS,
    latest_checkpoint,
    read_history,
    wait_for_file,
)
from keras_uvac.training.speakers import speaker_groups, speaker_run_length


def sub_runs(run_directory):
    """The run folders of a run's restart candidates, of the runs of its consensus and of its choice of K."""
    runs = []
    for folder in (os.path.join(run_directory, name) for name in (RESTARTS, MEMBERS, CLUSTER_CHOICE)):
        if os.path.isdir(folder):
            runs += sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".keras.run"))
    return runs


def consensus_of_runs(run, run_directory, seed, recipe, train_collection, feature_config, speakers, verbose,
                      replicas):
    """Trains the recipe's runs to the end and carries their consensus in the most typical one.

    Each run is an ordinary run of its own seed in `runs/seed-<seed>.keras.run/`, made by
    `run(out_path, seed, checkpoint)`; an interrupted one resumes and a finished one is read back. The runs'
    clusters of the training clips are combined by `consensus.consensus_clusters` (K-means on their one-hot
    clusters), the run whose clusters agree best with the others' gets a prior refitted to that consensus
    (`consensus.adopt_clusters`), and then trains `recipe.consensus_epochs` more epochs with the consensus
    as the target of the clips on which every run agrees (self-labelling): docs/design.md, "Consensus of runs".
    Those epochs are short and not checkpointed: an interrupted one starts again from the finished runs.
    On several workers each run is data-parallel over all of them, one run after another; every worker then
    reads the chief's models and forms the same consensus, and only the chief writes (`replicas`, a
    `distribution.Replicas`).

    Returns:
        `(model, history, record)`: the carrying model, its run's history, and what the card records (every
        run's seed, agreement and number of clusters that hold clips, the carrying seed, the consensus' cluster
        sizes, the self-labelling epochs' losses); also in `runs/consensus.json`.
    """
    folder = os.path.join(run_directory, MEMBERS)
    models, histories, seeds = [], [], [seed * recipe.runs + index for index in range(recipe.runs)]
    shared = recipe.shared_pretraining and 0 < recipe.pretrain_epochs < recipe.epochs
    for index, member_seed in enumerate(seeds):
        member = os.path.join(folder, f"seed-{member_seed}.keras")
        os.makedirs(member + ".run", exist_ok=True)
        if os.path.exists(member):
            model, history = UVAC.from_preset(member), read_history(member + ".run")
        else:
            checkpoint = latest_checkpoint(member + ".run")
            start_from = None
            if shared and not checkpoint:
                start_from = shared_pretraining(run, folder, seeds[0], recipe, verbose)
            if verbose:
                print(f"run {index + 1} of {recipe.runs} (seed {member_seed})", flush=True)
            model, history = run(member, member_seed, checkpoint, start_from=start_from)
        models.append(model)
        histories.append(history)
    # Streamed, not held: a large corpus' features do not fit in memory.
    features = pipeline.feature_dataset(train_collection, feature_config, 256, with_labels=False)
    assignments = consensus.run_assignments(models, features)
    num_clusters = models[0].num_clusters
    clusters, targets, typical, agreement = consensus.combine_runs(assignments, num_clusters, seed)
    # Read back from its file: a run just trained may belong to a distribution strategy's scope.
    model = UVAC.from_preset(wait_for_file(os.path.join(folder, f"seed-{seeds[typical]}.keras")))
    model = consensus.adopt_clusters(model, features, clusters)
    start = time.perf_counter()
    self_labelling = train_on_targets(model, train_collection, feature_config, recipe, speakers, seeds[typical],
                                       targets, verbose) if recipe.consensus_epochs else []
    record = {"method": "K-means on the runs' one-hot clusters; the most typical run's prior refitted to it, then "
                        f"{recipe.consensus_epochs} epochs with the consensus as targets where the runs all agree",
              "clips": len(clusters), "seeds": seeds, "agreement": agreement.tolist(), "carrying_seed": seeds[typical],
              "cluster_sizes": np.bincount(clusters, minlength=num_clusters).tolist(),
              "clusters_used": [int(np.unique(run_clusters).size) for run_clusters in assignments],
              "clips_with_targets": int(np.sum(targets >= 0)), "placement": placement(replicas),
              "self_labelling": self_labelling,
              "validation_accuracy_not_used": [history[-1].get("val_accuracy") for history in histories],
              "seconds": sum(epoch["seconds"] for history in histories for epoch in history)
              + time.perf_counter() - start}
    if shared:
        # Every run's history begins with the shared epochs: count them once.
        record["seconds"] -= (len(histories) - 1) * sum(epoch["seconds"]
                                                         for epoch in histories[0][:recipe.pretrain_epochs])
        record["shared_pretraining_epochs"] = recipe.pretrain_epochs
    if replicas.is_chief:
        write_json(os.path.join(folder, "consensus.json"), record, indent=2)
    if verbose:
        print(f"consensus of {recipe.runs} runs carried by seed {seeds[typical]}", flush=True)
    return model, histories[typical], record


def shared_pretraining(run, folder, seed, recipe, verbose):
    """The checkpoint that ends the runs' one pretraining (`runs/pretraining.keras.run/`), trained if needed.

    The first run's seed pretrains; every run then continues from here with its own seed. On several workers
    each waits for the chief's checkpoint.
    """
    pretraining = os.path.join(folder, "pretraining.keras")
    checkpoint = os.path.join(pretraining + ".run", CHECKPOINTS, f"epoch-{recipe.pretrain_epochs:04d}")
    if not os.path.isdir(checkpoint):
        if verbose:
            print(f"pretraining shared by the {recipe.runs} runs (seed {seed}, {recipe.pretrain_epochs} epochs)",
                  flush=True)
        os.makedirs(pretraining + ".run", exist_ok=True)
        run(pretraining, seed, latest_checkpoint(pretraining + ".run"), recipe.pretrain_epochs)
    return wait_for_file(checkpoint)


def placement(replicas):
    """How the runs of a consensus were placed, for the card."""
    if replicas.count == 1:
        return "one device, one run after another"
    # Data-parallel runs keep each run's steps those of one device (the global batch), fit any number of
    # devices and runs, and need no more memory per device than one run.
    workers = f" on {replicas.workers} workers" if replicas.workers > 1 else ""
    return f"each run data-parallel over {replicas.count} replicas{workers}, one run after another"


def train_on_targets(model, train_collection, feature_config, recipe, speakers, seed, targets, verbose,
                      callbacks=None):
    """`recipe.consensus_epochs` epochs of the joint phase's loss with per-clip cluster targets; their logs."""
    # Seeded here, not by whatever ran before: finished runs read back (--resume) must give the model that
    # training them in this process gives.
    keras.utils.set_random_seed(seed)
    groups = speaker_groups(train_collection, speakers, recipe, seed)
    data = pipeline.feature_dataset(dataclasses.replace(train_collection, speakers=groups), feature_config,
                                    recipe.batch_size, shuffle=True, seed=seed, cache="auto", with_labels=False,
                                    with_speakers=groups is not None, drop_remainder=True,
                                    clips_per_speaker=speaker_run_length(recipe, groups), targets=targets)
    model.compile(optimizer=keras.optimizers.Adam(recipe.final_learning_rate))
    model.kl_weight.assign(recipe.kl_weight)
    model.sampling.assign(1.0)
    model.cluster_weight.assign(recipe.cluster_weight)
    logs = model.fit(data, epochs=recipe.consensus_epochs, verbose=verbose, callbacks=callbacks).history
    return [{name: float(values[epoch]) for name, values in logs.items()} for epoch in range(recipe.consensus_epochs)]


def choose_restart(run, run_directory, seed, recipe, verbose, is_chief):
    """Trains the recipe's candidate runs to the end of the first joint epoch and picks one, without labels.

    Each candidate is an ordinary run of its own seed (its pseudo-speakers included) in
    `restarts/seed-<seed>.keras.run/`, made by `run(out_path, seed, checkpoint, stop_after)` and stopped
    after the first joint epoch; an interrupted choice resumes. The lowest consistency term of that epoch
    wins (it did not help: docs/design.md, "Restarts").

    Returns:
        The choice, also written to `restarts/choice.json`: every candidate's seed and criterion (and, for the
        record only, its validation accuracy when validation clips are labeled), the chosen seed, and its
        checkpoint relative to `run_directory`.
    """
    folder = os.path.join(run_directory, RESTARTS)
    choice_path = os.path.join(folder, "choice.json")
    if os.path.exists(choice_path):
        with open(choice_path) as handle:
            return json.load(handle)
    first_joint_epoch = recipe.pretrain_epochs + 1
    candidates = []
    for index in range(recipe.restarts):
        candidate_seed = seed * recipe.restarts + index
        candidate = os.path.join(folder, f"seed-{candidate_seed}.keras")
        os.makedirs(candidate + ".run", exist_ok=True)
        history = read_history(candidate + ".run")
        if len(history) < first_joint_epoch:
            if verbose:
                print(f"restart {index + 1} of {recipe.restarts} (seed {candidate_seed}): training to the end of "
                      f"the first joint epoch ({first_joint_epoch} of {recipe.epochs})", flush=True)
            _, history = run(candidate, candidate_seed, latest_checkpoint(candidate + ".run"), first_joint_epoch)
        record = history[first_joint_epoch - 1]
        candidates.append({"seed": candidate_seed, "consistency": record["consistency"],
                           "seconds": sum(epoch["seconds"] for epoch in history),
                           "validation_accuracy_not_used": record.get("val_accuracy"),
                           "checkpoint": os.path.relpath(latest_checkpoint(candidate + ".run"), run_directory)})
    chosen = min(candidates, key=lambda candidate: candidate["consistency"])
    choice = {"criterion": "lowest consistency term in the first joint epoch", "candidates": candidates,
              "chosen_seed": chosen["seed"], "checkpoint": chosen["checkpoint"]}
    if verbose:
        print("restarts: " + ", ".join(f"seed {candidate['seed']} consistency {candidate['consistency']:.4f}"
                                       for candidate in candidates) + f"; continuing seed {chosen['seed']}", flush=True)
    if is_chief:
        write_json(choice_path, choice, indent=2)
    return choice

