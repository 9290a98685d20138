"""Raw samples to cluster in TensorFlow Lite for Microcontrollers: the `tflm-audio` target.

A microcontroller has microphone samples, not spectrograms. This target writes
two models that TFLite Micro's own interpreter runs one after the other:

- the front end, `<stem>_frontend.tflite`: a window of samples (the model's
  duration) and the number of them that are recorded audio, to the features,
  float32. It is `features.AudioFeatures`, the pipeline's own layer, in its
  matrix form (frames by strided slices, one fully connected product with the
  windowed DFT rows, square roots, the noise floor taken from recorded frames
  only, and the min-max scaling): builtin operators that TFLite Micro
  implements in float, for parts with a floating-point unit (Cortex-M4F/M7).
  A microphone's stream passes the whole window's length; a clip shorter than
  the window, zero-padded, passes its own, and gets the pipeline's features.
  Float because each clip is scaled by its own peak, so quiet formants sit a
  few int8 steps above zero.
- the encoder and posterior, `<stem>.tflite`: the `tflite-int8` export,
  calibrated as that one is, whose int8 input the features are quantised to.

The check runs both in TFLite Micro on every test window and compares the
clusters with the Keras model given the same samples and lengths. Each model
gets its C source/header pair; `<stem>_audio_example.h` holds one window of
samples, its length and the cluster TFLite Micro gave it
(`examples/tflm/uvac_cluster_audio.cc`).
"""

import os

import keras
import numpy as np

from keras_uvac.atomic import atomic_path
from keras_uvac.export import litert, micro
from keras_uvac.features import AudioFeatures


def frontend_model(feature_config):
    """The front end as a functional model: a `(1, num_samples)` window and its `(1,)` recorded length to features.

    Args:
        feature_config: the model's `features.FeatureConfig`.

    Returns:
        A `keras.Model` of inputs `[waveform, length]` and output `(1, num_bins, num_frames)`.

    Example:
    >>> from keras_uvac.features import FeatureConfig
    >>> frontend_model(FeatureConfig()).output.shape
    (1, 128, 99)
    """
    waveform = keras.Input(shape=(feature_config.num_samples,), batch_size=1, name="waveform")
    length = keras.Input(shape=(), batch_size=1, name="length", dtype="int32")
    features = AudioFeatures(feature_config, dft="matrix", name="features")({"waveform": waveform, "length": length})
    return keras.Model([waveform, length], features["spectrogram"], name="uvac_frontend")


def convert_frontend(feature_config):
    """The front end as a float32 TFLite flatbuffer, builtin operators only."""
    return litert.convert_tflite(frontend_model(feature_config))


def frontend_macs(feature_config):
    """Multiply-accumulates of the front end per window: the DFT product, which is nearly all of its work.

    The elementwise steps (square roots, noise floor, scaling) add a few per feature value, under 1% more.

    Example:
    >>> from keras_uvac.features import FeatureConfig
    >>> frontend_macs(FeatureConfig())
    8110080
    """
    config = feature_config
    return config.num_frames * config.frame_length * 2 * config.num_bins


class FrontendRunner:
    """Runs the float front end in TFLite Micro's interpreter: windows `(N, num_samples)` and lengths to features.

    Args:
        model_bytes: the front end's flatbuffer (`convert_frontend`).
    """

    def __init__(self, model_bytes):
        from tflite_micro.python.tflite_micro import runtime

        self.interpreter = runtime.Interpreter.from_bytes(model_bytes)
        # The flatbuffer's input order, read from its float (samples) and integer (length) inputs.
        details = litert.TFLiteRunner(model_bytes).interpreter.get_input_details()
        self.waveform_index = next(index for index, detail in enumerate(details) if detail["dtype"] == np.float32)
        self.length_index = 1 - self.waveform_index

    def __call__(self, waveforms, lengths):
        features = []
        for waveform, length in zip(waveforms, lengths):
            self.interpreter.set_input(waveform[None].astype(np.float32), self.waveform_index)
            self.interpreter.set_input(np.array([length], np.int32), self.length_index)
            self.interpreter.invoke()
            features.append(np.array(self.interpreter.get_output(0)[0]))
            self.interpreter.reset()
        return np.stack(features)


def export_audio_int8(model, path, calibration_features, check_inputs, activation_percentile=99.99, **options):
    """Float front end plus full-int8 encoder, both run in TFLite Micro on the windows of `check_inputs`.

    Writes `path` (the int8 encoder, with its `.cc`/`.h` and example as `tflite-int8` does),
    `<stem>_frontend.tflite` with `<stem>_frontend.cc`/`.h`, and `<stem>_audio_example.h`.

    Args:
        calibration_features: the pipeline's features of training clips, for the encoder's int8 calibration.
        check_inputs: `{"waveform": (M, num_samples), "length": (M,)}`, test windows and their recorded lengths.

    Returns:
        `(report fields, probabilities on check_inputs)`; the fields are the int8 export's, with the front
        end's under `frontend` (bytes, arena, operators, MACs) and the encoder's MACs.
    """
    config = model.feature_config_object()
    frontend_bytes = convert_frontend(config)
    stem = os.path.splitext(str(path))[0]
    frontend_path = stem + "_frontend.tflite"
    with atomic_path(frontend_path) as temporary, open(temporary, "wb") as handle:
        handle.write(frontend_bytes)
    runner = FrontendRunner(frontend_bytes)
    waveforms, lengths = check_inputs["waveform"], check_inputs["length"]
    fields, probabilities = micro.export_int8(model, path, calibration_features, runner(waveforms, lengths),
                                              activation_percentile, **options)
    arena_bytes = _frontend_arena_bytes(runner, frontend_bytes, waveforms[0], lengths[0])
    constants = {"UVAC_FRONTEND_SAMPLES": config.num_samples, "UVAC_FRONTEND_SAMPLE_RATE": config.sample_rate,
                 "UVAC_FRONTEND_ARENA_BYTES": arena_bytes}
    c_files = micro.write_c_array(frontend_bytes, stem + "_frontend.cc", name="uvac_frontend", constants=constants,
                                  description="UVAC front end, float32 samples to features")
    c_files += (_write_audio_example(stem + "_audio_example.h", waveforms[0].astype(np.float32), int(lengths[0]),
                                     int(probabilities[0].argmax())),)
    fields["frontend"] = {"path": frontend_path, "bytes": len(frontend_bytes), "arena_bytes": arena_bytes,
                          "operators": litert.TFLiteRunner(frontend_bytes).operators(), "dtype": "float32",
                          "macs": frontend_macs(config)}
    fields["encoder_macs"] = model.inference_macs()
    fields["c_files"] = fields["c_files"] + list(c_files)
    return fields, probabilities


def _frontend_arena_bytes(runner, frontend_bytes, waveform, length):
    inputs = [None, None]
    inputs[runner.waveform_index] = waveform[None].astype(np.float32)
    inputs[runner.length_index] = np.array([length], np.int32)
    return micro.required_arena_bytes(frontend_bytes, inputs)


def _write_audio_example(path, window, length, cluster):
    text = ("#ifndef UVAC_AUDIO_EXAMPLE_H_\n#define UVAC_AUDIO_EXAMPLE_H_\n\n// One window of a test clip's samples "
            "(the first LENGTH recorded, the rest zero padding)\n// and the cluster TFLite Micro gave it at export "
            "(front end, then the int8 encoder).\n"
            f"#define UVAC_AUDIO_EXAMPLE_LENGTH {length}\n#define UVAC_AUDIO_EXAMPLE_CLUSTER {cluster}\n"
            f"static const float uvac_audio_example_samples[{window.size}] = {{\n  "
            f"{micro.c_rows([float(value) for value in window], '{!r}f')}\n}};\n\n#endif  // UVAC_AUDIO_EXAMPLE_H_\n")
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        handle.write(text)
    return path
