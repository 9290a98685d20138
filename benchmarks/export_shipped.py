"""Exports the shipped model in every format into saved_models/, with `uvac export`.

Each export is run and compared with the Keras model on the bundled FSDD test
split; the reports go to benchmarks/results/exports.json.

    python benchmarks/export_shipped.py
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUTS = {"tflite-int8": "uvac_fsdd_int8.tflite", "tflite": "uvac_fsdd.tflite", "onnx": "uvac_fsdd.onnx",
           "tflite-audio": "uvac_fsdd_audio.tflite"}


def main():
    from keras_uvac.atomic import atomic_path

    reports = []
    for export_format, name in OUTPUTS.items():
        report_path = os.path.join(ROOT, "runs", f"export_{export_format}.json")
        command = [sys.executable, "-m", "keras_uvac.cli", "-q", "export", "--format", export_format,
                   "--out", os.path.join("saved_models", name), "--json", report_path]
        print("uvac " + " ".join(command[4:]), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)
        with open(report_path) as handle:
            report = json.load(handle)
        report["command"] = "uvac " + " ".join(command[4:-2])
        report["path"] = os.path.relpath(report["path"], ROOT) if os.path.isabs(report["path"]) else report["path"]
        reports.append(report)
    payload = {"keras_float32_inference_weights_bytes": reports[0]["keras_float32_inference_weights_bytes"],
               "exports": reports}
    with atomic_path(os.path.join(ROOT, "benchmarks", "results", "exports.json")) as temporary:
        with open(temporary, "w") as handle:
            json.dump(payload, handle, indent=2)


if __name__ == "__main__":
    main()
