"""Issue 41: after which block of the encoder does the int8 graph drift from Keras?

Each stage of the exported encoder (after each convolution block, after each GRU, z) becomes its own model,
converted to int8 with the same calibration clips and run in LiteRT on validation clips; its output's RMSE is
reported relative to the float output's standard deviation.

    python experiments/int8_agreement/block_drift.py --clips 100 --json experiments/int8_agreement/block_drift.json
"""

import argparse
import json

import keras
import numpy as np
from keras import ops
from shipped import shipped_model_and_features

from keras_uvac.export import graph, litert


def stages(encoder, inputs):
    """`{name: tensor}` after each convolution block, each GRU, and z, on the functional `inputs`."""
    outputs, hidden, block = {}, inputs[..., None], 0
    for layer in encoder.convolutions:
        hidden = layer(hidden)
        if isinstance(layer, keras.layers.ReLU):
            outputs[f"convolution block {block}"] = hidden
            block += 1
    rows, frames, width = encoder._grid
    hidden = ops.reshape(ops.transpose(hidden, (0, 2, 1, 3)), (-1, frames, rows * width))
    for index, layer in enumerate(encoder.recurrent):
        hidden = layer(hidden)
        outputs[f"GRU {index}"] = hidden
    kernel, bias = encoder.to_moments.kernel, encoder.to_moments.bias
    outputs["z"] = ops.matmul(hidden, kernel[:, :encoder.latent_dim]) + bias[:encoder.latent_dim]
    return outputs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    model, _, calibration, validation = shipped_model_and_features(args.clips)
    limits = graph.calibrated_activation_limits(model, calibration, 99.99)
    encoder = graph.inference_model(model, activation_limits=limits).get_layer("encoder")
    inputs = keras.Input((model.num_bins, model.num_frames), batch_size=1)
    result = {}
    for name, tensor in stages(encoder, inputs).items():
        stage = keras.Model(inputs, tensor)
        expected = np.concatenate([keras.ops.convert_to_numpy(stage(clip[None])) for clip in validation])
        int8 = litert.TFLiteRunner(litert.convert_tflite(stage, calibration))(validation).reshape(expected.shape)
        result[name] = {"relative_rmse": float(np.sqrt(np.mean((int8 - expected) ** 2)) / expected.std())}
        print(name, result[name], flush=True)
    with open(args.json, "w") as handle:
        json.dump({"what": f"int8 vs float output of each encoder stage, {args.clips} FSDD validation clips",
                   "stages": result}, handle, indent=2)


if __name__ == "__main__":
    main()
