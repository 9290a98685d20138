"""Trains the default recipe on a corpus with its speaker ids or with pseudo-speakers; scores validation clips.

Issue 37, step 1: does a development corpus show the gap between the two paths that real many-speaker corpora
show? Validation clips only (the seeded 80/10/10 split's middle part); the test split is not read.

    python experiments/speaker_gap/train_gap.py DATA {ids,pseudo} [--seed S] [--recipe-config JSON] [--name NAME]
                                                [--epochs N]

DATA `fsdd` is the bundled FSDD. Writes experiments/results/speaker_gap/<NAME>.json.
"""

import argparse
import dataclasses
import json
import os
import time

import numpy as np
from common import splits
from sklearn.metrics import normalized_mutual_info_score

from keras_uvac import baselines, metrics, pipeline, training

RESULTS = os.path.join(os.path.dirname(__file__), "..", "results", "speaker_gap")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("speakers", choices=["ids", "pseudo"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipe-config", default="{}")
    parser.add_argument("--name")
    parser.add_argument("--groups", help="JSON {clip path: group} used as the speaker ids (speaker_encoder.py)")
    parser.add_argument("--epochs", type=int, help="a shorter recipe (Recipe.with_epochs) for a first look")
    args = parser.parse_args()
    name = args.name or f"{os.path.basename(os.path.normpath(args.data))}_{args.speakers}_seed{args.seed}"
    corpus = splits(args.data)
    train, validation = corpus["train"], corpus["validation"]
    true_speakers = train.speakers
    if args.groups:
        with open(args.groups) as handle:
            given = json.load(handle)
        train = dataclasses.replace(train, speakers=[f"group{given[str(path)]}" for path in train.paths])
    recipe = training.RECIPES["default"].with_changes(json.loads(args.recipe_config))
    if args.epochs:
        recipe = recipe.with_epochs(args.epochs)
    groups = training.speaker_groups(train, args.speakers, recipe, seed=args.seed)
    grouping = {"groups": int(len(np.unique(groups))),
                "speaker_nmi": float(normalized_mutual_info_score(true_speakers, groups)),
                "digit_nmi": float(normalized_mutual_info_score(train.labels, groups))}
    print("speaker groups:", grouping, flush=True)
    start = time.time()
    os.makedirs("runs/speaker_gap", exist_ok=True)
    model, _ = training.train(train, f"runs/speaker_gap/{name}.keras", recipe, seed=args.seed, verbose=0,
                              speakers=args.speakers, resume=os.path.exists(f"runs/speaker_gap/{name}.keras.run"))
    seconds = time.time() - start
    features = pipeline.extract_features(validation, progress=False)
    clusters, _ = model.predict_clusters(features)
    result = {"name": name, "data": args.data, "speakers": args.speakers, "seed": args.seed,
              "recipe_changes": json.loads(args.recipe_config), "epochs": recipe.epochs, "grouping": grouping,
              "validation": metrics.clustering_report(clusters, validation.labels),
              "kmeans_validation": metrics.clustering_report(
                  baselines.kmeans_clusters(features["spectrogram"], 10, seed=args.seed), validation.labels),
              "runs_agreement": model.card.get("consensus", {}).get("agreement"), "seconds": round(seconds)}
    print(json.dumps(result), flush=True)
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as handle:
        json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
