"""Size, arena, work, latency and accuracy of the full and the compact UVAC encoders, for microcontrollers.

The full rows are the default recipe's FSDD models of three seeds (`python benchmarks/fsdd_clustering.py --seeds 1 2
--name fsdd_teachers_ids`, and seed 0 the shipped `saved_models/uvac_fsdd.keras` linked in as
`runs/fsdd_teachers_ids/uvac_seed0.keras`); each compact architecture (`keras_uvac.model.ARCHITECTURES`) is
distilled from the same seed's full model (`... --architecture A --distill --teachers fsdd_teachers_ids --name
fsdd_A_distilled_ids`). Its seed-0 student is shipped: copied to `saved_models/uvac_fsdd_<A>.keras` (the preset)
and exported to int8 with `uvac export` (`runs/exports/uvac_fsdd_<A>_int8.tflite` and its C files). Every row
reports: int8 flatbuffer bytes, the TFLite Micro arena, multiply-accumulates per clip, the median TFLite Micro
latency per clip on this host (windows of clips), the int8 model's agreement with Keras on the test split, and the
FSDD test accuracy of the three seeds from the clustering benchmark's JSON. Writes
`benchmarks/results/compact_models.json` and the plot `docs/compact_models.png`.

    python benchmarks/compact_models.py [--windows 5] [--clips 20]
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAVED = os.path.join(ROOT, "saved_models")
RESULTS = os.path.join(ROOT, "benchmarks", "results")


# (architecture, how it was trained, the clustering benchmark's results file)
VARIANTS = [("full", "recipe", "fsdd_teachers_ids"), ("small", "distilled", "fsdd_small_distilled_ids"),
            ("tiny", "distilled", "fsdd_tiny_distilled_ids")]


def seed_models(name):
    """The clustering benchmark's JSON and its seed-0 model."""
    with open(os.path.join(RESULTS, f"{name}.json")) as handle:
        results = json.load(handle)
    model = results["seeds"]["0"]["model"]
    return results, os.path.join(ROOT, model)


def ship_preset(architecture, model_path):
    """Copies a compact architecture's seed-0 model and card into saved_models/ as `uvac_fsdd_<architecture>`."""
    target = os.path.join(SAVED, f"uvac_fsdd_{architecture}.keras")
    for suffix in ("", ".card.json"):
        shutil.copyfile(model_path + suffix, target + suffix)
    return os.path.relpath(target, ROOT)


def export_int8(model, stem, folder):
    out = os.path.join(folder, f"{stem}_int8.tflite")
    report_path = os.path.join(ROOT, "runs", f"compact_{stem}.json")
    command = [sys.executable, "-m", "keras_uvac.cli", "-q", "export", "--model", model, "--format", "tflite-int8",
               "--out", out, "--json", report_path]
    print(" ".join(command[2:]), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    with open(report_path) as handle:
        report = json.load(handle)
    report["command"] = "uvac " + " ".join(command[4:-2])
    return report


def micro_latency_ms(tflite_path, clips, windows):
    """Median over windows of the median per-clip TFLite Micro invocation time on this host."""
    from keras_uvac import export

    model_bytes = open(tflite_path, "rb").read()
    runner = export.TFLiteRunner(model_bytes)
    micro = export.MicroRunner(model_bytes, (runner.input, runner.output))
    micro(clips[:1])  # warm-up
    medians = []
    for _ in range(windows):
        seconds = []
        for clip in clips:
            start = time.perf_counter()
            micro(clip[None])
            seconds.append(time.perf_counter() - start)
        medians.append(statistics.median(seconds))
    return 1000 * statistics.median(medians), [1000 * value for value in medians]


def plot(rows, path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    for row in rows:
        accuracies = [100 * value for value in row["test_accuracy_by_seed"]]
        kilobytes = row["int8_bytes"] / 1000
        colour = "tab:blue" if row["training"] == "recipe" else "tab:green"
        axes.scatter([kilobytes] * len(accuracies), accuracies, color=colour, alpha=0.5, s=18)
        axes.scatter([kilobytes], [statistics.mean(accuracies)], color=colour, marker="_", s=300)
        axes.annotate(f"{row['architecture']}, {row['training']}\n{row['arena_bytes'] / 1000:.0f} KB arena",
                      (kilobytes, max(accuracies)), textcoords="offset points", xytext=(6, 4), fontsize=7)
    axes.axvline(150, color="grey", linestyle=":", linewidth=1)
    axes.set_xscale("log")
    axes.set_xlabel("int8 model (KB, log scale); dotted: 150 KB")
    axes.set_ylabel("FSDD test accuracy (%)")
    axes.set_title("UVAC encoders: accuracy against int8 size\n(dots: seeds, bar: mean; blue: recipe, green: "
                   "distilled)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--clips", type=int, default=20)
    args = parser.parse_args()

    from keras_uvac import datasets, pipeline
    from keras_uvac.atomic import write_json
    from keras_uvac.model import ARCHITECTURES, UVAC

    splits = datasets.load_audio().split(seed=0)
    clips = pipeline.extract_features(splits["test"].subset(range(args.clips)), progress=False)["spectrogram"]
    rows = []
    for architecture, training, name in VARIANTS:
        results, model_path = seed_models(name)
        model = UVAC.from_preset(model_path)
        shipped = architecture != "full"
        if shipped:
            preset, stem, folder = ship_preset(architecture, model_path), f"uvac_fsdd_{architecture}", \
                os.path.join("runs", "exports")
        else:
            preset, stem, folder = os.path.relpath(model_path, ROOT), f"uvac_fsdd_{architecture}_{training}", "runs"
        report = export_int8(preset, stem, folder)
        latency, windows = micro_latency_ms(os.path.join(ROOT, report["path"]), clips, args.windows)
        seeds = [seed["rows"]["UVAC"] for seed in results["seeds"].values()]
        accuracies = [seed["accuracy"] for seed in seeds]
        rows.append({"architecture": architecture, "training": training, "shipped": shipped,
                     "model_config": ARCHITECTURES[architecture],
                     "preset": os.path.splitext(os.path.basename(preset))[0] if shipped else None,
                     "inference_parameters": model.parameter_counts()["inference"],
                     "int8_bytes": report["bytes"], "arena_bytes": report["arena_bytes"],
                     "macs_per_clip": model.inference_macs(), "tflm_host_latency_ms": latency,
                     "tflm_host_latency_window_medians_ms": windows,
                     "int8_cluster_agreement": report["cluster_agreement"], "clips_checked": report["clips_checked"],
                     "operators": report["operators"], "export_command": report["command"],
                     "test_accuracy_by_seed": accuracies, "test_accuracy_mean": statistics.mean(accuracies),
                     "test_nmi_mean": statistics.mean(seed["nmi"] for seed in seeds),
                     "accuracy_command": results["command"]})
        print(json.dumps({key: rows[-1][key] for key in ("architecture", "training", "int8_bytes", "arena_bytes",
                                                         "test_accuracy_mean", "int8_cluster_agreement")}), flush=True)
    write_json(os.path.join(RESULTS, "compact_models.json"),
               {"what": "int8 size, TFLite Micro arena and host latency, and FSDD test accuracy (three seeds) per "
                        "encoder architecture",
                "command": "python benchmarks/compact_models.py " + " ".join(sys.argv[1:]),
                "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
                "rows": rows}, indent=2)
    plot(rows, os.path.join(ROOT, "docs", "compact_models.png"))


if __name__ == "__main__":
    main()
