"""The `uvac` command line.

    uvac features [FILES_OR_DIRS ...] --out features.npz
    uvac baselines [--data DIR] [--json results.json]
    uvac train [--data DIR] [--recipe default] [--architecture full|small|tiny] [--out model.keras] [--resume]
    uvac distill [--teacher M] [--architecture small|tiny] [--out student.keras]
    uvac evaluate --model M [--data DIR] [--json F] [--plots DIR]
    uvac cluster --model M FILES_OR_DIRS [--csv F] [--windows [--hop S]]
    uvac reference --model M [--data DIR]
    uvac quality --model M [--data DIR]
    uvac demo
    uvac tune [--data DIR] [--tuner random|bayesian|hyperband] [--max-trials N] [--directory DIR]
    uvac export --model M --format {tflite-int8,tflite,onnx,tflite-audio,tflm-audio} --out PATH

Every command defaults to the bundled Free Spoken Digit Dataset, and the model
commands to the model shipped in `saved_models/`.
"""

import collections
import contextlib
import csv
import dataclasses
import json
import logging
import os
import sys

from keras_uvac.cli_arguments import build_parser, check_arguments


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
    from keras_uvac import distribution, quality, training

    model_config, recipe = args.model_config, args.recipe
    collection = _load(args)
    if "num_clusters" not in model_config and collection.labels is not None:
        model_config = {**model_config, "num_clusters": len(collection.class_names)}
        print(f"{len(collection.class_names)} clusters, one per class of the data (--clusters K to choose)")
    num_clusters = {**recipe.model, **model_config}.get("num_clusters", 10)
    splits = _split(collection, args, 2 if num_clusters == "auto" else num_clusters)
    facts = {}
    if args.duration == "auto":
        import numpy as np

        from keras_uvac import pipeline

        seconds = pipeline.active_durations(splits["train"], args.feature_config.sample_rate)
        args.feature_config = dataclasses.replace(args.feature_config, duration=pipeline.choose_duration(seconds))
        facts["duration_auto"] = {"clips": len(seconds), "median_s": float(np.median(seconds)),
                                  "p95_s": float(np.percentile(seconds, 95, method="inverted_cdf")),
                                  "window_s": args.feature_config.duration}
        print(f"--duration auto: the sound of 95% of the {len(seconds)} training clips lasts at most "
              f"{facts['duration_auto']['p95_s']:.2f} s (median {facts['duration_auto']['median_s']:.2f} s); "
              f"window {args.feature_config.duration:g} s")
    if args.epochs:
        recipe = recipe.with_epochs(args.epochs)
    if args.restarts:  # restarts instead of the recipe's consensus of runs
        recipe = dataclasses.replace(recipe, restarts=args.restarts, runs=args.runs or 1)
    elif args.runs:
        recipe = dataclasses.replace(recipe, runs=args.runs)
    if args.pseudo_speakers:
        recipe = recipe.with_changes({"pseudo_speaker_descriptor": args.pseudo_speakers})
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
        distribute=args.distribute, validation_every=args.validation_every,
        card={"command": "uvac " + " ".join(args.argv), "data": args.data or "bundled FSDD",
              "architecture": args.architecture,
              "split": {"method": args.split, "seed": args.split_seed}, **facts}, **model_config)
    if not distribution.is_chief():
        print("worker finished; the chief writes the model")
        return
    print(f"wrote {args.out} and its card {args.out}.card.json")
    if "test_metrics" in model.card:
        _print_table(model.card["test_metrics"])
    print(quality.format_report(model.card["quality"]))


def run_evaluate(args):
    from keras_uvac import evaluation

    model = _load_model(args.model)
    collection = _load(args)
    test = _split(collection, args, model.num_clusters)["test"]
    rows, arrays = evaluation.evaluate(model, test, seed=args.seed)
    print(f"Test split: {len(test)} clips ({args.split} split, seed {args.split_seed}); "
          "UVAC silhouette and DBI on z, baselines' on STFT features")
    _print_table(rows)
    classes = len(set(test.labels.tolist()))  # those present: a layout may name classes the data lacks
    if model.num_clusters != classes and rows["UVAC"].get("purity") is not None:
        print(f"{model.num_clusters} clusters for {classes} classes: accuracy matches them one to one; "
              f"purity (clips in a cluster whose most common class is theirs): {100 * rows['UVAC']['purity']:.1f}%")
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
    if args.hop and not args.windows:
        raise ValueError("--hop sets the step between windows; it needs --windows")
    config = model.feature_config_object()
    with contextlib.redirect_stdout(report):  # progress bars included
        collection = _load(args)
        if args.windows:
            files = len(collection)
            collection = collection.windows(config, args.hop)
            print(f"{len(collection)} windows of {config.duration:g} s from {files} files")
        features = pipeline.extract_features(collection, config, progress=not args.quiet)
        clusters, confidence = model.predict_clusters(features)
    rows = [{"path": path, "cluster": int(cluster), "probability": round(float(probability), 4)}
            for path, cluster, probability in zip(collection.paths, clusters, confidence)]
    if args.windows:
        for row, start, end in zip(rows, *collection.window_seconds(config.duration)):
            row.update(start_s=round(float(start), 3), end_s=round(float(end), 3))
    reference = (getattr(model, "card", None) or {}).get("novelty")
    if reference:
        from keras_uvac import novelty

        scores = novelty.novelty_scores(novelty.novelty_terms(model, collection, features), reference)
        for row, score in zip(rows, scores):
            row["novelty"] = round(float(score), 3)
    fields = (["path", "cluster", "probability"] + (["novelty"] if reference else [])
              + (["start_s", "end_s"] if args.windows else []))
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
            print(f"wrote {args.csv}: {len(rows)} {'windows' if args.windows else 'files'}")
    else:
        print("\t".join(fields[1:] + ["path"]))
        for row in rows:
            print("\t".join(f"{row[field]:.3f}" if isinstance(row[field], float) else str(row[field])
                            for field in fields[1:] + ["path"]))
    counts = collections.Counter(row["cluster"] for row in rows)
    unit = "windows" if args.windows else "files"
    print(f"{len(rows)} {unit} in {len(counts)} of {model.num_clusters} clusters; {unit} per cluster: "
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


def run_quality(args):
    from keras_uvac import presets, quality

    model = _load_model(args.model)
    train = _load(args).split(args.split, seed=args.split_seed)["train"]
    runs = quality.consensus_runs(presets.preset_files(args.model)[0], model.card, train)
    print(f"the quality report of {args.model} on its {len(train)} training clips"
          + ("" if runs else " (its runs were not kept: their agreement as the card recorded it)"))
    print(quality.format_report(quality.quality_report(model, train, runs, model.card)))


def run_demo(args):
    vars(args).update(data=None, layout="auto", skip_bad_files=False, split="random", split_seed=0, seed=0, json=None)
    print(f"Clustering the bundled FSDD test split with the shipped model {args.model}")
    run_evaluate(args)


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
    if "frontend" in report:
        frontend = report["frontend"]
        print(f"front end {frontend['path']} ({export.format_size(frontend['bytes'])} float32, arena "
              f"{export.format_size(frontend['arena_bytes'])}, {frontend['macs'] / 1e6:.1f} M MACs per window) "
              f"feeding the int8 encoder ({report['encoder_macs'] / 1e6:.1f} M MACs)")
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


# The handler of each command.
COMMANDS = {"features": run_features, "baselines": run_baselines, "train": run_train, "distill": run_distill,
            "evaluate": run_evaluate, "cluster": run_cluster, "reference": run_reference, "quality": run_quality,
            "demo": run_demo, "tune": run_tune, "export": run_export}


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
        COMMANDS[args.command](args)
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
