"""Issue 41: how far the int8 encoder's codes drift from Keras', and how many clusters that drift alone changes.

The shipped model's encoder (as exported: unrolled GRUs, 99.99th-percentile limits) converted to int8 with z as
its output, run in the LiteRT interpreter on the validation clips; Keras' float posterior is then applied to
the int8 codes.

    python experiments/int8_agreement/code_drift.py --json experiments/int8_agreement/code_drift.json
"""

import argparse
import json

import keras
import numpy as np
from shipped import shipped_model_and_features

from keras_uvac.export import graph, litert


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    model, _, calibration, validation = shipped_model_and_features()
    limits = graph.calibrated_activation_limits(model, calibration, 99.99)
    full = graph.inference_model(model, with_latent_mean=True, activation_limits=limits)
    encoder_only = keras.Model(full.inputs, full.outputs[0])  # the outputs are z (the encoder's), then q(c|z)
    runner = litert.TFLiteRunner(litert.convert_tflite(encoder_only, calibration))
    int8_codes = runner(validation).astype(np.float64)
    codes = model.latent_mean(validation).astype(np.float64)
    posterior = graph.QuadraticPosterior.from_prior(model.prior)
    float_clusters = keras.ops.convert_to_numpy(posterior.logits(codes)).argmax(axis=1)
    int8_clusters = keras.ops.convert_to_numpy(posterior.logits(int8_codes)).argmax(axis=1)
    drift = np.linalg.norm(int8_codes - codes, axis=1)
    result = {"clips": len(codes), "clusters_changed_by_the_codes_alone": int(np.sum(int8_clusters != float_clusters)),
              "code_drift_median": float(np.median(drift)), "code_drift_max": float(drift.max()),
              "code_spread_median": float(np.median(np.linalg.norm(codes - codes.mean(axis=0), axis=1))),
              "output_int8_step": float(runner.output["quantization"][0])}
    print(json.dumps(result, indent=2))
    with open(args.json, "w") as handle:
        json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
