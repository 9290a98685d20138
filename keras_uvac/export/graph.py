"""The exported graph: encoder and GMM posterior as a functional model, TFLite-friendly.

At inference only the encoder and the GMM posterior are needed. The posterior
of eq. 14 is a softmax over log pi_c + log N(z; mu_c, S_c), which is quadratic
in z: `logits = [z^2, z] @ W + b`. Written that way it is one fully connected
layer, so the exported graph holds only operators that TensorFlow Lite for
Microcontrollers implements in int8.
"""

import keras
import numpy as np

from keras_uvac import features as features_lib
from keras_uvac import layers


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

    With tied variances (the default recipe's) the quadratic term is the same
    for every cluster, so it cancels in the softmax and is left out
    (`quadratic=False`): the logits keep only what separates the clusters, and
    their int8 scale is not spent on a large shared offset (on distilled
    compact models this lifted the int8 agreement from 90% to the table's).

    Args:
        num_clusters: number of clusters.
        logit_floor: the lowest logit (None: no floor).
        quadratic: include the `z^2 @ Q` term.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> posterior = QuadraticPosterior.from_prior(model.prior)  # doctest: +SKIP
    """

    def __init__(self, num_clusters=10, logit_floor=None, quadratic=True, **kwargs):
        super().__init__(**kwargs)
        self.num_clusters = num_clusters
        self.logit_floor = logit_floor
        self.quadratic = quadratic
        self.squares = keras.layers.Dense(num_clusters, use_bias=False, name="quadratic") if quadratic else None
        self.linear = keras.layers.Dense(num_clusters, name="linear")

    def build(self, input_shape):
        if self.squares is not None:
            self.squares.build(input_shape)
        self.linear.build(input_shape)

    def logits(self, z):
        logits = self.linear(z)
        if self.squares is not None:
            # z * z rather than square(z): TFLite has an int8 MUL but no int8 SQUARE.
            logits = logits + self.squares(z * z)
        return logits if self.logit_floor is None else keras.ops.maximum(logits, self.logit_floor)

    def call(self, z):
        return keras.ops.softmax(self.logits(z), axis=-1)

    @classmethod
    def from_prior(cls, prior, logit_floor=None, temperature=1.0):
        """Builds the layer with weights that reproduce `prior`'s posterior, its logits divided by `temperature`."""
        log_weights = keras.ops.convert_to_numpy(prior.log_weights()).astype(np.float64)
        means = keras.ops.convert_to_numpy(prior.means).astype(np.float64)
        log_var = keras.ops.convert_to_numpy(prior.log_variances()).astype(np.float64)
        precision = np.exp(-log_var)
        bias = log_weights - 0.5 * np.sum(means**2 * precision + log_var + layers.LOG_2PI, axis=1)
        tied = np.allclose(precision, precision[:1])
        layer = cls(prior.num_clusters, logit_floor=logit_floor, quadratic=not tied, name="posterior")
        layer.build((None, prior.latent_dim))
        if not tied:
            layer.squares.set_weights([(-0.5 * precision.T / temperature).astype("float32")])
        layer.linear.set_weights([((means * precision).T / temperature).astype("float32"),
                                  (bias / temperature).astype("float32")])
        return layer

    def get_config(self):
        return {**super().get_config(), "num_clusters": self.num_clusters, "logit_floor": self.logit_floor,
                "quadratic": self.quadratic}


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
    """A logit floor `margin` below the lowest top logit (`QuadraticPosterior.logits`) of any calibration clip."""
    posterior = QuadraticPosterior.from_prior(model.prior, temperature=model.posterior_temperature)
    logits = keras.ops.convert_to_numpy(posterior.logits(model.latent_mean(spectrograms)))
    return float(logits.max(axis=1).min() - margin)


def inference_model(model, with_latent_mean=False, batch_size=1, waveform_input=False, logit_floor=None,
                    activation_limits=None):
    """A functional model: features (or waveform) to cluster probabilities.

    Static batch, GRUs unrolled, the same weights as `model`.

    Args:
        model: a trained `UVAC`.
        with_latent_mean: also output z's mean.
        batch_size: the static batch size (1 for microcontrollers).
        waveform_input: take the padded waveform and compute the features
            inside (`features.AudioFeatures`, the pipeline's own layer, in its
            matrix form, which TFLite runs for any frame length).
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
                                          "activation_limits": activation_limits, "mean_only": True})
    encoder.build((batch_size, model.num_bins, model.num_frames))
    encoder.set_weights(model.encoder.get_weights())
    posterior = QuadraticPosterior.from_prior(model.prior, logit_floor, model.posterior_temperature)
    if waveform_input:
        inputs = keras.Input(shape=(config.num_samples,), batch_size=batch_size, name="waveform")
        spectrogram = features_lib.AudioFeatures(config, dft="matrix", name="features")(inputs)
    else:
        inputs = keras.Input(shape=(model.num_bins, model.num_frames), batch_size=batch_size, name="spectrogram")
        spectrogram = inputs
    z_mean = encoder(spectrogram)
    probabilities = posterior(z_mean)
    outputs = {"probabilities": probabilities, "latent_mean": z_mean} if with_latent_mean else probabilities
    return keras.Model(inputs, outputs, name="uvac_inference")
