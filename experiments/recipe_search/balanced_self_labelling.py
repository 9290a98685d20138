"""Does self-labelling toward clusters of equal size beat self-labelling toward the runs' agreement?

Today's default carries a consensus of three runs in one model, trains it three epochs with the consensus as the
target of the clips on which every run agrees, and ends by refitting its prior to clusters of equal size
(`consensus.balance_prior`). The variant here balances first and self-labels toward the balanced clusters
(every clip gets its equal-size cluster as target, as in self-labelling by optimal transport, Asano et al. 2020),
so that the encoder, not only the prior, learns the split of a merged word; then balances again. For each
trained consensus model (its member runs in `<model>.run/runs/seed-N.keras`), on the validation clips: the model
as trained (today's default) and the variant, from the same carrying run, seed and number of epochs. No labels
choose or combine anything; the test split is not read.

    python benchmarks/recipe_search/balanced_self_labelling.py runs/fsdd_bal_ids/uvac_seed0.keras ... \\
        [--data DIR] [--json OUT]
"""

import argparse
import json
import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="trained consensus models (uvac_seedN.keras)")
    parser.add_argument("--data", help="the corpus folder (default: the bundled FSDD)")
    parser.add_argument("--json")
    args = parser.parse_args()
    import keras
    from balanced_consensus import validation_scorer

    from keras_uvac import consensus, training
    from keras_uvac.atomic import write_json
    from keras_uvac.model import UVAC

    report = {"command": "python " + shlex.join([os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
              "data": args.data or "bundled FSDD", "consensus": []}
    splits, feature_config, features, accuracy = validation_scorer(args.data, args.models[0])
    for path in args.models:
        with open(path + ".card.json") as handle:
            card = json.load(handle)
        recipe = training.Recipe.from_config(card["recipe"])
        seeds = card["consensus"]["seeds"]
        models = [UVAC.from_preset(f"{path}.run/runs/seed-{seed}.keras") for seed in seeds]
        assignments = consensus.run_assignments(models, features["train"])
        typical, _ = consensus.most_typical_run(assignments)
        carrying_seed = card["consensus"]["carrying_seed"]
        assert seeds[typical] == carrying_seed, (seeds[typical], carrying_seed)
        model = consensus.adopt_clusters(models[typical], features["train"], consensus.consensus_clusters(
            assignments, models[typical].num_clusters, "kmeans", card["seed"]))
        consensus.balance_prior(model, features["train"])
        codes = model.latent_mean(features["train"])
        targets = consensus.equal_size_clusters(keras.ops.convert_to_numpy(model.prior.cluster_logits(codes)))
        training._train_on_targets(model, splits["train"], feature_config, recipe, card["speakers"], carrying_seed,
                                   targets, verbose=0)
        record = consensus.balance_prior(model, features["train"])
        row = {"model": path, "today": accuracy(UVAC.from_preset(path)), "balanced_targets": accuracy(model),
               "balanced_targets_sizes": record["cluster_sizes"]}
        report["consensus"].append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        write_json(args.json, report, indent=2)


if __name__ == "__main__":
    main()
