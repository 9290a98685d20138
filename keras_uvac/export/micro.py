"""Full-int8 TFLite checked in TensorFlow Lite for Microcontrollers: the `tflite-int8` target.

The convolution blocks' ReLUs saturate at a percentile (99.99 by default) of
their calibration activations: their largest values are rare outliers (about
twice that percentile), and an int8 scale stretched to cover them left too few
levels for the rest (on an earlier shipped model, 82% of test clips kept their
Keras cluster in TFLite Micro without the limits, 99.3% with them). With no
percentile (None) the ReLUs are plain and fuse into the convolutions, which
saves the arena a tensor per block. For the compact encoders the export tries
both and keeps what agrees best on the calibration clips: a distilled tiny
encoder kept 90% of its test clusters with plain ReLUs and 98% with limits at
the 99.9th percentile.
"""

import os
import re
import sys
import tempfile

import keras
import numpy as np

from keras_uvac.atomic import atomic_path
from keras_uvac.export import graph, litert
from keras_uvac.export.litert import dequantize, quantize


class MicroRunner:
    """Runs an int8 TFLite model in TensorFlow Lite for Microcontrollers' own interpreter.

    The `tflite-micro` package wraps the C++ interpreter and its operator
    registry: a model with an operator TFLM lacks fails to load here.

    Args:
        model_bytes: the int8 flatbuffer.
        io_details: input and output quantisation from `TFLiteRunner`.
    """

    def __init__(self, model_bytes, io_details):
        from tflite_micro.python.tflite_micro import runtime

        self.interpreter = runtime.Interpreter.from_bytes(model_bytes)
        self.input, self.output = io_details

    def __call__(self, batch):
        outputs = []
        for example in batch:
            self.interpreter.set_input(quantize(example[None], self.input), 0)
            self.interpreter.invoke()
            outputs.append(dequantize(self.interpreter.get_output(0), self.output)[0])
            self.interpreter.reset()
        return np.stack(outputs)


def required_arena_bytes(model_bytes, example_input):
    """The TFLite Micro tensor arena the model uses, in bytes.

    TFLite Micro's recording allocator reports what it used after one
    invocation on `example_input` (already quantised; a list for a model of
    several inputs) in a generous arena.
    (Searching for the smallest arena that runs instead crashes the
    interpreter on some too-small arenas.) Boards add a little for alignment.

    Returns:
        The arena size in bytes.
    """
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model_bytes, arena_size=16 * len(model_bytes) + (4 << 20))
    for index, values in enumerate(example_input if isinstance(example_input, list) else [example_input]):
        interpreter.set_input(values, index)
    interpreter.invoke()
    report = _captured_output(interpreter.print_allocations)
    match = re.search(r"Arena allocation total (\d+) bytes", report)
    if not match:
        raise RuntimeError(f"TFLite Micro did not report its arena use: {report[:200]!r}")
    return int(match.group(1))


def _captured_output(function):
    """What `function` prints on file descriptors 1 and 2 (C code's output included)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {descriptor: os.dup(descriptor) for descriptor in (1, 2)}
    with tempfile.TemporaryFile(mode="w+b") as capture:
        for descriptor in saved:
            os.dup2(capture.fileno(), descriptor)
        try:
            function()
        finally:
            for descriptor, original in saved.items():
                os.dup2(original, descriptor)
                os.close(original)
        capture.seek(0)
        return capture.read().decode(errors="replace")


def write_c_array(model_bytes, path, name="uvac_model", constants=None, example=None,
                  description="UVAC encoder + GMM posterior, int8"):
    """Writes a C source and header holding the model bytes (aligned for TFLM), for firmware to compile in.

    Args:
        model_bytes: the flatbuffer.
        path: the `.cc` file; the `.h` goes beside it.
        name: the C array's name.
        constants: `{macro name: number}` for the header (input shape,
            quantisation, arena size), or None.
        example: None, or `(int8 input, expected cluster)` of one clip,
            written to `<stem>_example.h` for a self-checking example
            (`examples/tflm/`).
        description: what the model is, for the header's first comment.

    Returns:
        The paths written: `(source, header)`, plus the example header.

    Example:
    >>> write_c_array(model_bytes, "uvac_int8.cc")  # doctest: +SKIP
    ('uvac_int8.cc', 'uvac_int8.h')
    """
    stem = os.path.splitext(path)[0]
    header_path = stem + ".h"
    guard = name.upper() + "_H_"
    macros = "".join(f"#define {key} {value!r}\n" for key, value in (constants or {}).items())
    files = {
        path: (f'#include "{os.path.basename(header_path)}"\n\n'
               f"alignas(16) const unsigned char {name}[] = {{\n  {c_rows(model_bytes, '0x{:02x}')}\n}};\n"
               f"const unsigned int {name}_len = {len(model_bytes)};\n"),
        header_path: (f"#ifndef {guard}\n#define {guard}\n\n// keras_uvac export: {description}."
                      f"\n{macros}\nextern const unsigned char {name}[];\nextern const unsigned int {name}_len;"
                      f"\n\n#endif  // {guard}\n"),
    }
    if example is not None:
        values, cluster = example
        example_guard = name.upper() + "_EXAMPLE_H_"
        files[stem + "_example.h"] = (
            f"#ifndef {example_guard}\n#define {example_guard}\n\n// One quantised test clip and the cluster "
            f"TFLite Micro gave it at export.\n#define {name.upper()}_EXAMPLE_CLUSTER {int(cluster)}\n"
            f"static const signed char {name}_example_input[{values.size}] = {{\n  "
            f"{c_rows(values.ravel().tolist(), '{}')}\n}};\n\n#endif  // {example_guard}\n")
    for target, text in files.items():
        with atomic_path(target) as temporary, open(temporary, "w") as handle:
            handle.write(text)
    return tuple(files)


def c_rows(values, item_format, per_row=12):
    """`values` formatted as the rows of a C array initialiser."""
    return ",\n  ".join(", ".join(item_format.format(value) for value in values[start:start + per_row])
                         for start in range(0, len(values), per_row))


def convert_int8(model, calibration_features, activation_percentile):
    """The full-int8 flatbuffer, its activation limits and logit floor, calibrated on `calibration_features`."""
    logit_floor = graph.calibrated_floor(model, calibration_features)
    activation_limits = (None if activation_percentile is None
                         else graph.calibrated_activation_limits(model, calibration_features, activation_percentile))
    export_model = graph.inference_model(model, logit_floor=logit_floor, activation_limits=activation_limits)
    return litert.convert_tflite(export_model, representative_subset(calibration_features)), activation_limits, \
        logit_floor


def export_int8(model, path, calibration_features, check_inputs, activation_percentile=99.99, **options):
    """Full-integer TFLite, calibrated on `calibration_features`, run in TFLite Micro on `check_inputs`.

    Also writes `<path stem>.cc` and `.h` with the model bytes.

    Args:
        activation_percentile: a percentile, None (plain ReLUs), or a list of
            them: each is converted, and the one whose TFLite Micro clusters
            agree best with Keras on the calibration clips (training data,
            never `check_inputs`) is kept.

    Returns:
        `(report fields, probabilities on check_inputs)`.
    """
    del options
    search = {}
    if isinstance(activation_percentile, (list, tuple)):
        reference = keras.ops.convert_to_numpy(model(calibration_features)).argmax(axis=1)
        conversions = {}
        for candidate in activation_percentile:
            conversions[candidate] = convert_int8(model, calibration_features, candidate)
            runner = litert.TFLiteRunner(conversions[candidate][0])
            clusters = MicroRunner(conversions[candidate][0], (runner.input, runner.output))(calibration_features)
            search[str(candidate)] = float(np.mean(clusters.argmax(axis=1) == reference))
        activation_percentile = activation_percentile[int(np.argmax(list(search.values())))]
        model_bytes, activation_limits, logit_floor = conversions[activation_percentile]
    else:
        model_bytes, activation_limits, logit_floor = convert_int8(model, calibration_features, activation_percentile)
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        handle.write(model_bytes)
    runner = litert.TFLiteRunner(model_bytes)
    probabilities = MicroRunner(model_bytes, (runner.input, runner.output))(check_inputs)
    example_input = quantize(check_inputs[:1], runner.input)
    arena_bytes = required_arena_bytes(model_bytes, example_input)
    (input_scale, input_zero_point), (output_scale, output_zero_point) = (runner.input["quantization"],
                                                                          runner.output["quantization"])
    constants = {"UVAC_INPUT_BINS": model.num_bins, "UVAC_INPUT_FRAMES": model.num_frames,
                 "UVAC_NUM_CLUSTERS": model.num_clusters, "UVAC_INPUT_SCALE": float(input_scale),
                 "UVAC_INPUT_ZERO_POINT": int(input_zero_point), "UVAC_OUTPUT_SCALE": float(output_scale),
                 "UVAC_OUTPUT_ZERO_POINT": int(output_zero_point), "UVAC_ARENA_BYTES": arena_bytes}
    c_files = write_c_array(model_bytes, os.path.splitext(str(path))[0] + ".cc", constants=constants,
                            example=(example_input, int(probabilities[0].argmax())))
    report = {"logit_floor": logit_floor, "activation_percentile": activation_percentile,
              "activation_limits": activation_limits, "operators": runner.operators(),
              "float_tensors": runner.float_tensors(), "arena_bytes": arena_bytes, "interpreter": "tflite-micro",
              "c_files": list(c_files)}
    if search:
        report["percentile_search_calibration_agreement"] = search
    return report, probabilities


def sample_indices(size, count, seed):
    """Sorted indices of a seeded sample of at most `count` of `size` items."""
    return np.sort(np.random.default_rng(seed).permutation(size)[:min(count, size)])


def representative_subset(spectrograms, count=400, seed=0):
    """A seeded sample of features for int8 calibration."""
    return spectrograms[sample_indices(len(spectrograms), count, seed)]
