"""Issue 41: where in the int8 graph of the shipped model does the error grow? TFLite's QuantizationDebugger.

Each tensor of today's int8 conversion (99.99th-percentile limits, 400 calibration clips) is compared with the
float graph on validation clips; its RMSE is reported in units of its own int8 step (`rmse/scale`: about 0.29
is rounding alone). The tensors are grouped by the layer they belong to.

    python experiments/int8_agreement/layer_errors.py --clips 30 --json experiments/int8_agreement/layer_errors.json
"""

import argparse
import csv
import io
import json
import re

import numpy as np
import tensorflow as tf
from shipped import shipped_model_and_features

from keras_uvac.export import graph, litert


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=30)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    model, _, calibration, validation = shipped_model_and_features(args.clips)
    limits = graph.calibrated_activation_limits(model, calibration, 99.99)
    export_model = graph.inference_model(model, logit_floor=graph.calibrated_floor(model, calibration),
                                         activation_limits=limits)
    with litert.tflite_converter(export_model, calibration) as converter:
        # The debugger compares float and int8 tensors itself; it takes float inputs and outputs.
        converter.inference_input_type = converter.inference_output_type = tf.float32
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: ([clip[None].astype(np.float32)] for clip in validation))
        debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    rows = list(csv.DictReader(io.StringIO(dump.getvalue())))
    groups = {}
    for row in rows:
        name = row["tensor_name"]
        match = re.search(r"(conv2d[_\d]*|batch_normalization[_\d]*|gru_cell[_\d]*|gru[_\d]*|dense[_\d]*|posterior|"
                          r"latent[_\w]*|linear)", name)
        key = match.group(1) if match else name.split("/")[0][:40]
        step_error = float(row["mean_squared_error"]) ** 0.5 / max(float(row["scale"]), 1e-12)
        groups.setdefault(key, []).append(step_error)
    summary = {key: {"tensors": len(values), "median_rmse_in_steps": float(np.median(values)),
                     "max_rmse_in_steps": float(np.max(values))} for key, values in groups.items()}
    for key, value in sorted(summary.items(), key=lambda item: -item[1]["max_rmse_in_steps"])[:25]:
        print(f"{key:40s} {value}")
    with open(args.json, "w") as handle:
        json.dump({"what": "int8 vs float per tensor, RMSE in int8 steps, grouped by layer; shipped model, "
                           f"{args.clips} FSDD validation clips", "groups": summary,
                   "tensors": [{"name": row["tensor_name"], "op": row["op_name"],
                                "rmse_in_steps": float(row["mean_squared_error"]) ** 0.5 / max(float(row["scale"]),
                                                                                                1e-12)}
                               for row in rows]}, handle, indent=1)


if __name__ == "__main__":
    main()
