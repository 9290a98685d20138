"""Issue 41, first step: which int8 conversion of the shipped model agrees best with Keras, on validation clips.

Hypothesis: the 94.3% test agreement of today's shipped model (98.3% before the square-root features) comes from
the activation limits or the calibration sample, not from the graph; a conversion chosen on the validation split
(never the test split) gets back above 97%.

    python experiments/int8_agreement/variants.py --json experiments/int8_agreement/variants.json
"""

import argparse
import json
import time

import keras
import numpy as np
from shipped import shipped_model_and_features

from keras_uvac.export import graph, litert, micro


def agreement_on(model_bytes, features, reference):
    runner = litert.TFLiteRunner(model_bytes)
    clusters = micro.MicroRunner(model_bytes, (runner.input, runner.output))(features).argmax(axis=1)
    return float(np.mean(clusters == reference))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    model, train, _, validation = shipped_model_and_features()
    reference = keras.ops.convert_to_numpy(model(validation)).argmax(axis=1)
    variants = {"percentile 99.99, 400 clips (today)": (99.99, 400), "plain ReLUs, 400 clips": (None, 400),
                "percentile 99.9, 400 clips": (99.9, 400), "percentile 99.999, 400 clips": (99.999, 400),
                "percentile 99.99, 1600 clips": (99.99, 1600), "plain ReLUs, 1600 clips": (None, 1600)}
    results = {}
    for name, (percentile, count) in variants.items():
        start = time.perf_counter()
        calibration = micro.representative_subset(train, count)
        # micro.convert_int8's steps, with every clip of the sample fed to the converter (it takes 400).
        floor = graph.calibrated_floor(model, calibration)
        limits = None if percentile is None else graph.calibrated_activation_limits(model, calibration, percentile)
        export_model = graph.inference_model(model, logit_floor=floor, activation_limits=limits)
        model_bytes = litert.convert_tflite(export_model, calibration)
        results[name] = {"validation_agreement": agreement_on(model_bytes, validation, reference),
                         "activation_limits": limits, "logit_floor": floor, "bytes": len(model_bytes),
                         "seconds": time.perf_counter() - start}
        print(name, results[name], flush=True)
    with open(args.json, "w") as handle:
        json.dump({"what": "int8 TFLite Micro agreement with Keras on the 300 FSDD validation clips, shipped model",
                   "command": "python experiments/int8_agreement/variants.py --json "
                              "experiments/int8_agreement/variants.json", "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
