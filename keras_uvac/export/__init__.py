"""Export: the inference half of UVAC for microcontrollers, phones and ONNX runtimes.

One module per target; each has one function `(model, path, calibration_features,
check_inputs, **options) -> (report fields, probabilities)` that writes the file
and runs it in the target's own runtime. `TARGETS` maps format names to them, so
a new target is one new module and one entry here.

Formats:

- `tflite-int8` (`micro`): full-integer TFLite (int8 weights, activations,
  input and output; builtin operators only), calibrated on real features,
  checked in the TFLite Micro interpreter, with a C source/header pair.
- `tflite` (`litert`): float LiteRT, run with the ai-edge-litert interpreter.
- `tflite-audio` (`litert`): float LiteRT that takes the padded waveform and
  computes the features inside (for phones and desktops).
- `tflm-audio` (`micro_audio`): raw samples to cluster in TFLite Micro: a
  float front end (the features) then the `tflite-int8` encoder, both checked
  in TFLite Micro's interpreter, with C files for both.
- `onnx` (`onnx_format`): through tf2onnx, run with onnxruntime.

The graph they share (encoder plus the GMM posterior as dense layers) is in
`graph`.
"""

import importlib.util
import os

import keras
import numpy as np

from keras_uvac.export import litert, micro, micro_audio, onnx_format
from keras_uvac.export.graph import (
    QuadraticPosterior,
    calibrated_activation_limits,
    calibrated_floor,
    inference_model,
)
from keras_uvac.export.litert import TFLiteRunner, convert_tflite, dequantize, quantize
from keras_uvac.export.micro import MicroRunner, representative_subset, required_arena_bytes, write_c_array
from keras_uvac.export.onnx_format import convert_onnx

TARGETS = {"tflite-int8": micro.export_int8, "tflite": litert.export_float, "onnx": onnx_format.export_onnx,
           "tflite-audio": litert.export_audio, "tflm-audio": micro_audio.export_audio_int8}
FORMATS = tuple(TARGETS)
# What each format runs its check in, and the extra that installs it.
RUNTIMES = {"tflite-int8": ("tflite_micro", "ai_edge_litert"), "tflite": ("ai_edge_litert",),
            "tflite-audio": ("ai_edge_litert",), "tflm-audio": ("tflite_micro", "ai_edge_litert"),
            "onnx": ("tf2onnx", "onnxruntime")}
# The formats whose model takes the window's samples rather than its features.
WAVEFORM_FORMATS = ("tflite-audio", "tflm-audio")

__all__ = ["COMPACT_PERCENTILES", "FORMATS", "MicroRunner", "QuadraticPosterior", "TARGETS", "TFLiteRunner",
           "WAVEFORM_FORMATS", "agreement", "calibrated_activation_limits", "calibrated_floor", "convert_onnx",
           "convert_tflite", "default_percentile", "dequantize", "export", "export_with_data", "float_model_bytes",
           "format_size", "inference_model", "quantize", "representative_subset", "representative_subset_collection",
           "require_runtimes", "required_arena_bytes", "write_c_array"]


def agreement(reference, candidate):
    """Share of clips with the same most probable cluster, and the largest probability gap."""
    same = float(np.mean(reference.argmax(axis=1) == candidate.argmax(axis=1)))
    return same, float(np.max(np.abs(reference - candidate)))


def representative_subset_collection(collection, count=400, seed=0):
    """A seeded sample of a collection's clips, for int8 calibration."""
    return collection.subset(micro.sample_indices(len(collection), count, seed))


def require_runtimes(export_format):
    """Raises a clear error, before any work, when the packages a format's export and check need are missing.

    Example:
    >>> require_runtimes("tflite")  # doctest: +SKIP
    """
    missing = [name for name in RUNTIMES[export_format] if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(f"uvac export --format {export_format} needs {', '.join(missing)}: install the "
                                  "export extra, pip install 'keras-uvac[export]'")


# The int8 activation percentiles tried for the compact encoders (None: plain ReLUs, fused: the smallest arena).
COMPACT_PERCENTILES = (None, 99.99, 99.9, 99.5)


def default_percentile(model):
    """The int8 activation percentile `export` uses unless told.

    99.99 for the paper's encoder, where the limits were measured to matter;
    for the compact encoders ("same" padding), `COMPACT_PERCENTILES`, of which
    the export keeps the one that agrees best with Keras on the calibration
    clips (see `micro`).
    """
    return 99.99 if model.encoder_padding == "paper" else COMPACT_PERCENTILES


def export_with_data(model, export_format, path, train_collection, test_collection, activation_percentile="auto"):
    """`export` with its data prepared from collections: calibration from training clips, the check on test clips.

    Args:
        model: a trained `UVAC`.
        export_format: one of `FORMATS`.
        path: the file to write.
        train_collection: clips for int8 calibration (a seeded 400 of them).
        test_collection: clips on which the export is compared with Keras.
        activation_percentile: see `export`.

    Returns:
        `export`'s report, with the float32 inference weights' size added.

    Example:
    >>> report = export_with_data(model, "tflite", "m.tflite", splits["train"], splits["test"])  # doctest: +SKIP
    """
    from keras_uvac import pipeline

    config = model.feature_config_object()
    calibration = pipeline.extract_features(representative_subset_collection(train_collection), config,
                                            progress=False)["spectrogram"]
    if export_format in WAVEFORM_FORMATS:
        windows = list(pipeline.waveform_dataset(test_collection, config).as_numpy_iterator())
        check = {"waveform": np.stack([window for window, _ in windows]),
                 "length": np.array([length for _, length in windows])}
        if export_format == "tflite-audio":  # its graph takes whole windows
            check = check["waveform"]
    else:
        check = pipeline.extract_features(test_collection, config, progress=False)["spectrogram"]
    report = export(model, export_format, path, calibration, check, activation_percentile)
    report["keras_float32_inference_weights_bytes"] = float_model_bytes(model)
    return report


def export(model, export_format, path, calibration_features, check_inputs, activation_percentile="auto"):
    """Exports `model` in one format, runs the result in its runtime, and reports on it.

    Args:
        model: a trained `UVAC`.
        export_format: one of `FORMATS`.
        path: the file to write (`.tflite` or `.onnx`); int8 also writes
            `<path stem>.cc` and `.h`.
        calibration_features: `(N, bins, frames)` real features (training
            split) for int8 calibration.
        check_inputs: `(M, bins, frames)` features (test split) on which the
            export is compared with the Keras model; waveforms `(M,
            samples)` for `tflite-audio`; `{"waveform", "length"}` (the
            windows and their recorded samples) for `tflm-audio`.
        activation_percentile: int8 only: each convolution block's ReLU
            saturates at this percentile of its calibration activations (see
            `micro`); None: plain ReLUs; a list: the best of them on the
            calibration clips; `"auto"`: `default_percentile(model)`.

    Returns:
        A dict: `format`, `path`, `bytes`, `operators`, `interpreter`,
        `cluster_agreement`, `max_probability_difference`, `clips_checked`,
        and for int8 `arena_bytes`, `c_files` and the calibration used;
        `tflm-audio` adds `frontend` and `encoder_macs`.

    Example:
    >>> report = export(model, "tflite-int8", "uvac_int8.tflite", train_x, test_x)  # doctest: +SKIP
    """
    if export_format not in TARGETS:
        raise ValueError(f"export format must be one of {FORMATS}, got {export_format!r}")
    if activation_percentile == "auto":
        activation_percentile = default_percentile(model)
    if export_format == "tflite-audio":
        # The model computes the features of whole padded clips itself, with the export's own layer.
        check = {"waveform": check_inputs, "length": np.full(len(check_inputs), check_inputs.shape[1])}
    else:
        check = check_inputs
    reference = keras.ops.convert_to_numpy(model(check))
    fields, candidate = TARGETS[export_format](model, path, calibration_features, check_inputs,
                                               activation_percentile=activation_percentile)
    report = {"format": export_format, "path": str(path), "logit_floor": None, "activation_percentile": None,
              "activation_limits": None, **fields}
    report["bytes"] = os.path.getsize(path)
    report["cluster_agreement"], report["max_probability_difference"] = agreement(reference, candidate)
    report["clips_checked"] = len(candidate)
    return report


def float_model_bytes(model):
    """Bytes of the float32 weights used at inference (encoder and prior)."""
    return 4 * int(model.encoder.count_params() + model.prior.count_params())


def format_size(num_bytes):
    """`num_bytes` in KiB or MiB, for people."""
    return f"{num_bytes / 1024:.0f} KiB" if num_bytes < 2**20 else f"{num_bytes / 2**20:.2f} MiB"
