"""Trains the default recipe with pseudo-speakers instead of speaker ids, probing validation codes per epoch.

    python benchmarks/recipe_search/train_pseudo.py NAME [GROUPS] [MODEL_JSON] [RECIPE_JSON] [--seed S]
"""

import dataclasses
import json
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from train_variant_probe import CodeProbe  # noqa: E402

from keras_uvac import datasets, nuisance, pipeline, training  # noqa: E402


def main():
    arguments = [a for a in sys.argv[1:] if not a.startswith("--seed")]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    if "--seed" in sys.argv:
        arguments.remove(str(seed))
    name = arguments[0]
    groups = int(arguments[1]) if len(arguments) > 1 else 6
    model_overrides = json.loads(arguments[2]) if len(arguments) > 2 else {}
    recipe_overrides = json.loads(arguments[3]) if len(arguments) > 3 else {}
    splits = datasets.load_audio().split(seed=0)
    train = splits["train"]
    truth = train.speakers
    train.speakers = nuisance.collection_pseudo_speakers(train, groups, seed)
    from sklearn.metrics import normalized_mutual_info_score as nmi
    print("pseudo-speakers: speaker NMI", round(nmi(truth, train.speakers), 3), "digit NMI",
          round(nmi(train.labels, train.speakers), 3), flush=True)
    validation = pipeline.extract_features(splits["validation"], progress=False)
    recipe = dataclasses.replace(training.RECIPES["default"], **recipe_overrides)
    training.train(train, f"runs/{name}.keras", recipe, seed=seed, verbose=0,
                   callbacks=[CodeProbe(validation, splits["validation"].labels)], **model_overrides)


if __name__ == "__main__":
    main()
