"""Issue 41: the int8 posterior alone, simulated in NumPy on the shipped model's validation codes.

z rounded to an int8 step over its calibrated range, the logit weights rounded per tensor or per output channel:
how many clusters change, and by how much the logits move.

    python experiments/int8_agreement/posterior_simulation.py
"""

import numpy as np
from shipped import shipped_model_and_features

from keras_uvac.export import graph


def main():
    model, _, calibration, validation = shipped_model_and_features()
    posterior = graph.QuadraticPosterior.from_prior(model.prior)
    weights, bias = [np.asarray(weight, np.float64) for weight in posterior.linear.get_weights()]
    codes_calibration = model.latent_mean(calibration).astype(np.float64)
    codes = model.latent_mean(validation).astype(np.float64)
    logits = codes @ weights + bias
    low, high = codes_calibration.min(), codes_calibration.max()
    code_step = (high - low) / 255
    rounded_codes = np.round((codes - low) / code_step) * code_step + low
    tensor_step = np.abs(weights).max() / 127
    channel_step = np.abs(weights).max(axis=0) / 127
    print(f"z range {low:.3f}..{high:.3f}, int8 step {code_step:.4f}; weights up to {np.abs(weights).max():.1f}")
    for name, these_codes, these_weights in [
            ("z int8", rounded_codes, weights),
            ("weights per tensor", codes, np.round(weights / tensor_step) * tensor_step),
            ("weights per channel", codes, np.round(weights / channel_step) * channel_step),
            ("z and weights per tensor", rounded_codes, np.round(weights / tensor_step) * tensor_step)]:
        moved = these_codes @ these_weights + bias
        print(f"{name}: {int(np.sum(moved.argmax(1) != logits.argmax(1)))} of {len(codes)} clusters change, "
              f"logits move by at most {np.abs(moved - logits).max():.2f}")


if __name__ == "__main__":
    main()
