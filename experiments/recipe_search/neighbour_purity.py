"""How often a training clip's nearest other-speaker code says the same word: in a batch of 64, and in the whole split.

A neighbour-consistency term (SCAN; `UVAC(neighbour_cluster_weight=...)` at commit c37c41b) makes a clip's
cluster agree with its neighbour's, so it can only help where the neighbours mostly share the word. Measured on the
codes of saved models (a `.keras` file or a checkpoint folder `epoch-NNNN/`), FSDD training split (or `--data DIR`'s),
speaker ids from the file names; labels are read only to score the neighbours.

    python benchmarks/recipe_search/neighbour_purity.py runs/swa/cluster3_ids_seed1/epoch-0012 \\
        --json benchmarks/recipe_search/results/neighbour_purity.json
"""

import argparse
import json
import os

import keras
import numpy as np

from keras_uvac import datasets, pipeline


def load(path):
    return keras.models.load_model(os.path.join(path, "model.keras") if os.path.isdir(path) else path)


def purity(codes, speakers, digits, seed=0):
    """Same-word share of the nearest other-speaker neighbours (cosine), per way of finding them."""
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    similarity = unit @ unit.T
    other_speaker = speakers[:, None] != speakers[None, :]
    ranked = np.argsort(-np.where(other_speaker, similarity, -np.inf), axis=1)
    result = {f"split, {k} nearest other-speaker": float(np.mean(digits[ranked[:, :k]] == digits[:, None]))
              for k in (1, 5, 20)}
    rng = np.random.default_rng(seed)
    in_batch, mutual, mutual_share = [], [], []
    for _ in range(200):
        batch = rng.choice(len(digits), 64, replace=False)
        nearest = np.where(other_speaker[np.ix_(batch, batch)], similarity[np.ix_(batch, batch)], -np.inf).argmax(1)
        same_word = digits[batch][nearest] == digits[batch]
        in_batch.append(np.mean(same_word))
        # Pairs that are each other's nearest: fewer, and perhaps purer.
        is_mutual = nearest[nearest] == np.arange(len(batch))
        mutual.append(same_word[is_mutual].mean() if is_mutual.any() else np.nan)
        mutual_share.append(is_mutual.mean())
    result["batch of 64, nearest other-speaker"] = float(np.mean(in_batch))
    result["batch of 64, mutual nearest other-speaker"] = float(np.nanmean(mutual))
    result["batch of 64, share of clips with a mutual nearest"] = float(np.mean(mutual_share))
    any_speaker = np.where(np.eye(len(digits), dtype=bool), -np.inf, similarity).argmax(1)
    result["split, nearest of any speaker"] = float(np.mean(digits[any_speaker] == digits))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help=".keras files or checkpoint folders")
    parser.add_argument("--data", help="a corpus folder (default: the bundled FSDD)")
    parser.add_argument("--json")
    args = parser.parse_args()
    collection = datasets.load_audio(args.data).split("random", seed=0)["train"]
    speakers = np.unique(collection.speakers, return_inverse=True)[1]
    digits = np.asarray(collection.labels)
    results, features = {}, {}
    for path in args.models:
        model = load(path)
        config = model.feature_config_object()
        key = json.dumps(config.get_config(), sort_keys=True)
        if key not in features:
            features[key] = pipeline.extract_features(collection, config, progress=False)
        codes = model.latent_mean(features[key])
        results[path] = purity(codes, speakers, digits)
        print(path, {name: round(value, 3) for name, value in results[path].items()}, flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": "python benchmarks/recipe_search/neighbour_purity.py " + " ".join(
                [*args.models, *(["--data", args.data] if args.data else []), "--json", args.json]),
                "results": results}, handle, indent=1)


if __name__ == "__main__":
    main()
