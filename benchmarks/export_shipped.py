"""Exports the shipped model in every format into runs/exports/ (not committed), with `uvac export`.

Each export is run and compared with the Keras model on the bundled FSDD test
split; the reports go to benchmarks/results/exports.json. For comparison, the
int8 model is also exported without its activation limits (percentile 100,
into runs/), and its agreement recorded; and the tiny preset is exported from
raw samples to TFLite Micro (`tflm-audio`) as the full model is.

    python benchmarks/export_shipped.py
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUTS = {"tflite-int8": "uvac_fsdd_int8.tflite", "tflite": "uvac_fsdd.tflite", "onnx": "uvac_fsdd.onnx",
           "tflite-audio": "uvac_fsdd_audio.tflite", "tflm-audio": "uvac_fsdd_tflm.tflite"}


def run_export(export_format, out, *options):
    report_path = os.path.join(ROOT, "runs", f"export_{os.path.basename(out)}.json")
    command = [sys.executable, "-m", "keras_uvac.cli", "-q", "export", "--format", export_format, "--out", out,
               *options, "--json", report_path]
    print("uvac " + " ".join(command[4:]), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    with open(report_path) as handle:
        report = json.load(handle)
    report["command"] = "uvac " + " ".join(command[4:-2])
    report["path"] = os.path.relpath(report["path"], ROOT) if os.path.isabs(report["path"]) else report["path"]
    return report


def main():
    from keras_uvac.atomic import atomic_path

    os.makedirs(os.path.join(ROOT, "runs", "exports"), exist_ok=True)
    reports = [run_export(export_format, os.path.join("runs", "exports", name))
               for export_format, name in OUTPUTS.items()]
    unbounded = run_export("tflite-int8", os.path.join("runs", "uvac_fsdd_int8_unbounded.tflite"),
                           "--activation-percentile", "100")
    tiny_from_samples = run_export("tflm-audio", os.path.join("runs", "exports", "uvac_fsdd_tiny_tflm.tflite"),
                                   "--model", "uvac_fsdd_tiny")
    payload = {"keras_float32_inference_weights_bytes": reports[0]["keras_float32_inference_weights_bytes"],
               "exports": reports, "int8_without_activation_limits": {
                   key: unbounded[key] for key in ("command", "activation_limits", "cluster_agreement")},
               "tiny_preset_from_samples": tiny_from_samples}
    with atomic_path(os.path.join(ROOT, "benchmarks", "results", "exports.json")) as temporary:
        with open(temporary, "w") as handle:
            json.dump(payload, handle, indent=2)


if __name__ == "__main__":
    main()
