"""Regenerates the README's result tables from the committed JSON results.

    python benchmarks/update_readme.py
"""

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


def fsdd_clustering_section(file_name=DEFAULT_RESULTS):
    with open(os.path.join(RESULTS, file_name)) as handle:
        result = json.load(handle)
    runs_of = f"{result['runs']} runs of " if result.get("runs", 1) > 1 else ""
    lines = ["| seed | accuracy (%) | NMI | silhouette (z) | DBI (z) | K-means accuracy (%) | GMM-EM accuracy (%) "
             "| training time |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for seed, run in result["seeds"].items():
        uvac, rows = run["rows"]["UVAC"], run["rows"]
        lines.append(f"| {seed} | {100 * uvac['accuracy']:.2f} | {uvac['nmi']:.2f} | {uvac['silhouette']:.2f} | "
                     f"{uvac['dbi']:.2f} | {100 * rows['K-means']['accuracy']:.2f} | "
                     f"{100 * rows['GMM-EM']['accuracy']:.2f} | {run['training_seconds'] / 60:.0f} min "
                     f"({runs_of}{run['epochs']} epochs) |")
    mean = result["uvac_mean"]
    lines.append(f"| **mean** | **{100 * mean['accuracy']:.2f}** | **{mean['nmi']:.2f}** | {mean['silhouette']:.2f} | "
                 f"{mean['dbi']:.2f} | | | |")
    lines.append("")
    beaten = "yes" if result["every_seed_beats_kmeans_and_gmm_em"] else "no"
    lines.append(f"Every seed beats K-means and GMM-EM: {beaten}. Produced by `{reproducing_command(result)}`.")
    return "\n".join(lines)


SPEAKER_CONDITIONS = [
    (DEFAULT_RESULTS, "FSDD (6 speakers)", "random 80/10/10",
     "speaker ids; consensus of 3 runs per seed, prior of equal cluster sizes, square-root magnitude with the noise "
     "subtracted (**today's default**)"),
    ("fsdd_pows_cons_pseudo.json", "FSDD (6 speakers)", "random 80/10/10",
     "none (pseudo-speakers); consensus of 3 runs per seed, prior of equal cluster sizes, square-root magnitude with "
     "the noise subtracted (**today's default**)"),
    ("fsdd_bal_ids.json", "FSDD (6 speakers)", "random 80/10/10",
     "speaker ids; consensus of 3 runs per seed, prior of equal cluster sizes (the default before the sixteenth "
     "round)"),
    ("fsdd_bal_pseudo.json", "FSDD (6 speakers)", "random 80/10/10",
     "none (pseudo-speakers); consensus of 3 runs per seed, prior of equal cluster sizes (the default before the "
     "sixteenth round)"),
    ("fsdd_kl1c_ids.json", "FSDD (6 speakers)", "random 80/10/10",
     "speaker ids; consensus of 3 runs per seed (KL weight 1; the default before the thirteenth round)"),
    ("fsdd_kl1c_pseudo.json", "FSDD (6 speakers)", "random 80/10/10",
     "none (pseudo-speakers); consensus of 3 runs per seed (KL weight 1; the default before the thirteenth round)"),
    ("fsdd_kl1_ids.json", "FSDD (6 speakers)", "random 80/10/10", "speaker ids; one run per seed (KL weight 1)"),
    ("fsdd_kl1_pseudo.json", "FSDD (6 speakers)", "random 80/10/10",
     "none (pseudo-speakers); one run per seed (KL weight 1)"),
    ("fsdd_clustering_runs3.json", "FSDD (6 speakers)", "random 80/10/10",
     "speaker ids; consensus of 3 runs per seed; KL weight 0.25 (the default before the twelfth round)"),
    ("fsdd_clustering.json", "FSDD (6 speakers)", "random 80/10/10", "speaker ids; one run per seed; KL weight 0.25"),
    ("fsdd_clustering_pseudo_speakers_runs3.json", "FSDD (6 speakers)", "random 80/10/10",
     "none (pseudo-speakers); consensus of 3 runs per seed; KL weight 0.25 (the default before the twelfth round)"),
    ("fsdd_clustering_pseudo_speakers.json", "FSDD (6 speakers)", "random 80/10/10",
     "none (pseudo-speakers); one run per seed; KL weight 0.25"),
    ("fsdd_restarts_pseudo_speakers.json", "FSDD (6 speakers)", "random 80/10/10",
     "none (pseudo-speakers); best of 3 restarts (`--restarts 3`)"),
    ("fsdd_clustering_speaker_split.json", "FSDD (6 speakers)", "speakers 4/1/1", "speaker ids; one run"),
    ("fsdd_clustering_pseudo_speakers_speaker_split.json", "FSDD (6 speakers)", "speakers 4/1/1",
     "none (pseudo-speakers); one run"),
    ("synthetic_pows_cons_ids.json", "synthetic espeak-ng (48 speakers)", "random 80/10/10",
     "speaker ids; consensus of 3 runs, prior of equal cluster sizes, square-root magnitude with the noise subtracted "
     "(**today's default**)"),
    ("synthetic_pows_cons_pseudo.json", "synthetic espeak-ng (48 speakers)", "random 80/10/10",
     "none (pseudo-speakers); consensus of 3 runs, prior of equal cluster sizes, square-root magnitude with the "
     "noise subtracted (**today's default**)"),
    ("synthetic_bal_ids.json", "synthetic espeak-ng (48 speakers)", "random 80/10/10",
     "speaker ids; consensus of 3 runs, prior of equal cluster sizes (the default before the sixteenth round)"),
    ("synthetic_speaker_ids_runs3.json", "synthetic espeak-ng (48 speakers)", "random 80/10/10",
     "speaker ids; consensus of 3 runs; KL weight 0.25"),
    ("synthetic_speaker_runs_ids.json", "synthetic espeak-ng (48 speakers)", "random 80/10/10",
     "speaker ids (batches dealt in runs of 4 clips per speaker, as the default does from 17 speakers); one run per "
     "seed"),
    ("synthetic_speaker_ids.json", "synthetic espeak-ng (48 speakers)", "random 80/10/10",
     "speaker ids, plain shuffled batches (the default before the seventh round of the recipe search); one run per "
     "seed"),
    ("synthetic_pseudo_speakers_runs3.json", "synthetic espeak-ng (48 speakers)", "random 80/10/10",
     "none (pseudo-speakers); consensus of 3 runs; KL weight 0.25"),
    ("synthetic_pseudo_speakers_gmm.json", "synthetic espeak-ng (48 speakers)", "random 80/10/10",
     "none (pseudo-speakers); one run per seed"),
]


def reproducing_command(result):
    """The result's command as it runs today, with the defaults it ran under that have changed since.

    Results from before the consensus default trained one run per seed; those from before the sixteenth round,
    the paper's linear magnitude.
    """
    command = result["command"].strip()
    if not ("runs" in result or result.get("restarts")):
        command += " --runs 1"
    if result.get("magnitude", "linear") == "linear" and "--magnitude" not in command:
        command += " --magnitude linear --noise-margin-db none"
    return command


def speaker_conditions_section():
    """One row per corpus, split and speaker condition, from each benchmark run's JSON."""
    lines = ["| corpus | split | speaker ids used | seeds | UVAC accuracy (%) per seed | mean accuracy (%) | "
             "mean NMI | K-means accuracy (%) | command |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for file_name, corpus, split, speakers in SPEAKER_CONDITIONS:
        path = os.path.join(RESULTS, file_name)
        if not os.path.exists(path):
            lines.append(f"| {corpus} | {split} | {speakers} | not run | | | | | |")
            continue
        with open(path) as handle:
            result = json.load(handle)
        runs = result["seeds"].values()
        per_seed = " / ".join(f"{100 * run['rows']['UVAC']['accuracy']:.1f}" for run in runs)
        kmeans = sum(run["rows"]["K-means"]["accuracy"] for run in runs) / len(runs)
        lines.append(f"| {corpus} | {split} | {speakers} | {', '.join(result['seeds'])} | {per_seed} | "
                     f"{100 * result['uvac_mean']['accuracy']:.1f} | {result['uvac_mean']['nmi']:.2f} | "
                     f"{100 * kmeans:.1f} | `{reproducing_command(result)}` |")
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

`python benchmarks/export_shipped.py` writes `uvac_fsdd.tflite` (float LiteRT), `uvac_fsdd.onnx`,
`uvac_fsdd_audio.tflite` (float LiteRT taking the padded waveform) and `uvac_fsdd_int8.tflite` (full int8 for
TFLite Micro) beside this model; the README's export table gives their sizes and their agreement with this
model. The float exports match it on every test clip; the int8 one, in the TFLite Micro interpreter, on
{100 * int8_agreement:.2f}% (see the README for how its activations are bounded).

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
    names = {"tflite-int8": ("int8 TFLite (TFLite Micro)", "tflite_micro_host_int8"),
             "tflite": ("float LiteRT", "litert_float32"), "onnx": ("ONNX", "onnxruntime_float32"),
             "tflite-audio": ("float LiteRT, raw audio in", None)}
    lines = ["| export | file | size | runs in | same cluster as Keras | max prob. difference | arena |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for report in reports["exports"]:
        label, _ = names[report["format"]]
        arena = f"{report['arena_bytes'] / 1024:.0f} KiB" if "arena_bytes" in report else ""
        lines.append(f"| {label} | `{report['path']}` | {report['bytes'] / 2**20:.2f} MiB | "
                     f"{report.get('interpreter', 'onnxruntime')} | {100 * report['cluster_agreement']:.2f}% | "
                     f"{report['max_probability_difference']:.1e} | {arena} |")
    lines.append(f"| Keras float32 weights at inference | | "
                 f"{reports['keras_float32_inference_weights_bytes'] / 2**20:.2f} MiB | | | | |")
    unbounded = reports.get("int8_without_activation_limits")
    if unbounded:
        int8 = next(report for report in reports["exports"] if report["format"] == "tflite-int8")
        lines += ["", f"Int8 activation limits (99.99th percentile): "
                      f"{', '.join(f'{limit:.1f}' for limit in int8['activation_limits'])}. Without them "
                      f"(`{unbounded['command']}`, limits at the calibration maxima "
                      f"{', '.join(f'{limit:.1f}' for limit in unbounded['activation_limits'])}): "
                      f"{100 * unbounded['cluster_agreement']:.2f}% same cluster."]
    lines += ["", "Per-clip latency on this CPU (batch 1, features precomputed, "
              "`python benchmarks/export_latency.py`):", "", "| runtime | median ms per clip |", "| --- | --- |"]
    lines += [f"| {runtime} | {result['median_ms']:.2f} |" for runtime, result in latency.items()]
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
        lines.append(f"| {row['architecture']} | {row['training']} | {preset} | {row['int8_bytes'] / 1000:.1f} KB | "
                     f"{row['arena_bytes'] / 1000:.1f} KB | {row['macs_per_clip'] / 1e6:.1f} M | "
                     f"{row['tflm_host_latency_ms']:.2f} ms | {100 * row['int8_cluster_agreement']:.2f}% | "
                     f"{seeds} ({100 * row['test_accuracy_mean']:.1f}%) | {row['test_nmi_mean']:.2f} |")
    lines += ["", f"`{results['command']}` (accuracies from `python benchmarks/fsdd_clustering.py "
                  "[--architecture small|tiny] [--distill] --runs 1 --magnitude linear --noise-margin-db none`, one "
                  "run per seed; KB = 1,000 bytes; of the two ways to train each compact encoder, the one with the "
                  "higher validation accuracy is the preset).", "",
              "![accuracy against int8 size](docs/compact_models.png)"]
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


def figures_section():
    names = [("tsne_clusters.png", "t-SNE of the latent means, by cluster and by label (the paper's Fig. 3)"),
             ("contingency.png", "clusters against labels"), ("cluster_means.png", "mean spectrogram per cluster"),
             ("training_curves.png", "training curves")]
    return "\n".join(f"![{caption}](docs/figures/{name})" for name, caption in names
                     if os.path.exists(os.path.join(ROOT, "docs", "figures", name)))


SECTIONS = {"figures": figures_section, "exports": export_section, "compact-models": compact_models_section,
            "baselines": baselines_section, "tuning": tuning_section,
            "feature-benchmark": feature_benchmark_section, "fsdd-clustering": fsdd_clustering_section,
            "fsdd-clustering-mixed": lambda: fsdd_clustering_section("fsdd_clustering_mixed.json"),
            "training-throughput": training_throughput_section,
            "step-profile": step_profile_section, "speaker-conditions": speaker_conditions_section}


def main():
    path = os.path.join(ROOT, "README.md")
    with open(path) as handle:
        text = handle.read()
    for name, build in SECTIONS.items():
        if f"<!-- {name}:start -->" not in text:
            continue
        try:
            body = build()
        except FileNotFoundError as missing:
            print(f"{name}: not updated, {missing.filename} is missing (run its benchmark first)")
            continue
        pattern = re.compile(f"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        text = pattern.sub(lambda match, body=body: match.group(1) + body + "\n" + match.group(2), text)
    with open(path, "w") as handle:
        handle.write(text)
    print(f"updated {path}")
    if os.path.exists(os.path.join(ROOT, "saved_models", "uvac_fsdd.keras.card.json")):
        model_card()


if __name__ == "__main__":
    main()
