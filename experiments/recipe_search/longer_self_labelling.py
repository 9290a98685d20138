"""Do more self-labelling epochs, or more runs, before the balanced prior gain on validation clips?

Today's default carries a consensus of three runs in one model, trains it `Recipe.consensus_epochs` (3) epochs
with the consensus as the target of the clips on which every run agrees, and ends by refitting its prior to
clusters of equal size (`consensus.balance_prior`). For each trained consensus model (its member runs in
`<model>.run/runs/seed-N.keras`), this redoes that step as `training.train` does (same consensus, carrying run and
seed) for `--epochs` epochs and, after every epoch, scores the validation clips with the prior balanced on a copy
(the prior is put back, so training goes on as it would). Epoch 3 is today's default and a later epoch the
candidate, from one run: the comparison is paired. `--group SEED RUN.keras ...` does the same for a consensus of
any finished runs of today's recipe (their speakers and recipe read from their run folders; SEED seeds the
consensus' K-means as `uvac train --seed` would), to compare consensus sizes. `--carrier each` lets every run of a
group carry its consensus in turn, not only the most typical one, to see how much the carrier matters. Each
carrier also gets label-free scores that could choose it (twentieth round): `fidelity`, the NMI between the
consensus and the carrier's clusters of the training clips after its self-labelling and the balanced prior (as
training ends); `agreement_with_consensus`, the same for its own run before it carries anything; and its last
self-labelling epoch's loss. With `--carrier each`, `choices` lists per group the carrier each score picks and its
validation accuracy. No labels choose or combine anything; the test split is not read. Seventeenth to twentieth
rounds of docs/recipe_search.md.

    python benchmarks/recipe_search/longer_self_labelling.py runs/fsdd_pows_ids_s20/uvac_seed1.keras ... \\
        [--group SEED RUN.keras RUN.keras ...] [--carrier typical|each] [--data DIR] [--epochs 8] [--json OUT]
"""

import argparse
import dataclasses
import json
import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="trained consensus models (uvac_seedN.keras)")
    parser.add_argument("--group", nargs="+", action="append", default=[], metavar="SEED RUN.keras",
                        help="a consensus seed and finished runs to combine")
    parser.add_argument("--data", help="the corpus folder (default: the bundled FSDD)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--carrier", default="typical", choices=("typical", "each"),
                        help="which runs carry the consensus: the most typical (as training does) or each in turn")
    parser.add_argument("--json")
    args = parser.parse_args()
    import keras
    import numpy as np
    from balanced_consensus import validation_scorer
    from sklearn import metrics as sk_metrics

    from keras_uvac import consensus, training
    from keras_uvac.atomic import write_json
    from keras_uvac.model import UVAC

    report = {"command": "python " + shlex.join([os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
              "data": args.data or "bundled FSDD", "consensus": []}
    groups = []  # (label, seed, member paths, speakers, recipe config)
    for path in args.models:
        with open(path + ".card.json") as handle:
            card = json.load(handle)
        members = [f"{path}.run/runs/seed-{seed}.keras" for seed in card["consensus"]["seeds"]]
        groups.append((path, card["seed"], members, card["speakers"], card["recipe"]))
    for seed, *members in args.group:
        with open(members[0] + ".run/recipe.json") as handle:
            run = json.load(handle)
        groups.append((" ".join([seed, *members]), int(seed), members, run["speakers"], run["recipe"]))
    first_run = groups[0][2][0]
    splits, feature_config, features, accuracy = validation_scorer(args.data, first_run)

    class BalancedScore(keras.callbacks.Callback):
        """Validation accuracy after each epoch, as trained and with the prior balanced on a copy."""

        def __init__(self):
            super().__init__()
            self.as_trained, self.balanced = [], []

        def on_epoch_end(self, epoch, logs=None):
            self.as_trained.append(accuracy(self.model))
            prior = [np.array(weight) for weight in self.model.prior.get_weights()]
            consensus.balance_prior(self.model, features["train"])
            self.balanced.append(accuracy(self.model))
            self.model.prior.set_weights(prior)
            print(f"epoch {epoch + 1}: {100 * self.as_trained[-1]:.1f} as trained, "
                  f"{100 * self.balanced[-1]:.1f} balanced", flush=True)

    for label, seed, members, speakers, recipe_config in groups:
        recipe = dataclasses.replace(training.Recipe.from_config(recipe_config), consensus_epochs=args.epochs)
        models = [UVAC.from_preset(member) for member in members]
        assignments = consensus.run_assignments(models, features["train"])
        clusters, targets, typical, agreement = consensus.combine_runs(assignments, models[0].num_clusters, seed)
        for carrier in (range(len(members)) if args.carrier == "each" else [typical]):
            with open(members[carrier] + ".run/recipe.json") as handle:
                carrying_seed = json.load(handle)["seed"]
            model = consensus.adopt_clusters(UVAC.from_preset(members[carrier]), features["train"], clusters)
            score = BalancedScore()
            logs = training._train_on_targets(model, splits["train"], feature_config, recipe, speakers,
                                              carrying_seed, targets, verbose=0, callbacks=[score])
            consensus.balance_prior(model, features["train"])
            final_clusters = model.predict_clusters(features["train"])[0]
            row = {"group": label, "carrying_seed": carrying_seed, "most_typical": carrier == typical,
                   "agreement": float(agreement[carrier]),
                   "agreement_with_consensus": sk_metrics.normalized_mutual_info_score(clusters, assignments[carrier]),
                   "fidelity": sk_metrics.normalized_mutual_info_score(clusters, final_clusters),
                   "last_loss": logs[-1]["loss"], "as_trained": score.as_trained, "balanced": score.balanced}
            if label in args.models and carrier == typical:
                row["as_saved"] = accuracy(UVAC.from_preset(label))
            report["consensus"].append(row)
            print(json.dumps(row), flush=True)
            if args.json:  # after every model: a long run keeps what it measured
                write_json(args.json, report, indent=2)
    if args.carrier == "each":
        report["choices"] = carrier_choices(report["consensus"])
        print(json.dumps(report["choices"], indent=1), flush=True)
        if args.json:
            write_json(args.json, report, indent=2)


def carrier_choices(rows):
    """Per group, the carrier each label-free score picks (and the best by labels) with its last balanced accuracy."""
    picks = {"most_typical": lambda row: row["agreement"], "fidelity": lambda row: row["fidelity"],
             "agreement_with_consensus": lambda row: row["agreement_with_consensus"],
             "lowest_loss": lambda row: -row["last_loss"], "best_by_labels": lambda row: row["balanced"][-1]}
    choices = []
    for group in dict.fromkeys(row["group"] for row in rows):
        carriers = [row for row in rows if row["group"] == group]
        picked = {name: max(carriers, key=score) for name, score in picks.items()}
        choices.append({"group": group, **{name: {"carrying_seed": row["carrying_seed"],
                                                 "balanced": row["balanced"][-1]} for name, row in picked.items()}})
    return choices


if __name__ == "__main__":
    main()
