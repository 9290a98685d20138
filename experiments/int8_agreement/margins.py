"""Issue 41: are the clips whose int8 cluster differs from Keras' the ones near a decision boundary in Keras?

    python experiments/int8_agreement/margins.py --json experiments/int8_agreement/margins.json
"""

import argparse
import json

import keras
import numpy as np
from shipped import shipped_model_and_features

from keras_uvac.export import graph, litert, micro


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    model, _, calibration, validation = shipped_model_and_features()
    posterior = graph.QuadraticPosterior.from_prior(model.prior)
    logits = keras.ops.convert_to_numpy(posterior.logits(model.latent_mean(validation)))
    top_two = np.sort(logits, axis=1)[:, -2:]
    margins = top_two[:, 1] - top_two[:, 0]
    model_bytes, _, _ = micro.convert_int8(model, calibration, 99.99)
    runner = litert.TFLiteRunner(model_bytes)
    int8 = micro.MicroRunner(model_bytes, (runner.input, runner.output))(validation).argmax(axis=1)
    differs = int8 != logits.argmax(axis=1)
    quantiles = [0.05, 0.1, 0.25, 0.5]
    result = {"clips": len(validation), "differing_clips": int(differs.sum()),
              "margin_of_differing_clips": sorted(float(value) for value in margins[differs]),
              "margin_quantiles_all_clips": {str(q): float(np.quantile(margins, q)) for q in quantiles},
              "clips_with_margin_below_1": int(np.sum(margins < 1.0)),
              "clips_with_margin_below_2": int(np.sum(margins < 2.0)),
              "logit_range": [float(logits.min()), float(logits.max())]}
    print(json.dumps(result, indent=2))
    with open(args.json, "w") as handle:
        json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
