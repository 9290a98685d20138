"""ONNX through tf2onnx, run with onnxruntime: the `onnx` target."""

import numpy as np
import tensorflow as tf

from keras_uvac.atomic import atomic_path
from keras_uvac.export import graph


def convert_onnx(export_model, path):
    """Converts to ONNX with tf2onnx (opset 17) and writes it atomically."""
    import tf2onnx

    spec = (tf.TensorSpec(export_model.inputs[0].shape, tf.float32, name="spectrogram"),)
    function = tf.function(lambda x: export_model(x, training=False))
    with atomic_path(path) as temporary:
        tf2onnx.convert.from_function(function, input_signature=spec, opset=17, output_path=temporary)
    return path


def export_onnx(model, path, calibration_features, check_inputs, **options):
    """ONNX (opset 17): writes `path` and runs it on `check_inputs` with onnxruntime.

    Returns:
        `(report fields, probabilities on check_inputs)`.
    """
    import onnx
    import onnxruntime

    del calibration_features, options
    convert_onnx(graph.inference_model(model), path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    probabilities = np.concatenate([session.run(None, {input_name: example[None].astype(np.float32)})[0]
                                    for example in check_inputs])
    operators = sorted({node.op_type for node in onnx.load(str(path)).graph.node})
    return {"operators": operators, "interpreter": "onnxruntime"}, probabilities
