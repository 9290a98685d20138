"""The `uvac` command line's options: the parser, and the check of every option before any work.

`uvac --help` and `uvac --version` are answered from here without TensorFlow.
"""

import argparse

from keras_uvac import validation

SHIPPED_MODEL = "uvac_fsdd"
MODEL_HELP = "a preset name (uvac_fsdd), a preset folder or a .keras file (default: the shipped uvac_fsdd)"
# `uvac export --format` choices, here so that `uvac --help` needs no TensorFlow (= keras_uvac.export.FORMATS).
EXPORT_FORMATS = ("tflite-int8", "tflite", "onnx", "tflite-audio", "tflm-audio")


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
        parser.add_argument("--duration", type=_duration, default=1.0,
                            help="seconds per clip, at most 30: shorter ones are padded, longer ones cut to their "
                                 "loudest part (default 1.0; the model's input grows with it); with uvac train, "
                                 "'auto': the 95th percentile of how long the training clips' sound lasts, rounded "
                                 "up to 0.1 s, at most 10 s")
        parser.add_argument("--window", default="loudest", choices=("loudest", "centred", "start"),
                            help="which part of a clip longer than --duration is kept: the loudest (the default; a "
                                 "shorter sound may sit anywhere in it), the loudest moved so that its sound is in "
                                 "the middle, or the start")
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


def _clusters(text):
    return text if text == "auto" else _number(1, 1000, whole=True)(text)


def _duration(text):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds or auto, got {text!r}") from None
# The command line's names of the FeatureConfig fields it sets.
FEATURE_OPTIONS = {"sample_rate": "--sample-rate", "duration": "--duration", "long_clip_policy": "--window",
                   "magnitude": "--magnitude", "log_range_db": "--log-range-db",
                   "noise_margin_db": "--noise-margin-db", "power_exponent": "--power-exponent"}


def _add_split_arguments(parser):
    parser.add_argument("--split", default="random", choices=("random", "speaker"),
                        help="seeded 80/10/10 split: random (the paper's) or speaker-disjoint")
    parser.add_argument("--split-seed", type=_seed, default=0, help="seed of the split (default 0)")


def _feature_config(args):
    from keras_uvac.features import FeatureConfig

    if args.duration == "auto" and args.command != "train":
        raise ValueError("--duration auto: only uvac train chooses the window from the data; give seconds")
    try:
        # With --duration auto, uvac train replaces the placeholder once it has read the training clips.
        duration = 1.0 if args.duration == "auto" else args.duration
        return FeatureConfig(sample_rate=args.sample_rate, duration=duration, long_clip_policy=args.window,
                             magnitude=args.magnitude, log_range_db=args.log_range_db,
                             noise_margin_db=args.noise_margin_db, power_exponent=args.power_exponent)
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
        from keras_uvac.model_arguments import ARCHITECTURES, check_model_arguments

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
        checked = dict(args.model_config)
        if checked.get("num_clusters") == "auto":  # `train` chooses it after pretraining
            del checked["num_clusters"]
        check_model_arguments({**recipe.model, **checked}, "--model-config")
        args.recipe = recipe


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

    baselines = commands.add_parser("baselines", help="Table I rows for K-means, GMM-EM and labels as clusters")
    _add_data_arguments(baselines)
    _add_split_arguments(baselines)
    baselines.add_argument("--seed", type=_seed, default=0, help="seed of K-means and EM")
    baselines.add_argument("--json", help="also write the rows to this JSON file")

    train = commands.add_parser("train", help="train a UVAC model on the training split")
    _add_data_arguments(train)
    _add_split_arguments(train)
    train.add_argument("--recipe", default="default", choices=("default", "paper"),
                       help="training recipe: the default, or the paper's as written (docs/design.md)")
    train.add_argument("--recipe-config",
                       help='fields of keras_uvac.training.Recipe as JSON over the recipe\'s, e.g. '
                            '\'{"cluster_weight": 3.0}\'')
    train.add_argument("--epochs", type=_positive_int,
                       help="exactly this many epochs, the recipe's phases scaled with them (default: the recipe's, "
                            "more on a corpus too small for its min_steps)")
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
    train.add_argument("--clusters", type=_clusters,
                       help="number of clusters (default: the data's number of classes when it is labelled, else "
                            "10); auto (experimental): chosen without labels, 2-30, on the pretrained codes")
    train.add_argument("--model-config", help='UVAC arguments as JSON, e.g. \'{"latent_dim": 16}\'')
    train.add_argument("--resume", action="store_true", help="continue an interrupted run from OUT.run/")
    train.add_argument("--tensorboard", action="store_true", help="write TensorBoard logs to OUT.run/tensorboard")
    train.add_argument("--validation-every", type=_number(0, 10000, whole=True), default=5, metavar="N",
                       help="the validation clips' accuracy, NMI, silhouette and DBI every N epochs and after each "
                            "run's last (default 5; 0: never); labelled data only")
    train.add_argument("--precision", default="float32", choices=("float32", "mixed"),
                       help="mixed: bfloat16 compute on CPUs, float16 on GPUs (weights, prior and loss in float32)")
    train.add_argument("--speakers", default="auto", choices=("auto", "ids", "pseudo", "none"),
                       help="what the speaker terms group clips by: the data's speaker ids, pseudo-speakers found "
                            "without ids, or nothing (default auto: ids when the data names speakers, else pseudo)")
    train.add_argument("--pseudo-speakers", choices=("voice", "encoder", "auto"),
                       help="what pseudo-speakers are found from: the voice-and-channel descriptor (the recipe's "
                            "default), a pretrained speaker encoder (pip install \"keras_uvac[speakers]\"; better on "
                            "many close voices), or auto: the encoder when it is installed")
    train.add_argument("--distribute", default="none", choices=("none", "mirrored", "multi-worker"),
                       help="mirrored: the GPUs (or logical CPU devices) of this machine; multi-worker: the machines "
                            "TF_CONFIG names (TensorFlow); JAX takes mirrored as DataParallel over its devices")
    train.add_argument("--ignore-speakers", action="store_true",
                       help="train as if the data named no speakers (the same as --speakers pseudo)")

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

    evaluate = commands.add_parser("evaluate", help="Table I rows for a model beside the baselines")
    evaluate.add_argument("--model", default=SHIPPED_MODEL, help=MODEL_HELP)
    _add_data_arguments(evaluate, sample_rate=False)
    _add_split_arguments(evaluate)
    evaluate.add_argument("--seed", type=_seed, default=0, help="seed of the baselines")
    evaluate.add_argument("--json", help="also write the rows to this JSON file")
    evaluate.add_argument("--plots", help="write figures (PNG) to this folder")

    cluster = commands.add_parser("cluster", help="the cluster and its probability for each file")
    cluster.add_argument("--model", default=SHIPPED_MODEL, help=MODEL_HELP)
    _add_data_arguments(cluster, positional=True, sample_rate=False)
    cluster.add_argument("--csv", help="write path, cluster, probability rows to this CSV file ('-': standard "
                                       "output, every other line then going to standard error)")
    cluster.add_argument("--windows", action="store_true",
                         help="cluster every window of a clip longer than the model's window (one row per window, "
                              "with its start and end in seconds) instead of its loudest window")
    cluster.add_argument("--hop", type=_number(0.01, 3600), help="with --windows: seconds between window starts "
                                                                 "(default: the window's length)")

    reference = commands.add_parser("reference", help="store in a model's card how its training clips score on "
                                                      "novelty, so that `uvac cluster` flags clips unlike them")
    reference.add_argument("--model", default=SHIPPED_MODEL, help=MODEL_HELP)
    _add_data_arguments(reference, sample_rate=False)
    _add_split_arguments(reference)

    report = commands.add_parser("quality", help="a trained model's quality report, without labels (the one that "
                                                 "`uvac train` ends with)")
    report.add_argument("--model", default=SHIPPED_MODEL, help=MODEL_HELP)
    _add_data_arguments(report, sample_rate=False)
    _add_split_arguments(report)

    demo = commands.add_parser("demo", help="the shipped model on the bundled FSDD test split")
    demo.add_argument("--model", default=SHIPPED_MODEL, help=argparse.SUPPRESS)
    demo.add_argument("--plots", help="write figures (PNG) to this folder")

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

    export = commands.add_parser("export", help="export the inference model, run it, and compare it with Keras")
    export.add_argument("--model", default=SHIPPED_MODEL, help=MODEL_HELP)
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS,
                        help="tflite-int8: full int8 for TFLite Micro; tflite: float LiteRT; onnx; "
                             "tflite-audio: float LiteRT taking the padded waveform; tflm-audio: TFLite Micro "
                             "from raw samples (float front end, int8 encoder)")
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
    return parser
