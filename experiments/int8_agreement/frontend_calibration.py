"""Issue 41: calibrate the int8 encoder behind the TFLite Micro front end on the pipeline's or the front end's features?

The first design of the `tflm-audio` front end took the window alone (kept here; the product's now also takes the
recorded length). Each FSDD clip's window (zero-padded as the pipeline pads it) goes through it in TFLite Micro,
then through the int8 encoder in TFLite Micro, calibrated either way on the same 400 training windows; the clusters
are compared with the Keras model given the same samples. Split: validation (or as given).

    python experiments/int8_agreement/frontend_calibration.py MODEL.keras [--split validation] --json OUT.json
"""

import argparse
import json

import keras
import numpy as np

from keras_uvac import datasets, export, pipeline
from keras_uvac.export import litert, micro
from keras_uvac.features import AudioFeatures


def windows(collection, config):
    return np.stack([waveform for waveform, _ in pipeline.waveform_dataset(collection, config).as_numpy_iterator()])


def window_only_frontend(config, windows):
    """The first design's front end, the window alone (no recorded length), run in TFLite Micro."""
    from tflite_micro.python.tflite_micro import runtime

    inputs = keras.Input(shape=(config.num_samples,), batch_size=1)
    model_bytes = litert.convert_tflite(keras.Model(inputs, AudioFeatures(config, dft="matrix")(inputs)))
    interpreter = runtime.Interpreter.from_bytes(model_bytes)
    features = []
    for window in windows:
        interpreter.set_input(window[None].astype(np.float32), 0)
        interpreter.invoke()
        features.append(np.array(interpreter.get_output(0)[0]))
        interpreter.reset()
    return np.stack(features)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    model = keras.saving.load_model(args.model)
    config = model.feature_config_object()
    splits = datasets.load_audio().split("random", seed=0)
    calibration_clips = export.representative_subset_collection(splits["train"])
    calibration_windows, check = windows(calibration_clips, config), windows(splits[args.split], config)
    layer = AudioFeatures(config)
    calibrations = {
        "pipeline features (true lengths)": pipeline.extract_features(calibration_clips, config,
                                                                      progress=False)["spectrogram"],
        "front end features (windows as recorded)": np.concatenate([
            keras.ops.convert_to_numpy(layer(calibration_windows[start:start + 100]))
            for start in range(0, len(calibration_windows), 100)])}
    device_features = window_only_frontend(config, check)
    reference = keras.ops.convert_to_numpy(model({"waveform": check, "length": np.full(len(check), check.shape[1])}))
    result = {"model": args.model, "split": args.split, "clips": len(check), "agreement": {}}
    for name, features in calibrations.items():
        _, probabilities = micro.export_int8(model, "/tmp/frontend_calibration.tflite", features, device_features,
                                             99.99)
        result["agreement"][name] = float(np.mean(probabilities.argmax(axis=1) == reference.argmax(axis=1)))
        print(name, result["agreement"][name], flush=True)
    with open(args.json, "w") as handle:
        json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
