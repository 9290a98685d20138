"""LiteRT (TFLite) conversion and the ai-edge-litert interpreter: the `tflite` and `tflite-audio` targets."""

import contextlib
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_uvac.atomic import atomic_path
from keras_uvac.export import graph


@contextlib.contextmanager
def tflite_converter(export_model, representative_features=None):
    """A TFLite converter of `export_model`, builtin operators only, through a SavedModel.

    The SavedModel has the static input signature (one tensor per model
    input, in order), so that the weights are frozen into constants (no
    resource-variable operators). It exists while
    the context is open (TFLite's QuantizationDebugger also reads it there).

    Args:
        export_model: from `inference_model`.
        representative_features: `(N, ...)` real inputs; when given, the model
            is fully int8 (weights, activations, input, output) with
            activation ranges calibrated on them.

    Yields:
        The configured `tf.lite.TFLiteConverter`.
    """
    with tempfile.TemporaryDirectory() as directory:
        archive = keras.export.ExportArchive()
        archive.track(export_model)
        signature = [tf.TensorSpec(tensor.shape, tensor.dtype) for tensor in export_model.inputs]
        archive.add_endpoint("serve", lambda *inputs: export_model(list(inputs) if len(inputs) > 1 else inputs[0],
                                                                    training=False),
                             input_signature=signature)
        archive.write_out(directory, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(directory, signature_keys=["serve"])
        if representative_features is None:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        else:
            def representative_dataset():
                for example in representative_features:
                    yield [example[None].astype(np.float32)]

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative_dataset
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        yield converter


def convert_tflite(export_model, representative_features=None):
    """Converts to TFLite with builtin operators only (`tflite_converter`); full int8 given real inputs.

    Returns:
        The flatbuffer bytes.
    """
    with tflite_converter(export_model, representative_features) as converter:
        return converter.convert()


class TFLiteRunner:
    """Runs a TFLite model in the ai-edge-litert interpreter (float or int8 I/O).

    Args:
        model_bytes: the flatbuffer.

    Example:
    >>> TFLiteRunner(open("uvac.tflite", "rb").read())(features).shape  # doctest: +SKIP
    """

    def __init__(self, model_bytes):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        # Without the default delegate, the operator list is the model's own.
        self.interpreter = Interpreter(model_content=model_bytes,
                                       experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def operators(self):
        """Sorted names of the operators the model uses."""
        return sorted({op["op_name"] for op in self.interpreter._get_ops_details()})

    def float_tensors(self):
        """Names of the float tensors operators read or write (none in a full-integer model)."""
        details = {tensor["index"]: tensor for tensor in self.interpreter.get_tensor_details()}
        used = {index for op in self.interpreter._get_ops_details() for index in (*op["inputs"], *op["outputs"])
                if index >= 0}
        return sorted(details[index]["name"] for index in used if details[index]["dtype"] == np.float32)

    def __call__(self, batch):
        outputs = []
        for example in batch:
            self.interpreter.set_tensor(self.input["index"], quantize(example[None], self.input))
            self.interpreter.invoke()
            outputs.append(dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)[0])
        return np.stack(outputs)


def quantize(values, details):
    """Float values to a tensor's dtype with its scale and zero point (identity for float)."""
    if details["dtype"] == np.float32:
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    info = np.iinfo(details["dtype"])
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(details["dtype"])


def dequantize(values, details):
    """A tensor's values back to float."""
    if details["dtype"] == np.float32:
        return values
    scale, zero_point = details["quantization"]
    return (values.astype(np.float32) - zero_point) * scale


def export_float(model, path, calibration_features, check_inputs, waveform_input=False, **options):
    """Float LiteRT: writes `path` and runs it on `check_inputs`.

    Returns:
        `(report fields, probabilities on check_inputs)`.
    """
    del calibration_features, options
    model_bytes = convert_tflite(graph.inference_model(model, waveform_input=waveform_input))
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        handle.write(model_bytes)
    runner = TFLiteRunner(model_bytes)
    return {"operators": runner.operators(), "interpreter": "ai-edge-litert"}, runner(check_inputs)


def export_audio(model, path, calibration_features, check_inputs, **options):
    """Float LiteRT that takes padded waveforms (`check_inputs`) and computes the features inside."""
    return export_float(model, path, calibration_features, check_inputs, waveform_input=True, **options)
