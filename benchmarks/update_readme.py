"""Regenerates every result table of README.md and docs/benchmarks.md, and the shipped model's card, from the
committed JSON results of the benchmarks.

    python benchmarks/update_readme.py
"""

import functools
import json
import os
import re

from keras_uvac import training
from keras_uvac.features import FeatureConfig
from keras_uvac.metrics import format_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
# Today's default on the FSDD with its speaker ids: the "Results on the bundled FSDD" table and the model card.
DEFAULT_RESULTS = "fsdd_pows_cons_ids.json"


def baselines_section():
    with open(os.path.join(RESULTS, "baselines_fsdd.json")) as handle:
        return format_table(json.load(handle)["rows"])


def feature_benchmark_section():
    with open(os.path.join(RESULTS, "feature_pipeline.json")) as handle:
        result = json.load(handle)
    steps = result["training_step_clips_per_s"]
    return ("| features, end to end from the files | clips/s |\n| --- | --- |\n"
            f"| tf.data pipeline (parallel decode, batched resampling and STFT) | "
            f"{result['tf_data_pipeline_clips_per_s']:.0f} |\n"
            f"| the same pipeline without the STFT (decode, cut, resample) | "
            f"{result['pipeline_waveforms_only_clips_per_s']:.0f} |\n"
            f"| per-file SciPy loop | {result['scipy_per_file_loop_clips_per_s']:.0f} |\n\n"
            f"Ratio {result['speedup']:.2f}x.\n\n"
            "| default recipe's training step | clips/s |\n| --- | --- |\n"
            f"| on precomputed features | {steps['precomputed_features']:.0f} |\n"
            f"| on waveforms, features computed in the step | {steps['features_in_the_step']:.0f} |\n\n"
            f"Ratio {result['training_step_ratio_features_in_the_step']:.2f}x. {result['machine']['cpus']} cores, "
            f"{result['machine']['gpus']} GPUs; medians of {result['repeats']} (`{result['command']}`).")


# The README's results tables: the first column's heading, then each row's results JSON and first cell.
CORPUS_RESULTS = {
    "fsdd-results": ("speaker ids used", [("fsdd_pows_cons_ids.json", "the FSDD's speaker ids"),
                                          ("fsdd_pows_cons_pseudo.json", "none (pseudo-speakers)")]),
    "synthetic-results": ("speaker ids used", [("synthetic_pows_cons_ids.json", "the corpus' speaker ids"),
                                               ("synthetic_pows_cons_pseudo.json", "none (pseudo-speakers)")]),
    "small-results": ("corpus, speaker ids used", [("small_voices_ids.json", "60 close voices, their ids"),
                                                   ("small_fsdd_ids.json", "FSDD subset, its speaker ids")]),
}


def pseudo_speaker_cell(runs):
    """The pseudo-speaker groups' number and NMI with the true speakers and digits, means over the seeds."""
    grouped = [run["pseudo_speakers"] for run in runs if run.get("pseudo_speakers")]
    if not grouped:
        return ""
    mean = {key: sum(group[key] for group in grouped) / len(grouped) for key in ("groups", "speaker_nmi", "class_nmi")}
    return (f"{grouped[0]['descriptor']}: {mean['groups']:.0f} groups, NMI {mean['speaker_nmi']:.2f} / "
            f"{mean['class_nmi']:.2f}")


def corpus_results_section(name):
    """One table: today's default per seed, beside K-means and GMM-EM, and the pseudo-speakers it grouped by."""
    heading, rows = CORPUS_RESULTS[name]
    lines = [f"| {heading} | UVAC accuracy (%) per seed | mean accuracy (%) | mean NMI | K-means accuracy (%) | "
             "GMM-EM accuracy (%) | pseudo-speakers (NMI with speakers / digits) | command |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for file_name, first_cell in rows:
        with open(os.path.join(RESULTS, file_name)) as handle:
            result = json.load(handle)
        runs = list(result["seeds"].values())
        per_seed = " / ".join(f"{100 * run['rows']['UVAC']['accuracy']:.1f}" for run in runs)
        kmeans, gmm = (sum(run["rows"][method]["accuracy"] for run in runs) / len(runs)
                       for method in ("K-means", "GMM-EM"))
        lines.append(f"| {first_cell} | {per_seed} | **{100 * result['uvac_mean']['accuracy']:.1f}** | "
                     f"{result['uvac_mean']['nmi']:.2f} | {100 * kmeans:.1f} | {100 * gmm:.1f} | "
                     f"{pseudo_speaker_cell(runs)} | `{result['command'].strip()}` |")
    seeds = ", ".join(result["seeds"])
    minutes = sum(run["training_seconds"] for run in runs) / len(runs) / 60
    lines += ["", f"Seeds {seeds}, each a consensus of {result.get('runs', 1)} runs (about {minutes:.0f} min per seed "
                  "on 2 CPU cores); test split of the seeded random 80/10/10 split; K-means and GMM-EM on the same "
                  "features, means over the seeds."]
    return "\n".join(lines)


def training_throughput_section():
    with open(os.path.join(RESULTS, "training_throughput.json")) as handle:
        result = json.load(handle)
    isas = list(result["results"])
    header = "| training path | " + " | ".join(f"{isa}: clips/s | {isa}: ratio to plain PyTorch" for isa in isas)
    lines = [header + " | peak memory (native) |", "| --- " * (2 * len(isas) + 2) + "|"]
    for name in result["results"][isas[0]]:
        cells = []
        for isa in isas:
            run = result["results"][isa].get(name)
            if run is None:
                cells += ["", ""]
            elif "median_clips_per_s" in run:
                cells += [f"{run['median_clips_per_s']:.0f}", f"{run.get('ratio_to_pytorch_reference', 1.0):.2f}x"]
            else:
                cells += ["failed", ""]
        memory = result["results"][isas[0]][name].get("peak_memory_mib")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {f'{memory:.0f} MiB' if memory else ''} |")
    features = ", ".join(result["machine"].get("cpu_features") or ["unknown"])
    lines += ["", f"{result['what']}; {result['machine']['cpus']} cores with {features}; "
                  f"`{result['command'].strip()}`."]
    return "\n".join(lines)


def step_profile_section():
    with open(os.path.join(RESULTS, "step_profile.json")) as handle:
        result = json.load(handle)
    settings = list(result["results"])
    lines = ["| part (forward and backward, batch 64) | " + " | ".join(f"{name} (ms)" for name in settings) + " |",
             "| --- " * (len(settings) + 1) + "|"]
    for part in result["results"][settings[0]]:
        lines.append(f"| {part} | " + " | ".join(f"{result['results'][name][part]['median_ms']:.0f}"
                                                for name in settings) + " |")
    lines += ["", f"{result['what']}; `{result['command'].strip()}`."]
    return "\n".join(lines)


def recipe_profile_section():
    with open(os.path.join(RESULTS, "recipe_profile.json")) as handle:
        result = json.load(handle)
    records = result["records"]
    lines = [f"| phase of `{records['model']}`'s training | seconds | share |", "| --- | --- | --- |"]
    lines += [f"| {name} | {phase['seconds']:.0f} | {100 * phase['share']:.1f}% |"
              for name, phase in records["phases"].items()]
    steps = result["step"]
    validation = result["validation_metrics_per_epoch_300_clips"]["median_ms"]
    full = next(iter(steps.values()))["median_ms"]
    lines += ["", "| the recipe's step (batch 64) | ms per step | share of the joint phase's step |",
              "| --- | --- | --- |"]
    lines += [f"| {name} | {part['median_ms']:.0f} | {100 * part['median_ms'] / full:.0f}% |"
              for name, part in steps.items()]
    lines += ["", f"The validation metrics (300 clips) take {validation / 1000:.1f} s, "
                  f"{100 * validation / (validation + records['steps_per_epoch'] * full):.0f}% of an epoch of "
                  f"{records['steps_per_epoch']} joint steps, each time they are computed (`uvac train` computes "
                  "them every 5 epochs and after each run's last: `--validation-every`).",
              "", f"{result['what']}; {result['cpus']} cores; `{result['command'].strip()}`."]
    return "\n".join(lines)


def size_sweep_section():
    with open(os.path.join(RESULTS, "size_sweep.json")) as handle:
        result = json.load(handle)
    lines = ["| clips | training clips | wall time (s) | ms per training clip | added ms per clip since the last size "
             "| peak memory (MiB) |", "| --- | --- | --- | --- | --- | --- |"]
    for row in result["rows"]:
        added = row.get("added_ms_per_training_clip")
        lines.append(f"| {row['clips']:,} | {row['training_clips']:,} | {row['seconds']:.0f} | "
                     f"{row['ms_per_training_clip']:.0f} | {'' if added is None else f'{added:.0f}'} | "
                     f"{row['peak_rss_mib']:,.0f} |")
    if "time_per_clip_ratio_9600_to_1200" in result:
        lines += ["", f"At 9,600 clips against 1,200: time per clip {result['time_per_clip_ratio_9600_to_1200']:.2f}x,"
                      f" peak memory {result['peak_rss_ratio_9600_to_1200']:.2f}x."]
    lines += ["", f"{result['what']}; {result['machine']['cpus']} cores; `{result['command'].strip()}`."]
    return "\n".join(lines)


def model_card():
    """saved_models/uvac_fsdd.md, written from the card that `uvac train` left beside the model."""
    path = os.path.join(ROOT, "saved_models", "uvac_fsdd.keras.card.json")
    with open(path) as handle:
        card = json.load(handle)
    recipe = card["recipe"]
    with open(os.path.join(RESULTS, "exports.json")) as handle:
        int8_agreement = next(report["cluster_agreement"] for report in json.load(handle)["exports"]
                              if report["format"] == "tflite-int8")
    with open(os.path.join(RESULTS, DEFAULT_RESULTS)) as handle:
        seeds = json.load(handle)
    # The default recipe moved on since this model was trained; its fields that differ reproduce it.
    default = training.RECIPES["default"].get_config()
    changes = {name: value for name, value in recipe.items() if name in default and value != default[name]}
    recipe_config = f" --recipe-config '{json.dumps(changes)}'" if changes else ""
    features = FeatureConfig.from_config(card["feature_config"]).get_config()
    magnitude = {"linear": "the STFT magnitude as it is (the paper's)",
                 "power": f"the STFT magnitude to the power {features['power_exponent']:g}",
                 "log": f"the STFT magnitude in dB over the {features['log_range_db']:g} dB below each clip's peak"}
    minutes = card["consensus"]["seconds"] / 60
    margin = features["noise_margin_db"]
    noise = ("no noise floor" if margin is None
             else f"its range ending {margin:g} dB above each clip's noise level" if features["magnitude"] == "log"
             else f"after subtracting each clip's noise level raised by {margin:g} dB")
    text = f"""# Model card: saved_models/uvac_fsdd.keras

Generated by `python benchmarks/update_readme.py` from `uvac_fsdd.keras.card.json`, which `uvac train` wrote.

- **Command:** `{card['command']}`
- **Data:** {card['data']} (Free Spoken Digit Dataset, CC BY-SA 4.0, Zohar Jackson and contributors), 8 kHz
  resampled to {card['feature_config']['sample_rate']} Hz, 128 x 99 features.
- **Split:** {card['split']['method']} 80/10/10, split seed {card['split']['seed']}: {card['split']['clips']['train']}
  train / {card['split']['clips']['validation']} validation / {card['split']['clips']['test']} test clips.
  Labels are not used in training; the validation labels only feed the per-epoch metrics in the history.
  The speaker ids in the FSDD file names are used (the default recipe's speaker terms).
- **Training seed:** {card['seed']}
- **Features:** {magnitude[features['magnitude']]}, {noise}.
- **Recipe:** `{recipe['name']}`: a consensus of {recipe['runs']} runs of {recipe['epochs']} epochs
  ({recipe['pretrain_epochs']} as an autoencoder, then the mixture fitted to the codes, KL warm-up over
  {recipe['kl_warmup_epochs']} to weight {recipe['kl_weight']}, cluster-agreement weight {recipe['cluster_weight']}),
  batch {recipe['batch_size']}, Adam {recipe['learning_rate']} decaying to {recipe['final_learning_rate']},
  model settings `{json.dumps(recipe['model'])}`.
- **Epochs done:** {card['epochs_done']} by the run that carries the consensus
- **Training time:** {minutes:.1f} min for the {recipe['runs']} runs on {card['machine']['cpus']} CPU cores
  ({card['machine']['processor']}, Keras backend {card['machine']['backend']}).
- **Parameters:** {card['parameters']['total']:,} in all, {card['parameters']['inference']:,} at inference
  (encoder and GMM prior); the paper reports about 2M and 1.3M.

## Test metrics (FSDD test split)

UVAC's silhouette and DBI are computed on the latent means z, the baselines' on the STFT features.
`uvac evaluate --model saved_models/uvac_fsdd.keras` reproduces them.

{format_table(card['test_metrics'])}

## Exports

`uvac export --model uvac_fsdd --format tflite-int8|tflite|onnx|tflite-audio|tflm-audio --out PATH` writes each
export and checks it against this model on the test split; the README's export table gives their sizes and
agreement.
The float exports match it on every test clip; the int8 one, in the TFLite Micro interpreter, on
{100 * int8_agreement:.2f}% (docs/design.md, "Int8 export").

## Limits

This is seed 0 of the recipe (`uvac train --seed 0{recipe_config}` trains it again, though not always bit for
bit on another machine). Mean test accuracy over three seeds of the same recipe and features is
{100 * seeds['uvac_mean']['accuracy']:.1f}% (NMI {seeds['uvac_mean']['nmi']:.2f};
`{seeds['command']}`, whose runs are not this model).
The speakers of the test clips are also in the training split (a random split); on unseen speakers expect
less. Trained on six male speakers of English (several accents) at 8 kHz; expect other voices, languages and
recording conditions to cluster worse.
"""
    with open(os.path.join(ROOT, "saved_models", "uvac_fsdd.md"), "w") as handle:
        handle.write(text)
    print("wrote saved_models/uvac_fsdd.md")


def export_section():
    with open(os.path.join(RESULTS, "exports.json")) as handle:
        reports = json.load(handle)
    with open(os.path.join(RESULTS, "export_latency.json")) as handle:
        latency = json.load(handle)["results"]
    names = {"tflite-int8": ("int8 TFLite, in TFLite Micro", "tflite_micro_host_int8"),
             "tflite": ("float LiteRT", "litert_float32"), "onnx": ("ONNX", "onnxruntime_float32"),
             "tflite-audio": ("float LiteRT, raw audio in", None),
             "tflm-audio": ("raw samples in, TFLite Micro: float front end + int8 encoder", None)}
    lines = ["| `--format` | export | size | same cluster as Keras | max prob. difference | TFLite Micro arena | "
             "ms per clip |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for report in reports["exports"]:
        label, runtime = names[report["format"]]
        size = f"{report['bytes'] / 2**20:.2f} MiB"
        arena = f"{report['arena_bytes'] / 1024:.0f} KiB" if "arena_bytes" in report else ""
        if "frontend" in report:
            size = f"{size} + {report['frontend']['bytes'] / 2**20:.2f} MiB"
            arena = f"{arena} + {report['frontend']['arena_bytes'] / 1024:.0f} KiB"
        milliseconds = f"{latency[runtime]['median_ms']:.2f}" if runtime in latency else ""
        lines.append(f"| `{report['format']}` | {label} | {size} | {100 * report['cluster_agreement']:.2f}% | "
                     f"{report['max_probability_difference']:.1e} | {arena} | {milliseconds} |")
    full = next(report for report in reports["exports"] if report["format"] == "tflm-audio")
    tiny = reports["tiny_preset_from_samples"]
    frontend = full["frontend"]
    lines += ["", f"The shipped model on the {reports['exports'][0]['clips_checked']} FSDD test clips; Keras float32 "
                  f"itself: {reports['keras_float32_inference_weights_bytes'] / 2**20:.2f} MiB of weights at inference,"
                  f" {latency['keras_float32']['median_ms']:.2f} ms per clip. Batch 1, features precomputed, medians "
                  "on this 2-core CPU. From raw samples (`tflm-audio`) the front end takes "
                  f"{frontend['macs'] / 1e6:.1f} M MACs per one-second window and the full encoder "
                  f"{full['encoder_macs'] / 1e6:.1f} M; with the tiny preset (`--model uvac_fsdd_tiny`): "
                  f"{tiny['bytes'] / 1024:.0f} KiB int8 + {tiny['frontend']['bytes'] / 1024:.0f} KiB float32, arenas "
                  f"{tiny['arena_bytes'] / 1024:.0f} + {tiny['frontend']['arena_bytes'] / 1024:.0f} KiB, "
                  f"{tiny['encoder_macs'] / 1e6:.1f} M MACs after the front end, the Keras cluster on "
                  f"{100 * tiny['cluster_agreement']:.2f}% of the test clips (`python benchmarks/export_shipped.py`, "
                  "then `python benchmarks/export_latency.py`)."]
    return "\n".join(lines)


def compact_models_section():
    with open(os.path.join(RESULTS, "compact_models.json")) as handle:
        results = json.load(handle)
    lines = ["| encoder | trained by | preset | int8 model | TFLite Micro arena | MACs per clip | TFLite Micro on "
             "this host | int8 = Keras cluster | FSDD test accuracy, 3 seeds (mean) | NMI (mean) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in results["rows"]:
        seeds = " / ".join(f"{100 * value:.1f}" for value in row["test_accuracy_by_seed"])
        preset = f"`{row['preset']}`" if row["preset"] else ""
        training = "recipe (the teachers)" if row["architecture"] == "full" else row["training"]
        lines.append(f"| {row['architecture']} | {training} | {preset} | {row['int8_bytes'] / 1000:.1f} KB | "
                     f"{row['arena_bytes'] / 1000:.1f} KB | {row['macs_per_clip'] / 1e6:.1f} M | "
                     f"{row['tflm_host_latency_ms']:.2f} ms | {100 * row['int8_cluster_agreement']:.2f}% | "
                     f"{seeds} ({100 * row['test_accuracy_mean']:.1f}%) | {row['test_nmi_mean']:.2f} |")
    commands = "; ".join(f"`{row['accuracy_command']}`" for row in results["rows"])
    lines += ["", f"`{results['command']}`; accuracies from {commands} (the teachers are the FSDD table's "
                  "command trained again on another machine, whose rounding differs; seed 0 is the shipped "
                  "`uvac_fsdd`); KB = 1,000 bytes."]
    return "\n".join(lines)


def tuning_section():
    with open(os.path.join(RESULTS, "tuning_fsdd.json")) as handle:
        results = json.load(handle)
    knobs = ["consistency_weight", "speaker_weight", "cross_speaker_weight", "cluster_weight", "kl_weight",
             "learning_rate", "pretrain_share", "latent_dim"]
    lines = ["| trial | " + " | ".join(knobs) + " | label-free objective (validation) | test accuracy |",
             "| --- | " + " | ".join("---" for _ in knobs) + " | --- | --- |"]
    for trial in sorted(results["trials"], key=lambda trial: -trial["label_free_objective"]):
        values = [f"{trial['hyperparameters'][knob]:.2g}" for knob in knobs]
        lines.append(f"| {trial['trial']} | " + " | ".join(values) +
                     f" | {trial['label_free_objective']:.3f} | {100 * trial['test_accuracy']:.1f}% |")
    lines += ["", f"`{results['command']}`: {results['what']}. Spearman correlation of the objective with test "
                  f"accuracy: {results['spearman']:.2f}; the trial the objective picks scores "
                  f"{100 * results['picked_test_accuracy']:.1f}%, {results['picked_points_below_best']:.1f} points "
                  f"below the best trial ({100 * results['best_test_accuracy']:.1f}%)."]
    return "\n".join(lines)


def quality_section():
    """The quality report's headline against test accuracy over the calibration models, and the probabilities."""
    from keras_uvac import quality

    with open(os.path.join(RESULTS, "quality_calibration.json")) as handle:
        result = json.load(handle)
    models = list(result["models"].values())
    lines = ["| verdict | models | test accuracy (%), lowest to highest | mean |", "| --- | --- | --- | --- |"]
    for verdict in ("good", "moderate", "poor"):
        accuracies = [100 * row["test"]["accuracy"] for row in models
                      if quality.verdict(row["quality"]["headline"]["value"]) == verdict]
        if accuracies:
            lines.append(f"| {verdict} | {len(accuracies)} | {min(accuracies):.1f} to {max(accuracies):.1f} | "
                         f"{sum(accuracies) / len(accuracies):.1f} |")
    candidates = result["candidates_spearman_validation_accuracy"]
    names = {"label_free_score": "label-free score", "stability": "stability alone",
             "run_agreement": "runs' agreement after the refit", "run_agreement_before_refit": "runs' agreement"}
    gaps = [100 * abs(row["probabilities"]["test_mean_top_probability_after"]
                      - row["probabilities"]["test_runs_agreeing"]) for row in models]
    fsdd_gaps = [gap for gap, row in zip(gaps, models) if row["setting"]["corpus"] == "fsdd"]
    before = [100 * row["probabilities"]["test_mean_top_probability_before"] for row in models]
    lines += ["", f"{len(models)} models (`{result['command']}`); thresholds: good from {quality.THRESHOLDS['good']}, "
              f"poor below {quality.THRESHOLDS['moderate']}. Spearman between the {names[quality.HEADLINE]} and "
              f"test accuracy: **{result['spearman_headline_test_accuracy']:.2f}**. With validation accuracy, where "
              "the headline was chosen: " + ", ".join(f"{names[name]} {value:.2f}" for name, value in
                                                      sorted(candidates.items(), key=lambda item: -item[1])) + ".",
              "", f"Probabilities: before calibration the mean top probability on the test clips was "
              f"{min(before):.0f}-{max(before):.0f}%; with the temperature fitted on the validation clips it is "
              f"within {max(gaps):.1f} points of the share of runs that agree with the clip's cluster "
              f"(median {sorted(gaps)[len(gaps) // 2]:.1f}; on the {len(fsdd_gaps)} FSDD models at most "
              f"{max(fsdd_gaps, default=float('nan')):.1f})."]
    return "\n".join(lines)


# The sections of each document, between `<!-- name:start -->` and `<!-- name:end -->`.
DOCUMENTS = {
    "README.md": {"exports": export_section, "compact-models": compact_models_section, "quality": quality_section,
                  **{name: functools.partial(corpus_results_section, name) for name in CORPUS_RESULTS}},
    os.path.join("docs", "benchmarks.md"): {
        "baselines": baselines_section, "tuning": tuning_section, "feature-benchmark": feature_benchmark_section,
        "training-throughput": training_throughput_section, "step-profile": step_profile_section,
        "recipe-profile": recipe_profile_section, "size-sweep": size_sweep_section},
}


def update(document, sections):
    path = os.path.join(ROOT, document)
    with open(path) as handle:
        text = handle.read()
    for name, build in sections.items():
        if f"<!-- {name}:start -->" not in text:
            raise SystemExit(f"{document} has no <!-- {name}:start --> marker")
        try:
            body = build()
        except FileNotFoundError as missing:
            print(f"{name}: not updated, {missing.filename} is missing (run its benchmark first)")
            continue
        pattern = re.compile(f"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        text = pattern.sub(lambda match, body=body: match.group(1) + body + "\n" + match.group(2), text)
    with open(path, "w") as handle:
        handle.write(text)
    print(f"updated {document}")


def main():
    for document, sections in DOCUMENTS.items():
        update(document, sections)
    if os.path.exists(os.path.join(ROOT, "saved_models", "uvac_fsdd.keras.card.json")):
        model_card()


if __name__ == "__main__":
    main()
