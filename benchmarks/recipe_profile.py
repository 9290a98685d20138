"""Where the default recipe's time goes: per run and phase from a trained model's records, and per part of its step.

Records: `uvac train` keeps each epoch's seconds in every run's `history.json`
(the validation metrics of that epoch included), the consensus's seconds in
`consensus.json` and the whole training's in the model card. From a trained
model's files this splits the training into each run's pretraining and joint
epochs, the consensus's self-labelling epochs and the rest (pseudo-speakers,
the mixture fits, forming the consensus, the balanced refit, calibration, the
quality report, saving).

Step: one process times, on random features of the real shape (batch 64,
128 x 99), the default recipe's training step and the same step with one part
taken out each time: the two augmented views (and with them the contrastive
and cluster terms), the speaker terms, and the joint phase's sampling and KL;
the paper's bare step; and the step with the clip reconstructed from its first
view (`UVAC(reconstruct_from_view=True)`, a candidate), and with 5x5 encoder kernels (`encoder_kernel_size=5`, a
candidate: the encoder's convolutions take most of its time). Each variant is a compiled `train_on_batch`, warmed
up, then timed over several windows; medians in milliseconds per step. The
per-epoch validation metrics (`metrics.ClusteringMetricsCallback` on 300 clips)
are timed the same way.

    python benchmarks/recipe_profile.py saved_models/uvac_fsdd.keras [--windows 5] [--steps 5]
"""

import argparse
import json
import os
import statistics
import sys
import time

# keras_uvac before keras, as its users import it: it chooses TensorFlow's CPU kernels.
from keras_uvac.atomic import write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def recorded_phases(model_path):
    """Seconds of each run's pretraining and joint epochs, the consensus and the rest, from a model's records."""
    with open(model_path + ".card.json") as handle:
        card = json.load(handle)
    pretrain_epochs = card["recipe"]["pretrain_epochs"]
    runs_folder = os.path.join(model_path + ".run", "runs")
    runs, epochs_total = [], 0.0
    shared = card.get("consensus", {}).get("shared_pretraining_epochs", 0)
    for index, seed in enumerate(card["consensus"]["seeds"] if card.get("consensus") else [card["seed"]]):
        folder = os.path.join(runs_folder, f"seed-{seed}.keras.run") if card.get("consensus") else model_path + ".run"
        with open(os.path.join(folder, "history.json")) as handle:
            history = json.load(handle)
        # A shared pretraining begins every run's history but ran once: it counts in the first run only.
        first = shared if index else 0
        pretraining = sum(epoch["seconds"] for epoch in history[first:pretrain_epochs])
        joint = sum(epoch["seconds"] for epoch in history[pretrain_epochs:])
        epochs_total += pretraining + joint
        runs.append({"seed": seed, "pretraining_epochs": max(0, min(pretrain_epochs, len(history)) - first),
                     "pretraining_seconds": pretraining, "joint_epochs": max(0, len(history) - pretrain_epochs),
                     "joint_seconds": joint,
                     "median_epoch_seconds": statistics.median(epoch["seconds"] for epoch in history)})
    total = card["training_seconds_this_session"]
    consensus = card["consensus"]["seconds"] - epochs_total if card.get("consensus") else 0.0
    rest = ("the rest: pseudo-speakers, mixture fits, forming the consensus, balanced refit, calibration, quality "
            "report, saving")
    phases = {"pretraining epochs": sum(run["pretraining_seconds"] for run in runs),
              "joint epochs": sum(run["joint_seconds"] for run in runs),
              "the consensus's self-labelling epochs": consensus, rest: total - epochs_total - consensus}
    return {"model": os.path.relpath(model_path, ROOT), "total_seconds": total, "machine": card.get("machine"),
            "recipe": card["recipe"],
            "steps_per_epoch": card["split"]["clips"]["train"] // card["recipe"]["batch_size"], "runs": runs,
            "phases": {name: {"seconds": seconds, "share": seconds / total}
                       for name, seconds in phases.items()}}


def step_variants():
    """The recipe step's variants: name -> (UVAC arguments, phase variables, with speakers)."""
    from keras_uvac.training import RECIPES

    recipe = RECIPES["default"].model
    joint = {"kl_weight": 1.0, "sampling": 1.0, "cluster_weight": 1.0}
    return {
        "recipe step, joint phase": (recipe, joint, True),
        "recipe step, pretraining (no sampling, no KL, no cluster term)": (
            recipe, {"kl_weight": 0.0, "sampling": 0.0, "cluster_weight": 0.0}, True),
        "joint phase without the two views (no contrastive or cluster term)": (
            {**recipe, "consistency_weight": 0.0}, joint, True),
        "joint phase without the speaker terms": (
            {**recipe, "speaker_weight": 0.0, "cross_speaker_weight": 0.0}, joint, False),
        "the paper's step (reconstruction and KL)": ({}, {"kl_weight": 1.0, "sampling": 1.0}, False),
        "candidate: joint phase reconstructed from the first view (two encoder passes, not three)": (
            {**recipe, "reconstruct_from_view": True}, joint, True),
        "candidate: joint phase with 5x5 encoder kernels instead of the paper's 8x8": (
            {**recipe, "encoder_kernel_size": 5}, joint, True),
    }


def time_calls(call, windows, steps):
    """Milliseconds per call: the median of `windows` windows of `steps` calls, after `2 * steps` to warm up."""
    for _ in range(2 * steps):
        call()
    times = []
    for _ in range(windows):
        start = time.perf_counter()
        for _ in range(steps):
            call()
        times.append(1000 * (time.perf_counter() - start) / steps)
    return {"median_ms": statistics.median(times), "window_ms": times}


def step_parts(windows, steps):
    """`(step, validation)`: milliseconds per training step of each variant, and per epoch's validation metrics."""
    import keras
    import numpy as np

    from keras_uvac import metrics
    from keras_uvac.model import UVAC

    rng = np.random.default_rng(0)
    batch = {"spectrogram": rng.uniform(size=(64, 128, 99)).astype("float32"),
             "activity_mask": (rng.uniform(size=(64, 99)) < 0.8).astype("float32"),
             "speaker": rng.integers(0, 6, size=64).astype("int32")}
    results, models = {}, []
    for name, (arguments, variables, with_speakers) in step_variants().items():
        model = UVAC(**arguments, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
        models.append(model)
        for variable, value in variables.items():
            getattr(model, variable).assign(value)
        inputs = batch if with_speakers else {key: batch[key] for key in ("spectrogram", "activity_mask")}
        results[name] = time_calls(lambda model=model, inputs=inputs: model.train_on_batch(inputs), windows, steps)
        print(f"{name}: {results[name]['median_ms']:.0f} ms", flush=True)
    validation = [({"spectrogram": rng.uniform(size=(60, 128, 99)).astype("float32"),
                    "activity_mask": np.ones((60, 99), "float32")}, rng.integers(0, 10, size=60)) for _ in range(5)]
    callback = metrics.ClusteringMetricsCallback(validation)
    callback.set_model(models[0])
    return results, time_calls(lambda: callback.on_epoch_end(0, {}), windows, max(1, steps // 5))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model trained by uvac train, with its .card.json and .run folder")
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="steps per timed window")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "recipe_profile.json"))
    args = parser.parse_args()
    records = recorded_phases(os.path.abspath(args.model))
    for name, phase in records["phases"].items():
        print(f"{name}: {phase['seconds']:.0f} s ({100 * phase['share']:.1f}%)")
    step, validation = step_parts(args.windows, args.steps)
    payload = {"what": "where the default recipe's time goes: a trained model's recorded phases, and milliseconds "
                       "per training step of the recipe with one part taken out at a time (batch 64, float32)",
               "command": "python benchmarks/recipe_profile.py " + " ".join(sys.argv[1:]),
               "cpus": os.cpu_count(), "records": records, "step": step,
               "validation_metrics_per_epoch_300_clips": validation}
    write_json(args.out, payload, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
