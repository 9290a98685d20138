"""The UVAC model: encoder, GMM prior, decoder, and its training step.

The loss is written once, with `keras.ops`, in `UVAC.loss_terms`. Each backend
differentiates it its own way (`keras_uvac.train_steps`: a GradientTape on
TensorFlow, autograd on PyTorch, a stateless `jax.value_and_grad` on JAX).
"""


import keras
import numpy as np
from keras import ops

from keras_uvac import _private_apis, features, layers, presets, train_steps
from keras_uvac.model_arguments import ARCHITECTURES, RECONSTRUCTION_LOSSES, check_model_arguments  # noqa: F401

LOSS_TERMS = ("loss", "reconstruction", "kl", "consistency", "speaker")
if keras.backend.backend() not in train_steps.TRAIN_STEPS:
    raise ImportError(f"keras_uvac supports the tensorflow, jax and torch backends, not {keras.backend.backend()!r}")


@keras.saving.register_keras_serializable(package="keras_uvac")
class UVAC(_private_apis.OptimizerOnlySymbolicBuild, keras.Model):
    """Unsupervised variational acoustic clustering model.

    Calling the model (and so `predict`) gives the cluster posterior
    q(c|x) (eq. 14) at the latent mean. Training minimises, per clip, the
    masked reconstruction error plus `kl_weight` times the KL to the GMM prior
    (eq. 11), with one reparametrised sample; `consistency_weight` > 0 adds a
    term that makes the cluster posterior of an augmented view agree with the
    clip's own (see `keras_uvac.training` for why).

    Args:
        num_clusters: number of clusters (mixture components).
        latent_dim: dimension of z.
        encoder_channels: channels of the encoder convolutions.
        gru_units: units of the encoder GRUs.
        encoder_kernel_size: side of the encoder's square convolution kernels.
        encoder_padding: `"paper"` or `"same"`, see `layers.Encoder`.
        decoder_channels: channels of the decoder's linear layer and hidden
            transposed convolutions.
        num_bins: frequency bins of the input: `feature_config`'s (may be left out).
        num_frames: frames of the input: `feature_config`'s (may be left out).
        reconstruction_loss: `"sse"` (masked squared error summed per clip),
            `"mse"` (its mean over active cells, the literal reading), or
            `"bce"` (summed binary cross-entropy).
        prior_initialization: `"paper"` or `"zeros"`, see `layers.GMMPrior`.
        min_log_variance: floor of the prior's log-variances.
        learn_mixture_weights: learn pi (the paper) or keep it uniform.
        tied_prior_variances: one diagonal variance for every component
            (see `layers.GMMPrior`).
        consistency_weight: weight of the augmentation-consistency term.
        speaker_weight: weight of the speaker-invariance term, used when the
            batches carry a `speaker` index (speaker ids, never class labels):
            the share of the latent means' variance that the speakers' mean
            codes explain.
        cross_speaker_weight: weight, relative to the contrastive term, of
            a term that pulls each clip's code towards its nearest neighbour
            among the other speakers' clips in the batch (needs `speaker`).
        reconstruct_from_view: with `consistency_weight`, encode only the
            two augmented views and reconstruct the clip itself from the
            first view's code (a denoising autoencoder), one encoder pass
            fewer per step than encoding the clip as well.
        augmentation: config dict of `layers.SpectrogramAugment`, or None.
        posterior_temperature: the cluster probabilities are the softmax of
            the posterior's logits divided by this (1: the model's own
            posterior). Training leaves it at 1 and fits it at the end,
            without labels, so that a probability means what it says
            (`quality.calibrate_temperature`); clusters do not change.
        unroll: unroll the GRUs.
        feature_config: the `features.FeatureConfig` (or its config dict) of
            the model's inputs (default: `FeatureConfig()`); it sets the input
            shape, and is kept so that the model computes its inputs the same
            way wherever it is loaded.
        seed: seed of the latent sampling and augmentation.
        **kwargs: passed to `keras.Model`.

    Example:
    >>> model = UVAC(encoder_channels=(4, 8), gru_units=(8,), decoder_channels=(8, 4))
    >>> model.compile(optimizer="adam")
    >>> history = model.fit(train_dataset, epochs=2)  # doctest: +SKIP
    >>> model.predict_clusters(test_dataset)  # doctest: +SKIP
    """

    def __init__(self, num_clusters=10, latent_dim=10, encoder_channels=(16, 32, 64, 128), gru_units=(128, 128),
                 encoder_kernel_size=8, encoder_padding="paper", decoder_channels=(128, 64, 32, 16), num_bins=None,
                 num_frames=None, reconstruction_loss="sse", prior_initialization="paper", min_log_variance=-6.0,
                 learn_mixture_weights=True, tied_prior_variances=False,
                 consistency_weight=0.0, speaker_weight=0.0, cross_speaker_weight=0.0, reconstruct_from_view=False,
                 augmentation=None,
                 posterior_temperature=1.0, unroll=False, feature_config=None, seed=None, **kwargs):
        check_model_arguments({name: value for name, value in locals().items()
                               if name not in ("self", "kwargs", "__class__")})
        super().__init__(**kwargs)
        self.num_clusters = num_clusters
        self.latent_dim = latent_dim
        self.encoder_channels = tuple(encoder_channels)
        self.gru_units = tuple(gru_units)
        self.encoder_kernel_size = encoder_kernel_size
        self.encoder_padding = encoder_padding
        self.decoder_channels = tuple(decoder_channels)
        self.feature_config = features.feature_config_dict(feature_config)
        # The input's shape follows from the features; given as well (a saved config has both), it must agree.
        config = self.feature_config_object()
        for name, given, derived in (("num_bins", num_bins, config.num_bins),
                                     ("num_frames", num_frames, config.num_frames)):
            if given is not None and given != derived:
                raise ValueError(f"UVAC: {name}={given}, but the feature config gives {derived}; leave {name} out")
        self.num_bins, self.num_frames = config.num_bins, config.num_frames
        self.reconstruction_loss = reconstruction_loss
        self.prior_initialization = prior_initialization
        self.min_log_variance = min_log_variance
        self.learn_mixture_weights = learn_mixture_weights
        self.tied_prior_variances = tied_prior_variances
        self.consistency_weight = consistency_weight
        self.speaker_weight = speaker_weight
        self.cross_speaker_weight = cross_speaker_weight
        self.reconstruct_from_view = reconstruct_from_view
        self.augmentation = augmentation
        self.posterior_temperature = posterior_temperature
        self.unroll = unroll
        self.seed = seed

        self.encoder = layers.Encoder(latent_dim, encoder_channels, gru_units, kernel_size=encoder_kernel_size,
                                      padding=encoder_padding, unroll=unroll, name="encoder")
        # The prior's densities and the augmentation's interpolation stay in float32 under mixed precision.
        self.prior = layers.GMMPrior(num_clusters, latent_dim, prior_initialization, min_log_variance,
                                     learn_weights=learn_mixture_weights, tied_variances=tied_prior_variances,
                                     name="prior", dtype="float32")
        self.decoder = layers.Decoder(self.num_bins, self.num_frames, decoder_channels, name="decoder")
        self.front_end = features.AudioFeatures(self.feature_config, name="front_end")
        self.augment = layers.SpectrogramAugment(**(augmentation or {}), seed=seed, name="augment", dtype="float32")
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Schedule knobs that callbacks set between epochs; stored with the model so a resumed run continues.
        self.kl_weight = keras.Variable(1.0, trainable=False, name="kl_weight")
        self.sampling = keras.Variable(1.0, trainable=False, name="sampling")
        self.cluster_weight = keras.Variable(0.0, trainable=False, name="cluster_weight")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in LOSS_TERMS}
        # Built now: the loss reaches the prior and decoder directly, not through call().
        self.build()

    def build(self, input_shape=None):
        if self.built:
            return
        spectrogram_shape = (None, self.num_bins, self.num_frames)
        self.encoder.build(spectrogram_shape)
        self.prior.build((None, self.latent_dim))
        self.decoder.build((None, self.latent_dim))
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def features(self, inputs):
        """The feature dict of a batch: as given, or computed by the model's front end from waveforms.

        A batch with `waveform` and `length` (`pipeline.feature_dataset(...,
        on_device=True)`) gets its `spectrogram` and `activity_mask` from
        `self.front_end` (`features.AudioFeatures` of the model's feature
        config), on the device the model runs on; other entries pass through.

        Example:
        >>> model.features({"waveform": waveforms, "length": lengths})["spectrogram"].shape  # doctest: +SKIP
        (8, 128, 99)
        """
        if not (isinstance(inputs, dict) and "waveform" in inputs):
            return inputs
        computed = self.front_end({"waveform": inputs["waveform"], "length": inputs["length"]})
        return {**{key: value for key, value in inputs.items() if key not in ("waveform", "length")}, **computed}

    def encode(self, inputs, training=False):
        """Returns `(z_mean, z_log_var)` of q(z|x), float32, for a feature dict, waveform dict or spectrogram batch."""
        inputs = self.features(inputs)
        spectrogram = inputs["spectrogram"] if isinstance(inputs, dict) else inputs
        return self._encode_float32(spectrogram, training)

    def call(self, inputs, training=False):
        z_mean, _ = self.encode(inputs, training=training)
        if self.posterior_temperature == 1.0:
            return self.prior(z_mean)
        return ops.softmax(self.prior.cluster_logits(z_mean) / self.posterior_temperature, axis=-1)

    def loss_terms(self, inputs, training=True):
        """Per-batch mean loss terms; the one place the UVAC objective is written.

        Under a `tf.distribute` strategy each replica holds part of the global
        batch. The per-clip terms, the codes and the speaker ids are gathered
        from every replica and the random draws are made for the global batch,
        so each replica computes the global batch's loss (contrastive
        negatives, speaker means and cluster marginals included) exactly as
        one device would.

        Args:
            inputs: a feature dict with `spectrogram` and `activity_mask` (or
                a waveform dict, see `features`), and optionally `speaker`
                (int ids) and `target` (a cluster per clip, -1 for none: the
                self-labelling term of `_consistency`).
            training: run batch normalisation and augmentation in training mode.

        Returns:
            A dict with `loss`, `reconstruction`, `kl`, `consistency` and `speaker`.
        """
        inputs = self.features(inputs)
        spectrogram = ops.convert_to_tensor(inputs["spectrogram"])
        mask = ops.convert_to_tensor(inputs["activity_mask"])[:, None, :]
        replicas = train_steps.Replicas(spectrogram)
        views = None
        if self.consistency_weight and self.reconstruct_from_view:
            views = self._views(spectrogram, training, replicas)
        z_mean, z_log_var = self._encode_float32(spectrogram if views is None else views[0], training)
        noise = replicas.local(keras.random.normal((replicas.global_batch, self.latent_dim), seed=self.seed_generator))
        z = z_mean + self.sampling * ops.exp(0.5 * z_log_var) * noise
        reconstruction = ops.cast(self.decoder(z), "float32")
        reconstruction_error = ops.mean(replicas.gather(
            self._reconstruction_error(spectrogram * mask, reconstruction * mask, mask)))
        kl = ops.mean(replicas.gather(self.prior.kl_divergence(z_mean, z_log_var)))
        speakers = None if "speaker" not in inputs else replicas.gather(ops.convert_to_tensor(inputs["speaker"]))
        targets = None if "target" not in inputs else replicas.gather(ops.convert_to_tensor(inputs["target"]))
        consistency = ops.convert_to_tensor(0.0)
        if self.consistency_weight:
            consistency = self._consistency(spectrogram, training, speakers, replicas, targets,
                                            None if views is None else (views, z_mean))
        speaker = ops.convert_to_tensor(0.0)
        if self.speaker_weight and speakers is not None:
            speaker = speaker_dependence(replicas.gather(z_mean), speakers)
        loss = (reconstruction_error + self.kl_weight * kl + self.consistency_weight * consistency
                + self.speaker_weight * speaker)
        return {"loss": loss, "reconstruction": reconstruction_error, "kl": kl, "consistency": consistency,
                "speaker": speaker}

    def _encode_float32(self, spectrogram, training):
        z_mean, z_log_var = self.encoder(spectrogram, training=training)
        return ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32")

    def _reconstruction_error(self, target, prediction, mask):
        """Per-clip reconstruction error, `(batch,)`."""
        if self.reconstruction_loss == "bce":
            prediction = ops.clip(prediction, 1e-6, 1 - 1e-6)
            per_cell = -(target * ops.log(prediction) + (1 - target) * ops.log(1 - prediction))
            return ops.sum(per_cell * mask, axis=(1, 2))
        squared = ops.sum(ops.square(target - prediction), axis=(1, 2))
        if self.reconstruction_loss == "mse":
            active_cells = ops.maximum(ops.sum(mask, axis=(1, 2)) * self.num_bins, 1.0)
            return squared / active_cells
        return squared

    def _views(self, spectrogram, training, replicas):
        """Two augmented views of this replica's clips."""
        # The views are drawn for the global batch, so every replica draws what one device would.
        whole_batch = replicas.gather(spectrogram)
        return (replicas.local(self.augment(whole_batch, training=training)),
                replicas.local(self.augment(whole_batch, training=training)))

    def _consistency(self, spectrogram, training, speakers=None, replicas=None, targets=None, encoded_views=None):
        """Invariance of the code, and of the cluster, to voice-, channel- and timing-like changes.

        Two augmented views of each clip are encoded. Contrastive term: each
        view's latent mean must be closer (cosine similarity) to its twin's
        than to those of the other clips in the batch (InfoNCE, temperature
        0.2, both directions). Cluster term, weighted by `cluster_weight`
        (0 until the mixture has been fitted to the codes): the two views'
        cluster posteriors (eq. 14) must agree, `-log(p1 . p2)`, with a
        batch-entropy bonus so that no cluster takes all (as in SCAN). The
        word survives the augmentations; pitch, vocal-tract length, microphone
        colour and speaking rate do not, so codes and clusters follow the word.
        With `speakers` and `cross_speaker_weight`, a nearest-neighbour term
        (as in NNCLR, restricted to other speakers) joins the contrastive one.
        With `targets` (a cluster per clip, -1 for none), the cluster term also
        draws both views' posteriors to the clip's target (self-labelling, as
        in SCAN; `training.Recipe.consensus_epochs`). `encoded_views`:
        `((first_view, second_view), first_code)` when the caller has drawn
        the views and encoded the first (`reconstruct_from_view`).
        """
        replicas = replicas or train_steps.Replicas(spectrogram)
        (first_view, second_view), first = encoded_views or (self._views(spectrogram, training, replicas), None)
        if first is None:
            first = self._encode_float32(first_view, training)[0]
        first = replicas.gather(first)
        second = replicas.gather(self._encode_float32(second_view, training)[0])

        def unit(vectors):
            return vectors / ops.sqrt(ops.sum(ops.square(vectors), axis=-1, keepdims=True) + 1e-8)

        similarity = ops.matmul(unit(first), ops.transpose(unit(second))) / 0.2
        row_log_probabilities = ops.log_softmax(similarity, axis=1)
        forward = ops.diagonal(row_log_probabilities)
        backward = ops.diagonal(ops.log_softmax(similarity, axis=0))
        contrastive = -0.5 * ops.mean(forward + backward)
        if self.cross_speaker_weight and speakers is not None:
            # Each view-1 code is also drawn to the nearest other-speaker view-2 code, found without gradient:
            # same-word neighbours across voices pull the speakers' versions of a word together.
            speakers = ops.reshape(speakers, (-1,))
            other_speaker = ops.not_equal(speakers[:, None], speakers[None, :])
            candidates = ops.where(other_speaker, ops.stop_gradient(similarity), -1e9)
            # A clip whose batch holds no other speaker has no neighbour and adds nothing.
            nearest = ops.cast(ops.logical_and(other_speaker, ops.equal(
                candidates, ops.max(candidates, axis=1, keepdims=True))), "float32")
            contrastive += -self.cross_speaker_weight * ops.mean(ops.sum(nearest * row_log_probabilities, axis=1))

        first_posterior, second_posterior = self.prior(first), self.prior(second)
        agreement = -ops.mean(ops.log(ops.sum(first_posterior * second_posterior, axis=-1) + 1e-8))
        marginal = ops.mean(0.5 * (first_posterior + second_posterior), axis=0)
        marginal_entropy = -ops.sum(marginal * ops.log(marginal + 1e-8))
        cluster_term = agreement - marginal_entropy + float(np.log(self.num_clusters))
        if targets is not None:
            targets = ops.reshape(targets, (-1,))
            labeled = ops.cast(ops.greater_equal(targets, 0), "float32")
            one_hot = ops.one_hot(ops.maximum(targets, 0), self.num_clusters)
            log_likelihood = 0.5 * (ops.log(ops.sum(first_posterior * one_hot, axis=-1) + 1e-8)
                                    + ops.log(ops.sum(second_posterior * one_hot, axis=-1) + 1e-8))
            cluster_term -= ops.sum(labeled * log_likelihood) / ops.maximum(ops.sum(labeled), 1.0)
        return contrastive + self.cluster_weight * cluster_term

    def _record(self, terms):
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, *args):
        # Keras calls train_step(data) on TensorFlow and PyTorch, and the stateless train_step(state, data) on JAX.
        return train_steps.TRAIN_STEPS[keras.backend.backend()](self, *args)

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            return train_steps.jax_test_step(self, *args)
        return self._record(self.loss_terms(train_steps.inputs_of(args[0]), training=False))

    def latent_mean(self, data, batch_size=256):
        """Latent means z of a dataset, array or feature dict, as a NumPy array.

        Example:
        >>> z = model.latent_mean(test_dataset)  # doctest: +SKIP
        """
        return np.concatenate([keras.ops.convert_to_numpy(self.encode(inputs)[0])
                               for inputs in _batches(data, batch_size)])

    def predict_clusters(self, data, batch_size=256):
        """Most probable cluster of each clip, and its probability.

        Returns:
            `(clusters, probabilities)`: int array `(N,)` and float array `(N,)`.

        Example:
        >>> clusters, confidence = model.predict_clusters(test_dataset)  # doctest: +SKIP
        """
        posterior = np.concatenate([keras.ops.convert_to_numpy(self(inputs)) for inputs in _batches(data, batch_size)])
        clusters = posterior.argmax(axis=-1)
        return clusters, posterior[np.arange(len(clusters)), clusters]

    def get_config(self):
        return {**super().get_config(), "num_clusters": self.num_clusters, "latent_dim": self.latent_dim,
                "encoder_channels": self.encoder_channels, "gru_units": self.gru_units,
                "encoder_kernel_size": self.encoder_kernel_size, "encoder_padding": self.encoder_padding,
                "decoder_channels": self.decoder_channels, "num_bins": self.num_bins,
                "num_frames": self.num_frames, "reconstruction_loss": self.reconstruction_loss,
                "prior_initialization": self.prior_initialization, "min_log_variance": self.min_log_variance,
                "learn_mixture_weights": self.learn_mixture_weights, "tied_prior_variances": self.tied_prior_variances,
                "consistency_weight": self.consistency_weight, "speaker_weight": self.speaker_weight,
                "cross_speaker_weight": self.cross_speaker_weight, "reconstruct_from_view": self.reconstruct_from_view,
                "augmentation": self.augmentation, "posterior_temperature": self.posterior_temperature,
                "unroll": self.unroll, "feature_config": self.feature_config, "seed": self.seed}

    def parameter_counts(self):
        """Parameters in all and at inference (encoder and GMM prior), as the paper counts them.

        Example:
        >>> UVAC(encoder_channels=(4, 8), gru_units=(8,), decoder_channels=(8, 4)).parameter_counts()
        {'total': 11538, 'inference': 9138}
        """
        return {"total": int(self.count_params()),
                "inference": int(self.encoder.count_params() + self.prior.count_params())}

    def inference_macs(self):
        """Multiply-accumulates of one clip's inference (encoder and posterior), the microcontroller's work.

        Example:
        >>> UVAC(encoder_channels=(4, 8), gru_units=(8,), decoder_channels=(8, 4)).inference_macs()
        2528104
        """
        macs, shape = 0, (1, self.num_bins, self.num_frames, 1)
        for layer in self.encoder.convolutions:
            output_shape = layer.compute_output_shape(shape)
            if isinstance(layer, keras.layers.Conv2D):
                macs += int(np.prod(output_shape[1:])) * layer.kernel_size[0] * layer.kernel_size[1] * shape[-1]
            shape = output_shape
        steps, features = shape[2], shape[1] * shape[3]
        for units in self.gru_units:
            macs += steps * 3 * (features + units) * units
            features = units
        # The latent moments' layer, then the posterior's quadratic and linear dense layers.
        return macs + features * 2 * self.latent_dim + 2 * self.latent_dim * self.num_clusters

    @classmethod
    def from_preset(cls, preset):
        """Loads a preset: a shipped name (`keras_uvac.presets.PRESETS`), a preset folder or a `.keras` file.

        The model is loaded with Keras' safe mode on; its card, if the preset
        has one, is `model.card`.

        Example:
        >>> model = UVAC.from_preset("uvac_fsdd")  # doctest: +SKIP
        >>> model.card["test_metrics"]["UVAC"]["accuracy"]  # doctest: +SKIP
        0.8433333333333334
        """
        return presets.load_preset(preset, cls)

    def save_to_preset(self, folder, card=None):
        """Saves the model and its card (default: `self.card`) as a preset folder.

        Example:
        >>> model.save_to_preset("presets/my_corpus")  # doctest: +SKIP
        """
        return presets.save_preset(self, folder, card)

    def feature_config_object(self):
        """The `features.FeatureConfig` of this model's inputs."""
        return features.FeatureConfig.from_config(self.feature_config)


def speaker_dependence(codes, speakers):
    """Share of the codes' variance in a batch that the speakers' mean codes explain.

    0 when every speaker's clips have the same mean code, 1 when each speaker's
    clips share one code. Clustering speech by word needs codes whose speaker
    means coincide: centring each speaker's codes alone lifted K-means on
    pretrained FSDD codes from 0.39 to 0.68 accuracy (docs/design.md, "Speaker terms").

    Args:
        codes: `(batch, latent_dim)` float32.
        speakers: `(batch,)` integer speaker ids.

    Returns:
        A scalar in [0, 1].

    Example:
    >>> round(float(speaker_dependence(ops.convert_to_tensor([[0.0], [2.0]]), ops.convert_to_tensor([0, 1]))), 4)
    1.0
    """
    codes = ops.convert_to_tensor(codes, "float32")
    speakers = ops.reshape(ops.convert_to_tensor(speakers), (-1,))
    same_speaker = ops.cast(ops.equal(speakers[:, None], speakers[None, :]), "float32")
    speaker_means = ops.matmul(same_speaker / ops.sum(same_speaker, axis=1, keepdims=True), codes)
    batch_mean = ops.mean(codes, axis=0, keepdims=True)
    between = ops.mean(ops.sum(ops.square(speaker_means - batch_mean), axis=-1))
    total = ops.mean(ops.sum(ops.square(codes - batch_mean), axis=-1))
    return between / (total + 1e-6)


def _batches(data, batch_size):
    """Feature dicts from a tf.data dataset, a feature dict of arrays, or a spectrogram array."""
    if isinstance(data, dict) or isinstance(data, np.ndarray):
        count = len(next(iter(data.values())) if isinstance(data, dict) else data)
        for start in range(0, count, batch_size):
            if isinstance(data, dict):
                yield {key: value[start:start + batch_size] for key, value in data.items()}
            else:
                yield {"spectrogram": data[start:start + batch_size]}
    else:
        for batch in data:
            yield train_steps.inputs_of(batch)
