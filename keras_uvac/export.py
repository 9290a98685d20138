"""Export: the inference half of UVAC for microcontrollers, phones and ONNX runtimes.

At inference only the encoder and the GMM posterior are needed. The posterior
of eq. 14 is a softmax over log pi_c + log N(z; mu_c, S_c), which is quadratic
in z: `logits = [z^2, z] @ W + b`. Written that way it is one fully connected
layer, so the exported graph holds only operators that TensorFlow Lite for
Microcontrollers implements in int8 (convolutions, the unrolled GRUs' matrix
products and gates, one FULLY_CONNECTED and a SOFTMAX).

Formats:

- `tflite-int8`: full-integer TFLite (int8 weights, activations, input and
  output; builtin operators only), calibrated on real features, checked in
  the TFLite Micro interpreter, with a C source/header pair of its bytes.
  The convolution blocks' ReLUs saturate at the 99.99th percentile of their
  calibration activations: their largest values are rare outliers (about
  twice that percentile), and an int8 scale stretched to cover them left
  too few levels for the rest (on an earlier shipped model, 82% of test clips
  kept their Keras cluster in TFLite Micro without the limits, 99.3% with them).
- `tflite`: float LiteRT, run with the ai-edge-litert interpreter.
- `onnx`: through tf2onnx, run with onnxruntime.
- `tflite-audio`: float LiteRT that takes the padded one-second waveform and
  computes the features inside (for phones and desktops).
"""

import os

import keras
import numpy as np
import tensorflow as tf

from keras_uvac import features as features_lib
from keras_uvac import layers
from keras_uvac.atomic import atomic_path

FORMATS = ("tflite-int8", "tflite", "onnx", "tflite-audio")


@keras.saving.register_keras_serializable(package="keras_uvac")
class QuadraticPosterior(keras.layers.Layer):
    """The GMM cluster posterior (eq. 14) as dense layers on z^2 and z.

    `logits = z^2 @ Q + z @ L + b`, floored at `logit_floor`, then a softmax.
    Two dense layers added, rather than one on the concatenation, give z and
    z^2 their own int8 scales. The floor keeps the int8 range of the logits
    on the ones that decide: components far from a clip have log-densities
    thousands of units down, which would otherwise set the quantisation step.
    It is calibrated well below every clip's top logit (`calibrated_floor`),
    so it changes no decision and no probability above e^-20 of the top.

    Args:
        num_clusters: number of clusters.
        logit_floor: the lowest logit (None: no floor).
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> posterior = QuadraticPosterior.from_prior(model.prior)  # doctest: +SKIP
    """

    def __init__(self, num_clusters=10, logit_floor=None, **kwargs):
        super().__init__(**kwargs)
        self.num_clusters = num_clusters
        self.logit_floor = logit_floor
        self.quadratic = keras.layers.Dense(num_clusters, use_bias=False, name="quadratic")
        self.linear = keras.layers.Dense(num_clusters, name="linear")

    def build(self, input_shape):
        self.quadratic.build(input_shape)
        self.linear.build(input_shape)

    def logits(self, z):
        # z * z rather than square(z): TFLite has an int8 MUL but no int8 SQUARE.
        logits = self.quadratic(z * z) + self.linear(z)
        return logits if self.logit_floor is None else keras.ops.maximum(logits, self.logit_floor)

    def call(self, z):
        return keras.ops.softmax(self.logits(z), axis=-1)

    @classmethod
    def from_prior(cls, prior, logit_floor=None):
        """Builds the layer with weights that reproduce `prior`'s posterior."""
        log_weights = keras.ops.convert_to_numpy(prior.log_weights()).astype(np.float64)
        means = keras.ops.convert_to_numpy(prior.means).astype(np.float64)
        log_var = keras.ops.convert_to_numpy(prior.log_variances()).astype(np.float64)
        precision = np.exp(-log_var)
        bias = log_weights - 0.5 * np.sum(means**2 * precision + log_var + layers.LOG_2PI, axis=1)
        layer = cls(prior.num_clusters, logit_floor=logit_floor, name="posterior")
        layer.build((None, prior.latent_dim))
        layer.quadratic.set_weights([(-0.5 * precision.T).astype("float32")])
        layer.linear.set_weights([(means * precision).T.astype("float32"), bias.astype("float32")])
        return layer

    def get_config(self):
        return {**super().get_config(), "num_clusters": self.num_clusters, "logit_floor": self.logit_floor}


def calibrated_activation_limits(model, spectrograms, percentile=99.99, batch_size=100):
    """Per convolution block, the `percentile` of its ReLU outputs on `spectrograms`.

    Args:
        model: a trained `UVAC`.
        spectrograms: `(N, bins, frames)` calibration features.
        percentile: where each block's activations saturate.
        batch_size: clips per forward pass.

    Returns:
        A tuple of floats, one per block (see `layers.Encoder`).

    Example:
    >>> limits = calibrated_activation_limits(model, train_features[:400])  # doctest: +SKIP
    """
    batches = [model.encoder.convolution_activations(spectrograms[start:start + batch_size])
               for start in range(0, len(spectrograms), batch_size)]
    return tuple(float(np.percentile(np.concatenate([keras.ops.convert_to_numpy(batch[block]).ravel()
                                                     for batch in batches]), percentile))
                 for block in range(len(batches[0])))


def calibrated_floor(model, spectrograms, margin=20.0):
    """A logit floor `margin` below the lowest top logit of any calibration clip."""
    logits = keras.ops.convert_to_numpy(model.prior.cluster_logits(model.latent_mean(spectrograms)))
    return float(logits.max(axis=1).min() - margin)


@keras.saving.register_keras_serializable(package="keras_uvac")
class DftSpectrogram(keras.layers.Layer):
    """The UVAC features of padded waveforms, with the DFT written as matrix products.

    Same definition as `features.spectrogram_and_mask` (periodic Hann window,
    bins 1..num_bins, per-clip min-max), but framing is a reshape and the DFT
    two constant matrix products, so TFLite needs no RFFT operator (its RFFT2D
    only takes power-of-two lengths, and 20 ms at 16 kHz is 320 samples).

    Args:
        feature_config: a `features.FeatureConfig` config dict.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> DftSpectrogram()(np.zeros((1, 16000), "float32")).shape  # doctest: +SKIP
    (1, 128, 99)
    """

    def __init__(self, feature_config=None, **kwargs):
        super().__init__(**kwargs)
        self.feature_config = feature_config
        config = features_lib.FeatureConfig.from_config(feature_config or {})
        if config.frame_length % config.hop_length or config.num_samples % config.hop_length:
            raise ValueError("DftSpectrogram needs the frame and the clip to be whole numbers of hops")
        self.config = config
        samples = np.arange(config.frame_length)[:, None]
        bins = np.arange(1, config.num_bins + 1)[None, :]
        window = 0.5 - 0.5 * np.cos(2 * np.pi * samples / config.frame_length)
        angle = 2 * np.pi * samples * bins / config.frame_length
        self.cosine = (window * np.cos(angle)).astype("float32")
        self.sine = (window * np.sin(angle)).astype("float32")

    def call(self, waveform):
        config = self.config
        hops_per_frame = config.frame_length // config.hop_length
        chunks = keras.ops.reshape(waveform, (-1, config.num_samples // config.hop_length, config.hop_length))
        frames = keras.ops.concatenate([chunks[:, offset:offset + config.num_frames]
                                        for offset in range(hops_per_frame)], axis=-1)
        real = keras.ops.matmul(frames, self.cosine)
        imaginary = keras.ops.matmul(frames, self.sine)
        spectrogram = keras.ops.transpose(keras.ops.sqrt(real * real + imaginary * imaginary), (0, 2, 1))
        low = keras.ops.min(spectrogram, axis=(1, 2), keepdims=True)
        high = keras.ops.max(spectrogram, axis=(1, 2), keepdims=True)
        return (spectrogram - low) / keras.ops.maximum(high - low, 1e-12)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.config.num_bins, self.config.num_frames)

    def get_config(self):
        return {**super().get_config(), "feature_config": self.feature_config}


def inference_model(model, with_latent_mean=False, batch_size=1, waveform_input=False, logit_floor=None,
                    activation_limits=None):
    """A functional model: features (or waveform) to cluster probabilities.

    Static batch, GRUs unrolled, the same weights as `model`.

    Args:
        model: a trained `UVAC`.
        with_latent_mean: also output z's mean.
        batch_size: the static batch size (1 for microcontrollers).
        waveform_input: take the padded waveform and compute the features
            inside (`features.spectrogram_and_mask` on the whole clip).
        logit_floor: see `QuadraticPosterior` (`calibrated_floor` gives one).
        activation_limits: see `layers.Encoder` (`calibrated_activation_limits`
            gives them).

    Returns:
        A `keras.Model`.

    Example:
    >>> export_model = inference_model(model)  # doctest: +SKIP
    >>> export_model(spectrogram[None]).shape  # doctest: +SKIP
    (1, 10)
    """
    config = model.feature_config_object()
    encoder = layers.Encoder.from_config({**model.encoder.get_config(), "unroll": True,
                                          "activation_limits": activation_limits})
    encoder.build((batch_size, model.num_bins, model.num_frames))
    encoder.set_weights(model.encoder.get_weights())
    posterior = QuadraticPosterior.from_prior(model.prior, logit_floor)
    if waveform_input:
        inputs = keras.Input(shape=(config.num_samples,), batch_size=batch_size, name="waveform")
        spectrogram = DftSpectrogram(config.get_config(), name="features")(inputs)
    else:
        inputs = keras.Input(shape=(model.num_bins, model.num_frames), batch_size=batch_size, name="spectrogram")
        spectrogram = inputs
    z_mean, _ = encoder(spectrogram)
    probabilities = posterior(z_mean)
    outputs = {"probabilities": probabilities, "latent_mean": z_mean} if with_latent_mean else probabilities
    return keras.Model(inputs, outputs, name="uvac_inference")


def convert_tflite(export_model, representative_features=None):
    """Converts to TFLite with builtin operators only.

    Goes through a SavedModel with the static input signature, so that the
    weights are frozen into constants (no resource-variable operators).

    Args:
        export_model: from `inference_model`.
        representative_features: `(N, ...)` real inputs; when given, the model
            is fully int8 (weights, activations, input, output) with
            activation ranges calibrated on them.

    Returns:
        The flatbuffer bytes.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        archive = keras.export.ExportArchive()
        archive.track(export_model)
        archive.add_endpoint("serve", lambda x: export_model(x, training=False),
                             input_signature=[tf.TensorSpec(export_model.inputs[0].shape, tf.float32)])
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
        return converter.convert()


def convert_onnx(export_model, path):
    """Converts to ONNX with tf2onnx (opset 17) and writes it atomically."""
    import tf2onnx

    spec = (tf.TensorSpec(export_model.inputs[0].shape, tf.float32, name="spectrogram"),)
    function = tf.function(lambda x: export_model(x, training=False))
    with atomic_path(path) as temporary:
        tf2onnx.convert.from_function(function, input_signature=spec, opset=17, output_path=temporary)
    return path


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


def required_arena_bytes(model_bytes, example_input, granularity=1024):
    """The smallest TFLite Micro tensor arena, to `granularity` bytes, that runs the model.

    Found by bisection: an interpreter is created with each candidate arena
    and invoked on `example_input` (already quantised).

    Returns:
        The arena size in bytes.
    """
    from tflite_micro.python.tflite_micro import runtime

    def runs(arena_size):
        try:
            interpreter = runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size)
            interpreter.set_input(example_input, 0)
            interpreter.invoke()
        except (RuntimeError, ValueError):
            return False
        return True

    low, high = 0, granularity
    while not runs(high):
        low, high = high, high * 2
    while high - low > granularity:
        middle = (low + high) // 2
        low, high = (low, middle) if runs(middle) else (middle, high)
    return high


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


def write_c_array(model_bytes, path, name="uvac_model"):
    """Writes a C source and header holding the model bytes (aligned for TFLM).

    Args:
        model_bytes: the flatbuffer.
        path: the `.cc` file; the `.h` goes beside it.
        name: the C array's name.

    Returns:
        `(source_path, header_path)`.
    """
    header_path = os.path.splitext(path)[0] + ".h"
    guard = name.upper() + "_H_"
    header = (f"#ifndef {guard}\n#define {guard}\n\n// keras_uvac export: UVAC encoder + GMM posterior, int8.\n"
              f"extern const unsigned char {name}[];\nextern const unsigned int {name}_len;\n\n#endif  // {guard}\n")
    rows = [", ".join(f"0x{byte:02x}" for byte in model_bytes[start:start + 12])
            for start in range(0, len(model_bytes), 12)]
    source = (f'#include "{os.path.basename(header_path)}"\n\n'
              f"alignas(16) const unsigned char {name}[] = {{\n  " + ",\n  ".join(rows) + "\n};\n"
              f"const unsigned int {name}_len = {len(model_bytes)};\n")
    for target, text in ((path, source), (header_path, header)):
        with atomic_path(target) as temporary, open(temporary, "w") as handle:
            handle.write(text)
    return path, header_path


def agreement(reference, candidate):
    """Share of clips with the same most probable cluster, and the largest probability gap."""
    same = float(np.mean(reference.argmax(axis=1) == candidate.argmax(axis=1)))
    return same, float(np.max(np.abs(reference - candidate)))


def _sample_indices(size, count, seed):
    """Sorted indices of a seeded sample of at most `count` of `size` items."""
    return np.sort(np.random.default_rng(seed).permutation(size)[:min(count, size)])


def representative_subset(spectrograms, count=400, seed=0):
    """A seeded sample of features for int8 calibration."""
    return spectrograms[_sample_indices(len(spectrograms), count, seed)]


def representative_subset_collection(collection, count=400, seed=0):
    """A seeded sample of a collection's clips, for int8 calibration."""
    return collection.subset(_sample_indices(len(collection), count, seed))


# What each format runs its check in, and the extra that installs it.
RUNTIMES = {"tflite-int8": ("tflite_micro", "ai_edge_litert"), "tflite": ("ai_edge_litert",),
            "tflite-audio": ("ai_edge_litert",), "onnx": ("tf2onnx", "onnxruntime")}


def require_runtimes(export_format):
    """Raises a clear error, before any work, when the packages a format's export and check need are missing.

    Example:
    >>> require_runtimes("tflite")  # doctest: +SKIP
    """
    import importlib.util

    missing = [name for name in RUNTIMES[export_format] if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(f"uvac export --format {export_format} needs {', '.join(missing)}: install the "
                                  "export extra, pip install 'keras-uvac[export]'")


def export_with_data(model, export_format, path, train_collection, test_collection, activation_percentile=99.99):
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
    if export_format == "tflite-audio":
        check = np.stack([waveform for waveform, _ in pipeline.waveform_dataset(test_collection, config)
                          .as_numpy_iterator()])
    else:
        check = pipeline.extract_features(test_collection, config, progress=False)["spectrogram"]
    report = export(model, export_format, path, calibration, check, activation_percentile)
    report["keras_float32_inference_weights_bytes"] = float_model_bytes(model)
    return report


def export(model, export_format, path, calibration_features, check_features, activation_percentile=99.99):
    """Exports `model` in one format, runs the result, and reports on it.

    Args:
        model: a trained `UVAC`.
        export_format: one of `FORMATS`.
        path: the file to write (`.tflite` or `.onnx`); int8 also writes
            `<path stem>.cc` and `.h`.
        calibration_features: `(N, bins, frames)` real features (training
            split) for int8 calibration.
        check_features: `(M, bins, frames)` features (test split) on which the
            export is compared with the Keras model, or waveforms `(M,
            samples)` for `tflite-audio`.
        activation_percentile: int8 only: each convolution block's ReLU
            saturates at this percentile of its calibration activations (100:
            at their maximum, which is what the converter calibrates anyway).

    Returns:
        A dict: `path`, `bytes`, `operators`, `cluster_agreement`,
        `max_probability_difference`, and `arena_bytes` for int8.

    Example:
    >>> report = export(model, "tflite-int8", "uvac_int8.tflite", train_x, test_x)  # doctest: +SKIP
    """
    if export_format not in FORMATS:
        raise ValueError(f"export format must be one of {FORMATS}, got {export_format!r}")
    waveform_input = export_format == "tflite-audio"
    int8 = export_format == "tflite-int8"
    logit_floor = calibrated_floor(model, calibration_features) if int8 else None
    activation_limits = (calibrated_activation_limits(model, calibration_features, activation_percentile)
                         if int8 else None)
    export_model = inference_model(model, waveform_input=waveform_input, logit_floor=logit_floor,
                                   activation_limits=activation_limits)
    if waveform_input:
        config = model.feature_config_object()
        lengths = tf.fill([len(check_features)], config.num_samples)
        spectrogram, _ = features_lib.spectrogram_and_mask(tf.constant(check_features), lengths, config)
        reference = keras.ops.convert_to_numpy(model(spectrogram.numpy()))
        calibration_features = None
    else:
        reference = keras.ops.convert_to_numpy(model(check_features))
    report = {"format": export_format, "path": str(path), "logit_floor": logit_floor,
              "activation_percentile": activation_percentile if int8 else None,
              "activation_limits": activation_limits}
    if export_format == "onnx":
        import onnxruntime

        convert_onnx(export_model, path)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        candidate = np.concatenate([session.run(None, {input_name: example[None].astype(np.float32)})[0]
                                    for example in check_features])
        report["operators"] = sorted({node.op_type for node in _onnx_nodes(path)})
    else:
        calibration = representative_subset(calibration_features) if int8 else None
        model_bytes = convert_tflite(export_model, calibration)
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            handle.write(model_bytes)
        runner = TFLiteRunner(model_bytes)
        report["operators"] = runner.operators()
        if int8:
            report["float_tensors"] = runner.float_tensors()
            micro = MicroRunner(model_bytes, (runner.input, runner.output))
            candidate = micro(check_features)
            report["arena_bytes"] = required_arena_bytes(model_bytes, quantize(check_features[:1], runner.input))
            report["interpreter"] = "tflite-micro"
            report["c_files"] = list(write_c_array(model_bytes, os.path.splitext(str(path))[0] + ".cc"))
        else:
            candidate = runner(check_features)
            report["interpreter"] = "ai-edge-litert"
    report["bytes"] = os.path.getsize(path)
    report["cluster_agreement"], report["max_probability_difference"] = agreement(reference, candidate)
    report["clips_checked"] = len(check_features)
    return report


def _onnx_nodes(path):
    import onnx

    return onnx.load(str(path)).graph.node


def float_model_bytes(model):
    """Bytes of the float32 weights used at inference (encoder and prior)."""
    return 4 * int(model.encoder.count_params() + model.prior.count_params())


def format_size(num_bytes):
    return f"{num_bytes / 1024:.0f} KiB" if num_bytes < 2**20 else f"{num_bytes / 2**20:.2f} MiB"



