"""Layers of the UVAC model: the GMM prior, the encoder, the decoder, augmentation.

All maths uses `keras.ops`, so the layers run on the TensorFlow, JAX and
PyTorch backends alike. Shapes follow the pipeline: spectrograms are
`(batch, bins, frames)`; the convolutions see them as images of one channel.
"""

import math

import keras
import numpy as np
from keras import ops

LOG_2PI = math.log(2.0 * math.pi)


@keras.saving.register_keras_serializable(package="keras_uvac")
class GMMPrior(keras.layers.Layer):
    """A learnable Gaussian-mixture prior p(z) = sum_c pi_c N(z; mu_c, diag(S_c)).

    Parameterised so that it stays valid: mixture logits (pi is their softmax)
    and log-variances, floored at `min_log_variance` so no component can
    collapse onto a point. `call` gives the cluster posterior of eq. 14.

    Args:
        num_clusters: number of mixture components (clusters).
        latent_dim: dimension of z.
        initialization: `"paper"` (pi ~ U(0, 1) normalised, means Glorot
            uniform, log-variances 0) or `"zeros"` (equal weights, zero means).
        min_log_variance: floor of every component's log-variance.
        learn_weights: learn the mixture weights (the paper); when False they
            stay as initialised, which stops components from dying off.
        tied_variances: one diagonal variance shared by every component
            (the paper: one per component). Clusters then differ only in
            their means and weights, as in K-means.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> prior = GMMPrior(num_clusters=3, latent_dim=2)
    >>> tuple(prior(ops.zeros((4, 2))).shape)
    (4, 3)
    """

    def __init__(self, num_clusters=10, latent_dim=10, initialization="paper", min_log_variance=-6.0,
                 learn_weights=True, tied_variances=False, **kwargs):
        super().__init__(**kwargs)
        if initialization not in ("paper", "zeros"):
            raise ValueError(f"GMMPrior: initialization must be 'paper' or 'zeros', got {initialization!r}")
        self.num_clusters = num_clusters
        self.latent_dim = latent_dim
        self.initialization = initialization
        self.min_log_variance = min_log_variance
        self.learn_weights = learn_weights
        self.tied_variances = tied_variances

    def build(self, input_shape=None):
        paper = self.initialization == "paper"

        def uniform_weight_logits(shape, dtype=None):
            # pi_c ~ U(0, 1) as in the paper; the softmax of log(pi) renormalises it.
            return ops.log(keras.random.uniform(shape, 0.05, 1.0, dtype=dtype))

        self.logits = self.add_weight(shape=(self.num_clusters,), name="logits", trainable=self.learn_weights,
                                      initializer=uniform_weight_logits if paper and self.learn_weights else "zeros")
        self.means = self.add_weight(shape=(self.num_clusters, self.latent_dim), name="means",
                                     initializer="glorot_uniform" if paper else "zeros")
        self.raw_log_variances = self.add_weight(shape=(1 if self.tied_variances else self.num_clusters,
                                                        self.latent_dim),
                                                 name="log_variances", initializer="zeros")

    def log_weights(self):
        """Log mixture weights, `(clusters,)`."""
        return ops.log_softmax(self.logits)

    def log_variances(self):
        """Floored log-variances, `(clusters, latent_dim)`."""
        floored = ops.maximum(self.raw_log_variances, self.min_log_variance)
        return ops.broadcast_to(floored, (self.num_clusters, self.latent_dim))

    def kl_divergence(self, z_mean, z_log_var):
        """The approximate KL(q(z|x) || p(z)) of the paper's eq. 11, per clip.

        Computed as `-logsumexp_c(log pi_c - KL(q || N_c))` with log-variances
        throughout, so it is finite for any input.

        Args:
            z_mean: `(batch, latent_dim)`.
            z_log_var: `(batch, latent_dim)`.

        Returns:
            `(batch,)` tensor.
        """
        component_log_var = self.log_variances()[None]
        difference = z_mean[:, None, :] - self.means[None]
        per_component = 0.5 * ops.sum(
            ops.square(difference) * ops.exp(-component_log_var) + component_log_var - z_log_var[:, None, :]
            - 1.0 + ops.exp(z_log_var[:, None, :] - component_log_var), axis=-1)
        return -ops.logsumexp(self.log_weights()[None] - per_component, axis=-1)

    def cluster_logits(self, z):
        """Log pi_c + log N(z; mu_c, S_c), `(batch, clusters)`: eq. 14 before normalising."""
        log_var = self.log_variances()[None]
        difference = z[:, None, :] - self.means[None]
        log_density = -0.5 * ops.sum(ops.square(difference) * ops.exp(-log_var) + log_var + LOG_2PI, axis=-1)
        return self.log_weights()[None] + log_density

    def call(self, z):
        return ops.softmax(self.cluster_logits(z), axis=-1)

    def set_mixture(self, weights, means, variances):
        """Sets pi, mu and S, e.g. from a GMM fitted to embeddings.

        Args:
            weights: `(clusters,)` positive mixture weights.
            means: `(clusters, latent_dim)`.
            variances: `(clusters, latent_dim)` positive variances (with
                `tied_variances`, their mean weighted by `weights` is kept).
        """
        weights = np.maximum(np.asarray(weights, "float32"), 1e-8)
        variances = np.asarray(variances, "float32")
        if self.tied_variances:
            variances = np.sum(weights[:, None] * variances, axis=0, keepdims=True) / np.sum(weights)
        self.logits.assign(np.log(weights))
        self.means.assign(np.asarray(means, "float32"))
        self.raw_log_variances.assign(np.log(variances))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_clusters)

    def get_config(self):
        return {**super().get_config(), "num_clusters": self.num_clusters, "latent_dim": self.latent_dim,
                "initialization": self.initialization, "min_log_variance": self.min_log_variance,
                "learn_weights": self.learn_weights, "tied_variances": self.tied_variances}


@keras.saving.register_keras_serializable(package="keras_uvac")
class Encoder(keras.layers.Layer):
    """Convolutional-recurrent encoder of Fig. 2: spectrogram to q(z|x).

    Conv2D (8x8 as in the paper, or `kernel_size`; stride 2; zero padding of
    `(kernel_size - 1) // 2` as in the paper, or "same") + BatchNorm + ReLU
    per channel count;
    the remaining frequency rows and channels of each time step feed the GRUs;
    the last GRU state gives mean and log-variance through one linear layer.
    With no GRUs (`gru_units=()`) the time steps are averaged instead, as in
    keyword-spotting networks for microcontrollers (DS-CNN): a handful of
    operators where unrolled GRUs need over a hundred.

    Args:
        latent_dim: dimension of z.
        channels: output channels of the convolutions.
        gru_units: units of the stacked GRUs; `()` averages over time.
        kernel_size: side of the square convolution kernels (the paper: 8).
        padding: `"paper"` (a zero-padding layer before each convolution) or
            `"same"` (the convolution pads; on a microcontroller this saves
            a padded copy of each block's input).
        unroll: unroll the GRUs (static graphs for microcontroller export).
        activation_limits: None, or one upper bound per convolution block
            at which its ReLU saturates (int8 export calibrates them, so
            that rare large activations do not coarsen the int8 scale).
        mean_only: return z's mean alone, computed from the mean half of the
            last layer (the export's graph: in int8 the log-variance would
            otherwise share, and can stretch, the mean's scale).
        **kwargs: passed to `keras.layers.Layer`.

    Returns (when called):
        `(z_mean, z_log_var)`, each `(batch, latent_dim)`.

    Example:
    >>> z_mean, z_log_var = Encoder(latent_dim=4, channels=(4, 8), gru_units=(8,))(ops.zeros((2, 128, 99)))
    >>> tuple(z_mean.shape)
    (2, 4)
    """

    def __init__(self, latent_dim=10, channels=(16, 32, 64, 128), gru_units=(128, 128), kernel_size=8, padding="paper",
                 unroll=False, activation_limits=None, mean_only=False, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.channels = tuple(channels)
        self.gru_units = tuple(gru_units)
        self.kernel_size = kernel_size
        if padding not in ("paper", "same"):
            raise ValueError(f"Encoder: padding must be 'paper' or 'same', got {padding!r}")
        self.padding = padding
        self.unroll = unroll
        self.mean_only = mean_only
        self.activation_limits = None if activation_limits is None else tuple(map(float, activation_limits))
        limits = self.activation_limits or (None,) * len(self.channels)
        if len(limits) != len(self.channels):
            raise ValueError(f"Encoder: {len(limits)} activation_limits for {len(self.channels)} convolution blocks")
        self.convolutions = []
        for index, (width, limit) in enumerate(zip(self.channels, limits)):
            if padding == "paper":
                self.convolutions.append(keras.layers.ZeroPadding2D((kernel_size - 1) // 2, name=f"pad_{index}"))
            self.convolutions += [
                keras.layers.Conv2D(width, kernel_size, strides=2, padding="valid" if padding == "paper" else "same",
                                    kernel_initializer="he_uniform", name=f"conv_{index}"),
                # Synchronised (TensorFlow): under tf.distribute the statistics are those of the global batch.
                keras.layers.BatchNormalization(synchronized=keras.backend.backend() == "tensorflow",
                                                name=f"batch_norm_{index}"),
                keras.layers.ReLU(max_value=limit, name=f"relu_{index}"),
            ]
        self.recurrent = [
            keras.layers.GRU(units, return_sequences=index < len(self.gru_units) - 1, unroll=unroll,
                             kernel_initializer="he_uniform", name=f"gru_{index}")
            for index, units in enumerate(self.gru_units)
        ]
        self.to_moments = keras.layers.Dense(2 * latent_dim, kernel_initializer="he_uniform", name="moments")

    def build(self, input_shape):
        shape = (input_shape[0], input_shape[1], input_shape[2], 1)
        for layer in self.convolutions:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self._grid = shape[1:]
        shape = (shape[0], shape[2], shape[1] * shape[3])
        for layer in self.recurrent:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.to_moments.build(shape[:1] + shape[-1:])

    def convolution_activations(self, spectrogram):
        """The output of each convolution block (after its ReLU), inference mode."""
        hidden, outputs = spectrogram[..., None], []
        for layer in self.convolutions:
            hidden = layer(hidden, training=False)
            if isinstance(layer, keras.layers.ReLU):
                outputs.append(hidden)
        return outputs

    def call(self, spectrogram, training=False):
        hidden = spectrogram[..., None]
        for layer in self.convolutions:
            hidden = layer(hidden, training=training)
        rows, frames, width = self._grid
        # Each remaining time step becomes one GRU input: all its rows and channels.
        hidden = ops.reshape(ops.transpose(hidden, (0, 2, 1, 3)), (-1, frames, rows * width))
        for layer in self.recurrent:
            hidden = layer(hidden, training=training)
        if not self.recurrent:
            hidden = ops.mean(hidden, axis=1)
        if self.mean_only:
            kernel, bias = self.to_moments.kernel, self.to_moments.bias
            return ops.matmul(hidden, kernel[:, :self.latent_dim]) + bias[:self.latent_dim]
        moments = self.to_moments(hidden)
        return moments[:, :self.latent_dim], moments[:, self.latent_dim:]

    def set_log_variance(self, log_variance):
        """Makes q(z|x)'s log-variance the same for every input: `log_variance`.

        Pretraining without sampling gives the log-variance half of the last
        layer no gradient, so when sampling starts its noise is as wide as
        the codes themselves; this resets it to a chosen width.

        Args:
            log_variance: a scalar or `(latent_dim,)` log-variance.

        Example:
        >>> encoder = Encoder(latent_dim=4, channels=(4, 8), gru_units=(8,))
        >>> _ = encoder(ops.zeros((2, 128, 99)))
        >>> encoder.set_log_variance(-3.0)
        >>> float(ops.max(encoder(ops.ones((2, 128, 99)))[1]))
        -3.0
        """
        kernel = ops.convert_to_numpy(self.to_moments.kernel).copy()
        bias = ops.convert_to_numpy(self.to_moments.bias).copy()
        kernel[:, self.latent_dim:] = 0.0
        bias[self.latent_dim:] = log_variance
        self.to_moments.kernel.assign(kernel)
        self.to_moments.bias.assign(bias)

    def compute_output_shape(self, input_shape):
        if self.mean_only:
            return (input_shape[0], self.latent_dim)
        return (input_shape[0], self.latent_dim), (input_shape[0], self.latent_dim)

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "channels": self.channels,
                "gru_units": self.gru_units, "kernel_size": self.kernel_size, "padding": self.padding,
                "unroll": self.unroll, "activation_limits": self.activation_limits, "mean_only": self.mean_only}


@keras.saving.register_keras_serializable(package="keras_uvac")
class Decoder(keras.layers.Layer):
    """Decoder of Fig. 2: z to a spectrogram in [0, 1].

    A linear layer to `channels[0]` channels, broadcast over a small grid,
    then Conv2DTranspose layers (8x8, stride 2) doubling it, ReLU in all but
    the last (sigmoid), cropped to `(num_bins, num_frames)`.

    Args:
        num_bins: frequency bins of the output.
        num_frames: frames of the output.
        channels: channels of the linear layer and the hidden transposed
            convolutions; a last one of 1 channel follows.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> tuple(Decoder(channels=(8, 4))(ops.zeros((2, 10))).shape)
    (2, 128, 99)
    """

    def __init__(self, num_bins=128, num_frames=99, channels=(128, 64, 32, 16), **kwargs):
        super().__init__(**kwargs)
        self.num_bins = num_bins
        self.num_frames = num_frames
        self.channels = tuple(channels)
        self.scale = 2 ** len(self.channels)
        self.grid = (math.ceil(num_bins / self.scale), math.ceil(num_frames / self.scale))
        self.from_latent = keras.layers.Dense(self.channels[0], kernel_initializer="he_uniform", name="from_latent")
        widths = self.channels[1:] + (1,)
        self.deconvolutions = [
            keras.layers.Conv2DTranspose(width, 8, strides=2, padding="same", kernel_initializer="he_uniform",
                                         activation="sigmoid" if index == len(widths) - 1 else "relu",
                                         name=f"deconv_{index}")
            for index, width in enumerate(widths)
        ]

    def build(self, input_shape):
        self.from_latent.build(input_shape)
        shape = (input_shape[0], *self.grid, self.channels[0])
        for layer in self.deconvolutions:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, z):
        hidden = self.from_latent(z)[:, None, None, :]
        hidden = ops.tile(hidden, (1, *self.grid, 1))
        for layer in self.deconvolutions:
            hidden = layer(hidden)
        return hidden[:, :self.num_bins, :self.num_frames, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_bins, self.num_frames)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "num_frames": self.num_frames,
                "channels": self.channels}


@keras.saving.register_keras_serializable(package="keras_uvac")
class SpectrogramAugment(keras.layers.Layer):
    """Random voice-, channel- and timing-like changes of a spectrogram, in training only.

    Each clip's frequency axis is stretched by a factor in
    `[1 - frequency_warp, 1 + frequency_warp]` (a longer or shorter vocal tract
    moves formants and harmonics), its time axis stretched by up to
    `time_warp` and shifted by up to `time_shift` frames (speaking rate and
    onset), its spectrum tilted by a gain from `exp(-tilt)` to `exp(tilt)`
    across the band (microphone and room colour), and one band of up to
    `mask_bins` bins and one stretch of up to `mask_frames` frames zeroed
    (SpecAugment). Linear interpolation; zeros enter at the edges. None of
    these changes which word was said.

    Args:
        frequency_warp: largest relative stretch of the frequency axis.
        time_warp: largest relative stretch of the time axis.
        time_shift: largest shift in frames, either way.
        tilt: largest log-gain difference between the band's two ends, halved.
        mask_bins: widest frequency mask, in bins (0 for none).
        mask_frames: widest time mask, in frames (0 for none).
        seed: random seed.
        **kwargs: passed to `keras.layers.Layer`.

    Example:
    >>> augment = SpectrogramAugment(frequency_warp=0.1, seed=1)
    >>> tuple(augment(ops.ones((2, 128, 99)), training=True).shape)
    (2, 128, 99)
    """

    def __init__(self, frequency_warp=0.12, time_warp=0.15, time_shift=8, tilt=1.0, mask_bins=16, mask_frames=12,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.frequency_warp = frequency_warp
        self.time_warp = time_warp
        self.time_shift = time_shift
        self.tilt = tilt
        self.mask_bins = mask_bins
        self.mask_frames = mask_frames
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _uniform(self, batch, low, high):
        return keras.random.uniform((batch, 1), low, high, seed=self.seed_generator)

    def _band_mask(self, batch, size, widest):
        """1 everywhere except one random run of up to `widest` positions per clip."""
        width = self._uniform(batch, 0.0, float(widest))
        start = self._uniform(batch, 0.0, 1.0) * (size - width)
        positions = ops.arange(size, dtype="float32")[None]
        return 1.0 - ops.cast((positions >= start) & (positions < start + width), "float32")

    def call(self, spectrogram, training=False):
        if not training:
            return spectrogram
        batch = ops.shape(spectrogram)[0]
        bins, frames = spectrogram.shape[1], spectrogram.shape[2]
        bin_positions = ops.arange(bins, dtype="float32")[None]
        stretch = self._uniform(batch, 1 - self.frequency_warp, 1 + self.frequency_warp)
        augmented = _resample_axis(spectrogram, bin_positions / stretch, axis=1)
        speed = self._uniform(batch, 1 - self.time_warp, 1 + self.time_warp)
        shift = self._uniform(batch, -self.time_shift, self.time_shift)
        augmented = _resample_axis(augmented, (ops.arange(frames, dtype="float32")[None] - shift) * speed, axis=2)
        slope = self._uniform(batch, -self.tilt, self.tilt)
        gain = ops.exp(slope * (2.0 * bin_positions / (bins - 1) - 1.0))
        augmented = augmented * gain[:, :, None]
        if self.mask_bins:
            augmented = augmented * self._band_mask(batch, bins, self.mask_bins)[:, :, None]
        if self.mask_frames:
            augmented = augmented * self._band_mask(batch, frames, self.mask_frames)[:, None, :]
        # Back to [0, 1] per clip, as the features are.
        peak = ops.max(augmented, axis=(1, 2), keepdims=True)
        return augmented / ops.maximum(peak, 1e-6)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "frequency_warp": self.frequency_warp, "time_warp": self.time_warp,
                "time_shift": self.time_shift, "tilt": self.tilt, "mask_bins": self.mask_bins,
                "mask_frames": self.mask_frames, "seed": self.seed}


def _resample_axis(values, positions, axis):
    """Reads `values` (batch, bins, frames) at fractional `positions` (batch, n) along `axis`."""
    size = values.shape[axis]
    inside = ops.cast((positions >= 0) & (positions <= size - 1), values.dtype)
    positions = ops.clip(positions, 0, size - 1)
    below = ops.floor(positions)
    fraction = positions - below
    below = ops.cast(below, "int32")
    above = ops.minimum(below + 1, size - 1)
    expand = (slice(None), slice(None), None) if axis == 1 else (slice(None), None, slice(None))
    shape = ops.shape(values)

    def gather(index):
        return ops.take_along_axis(values, ops.broadcast_to(index[expand], shape), axis=axis)

    weight = (fraction * inside)[expand]
    return gather(below) * ((inside[expand]) - weight) + gather(above) * weight
