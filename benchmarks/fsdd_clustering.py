"""UVAC's default recipe over three training seeds, with or without speaker ids, on any corpus and split.

With no options: the bundled FSDD, the seeded random 80/10/10 split, the data's speaker ids, today's default
features and recipe (each seed a consensus of three runs); seed 0 is trained straight into
`saved_models/uvac_fsdd.keras` (the shipped model), the other seeds into `runs/<name>/`, as is any other setting.
The name says what differs from the default (`fsdd_clustering_runs3_power_floor6` with no options; names without
a magnitude are the paper's linear features). Each seed is trained with `uvac train` (resumed if an earlier run
was interrupted, skipped if its model exists and was trained on the features asked for), then scored on the test
split beside K-means and GMM-EM. Results go to `benchmarks/results/<name>.json`, from which
`benchmarks/update_readme.py` writes the README tables.

    python benchmarks/fsdd_clustering.py [--seeds 0 1 2] [--speakers ids|pseudo] [--split random|speaker]
                                         [--data DIR --name NAME] [--epochs N] [--precision mixed]
                                         [--architecture full|small|tiny] [--distill] [--runs N]
                                         [--model-config JSON] [--recipe-config JSON] [--add]
                                         [--distill --teachers NAME --name NAME]
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys

from keras_uvac.cli_arguments import parse_noise_margin

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join("saved_models", "uvac_fsdd.keras")
SHIPPED_RUN = "fsdd_clustering_runs3_power_floor6"  # the run name of the default settings: seed 0 ships


def load_result(name):
    """A results JSON of this script, by name (without `.json`).

    Example:
    >>> load_result("fsdd_clustering")["uvac_mean"]["accuracy"]  # doctest: +SKIP
    0.77
    """
    with open(os.path.join(ROOT, "benchmarks", "results", f"{name}.json")) as handle:
        return json.load(handle)


def load_runs(name):
    """A results JSON of this script, by name: `(result, splits)`, the splits being the ones its seeds used.

    Example:
    >>> result, splits = load_runs("fsdd_clustering_pseudo_speakers")  # doctest: +SKIP
    """
    from keras_uvac import datasets

    result = load_result(name)
    data = None if result["data"] == "bundled FSDD" else result["data"]
    return result, datasets.load_audio(data).split(result["split"], seed=0)


def run_name(args):
    if args.name:
        return args.name
    parts = ["fsdd_clustering"]
    if args.speakers != "ids":
        parts.append(f"{args.speakers}_speakers")
    if consensus_runs(args) > 1:  # the one-run names predate the consensus default
        parts.append(f"runs{consensus_runs(args)}")
    if args.split != "random":
        parts.append(f"{args.split}_split")
    if args.precision == "mixed":
        parts.append("mixed")
    if args.architecture != "full":
        parts.append(args.architecture)
    if args.distill:
        parts.append("distilled")
    if args.magnitude != "linear" or args.noise_margin_db is not None:  # older names are the paper's features
        parts.append(args.magnitude + ("" if args.noise_margin_db is None else f"_floor{args.noise_margin_db:g}"))
    return "_".join(parts)


def consensus_runs(args):
    """How many runs each seed's consensus combines (`--runs`, else the recipe's; restarts train one)."""
    from keras_uvac import training

    return args.runs or (1 if args.restarts else training.RECIPES[args.recipe].runs)


def model_path(seed, args):
    name = run_name(args)
    if name == SHIPPED_RUN and seed == 0:
        return SHIPPED
    return os.path.join("runs", name, f"uvac_seed{seed}.keras")


def train(seed, args):
    out = model_path(seed, args)
    if os.path.exists(os.path.join(ROOT, out)):
        check_features(out, args)
        print(f"seed {seed}: {out} exists, not retrained")
        return
    command = [sys.executable, "-m", "keras_uvac.cli"]
    if args.distill:
        teacher = model_path(seed, argparse.Namespace(**{**vars(args), "architecture": "full", "distill": False,
                                                         "name": args.teachers}))
        if not os.path.exists(os.path.join(ROOT, teacher)):
            raise SystemExit(f"seed {seed}: the teacher {teacher} is missing; run this script without --distill and "
                             "--architecture first")
        command += ["distill", "--teacher", teacher]
    else:
        command += ["train", "--precision", args.precision, "--speakers", args.speakers, "--recipe", args.recipe,
                    "--magnitude", args.magnitude]
        if args.magnitude == "log":
            command += ["--log-range-db", str(args.log_range_db)]
        command += ["--noise-margin-db", str(args.noise_margin_db)]
        if args.magnitude == "power":
            command += ["--power-exponent", str(args.power_exponent)]
        if args.epochs:
            command += ["--epochs", str(args.epochs)]
        if args.restarts:
            command += ["--restarts", str(args.restarts)]
        if args.runs:
            command += ["--runs", str(args.runs)]
        if args.model_config:
            command += ["--model-config", args.model_config]
        if args.recipe_config:
            command += ["--recipe-config", args.recipe_config]
        if os.path.isdir(os.path.join(ROOT, out + ".run")):  # an interrupted run or restart: go on with it
            command.append("--resume")
    command += ["--seed", str(seed), "--out", out, "--split", args.split, "--architecture", args.architecture]
    if args.data:
        command += ["--data", args.data]
    print("running", " ".join(command[1:]), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def training_seconds(card):
    """A model's training epochs' seconds from its card: every restart candidate and every run of a consensus."""
    if card.get("consensus"):
        return card["consensus"]["seconds"]
    seconds = card.get("training_seconds_all_epochs", card.get("training_seconds"))
    restarts = card.get("restarts")
    if restarts:  # the candidates that stopped after the first joint epoch count too
        seconds += sum(candidate["seconds"] for candidate in restarts["candidates"]
                       if candidate["seed"] != restarts["chosen_seed"])
    return seconds


def check_features(model, args):
    """Refuses to score a model trained on other features than asked (the default changed in round 16)."""
    if args.distill:
        return
    from keras_uvac.features import FeatureConfig

    with open(os.path.join(ROOT, model + ".card.json")) as handle:
        trained = FeatureConfig.from_config(json.load(handle)["feature_config"]).get_config()
    asked = {"magnitude": args.magnitude, "noise_margin_db": args.noise_margin_db}
    if args.magnitude == "power":
        asked["power_exponent"] = args.power_exponent
    if args.magnitude == "log":
        asked["log_range_db"] = args.log_range_db
    differing = sorted(key for key, value in asked.items() if trained.get(key) != value)
    if differing:
        raise SystemExit(f"{model} was trained with other features ({', '.join(differing)}) than asked; give the "
                         "options it was trained with, or another --name")


def validation_scores(seed, args, validation):
    """The final model's clusters of the split's validation clips beside K-means' (for choosing settings)."""
    from keras_uvac import baselines, metrics, pipeline
    from keras_uvac.model import UVAC

    model = UVAC.from_preset(os.path.join(ROOT, model_path(seed, args)))
    features = pipeline.extract_features(validation, model.feature_config_object(), progress=False)
    kmeans = baselines.kmeans_clusters(features["spectrogram"], model.num_clusters, seed=seed)
    return {"UVAC": metrics.clustering_report(model.predict_clusters(features)[0], validation.labels),
            "K-means": metrics.clustering_report(kmeans, validation.labels)}


def pseudo_speaker_scores(seed, args, card, train):
    """How the first run's pseudo-speaker groups of the training clips match the true speakers and classes."""
    from sklearn.metrics import normalized_mutual_info_score

    from keras_uvac import training

    if args.speakers != "pseudo" or train.speakers is None:
        return None
    recipe = training.Recipe.from_config(card["recipe"])
    groups = training.speaker_groups(train, "pseudo", recipe, seed * consensus_runs(args))
    return {"descriptor": recipe.pseudo_speaker_descriptor, "groups": int(groups.max() + 1),
            "speaker_nmi": float(normalized_mutual_info_score(train.speakers, groups)),
            "class_nmi": float(normalized_mutual_info_score(train.labels, groups))}


def with_earlier_seeds(out_json, settings, seeds):
    """`(seeds, command)`: the seeds of an earlier results JSON of the same settings, with `seeds` added.

    The command returned names every seed, so that it reproduces the whole table on a fresh machine.
    """
    with open(out_json) as handle:
        earlier = json.load(handle)
    differing = sorted(key for key, value in settings.items() if earlier.get(key) != value)
    if differing:
        raise SystemExit(f"--add: {out_json} was measured with other settings ({', '.join(differing)}); "
                         "give another --name")
    merged = {**earlier["seeds"], **seeds}
    merged = {seed: merged[seed] for seed in sorted(merged, key=int)}
    words = shlex.split(earlier["command"])
    if "--seeds" not in words:
        words.append("--seeds")
    after_seeds = words.index("--seeds") + 1
    while after_seeds < len(words) and words[after_seeds].isdigit():
        del words[after_seeds]
    words[after_seeds:after_seeds] = list(merged)
    return merged, shlex.join(words)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--speakers", default="ids", choices=("ids", "pseudo"),
                        help="the data's speaker ids, or pseudo-speakers found without them")
    parser.add_argument("--split", default="random", choices=("random", "speaker"))
    parser.add_argument("--data", help="a corpus folder (default: the bundled FSDD)")
    parser.add_argument("--name", help="name of the runs folder and the results JSON (needed with --data)")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--recipe", default="default", help="a recipe of keras_uvac.training.RECIPES")
    parser.add_argument("--restarts", type=int, help="override the recipe's restarts (uvac train --restarts)")
    parser.add_argument("--runs", type=int, help="override the recipe's consensus of runs (uvac train --runs)")
    parser.add_argument("--model-config", help="UVAC arguments as JSON over the recipe's (uvac train --model-config)")
    parser.add_argument("--recipe-config", help="Recipe fields as JSON over the recipe's (uvac train --recipe-config)")
    parser.add_argument("--magnitude", default="power", choices=("linear", "log", "power"),
                        help="the features' magnitude (default power; linear is the paper's)")
    parser.add_argument("--log-range-db", type=float, default=80.0, help="with --magnitude log, the range kept")
    parser.add_argument("--noise-margin-db", type=parse_noise_margin,
                        default=6.0, help="the margin over each clip's noise level (default 6; none: no noise floor)")
    parser.add_argument("--power-exponent", type=float, default=0.5, help="with --magnitude power, the exponent")
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed"))
    parser.add_argument("--architecture", default="full", choices=("full", "small", "tiny"))
    parser.add_argument("--distill", action="store_true",
                        help="distil each seed's compact student (uvac distill) from the same seed's full model "
                             "trained with the same settings, instead of training it with the recipe")
    parser.add_argument("--teachers", metavar="NAME",
                        help="with --distill, the run name of the full models to distil (their seeds' models "
                             "runs/NAME/uvac_seed<S>.keras); default: the full models of the same settings")
    parser.add_argument("--add", action="store_true",
                        help="add the seeds to the results JSON of the same name and settings, keeping the seeds it "
                             "has that --seeds does not name (their models need not be here any more)")
    args = parser.parse_args()
    if args.data and not args.name:
        parser.error("--data needs --name")
    if args.teachers and not (args.distill and args.name):
        parser.error("--teachers needs --distill and --name")
    out_json = os.path.join(ROOT, "benchmarks", "results", f"{run_name(args)}.json")
    for seed in args.seeds:
        train(seed, args)

    from keras_uvac import datasets
    from keras_uvac.atomic import write_json

    splits = datasets.load_audio(args.data).split(args.split, seed=0)  # the split every seed trained on
    seeds = {}
    for seed in args.seeds:
        with open(os.path.join(ROOT, model_path(seed, args) + ".card.json")) as handle:
            card = json.load(handle)
        seeds[str(seed)] = {"model": model_path(seed, args), "rows": card["test_metrics"],
                            "training_seconds": training_seconds(card),
                            "epochs": card.get("epochs_done", card.get("distillation", {}).get("epochs")),
                            "split_clips": card["split"]["clips"],
                            "validation": validation_scores(seed, args, splits["validation"]),
                            "pseudo_speakers": pseudo_speaker_scores(seed, args, card, splits["train"])}
    settings = {"speakers": args.speakers, "split": args.split, "data": args.data or "bundled FSDD",
                "precision": args.precision, "architecture": args.architecture, "recipe": args.recipe,
                "magnitude": args.magnitude, "log_range_db": args.log_range_db,
                "noise_margin_db": args.noise_margin_db, "power_exponent": args.power_exponent,
                "model_config": json.loads(args.model_config or "{}"),
                "recipe_config": json.loads(args.recipe_config or "{}"),
                "restarts": args.restarts, "runs": consensus_runs(args), "distilled": args.distill,
                "teachers": args.teachers}
    command = "python benchmarks/fsdd_clustering.py " + shlex.join(sys.argv[1:])
    if args.add and os.path.exists(out_json):
        seeds, command = with_earlier_seeds(out_json, settings, seeds)
    uvac = [result["rows"]["UVAC"] for result in seeds.values()]
    summary = {name: statistics.mean(row[name] for row in uvac) for name in ("accuracy", "nmi", "silhouette", "dbi")}
    beats = {seed: all(result["rows"]["UVAC"]["accuracy"] > result["rows"][method]["accuracy"]
                       for method in ("K-means", "GMM-EM")) for seed, result in seeds.items()}
    how = (f"distilled from the same seed's full model of {args.teachers or 'the same settings'}" if args.distill
           else f"speaker terms on {args.speakers}")
    runs = consensus_runs(args)
    best_of = (f" (best of {args.restarts} restarts)" if args.restarts and args.restarts > 1
               else f" (consensus of {runs} runs per seed)" if runs > 1 else " (one run per seed)")
    payload = {"what": f"UVAC, {args.recipe} recipe{best_of}, {args.data or 'bundled FSDD'} test split "
                       f"({args.split} 80/10/10 split, split seed 0), {args.architecture} encoder, {how}",
               **settings, "command": command, "seeds": seeds, "uvac_mean": summary,
               "every_seed_beats_kmeans_and_gmm_em": all(beats.values()), "beats_by_seed": beats}
    write_json(out_json, payload, indent=2)
    print(json.dumps(summary, indent=1))
    print(f"wrote {out_json}")


if __name__ == "__main__":
    main()
