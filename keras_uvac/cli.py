"""The `uvac` command line.

    uvac features [FILES_OR_DIRS ...] --out features.npz
    uvac baselines [--data DIR] [--json results.json]
    uvac train [--data DIR] [--recipe default] [--architecture full|small|tiny] [--out model.keras] [--resume]
    uvac distill [--teacher M] [--architecture small|tiny] [--out student.keras]
    uvac evaluate --model M [--data DIR] [--json F] [--plots DIR]
    uvac cluster --model M FILES_OR_DIRS [--csv F]
    uvac reference --model M [--data DIR]
    uvac demo
    uvac tune [--data DIR] [--tuner random|bayesian|hyperband] [--max-trials N] [--directory DIR]
    uvac export --model M --format {tflite-int8,tflite,onnx,tflite-audio} --out PATH

Every command defaults to the bundled Free Spoken Digit Dataset, and the model
commands to the model shipped in `saved_models/`.
"""

import argparse
import collections
import contextlib
import csv
import dataclasses
import json
import logging
import os
import sys

from keras_uvac import validation

SHIPPED_MODEL = "uvac_fsdd"
MODEL_HELP = "a preset name (uvac_fsdd), a preset folder or a .keras file (default: the shipped uvac_fsdd)"
# `uvac export --format` choices, here so that `uvac --help` needs no TensorFlow (= keras_uvac.export.FORMATS).
EXPORT_FORMATS = ("tflite-int8", "tflite", "onnx", "tflite-audio")


def _add_data_arguments(parser, positional=False, sample_rate=True):
    if positional:
        parser.add_argument("data", nargs="*", metavar="FILES_OR_DIRS",
                            help="audio files (WAV, FLAC, OGG, Opus, MP3, AIFF) or folders (default: the bundled FSDD)")
    else:
        parser.add_argument("--data", help="dataset folder (default: the bundled FSDD)")
    parser.add_argument("--layout", default="auto",
                        choices=("auto", "fsdd", "audiomnist", "class_folders", "unlabeled"),
                        help="how labels are read from the files (default: detected)")
    parser.add_argument("--skip-bad-files", action="store_true",
                        help="skip unreadable or unsupported files with a counted warning instead of stopping")
    if sample_rate:
        parser.add_argument("--sample-rate", type=int, default=16000,
                            help="rate audio is resampled to before the STFT, 12800-96000 (default 16000; 48000 is the "
                                 "paper's)")
        parser.add_argument("--duration", type=float, default=1.0,
                            help="seconds per clip, at most 30: shorter ones are padded, longer ones cut to their "
                                 "loudest part (default 1.0; the model's input grows with it)")
        parser.add_argument("--magnitude", default="power", choices=("linear", "log", "power"),
                            help="STFT magnitude raised to --power-exponent (the default), as it is (the paper's), "
                                 "or in dB below each clip's peak")
        parser.add_argument("--log-range-db", type=float, default=80.0,
                            help="with --magnitude log, the dynamic range kept below each clip's peak (default 80)")
        parser.add_argument("--noise-margin-db", type=parse_noise_margin, default=6.0,
                            help="drop what is less than this many dB (0-60) above each clip's noise level (its "
                                 "quietest frame): the log range ends there, a linear or power magnitude has it "
                                 "subtracted (default 6; 'none' keeps the magnitude as it is, as the paper does)")
        parser.add_argument("--power-exponent", type=float, default=0.5,
                            help="with --magnitude power, the exponent (default 0.5: the square root)")


def parse_noise_margin(text):
    """Reads a `--noise-margin-db` value: a number of dB, or `none` for no noise floor.

    Args:
        text: the option's text.

    Returns:
        The margin in dB as a float, or None.

    Raises:
        argparse.ArgumentTypeError: neither `none` nor a finite number in [0, 60].

    Example:
        >>> parse_noise_margin("6"), parse_noise_margin("none")
        (6.0, None)
    """
    return None if text.lower() == "none" else _number(0, 60)(text)


def _number(low=None, high=None, whole=False, low_open=False):
    """An argparse type: a number checked by `validation.number` (finite, within the range)."""
    def parse(text):
        try:
            return validation.number("value", int(text) if whole else float(text), low, high, whole=whole,
                                     low_open=low_open)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {validation.describe_range(low, high, whole, low_open)}, "
                                             f"got {text!r}") from None

    return parse


_positive_int = _number(1, whole=True)
_seed = _number(0, 2**32 - 1, whole=True)
# The command line's names of the FeatureConfig fields it sets.
FEATURE_OPTIONS = {"sample_rate": "--sample-rate", "duration": "--duration", "magnitude": "--magnitude",
                   "log_range_db": "--log-range-db", "noise_margin_db": "--noise-margin-db",
                   "power_exponent": "--power-exponent"}


def _add_split_arguments(parser):
    parser.add_argument("--split", default="random", choices=("random", "speaker"),
                        help="seeded 80/10/10 split: random (the paper's) or speaker-disjoint")
    parser.add_argument("--split-seed", type=_seed, default=0, help="seed of the split (default 0)")


def _split(collection, args, num_clusters=10):
    """The seeded split, after checking that every part can hold `num_clusters` clusters."""
    splits = collection.split(args.split, seed=args.split_seed)
    sizes = {name: len(part) for name, part in splits.items()}
    if min(sizes.values()) < num_clusters:
        raise ValueError(f"{num_clusters} clusters need at least {num_clusters} clips in each of the training, "
                         f"validation and test splits ({10 * num_clusters} clips at 80/10/10); got {len(collection)} "
                         f"({sizes['train']}/{sizes['validation']}/{sizes['test']})")
    if sizes["test"] < 5 * num_clusters:
        print(f"warning: the test split has only {sizes['test']} clips; its metrics will vary widely", file=sys.stderr)
    return splits


def _load(args):
    from keras_uvac import datasets

    source = args.data if args.data else None
    collection = datasets.load_audio(source, layout=args.layout,
                                     on_error="skip" if args.skip_bad_files else "raise")
    print(f"{source or 'bundled FSDD'}: {collection.describe()}")
    if collection.skipped:
        print(f"skipped {len(collection.skipped)} file(s):", file=sys.stderr)
        for path, problem in collection.skipped:
            print(f"  {path}: {problem}", file=sys.stderr)
    return collection


def _feature_config(args):
    from keras_uvac.features import FeatureConfig

    try:
        return FeatureConfig(sample_rate=args.sample_rate, duration=args.duration, magnitude=args.magnitude,
                             log_range_db=args.log_range_db, noise_margin_db=args.noise_margin_db,
                             power_exponent=args.power_exponent)
    except validation.InvalidValue as error:
        raise error.named(FEATURE_OPTIONS.get(error.name, error.name)) from None


def _output_suffixes(args):
    """The file endings each output option takes, by command: `{attribute: (option, suffixes)}`."""
    export_suffix = (".onnx",) if getattr(args, "format", "") == "onnx" else (".tflite",)
    return {"features": {"out": ("--out", (".npz",))},
            "train": {"out": ("--out", (".keras",))},
            "distill": {"out": ("--out", (".keras",))},
            "tune": {"out": ("--out", (".keras",))},
            "export": {"out": ("--out", export_suffix)},
            "cluster": {"csv": ("--csv", ())}}.get(args.command, {})


def check_arguments(args):
    """Checks every option before any work: values, configs and output paths.

    Sets `args.feature_config`, `args.model_config` and `args.recipe` for the
    commands that take them, so that the handlers use what was checked.

    Args:
        args: the parsed arguments of `build_parser()`.

    Raises:
        ValueError: naming the option and what it may be.

    Example:
    >>> args = build_parser().parse_args(["train", "--out", "model"])
    >>> check_arguments(args)
    Traceback (most recent call last):
    ...
    ValueError: --out model: the file name must end with .keras
    """
    for attribute, (option, suffixes) in _output_suffixes(args).items():
        if getattr(args, attribute, None) is not None:
            validation.output_file(getattr(args, attribute), option, suffixes, standard_output=attribute == "csv")
    if getattr(args, "json", None):
        validation.output_file(args.json, "--json")
    if getattr(args, "sample_rate", None) is not None:
        args.feature_config = _feature_config(args)
    if args.command == "train":
        from keras_uvac import training
        from keras_uvac.model import ARCHITECTURES, check_model_arguments

        args.model_config = {**ARCHITECTURES[args.architecture],
                             **validation.json_object("--model-config", args.model_config)}
        if args.clusters is not None:
            if args.model_config.get("num_clusters", args.clusters) != args.clusters:
                raise ValueError(f"--clusters {args.clusters} and --model-config's num_clusters "
                                 f"{args.model_config['num_clusters']} disagree; give one")
            args.model_config["num_clusters"] = args.clusters
        try:
            recipe = training.RECIPES[args.recipe].with_changes(
                validation.json_object("--recipe-config", args.recipe_config))
        except validation.InvalidValue as error:
            raise error.named(error.name, "--recipe-config") from None
        except ValueError as error:
            raise ValueError(f"--recipe-config: {error}") from None
        check_model_arguments({**recipe.model, **args.model_config}, "--model-config")
        args.recipe = recipe


def _print_table(rows):
    from keras_uvac import metrics

    print(metrics.format_table(rows))
    print(metrics.TABLE_LEGEND)


def _write_json(path, payload):
    from keras_uvac.atomic import write_json

    write_json(path, payload, indent=2)
    print(f"wrote {path}")


def run_features(args):
    import numpy as np

    from keras_uvac import pipeline
    from keras_uvac.atomic import atomic_path

    collection = _load(args)
    arrays = pipeline.extract_features(collection, args.feature_config, progress=not args.quiet)
    payload = {"spec": arrays["spectrogram"], "mask": arrays["activity_mask"],
               "path": np.array(collection.paths)}
    if collection.labels is not None:
        payload["label"] = collection.labels
    # np.savez appends ".npz" to names without it; the temporary name keeps it.
    with atomic_path(args.out) as temporary:
        with open(temporary, "wb") as handle:
            np.savez_compressed(handle, **payload)
    print(f"wrote {args.out}: spec {arrays['spectrogram'].shape}, mask {arrays['activity_mask'].shape}")


def run_baselines(args):
    from keras_uvac import baselines, pipeline

    collection = _load(args)
    if collection.labels is None:
        raise SystemExit("uvac baselines: the data has no labels, so accuracy and NMI cannot be computed")
    test = _split(collection, args, len(collection.class_names))["test"]
    arrays = pipeline.extract_features(test, args.feature_config, progress=not args.quiet)
    rows = baselines.baseline_table(arrays["spectrogram"], test.labels, seed=args.seed)
    print(f"Test split: {len(test)} clips ({args.split} split, seed {args.split_seed}); metrics on STFT features")
    _print_table(rows)
    if args.json:
        _write_json(args.json, {"split": args.split, "split_seed": args.split_seed, "seed": args.seed,
                                "test_clips": len(test), "feature_config": args.feature_config.get_config(),
                                "rows": rows})


def _load_model(preset):
    from keras_uvac.model import UVAC

    return UVAC.from_preset(preset)


def run_distill(args):
    from keras_uvac import distillation

    teacher = _load_model(args.teacher)
    splits = _split(_load(args), args, teacher.num_clusters)
    print(f"distilling {args.teacher} into the {args.architecture} encoder on {len(splits['train'])} clips, "
          f"{args.epochs} epochs, {args.views} augmented views per clip, seed {args.seed}")
    student, _ = distillation.distill(
        teacher, splits["train"], args.out, architecture=args.architecture, epochs=args.epochs, views=args.views,
        seed=args.seed, verbose=0 if args.quiet else 1, test_collection=splits["test"],
        card={"command": "uvac " + " ".join(args.argv), "data": args.data or "bundled FSDD",
              "split": {"method": args.split, "seed": args.split_seed}})
    print(f"wrote {args.out} and its card {args.out}.card.json")
    if "test_metrics" in student.card:
        _print_table(student.card["test_metrics"])


def run_train(args):
    from keras_uvac import distribution, training

    model_config, recipe = args.model_config, args.recipe
    collection = _load(args)
    if "num_clusters" not in model_config and collection.labels is not None:
        model_config = {**model_config, "num_clusters": len(collection.class_names)}
        print(f"{len(collection.class_names)} clusters, one per class of the data (--clusters K to choose)")
    splits = _split(collection, args, {**recipe.model, **model_config}.get("num_clusters", 10))
    if args.epochs:
        recipe = recipe.with_epochs(args.epochs)
    if args.restarts:  # restarts instead of the recipe's consensus of runs
        recipe = dataclasses.replace(recipe, restarts=args.restarts, runs=args.runs or 1)
    elif args.runs:
        recipe = dataclasses.replace(recipe, runs=args.runs)
    speakers = "pseudo" if args.ignore_speakers else args.speakers
    several = (f" (the best of {recipe.restarts} restarts)" if recipe.restarts > 1
               else f" (each of {recipe.runs} runs, then their consensus)" if recipe.runs > 1 else "")
    print(f"training on {len(splits['train'])} clips, recipe {recipe.name!r}, {recipe.epochs} epochs{several}, "
          f"seed {args.seed}; speaker terms: {training.describe_speakers(splits['train'], speakers, recipe)}")
    if recipe.epochs < 5:
        print(f"warning: {recipe.epochs} epochs are far fewer than the recipe's; expect poor clusters", file=sys.stderr)
    model, _ = training.train(
        splits["train"], args.out, recipe, validation_collection=splits["validation"],
        test_collection=splits["test"], feature_config=args.feature_config, seed=args.seed, resume=args.resume,
        tensorboard=args.tensorboard, verbose=0 if args.quiet else 1, precision=args.precision, speakers=speakers,
        distribute=args.distribute,
        card={"command": "uvac " + " ".join(args.argv), "data": args.data or "bundled FSDD",
              "architecture": args.architecture,
              "split": {"method": args.split, "seed": args.split_seed}}, **model_config)
    if not distribution.is_chief():
        print("worker finished; the chief writes the model")
        return
    print(f"wrote {args.out} and its card {args.out}.card.json")
    if "test_metrics" in model.card:
        _print_table(model.card["test_metrics"])


def run_evaluate(args):
    from keras_uvac import evaluation

    model = _load_model(args.model)
    collection = _load(args)
    test = _split(collection, args, model.num_clusters)["test"]
    rows, arrays = evaluation.evaluate(model, test, seed=args.seed)
    print(f"Test split: {len(test)} clips ({args.split} split, seed {args.split_seed}); "
          "UVAC silhouette and DBI on z, baselines' on STFT features")
    _print_table(rows)
    if args.json:
        _write_json(args.json, {"model": args.model, "split": args.split, "split_seed": args.split_seed,
                                "test_clips": len(test), "rows": rows})
    if args.plots:
        from keras_uvac import training

        config = model.feature_config_object()
        from keras_uvac import presets

        history = training.read_history(presets.preset_files(args.model)[0] + ".run")
        for path in evaluation.write_figures(arrays, args.plots, history, test.class_names, config.bin_hz,
                                             config.hop_ms):
            print(f"wrote {path}")


def run_cluster(args):
    from keras_uvac import pipeline

    # With `--csv -` the CSV is standard output, and every other line goes to standard error.
    csv_to_stdout = args.csv == "-"
    report = sys.stderr if csv_to_stdout else sys.stdout
    model = _load_model(args.model)
    with contextlib.redirect_stdout(report):  # progress bars included
        collection = _load(args)
        features = pipeline.extract_features(collection, model.feature_config_object(), progress=not args.quiet)
        clusters, confidence = model.predict_clusters(features)
    rows = [{"path": path, "cluster": int(cluster), "probability": round(float(probability), 4)}
            for path, cluster, probability in zip(collection.paths, clusters, confidence)]
    reference = (getattr(model, "card", None) or {}).get("novelty")
    if reference:
        from keras_uvac import novelty

        scores = novelty.novelty_scores(novelty.novelty_terms(model, collection, features), reference)
        for row, score in zip(rows, scores):
            row["novelty"] = round(float(score), 3)
    fields = ["path", "cluster", "probability"] + (["novelty"] if reference else [])
    if args.csv:
        from keras_uvac.atomic import atomic_path

        def write(handle):
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

        if csv_to_stdout:
            write(sys.stdout)
            sys.stdout.flush()
        else:
            with atomic_path(args.csv) as temporary, open(temporary, "w", newline="") as handle:
                write(handle)
            print(f"wrote {args.csv}: {len(rows)} files")
    else:
        print("\t".join(fields[1:] + ["path"]))
        for row in rows:
            print("\t".join(f"{row[field]:.3f}" if isinstance(row[field], float) else str(row[field])
                            for field in fields[1:] + ["path"]))
    counts = collections.Counter(row["cluster"] for row in rows)
    print(f"{len(rows)} files in {len(counts)} of {model.num_clusters} clusters; files per cluster: "
          + ", ".join(f"{cluster}: {count}" for cluster, count in sorted(counts.items())), file=report)
    if reference:
        warning = novelty.describe(scores, reference)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    else:
        print("(the model's card has no novelty reference: `uvac reference` adds one)", file=report)


def run_reference(args):
    from keras_uvac import novelty, presets
    from keras_uvac.atomic import write_json

    model = _load_model(args.model)
    train = _load(args).split(args.split, seed=args.split_seed)["train"]
    reference = novelty.fit_reference(novelty.novelty_terms(model, train))
    model_file, card_file = presets.preset_files(args.model)
    card_file = card_file or (os.path.join(args.model, presets.CARD_FILE) if os.path.isdir(args.model)
                              else model_file + ".card.json")
    write_json(card_file, {**(model.card or {}), "novelty": reference}, indent=2)
    print(f"wrote the novelty reference of {len(train)} training clips to {card_file}: 1% of them score above "
          f"{reference['threshold']:.2f}")


def run_demo(args):
    vars(args).update(data=None, layout="auto", skip_bad_files=False, split="random", split_seed=0, seed=0, json=None)
    print(f"Clustering the bundled FSDD test split with the shipped model {args.model}")
    run_evaluate(args)


def _percentile(text):
    if text in ("auto", "none"):
        return None if text == "none" else text
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"expected auto, none or a percentile in (0, 100], got {text!r}")
    return value


def run_export(args):
    from keras_uvac import export

    export.require_runtimes(args.format)
    model = _load_model(args.model)
    splits = _load(args).split(args.split, seed=args.split_seed)
    report = export.export_with_data(model, args.format, args.out, splits["train"], splits["test"],
                                     args.activation_percentile)
    print(f"wrote {report['path']} ({export.format_size(report['bytes'])}; float32 weights at inference: "
          f"{export.format_size(report['keras_float32_inference_weights_bytes'])})")
    print(f"operators ({report.get('interpreter', 'onnxruntime')}): {', '.join(report['operators'])}")
    if "arena_bytes" in report:
        print(f"TFLite Micro tensor arena needed: {export.format_size(report['arena_bytes'])}; "
              f"C files: {', '.join(report['c_files'])}")
    print(f"agreement with the Keras model on {report['clips_checked']} test clips: "
          f"{100 * report['cluster_agreement']:.2f}% same cluster, largest probability difference "
          f"{report['max_probability_difference']:.2e}")
    if args.json:
        _write_json(args.json, report)


def run_tune(args):
    from keras_uvac import evaluation, tuning

    collection = _load(args)
    splits = _split(collection, args)
    model, values, _ = tuning.tune(splits["train"], splits["validation"], args.directory, tuner=args.tuner,
                                   max_trials=args.max_trials, objective=args.objective, epochs=args.epochs,
                                   feature_config=args.feature_config, out_path=args.out, seed=args.seed,
                                   verbose=0 if args.quiet else 1, architecture=args.architecture,
                                   speakers=args.speakers)
    out = args.out or os.path.join(args.directory, "best.keras")
    print(f"best hyperparameters: {json.dumps(values)}")
    print(f"wrote {out} and {os.path.join(args.directory, 'best_hyperparameters.json')}")
    if splits["test"].labels is not None:
        rows, _ = evaluation.evaluate(_load_model(out), splits["test"], with_baselines=False)
        _print_table(rows)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, as every other error: the usage that argparse prints first is what --help is for.
        if "unrecognized arguments" in message or "expected one argument" in message:
            message += " (a file name that starts with '-' goes after '--', as in: uvac cluster -- -clip.wav)"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version():
    from importlib import metadata

    try:
        return metadata.version("keras-uvac")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser():
    parser = _Parser(prog="uvac", description="Unsupervised variational acoustic clustering.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is read and skipped")
    commands = parser.add_subparsers(dest="command", required=True)

    features = commands.add_parser("features", help="compute spectrograms and activity masks into an .npz")
    _add_data_arguments(features, positional=True)
    features.add_argument("--out", required=True, help="output .npz with arrays spec, mask, path (and label)")
    features.set_defaults(run=run_features)

    baselines = commands.add_parser("baselines", help="Table I rows for K-means, GMM-EM and labels as clusters")
    _add_data_arguments(baselines)
    _add_split_arguments(baselines)
    baselines.add_argument("--seed", type=_seed, default=0, help="seed of K-means and EM")
    baselines.add_argument("--json", help="also write the rows to this JSON file")
    baselines.set_defaults(run=run_baselines)

    train = commands.add_parser("train", help="train a UVAC model on the training split")
    _add_data_arguments(train)
    _add_split_arguments(train)
    train.add_argument("--recipe", default="default", choices=("default", "paper"),
                       help="training recipe: the default, or the paper's as written (docs/design.md)")
    train.add_argument("--recipe-config",
                       help='fields of keras_uvac.training.Recipe as JSON over the recipe\'s, e.g. '
                            '\'{"cluster_weight": 3.0}\'')
    train.add_argument("--epochs", type=_positive_int, help="epochs (the recipe's phases scale with it)")
    train.add_argument("--restarts", type=_positive_int,
                       help="candidate runs, the one of lowest consistency term continued (default: the "
                            "recipe's, 1)")
    train.add_argument("--runs", type=_positive_int,
                       help="whole runs whose consensus one model carries (default: the recipe's)")
    train.add_argument("--seed", type=_seed, default=0, help="seed of initialisation, shuffling and sampling")
    train.add_argument("--out", default="uvac.keras", help="the trained model (.keras); checkpoints go to OUT.run/")
    train.add_argument("--architecture", default="full", choices=("full", "small", "tiny"),
                       help="encoder size: the paper's (full), or compact ones for microcontrollers "
                            "(see keras_uvac.model.ARCHITECTURES)")
    train.add_argument("--clusters", type=_number(1, 1000, whole=True),
                       help="number of clusters (default: the data's number of classes when it is labelled, else 10)")
    train.add_argument("--model-config", help='UVAC arguments as JSON, e.g. \'{"latent_dim": 16}\'')
    train.add_argument("--resume", action="store_true", help="continue an interrupted run from OUT.run/")
    train.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to OUT.run/tensorboard")
    train.add_argument("--precision", default="float32", choices=("float32", "mixed"),
                       help="mixed: bfloat16 compute on CPUs, float16 on GPUs (weights, prior and loss in float32)")
    train.add_argument("--speakers", default="auto", choices=("auto", "ids", "pseudo", "none"),
                       help="what the speaker terms group clips by: the data's speaker ids, pseudo-speakers found "
                            "without ids, or nothing (default auto: ids when the data names speakers, else pseudo)")
    train.add_argument("--distribute", default="none", choices=("none", "mirrored", "multi-worker"),
                       help="mirrored: the GPUs (or logical CPU devices) of this machine; multi-worker: the machines "
                            "TF_CONFIG names (TensorFlow); JAX takes mirrored as DataParallel over its devices")
    train.add_argument("--ignore-speakers", action="store_true",
                       help="train as if the data named no speakers (the same as --speakers pseudo)")
    train.set_defaults(run=run_train)

    distill = commands.add_parser("distill", help="train a compact encoder to give a trained model's codes "
                                                  "(for microcontrollers)")
    _add_data_arguments(distill)
    _add_split_arguments(distill)
    distill.add_argument("--teacher", default=SHIPPED_MODEL, help=MODEL_HELP)
    distill.add_argument("--architecture", default="small", choices=("small", "tiny"), help="the student's encoder")
    distill.add_argument("--epochs", type=_positive_int, default=30)
    distill.add_argument("--views", type=_positive_int, default=4, help="augmented views per training clip")
    distill.add_argument("--seed", type=_seed, default=0)
    distill.add_argument("--out", default="uvac_student.keras", help="the student model (.keras)")
    distill.set_defaults(run=run_distill)

    evaluate = commands.add_parser("evaluate", help="Table I rows for a model beside the baselines")
    evaluate.add_argument("--model", default=SHIPPED_MODEL, help=MODEL_HELP)
    _add_data_arguments(evaluate, sample_rate=False)
    _add_split_arguments(evaluate)
    evaluate.add_argument("--seed", type=_seed, default=0, help="seed of the baselines")
    evaluate.add_argument("--json", help="also write the rows to this JSON file")
    evaluate.add_argument("--plots", help="write figures (PNG) to this folder")
    evaluate.set_defaults(run=run_evaluate)

    cluster = commands.add_parser("cluster", help="the cluster and its probability for each file")
    cluster.add_argument("--model", default=SHIPPED_MODEL, help=MODEL_HELP)
    _add_data_arguments(cluster, positional=True, sample_rate=False)
    cluster.add_argument("--csv", help="write path, cluster, probability rows to this CSV file ('-': standard "
                                       "output, every other line then going to standard error)")
    cluster.set_defaults(run=run_cluster)

    reference = commands.add_parser("reference", help="store in a model's card how its training clips score on "
                                                      "novelty, so that `uvac cluster` flags clips unlike them")
    reference.add_argument("--model", default=SHIPPED_MODEL, help=MODEL_HELP)
    _add_data_arguments(reference, sample_rate=False)
    _add_split_arguments(reference)
    reference.set_defaults(run=run_reference)

    demo = commands.add_parser("demo", help="the shipped model on the bundled FSDD test split")
    demo.add_argument("--model", default=SHIPPED_MODEL, help=argparse.SUPPRESS)
    demo.add_argument("--plots", help="write figures (PNG) to this folder")
    demo.set_defaults(run=run_demo)

    tune = commands.add_parser("tune", help="search hyperparameters with keras-tuner (resumes from --directory)")
    _add_data_arguments(tune)
    _add_split_arguments(tune)
    tune.add_argument("--tuner", default="random", choices=("random", "bayesian", "hyperband"))
    tune.add_argument("--max-trials", type=_positive_int, default=8)
    tune.add_argument("--epochs", type=_positive_int,
                      help="epochs per trial (default: the recipe's 20; Hyperband: the most per trial)")
    tune.add_argument("--objective", default="label-free", choices=("label-free", "silhouette", "accuracy"),
                      help="label-free: stability of the validation clusters under augmentation times the balance "
                           "of their usage (no labels); silhouette (no labels, rewards few clusters); or validation "
                           "accuracy (needs labels)")
    tune.add_argument("--architecture", default="full", choices=("full", "small", "tiny"), help="encoder size")
    tune.add_argument("--speakers", default="auto", choices=("auto", "ids", "pseudo", "none"),
                      help="what the speaker terms group clips by (see uvac train)")
    tune.add_argument("--directory", default="uvac_tuning", help="the search's folder; an earlier search resumes")
    tune.add_argument("--out", help="the best model (default: DIRECTORY/best.keras)")
    tune.add_argument("--seed", type=_seed, default=0)
    tune.set_defaults(run=run_tune)

    export = commands.add_parser("export", help="export the inference model, run it, and compare it with Keras")
    export.add_argument("--model", default=SHIPPED_MODEL, help=MODEL_HELP)
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                        help="tflite-int8: full int8 for TFLite Micro; tflite: float LiteRT; onnx; "
                             "tflite-audio: float LiteRT taking the padded waveform")
    export.add_argument("--out", required=True, help="the .tflite or .onnx file (int8 also writes .cc and .h)")
    export.add_argument("--data", help="calibration (training split) and check (test split) data "
                                       "(default: the bundled FSDD)")
    export.add_argument("--layout", default="auto", help=argparse.SUPPRESS)
    export.add_argument("--skip-bad-files", action="store_true", help=argparse.SUPPRESS)
    _add_split_arguments(export)
    export.add_argument("--activation-percentile", type=_percentile, default="auto",
                        help="int8: percentile of the calibration activations at which each convolution block's "
                             "ReLU saturates; none: plain ReLUs (default auto: 99.99 for GRU encoders, none for "
                             "the compact pooled ones)")
    export.add_argument("--json", help="also write the report to this JSON file")
    export.set_defaults(run=run_export)
    return parser


def main(argv=None):
    """Entry point of the `uvac` console command.

    Args:
        argv: arguments without the program name (default: `sys.argv[1:]`).

    Returns:
        The process exit status.

    Example:
    >>> main(["baselines", "--json", "baselines.json"])  # doctest: +SKIP
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from keras_uvac import training
    from keras_uvac._startup import discover_devices

    # Before TensorFlow runs its first op; replicas of a distributed training must run side by side.
    if getattr(args, "distribute", "none") == "none":
        training.repeatable_op_order()
    discover_devices()
    from keras_uvac.audio import AudioFileError

    try:
        check_arguments(args)
        args.run(args)
    except (AudioFileError, FileNotFoundError, ValueError, ImportError, training_error()) as error:
        print(f"uvac {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # Disk full, read-only folder, permissions: the operating system's reason and the path it concerns.
        where = f"{error.filename}: " if error.filename else ""
        print(f"uvac {args.command}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Every epoch's checkpoint is complete or absent, so an interrupted training resumes where it was.
        resume = "; resume with --resume" if args.command == "train" else ""
        print(f"\nuvac {args.command}: interrupted{resume}", file=sys.stderr)
        return 130
    return 0


def training_error():
    from keras_uvac.training import TrainingError

    return TrainingError


if __name__ == "__main__":
    sys.exit(main())
