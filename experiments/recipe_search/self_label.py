"""Does training the carrying model on the runs' consensus (self-labelling) beat refitting its prior alone?

For each group of trained runs, as in `consensus_groups.py`: the consensus of the training clips, the most typical
run carrying it (`consensus.adopt_clusters`), then `--epochs` epochs of the recipe's joint-phase loss on the
training clips plus a cross-entropy that draws each clip's cluster posterior (of an augmented view) to its
consensus cluster, on the clips whose runs all agree with the consensus (SCAN's self-labelling step, with the
runs' agreement as the confidence). Validation accuracy after the refit and after every epoch; TensorFlow only.

    python benchmarks/recipe_search/self_label.py --group A.keras B.keras C.keras [--group ...] [--data DIR] \\
        [--epochs 3] [--weight 100] [--json OUT]
"""

import argparse
import dataclasses
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", nargs="+", action="append", required=True)
    parser.add_argument("--data")
    parser.add_argument("--method", default="kmeans", choices=("average", "kmeans"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--weight", type=float, default=100.0, help="the cross-entropy's weight")
    parser.add_argument("--json")
    args = parser.parse_args()
    import keras
    import tensorflow as tf

    from keras_uvac import consensus, datasets, metrics, pipeline, training
    from keras_uvac.atomic import write_json
    from keras_uvac.model import UVAC

    splits = datasets.load_audio(args.data).split("random", seed=0)
    labels = splits["validation"].labels
    report = {"command": "python benchmarks/recipe_search/self_label.py " + " ".join(sys.argv[1:]), "groups": []}
    features = {}
    for paths in args.group:
        models = [UVAC.from_preset(os.path.join(ROOT, path)) for path in paths]
        features = features or {name: pipeline.extract_features(splits[name], models[0].feature_config_object(),
                                                                progress=False) for name in ("train", "validation")}
        assignments = consensus.run_assignments(models, features["train"])
        typical, _ = consensus.most_typical_run(assignments)
        clusters = consensus.consensus_clusters(assignments, models[0].num_clusters, args.method)
        agree = consensus.agreeing_clips(assignments, clusters)
        model = consensus.adopt_clusters(models[typical], features["train"], clusters)
        with open(os.path.join(ROOT, paths[typical] + ".run", "recipe.json")) as handle:
            run = json.load(handle)
        fields = {field.name for field in dataclasses.fields(training.Recipe)}  # options removed since were off
        recipe = training.Recipe.from_config({key: value for key, value in run["recipe"].items() if key in fields})
        speakers = training.speaker_groups(splits["train"], run.get("speakers", "ids"), recipe, run["seed"])
        row = {"models": paths, "carrier": paths[typical], "agreeing_clips": float(agree.mean()),
               "validation": [metrics.unsupervised_accuracy(labels, model.predict_clusters(features["validation"])[0])]}
        model.kl_weight.assign(recipe.kl_weight)
        model.sampling.assign(1.0)
        model.cluster_weight.assign(recipe.cluster_weight)
        optimizer = keras.optimizers.Adam(recipe.final_learning_rate)
        chosen = np.flatnonzero(agree)
        data = {"spectrogram": features["train"]["spectrogram"], "activity_mask": features["train"]["activity_mask"],
                "speaker": speakers, "target": clusters.astype("int32"), "confident": agree.astype("float32")}
        rng = np.random.default_rng(run["seed"])
        for _ in range(args.epochs):
            order = rng.permutation(len(clusters))
            for start in range(0, len(order) - recipe.batch_size + 1, recipe.batch_size):
                batch = {key: tf.constant(value[order[start:start + recipe.batch_size]]) for key, value in data.items()}
                with tf.GradientTape() as tape:
                    terms = model.loss_terms({key: batch[key] for key in ("spectrogram", "activity_mask", "speaker")})
                    view = model.augment(batch["spectrogram"], training=True)
                    posterior = model.prior(model.encoder(view, training=True)[0])
                    picked = tf.gather(posterior, batch["target"], batch_dims=1)
                    cross_entropy = -tf.reduce_sum(batch["confident"] * tf.math.log(picked + 1e-8)) / tf.maximum(
                        tf.reduce_sum(batch["confident"]), 1.0)
                    loss = terms["loss"] + args.weight * cross_entropy
                gradients = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(gradients, model.trainable_variables))
            row["validation"].append(metrics.unsupervised_accuracy(
                labels, model.predict_clusters(features["validation"])[0]))
            print(paths[typical], [round(100 * value, 1) for value in row["validation"]], flush=True)
        row["clips_used"] = int(len(chosen))
        report["groups"].append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        write_json(args.json, report, indent=2)


if __name__ == "__main__":
    main()
