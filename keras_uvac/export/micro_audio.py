"""Raw samples to cluster in TensorFlow Lite for Microcontrollers: the `tflm-audio` target.

A microcontroller has microphone samples, not spectrograms. This target writes
two models that TFLite Micro's own interpreter runs one after the other:

- the front end, `<stem>_frontend.tflite`: one second (the model's window) of
  samples to the features, float32. It is `features.AudioFeatures`, the
  pipeline's own layer, in its matrix form (frames by strided slices, one
  fully connected product with the windowed DFT rows, square roots, the noise
  floor and the min-max scaling): builtin operators that TFLite Micro
  implements in float, for parts with a floating-point unit (Cortex-M4F/M7).
  Float because the features' dynamic range (quiet formants beside the peak,
  each clip scaled by its own maximum) would be what int8 rounds away first.
- the encoder and posterior, `<stem>.tflite`: the `tflite-int8` export,
  calibrated as that one is, whose int8 input the features are quantised to.

The check runs both in TFLite Micro on every test window and compares the
clusters with the Keras model given the same samples. Each model gets its C
source/header pair; `<stem>_audio_example.h` holds one window of samples and
the cluster TFLite Micro gave it (`examples/tflm/uvac_cluster_audio.cc`).
"""

import os

import keras
import numpy as np

from keras_uvac.atomic import atomic_path
from keras_uvac.export import litert, micro
from keras_uvac.features import AudioFeatures


def frontend_model(feature_config):
    """The front end as a functional model: `(1, num_samples)` waveform to `(1, num_bins, num_frames)` features.

    Every sample of the window counts as recorded audio (a microphone's stream has no padding).

    Args:
        feature_config: the model's `features.FeatureConfig`.

    Returns:
        A `keras.Model`.

    Example:
    >>> frontend_model(FeatureConfig()).output.shape
    (1, 128, 99)
    """
    inputs = keras.Input(shape=(feature_config.num_samples,), batch_size=1, name="waveform")
    return keras.Model(inputs, AudioFeatures(feature_config, dft="matrix", name="features")(inputs),
                       name="uvac_frontend")


def frontend_macs(feature_config):
    """Multiply-accumulates of the front end per window: the DFT product, which is nearly all of its work.

    The elementwise steps (square roots, noise floor, scaling) add a few per feature value, under 1% more.

    Example:
    >>> frontend_macs(FeatureConfig())
    8110080
    """
    config = feature_config
    return config.num_frames * config.frame_length * 2 * config.num_bins


class FrontendRunner:
    """Runs the float front end in TFLite Micro's interpreter: waveforms `(N, num_samples)` to features.

    Args:
        model_bytes: the front end's flatbuffer.
    """

    def __init__(self, model_bytes):
        from tflite_micro.python.tflite_micro import runtime

        self.interpreter = runtime.Interpreter.from_bytes(model_bytes)

    def __call__(self, waveforms):
        features = []
        for waveform in waveforms:
            self.interpreter.set_input(waveform[None].astype(np.float32), 0)
            self.interpreter.invoke()
            features.append(np.array(self.interpreter.get_output(0)[0]))
            self.interpreter.reset()
        return np.stack(features)


def export_audio_int8(model, path, calibration_waveforms, check_inputs, activation_percentile=99.99, **options):
    """Float front end plus full-int8 encoder, both run in TFLite Micro on the waveforms `check_inputs`.

    The encoder is calibrated on the front end's features of `calibration_waveforms` (training windows), the
    distribution its int8 input will see: a window's padding counts as recorded audio there, which lowers the
    noise floor of short clips (calibrated on the pipeline's features instead, the shipped model agreed on 85%
    of the FSDD test windows, not 96%).

    Writes `path` (the int8 encoder, with its `.cc`/`.h` and example as `tflite-int8` does),
    `<stem>_frontend.tflite` with `<stem>_frontend.cc`/`.h`, and `<stem>_audio_example.h`.

    Returns:
        `(report fields, probabilities on check_inputs)`; the fields are the int8 export's, with the front
        end's under `frontend` (bytes, arena, operators, MACs) and the encoder's MACs.
    """
    config = model.feature_config_object()
    frontend_bytes = litert.convert_tflite(frontend_model(config))
    stem = os.path.splitext(str(path))[0]
    frontend_path = stem + "_frontend.tflite"
    with atomic_path(frontend_path) as temporary, open(temporary, "wb") as handle:
        handle.write(frontend_bytes)
    device_features = FrontendRunner(frontend_bytes)(check_inputs)
    features = AudioFeatures(config)
    calibration_features = np.concatenate([
        keras.ops.convert_to_numpy(features(calibration_waveforms[start:start + 100]))
        for start in range(0, len(calibration_waveforms), 100)])
    fields, probabilities = micro.export_int8(model, path, calibration_features, device_features,
                                              activation_percentile, **options)
    example_window = check_inputs[0].astype(np.float32)
    arena_bytes = micro.required_arena_bytes(frontend_bytes, example_window[None])
    constants = {"UVAC_FRONTEND_SAMPLES": config.num_samples, "UVAC_FRONTEND_SAMPLE_RATE": config.sample_rate,
                 "UVAC_FRONTEND_ARENA_BYTES": arena_bytes}
    c_files = micro.write_c_array(frontend_bytes, stem + "_frontend.cc", name="uvac_frontend", constants=constants,
                                 description="UVAC front end, float32 samples to features")
    c_files += (_write_audio_example(stem + "_audio_example.h", example_window, int(probabilities[0].argmax())),)
    fields["frontend"] = {"path": frontend_path, "bytes": len(frontend_bytes), "arena_bytes": arena_bytes,
                          "operators": litert.TFLiteRunner(frontend_bytes).operators(), "dtype": "float32",
                          "macs": frontend_macs(config)}
    fields["encoder_macs"] = model.inference_macs()
    fields["c_files"] = fields["c_files"] + list(c_files)
    return fields, probabilities


def _write_audio_example(path, window, cluster):
    text = ("#ifndef UVAC_AUDIO_EXAMPLE_H_\n#define UVAC_AUDIO_EXAMPLE_H_\n\n// One window of a test clip's samples "
            "and the cluster TFLite Micro gave it at export\n// (front end, then the int8 encoder).\n"
            f"#define UVAC_AUDIO_EXAMPLE_CLUSTER {cluster}\n"
            f"static const float uvac_audio_example_samples[{window.size}] = {{\n  "
            f"{micro.c_rows([float(value) for value in window], '{!r}f')}\n}};\n\n#endif  // UVAC_AUDIO_EXAMPLE_H_\n")
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        handle.write(text)
    return path
