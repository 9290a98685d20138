"""The `uvac` command line.

    uvac features [FILES_OR_DIRS ...] --out features.npz
    uvac baselines [--data DIR] [--json results.json]

Every command defaults to the bundled Free Spoken Digit Dataset.
"""

import argparse
import json
import logging
import os
import sys


def _add_data_arguments(parser, positional=False):
    if positional:
        parser.add_argument("data", nargs="*", metavar="FILES_OR_DIRS",
                            help="WAV files or folders (default: the bundled FSDD)")
    else:
        parser.add_argument("--data", help="dataset folder (default: the bundled FSDD)")
    parser.add_argument("--layout", default="auto",
                        choices=("auto", "fsdd", "audiomnist", "class_folders", "unlabeled"),
                        help="how labels are read from the files (default: detected)")
    parser.add_argument("--skip-bad-files", action="store_true",
                        help="skip unreadable or unsupported files with a counted warning instead of stopping")
    parser.add_argument("--sample-rate", type=int, default=16000,
                        help="rate audio is resampled to before the STFT (default 16000; 48000 is the paper's)")


def _add_split_arguments(parser):
    parser.add_argument("--split", default="random", choices=("random", "speaker"),
                        help="seeded 80/10/10 split: random (the paper's) or speaker-disjoint")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the split (default 0)")


def _load(args):
    from keras_uvac import datasets

    source = args.data if args.data else None
    collection = datasets.load_audio(source, layout=args.layout,
                                     on_error="skip" if args.skip_bad_files else "raise")
    if collection.skipped:
        print(f"skipped {len(collection.skipped)} file(s):", file=sys.stderr)
        for path, problem in collection.skipped:
            print(f"  {path}: {problem}", file=sys.stderr)
    return collection


def _feature_config(args):
    from keras_uvac.features import FeatureConfig

    return FeatureConfig(sample_rate=args.sample_rate)


def _write_json(path, payload):
    from keras_uvac.atomic import atomic_path

    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        json.dump(payload, handle, indent=2)
    print(f"wrote {path}")


def run_features(args):
    import numpy as np

    from keras_uvac import pipeline
    from keras_uvac.atomic import atomic_path

    collection = _load(args)
    arrays = pipeline.extract_features(collection, _feature_config(args), progress=not args.quiet)
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
    from keras_uvac import baselines, metrics, pipeline

    collection = _load(args)
    if collection.labels is None:
        raise SystemExit("uvac baselines: the data has no labels, so accuracy and NMI cannot be computed")
    test = collection.split(args.split, seed=args.split_seed)["test"]
    arrays = pipeline.extract_features(test, _feature_config(args), progress=not args.quiet)
    rows = baselines.baseline_table(arrays["spectrogram"], test.labels, seed=args.seed)
    print(f"Test split: {len(test)} clips ({args.split} split, seed {args.split_seed}); metrics on STFT features")
    print(metrics.format_table(rows))
    if args.json:
        _write_json(args.json, {"split": args.split, "split_seed": args.split_seed, "seed": args.seed,
                                "test_clips": len(test), "feature_config": _feature_config(args).get_config(),
                                "rows": rows})


def build_parser():
    parser = argparse.ArgumentParser(prog="uvac", description="Unsupervised variational acoustic clustering.")
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
    baselines.add_argument("--seed", type=int, default=0, help="seed of K-means and EM")
    baselines.add_argument("--json", help="also write the rows to this JSON file")
    baselines.set_defaults(run=run_baselines)
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
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from keras_uvac.audio import AudioFileError

    try:
        args.run(args)
    except (AudioFileError, FileNotFoundError, ValueError) as error:
        print(f"uvac {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
