"""A pretrained speaker encoder for pseudo-speakers: Resemblyzer's network as a Keras model.

Today's voice descriptor (`keras_uvac.nuisance`) finds the speakers of a corpus
with a few far-apart voices, but on many close voices its groups follow the
words as much as the voices. A speaker encoder was trained to tell voices apart
whatever they say: Resemblyzer's (Apache-2.0; a GE2E network, Wan et al. 2018,
trained on thousands of speakers) ships its weights in its wheel. This module
runs that network as a Keras model on the package's own decoded clips (the
waveforms that `pipeline.waveform_batches` yields), so nothing of Resemblyzer
is imported: only its weights file is read, with PyTorch.

Install with `pip install "keras_uvac[speakers]"`.
"""

import importlib.util
import os

import keras
import numpy as np
import tensorflow as tf

# What the encoder was trained on: 16 kHz audio, 40 mel bands of 25 ms windows every 10 ms, partial utterances of
# 160 frames (1.6 s). A clip of a second or less is one partial, zero-padded to 1.6 s, as Resemblyzer pads it.
SAMPLE_RATE = 16000
WINDOW_LENGTH = 400
HOP_LENGTH = 160
MEL_BANDS = 40
PARTIAL_FRAMES = 160
HIDDEN_SIZE = 256
LAYERS = 3
_EMBEDDINGS = {}


def available():
    """Whether the encoder can run here: Resemblyzer's weights and PyTorch to read them are installed.

    Example:
    >>> available() in (True, False)
    True
    """
    return all(importlib.util.find_spec(name) is not None for name in ("resemblyzer", "torch"))


def weights_path():
    """The path of the weights file that Resemblyzer's wheel installs.

    Raises:
        ImportError: Resemblyzer is not installed.

    Example:
    >>> os.path.basename(weights_path())  # doctest: +SKIP
    'pretrained.pt'
    """
    # find_spec locates the package without importing it (its import needs librosa and webrtcvad, unused here).
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('the speaker encoder needs Resemblyzer\'s weights: pip install "keras_uvac[speakers]"')
    return os.path.join(list(spec.submodule_search_locations)[0], "pretrained.pt")


def slaney_mel_filters(sample_rate=SAMPLE_RATE, fft_length=WINDOW_LENGTH, bands=MEL_BANDS):
    """Triangular mel filters on the Slaney scale, each of unit area: what Resemblyzer's features use.

    Args:
        sample_rate: audio rate in Hz.
        fft_length: DFT length (the filters cover its `fft_length // 2 + 1` bins).
        bands: number of filters, spread from 0 Hz to half the rate.

    Returns:
        A float32 `(bins, bands)` matrix.

    Example:
    >>> slaney_mel_filters().shape
    (201, 40)
    """
    def to_mel(hz):
        # Slaney's scale: linear below 1 kHz (15 mels), logarithmic above (27 steps per factor of 6.4).
        hz = np.asarray(hz, np.float64)
        return np.where(hz < 1000, hz * 3 / 200, 15 + 27 * np.log(np.maximum(hz, 1e-9) / 1000) / np.log(6.4))

    def to_hz(mel):
        return np.where(mel < 15, mel * 200 / 3, 1000 * np.exp((mel - 15) * np.log(6.4) / 27))

    edges = to_hz(np.linspace(0, to_mel(sample_rate / 2), bands + 2))
    bins = np.linspace(0, sample_rate / 2, fft_length // 2 + 1)
    rising = (bins[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins[None, :]) / np.diff(edges)[1:, None]
    triangles = np.maximum(0, np.minimum(rising, falling)) * (2 / (edges[2:] - edges[:-2]))[:, None]
    return triangles.T.astype(np.float32)


def mel_power(waveforms):
    """The encoder's input: mel power spectra of the first 1.6 s of each 16 kHz clip.

    Args:
        waveforms: float32 `(clips, samples)` at 16 kHz; zeros after a clip's end.

    Returns:
        A float32 tensor `(clips, PARTIAL_FRAMES, MEL_BANDS)`.

    Example:
    >>> mel_power(np.zeros((2, 16000), np.float32)).shape
    TensorShape([2, 160, 40])
    """
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    # One partial: the first 1.6 s, zero-padded as Resemblyzer pads a shorter utterance (the clips here are ~1 s).
    span = PARTIAL_FRAMES * HOP_LENGTH
    waveforms = tf.pad(waveforms[:, :span], [[0, 0], [0, span - tf.minimum(tf.shape(waveforms)[1], span)]])
    # Centred frames, as librosa frames them: half a window of zeros on each side.
    padded = tf.pad(waveforms, [[0, 0], [WINDOW_LENGTH // 2, WINDOW_LENGTH // 2]])
    spectra = tf.signal.stft(padded, WINDOW_LENGTH, HOP_LENGTH, WINDOW_LENGTH, window_fn=tf.signal.hann_window)
    return tf.matmul(tf.abs(spectra[:, :PARTIAL_FRAMES]) ** 2, slaney_mel_filters())


def build_speaker_encoder(weights=None):
    """The encoder as a Keras model: three LSTM layers, a ReLU projection, unit length.

    Args:
        weights: path of Resemblyzer's `pretrained.pt` (default: `weights_path()`);
            `False` leaves the weights random (for tests of the shapes).

    Returns:
        A `keras.Model` from `(clips, PARTIAL_FRAMES, MEL_BANDS)` mel power
        spectra to `(clips, 256)` embeddings.

    Example:
    >>> build_speaker_encoder(weights=False).output_shape
    (None, 256)
    """
    mels = keras.Input((PARTIAL_FRAMES, MEL_BANDS))
    hidden = mels
    for layer in range(LAYERS):
        hidden = keras.layers.LSTM(HIDDEN_SIZE, return_sequences=layer < LAYERS - 1, name=f"lstm_{layer}")(hidden)
    projected = keras.layers.Dense(HIDDEN_SIZE, activation="relu", name="projection")(hidden)
    embedded = keras.layers.UnitNormalization()(projected)
    encoder = keras.Model(mels, embedded, name="speaker_encoder")
    if weights is not False:
        load_weights(encoder, weights or weights_path())
    return encoder


def load_weights(encoder, path):
    """Copies Resemblyzer's PyTorch weights into `build_speaker_encoder`'s layers.

    Example:
    >>> load_weights(build_speaker_encoder(weights=False), weights_path())  # doctest: +SKIP
    """
    try:
        import torch
    except ImportError as error:
        raise ImportError('reading the speaker encoder\'s weights needs PyTorch: pip install "keras_uvac[speakers]"') \
            from error
    state = {name: tensor.numpy() for name, tensor in
             torch.load(path, map_location="cpu", weights_only=True)["model_state"].items()}
    for layer in range(LAYERS):
        # PyTorch's gates come in Keras' order (input, forget, cell, output); its two biases add up to Keras' one.
        encoder.get_layer(f"lstm_{layer}").set_weights([
            state[f"lstm.weight_ih_l{layer}"].T, state[f"lstm.weight_hh_l{layer}"].T,
            state[f"lstm.bias_ih_l{layer}"] + state[f"lstm.bias_hh_l{layer}"]])
    encoder.get_layer("projection").set_weights([state["linear.weight"].T, state["linear.bias"]])


def collection_embeddings(collection, config, encoder=None, batch_size=128):
    """The speaker embedding of every clip of a `datasets.AudioCollection`.

    Args:
        collection: a `datasets.AudioCollection`.
        config: a `features.FeatureConfig` at 16 kHz: how the package's
            pipeline decodes and cuts each clip (`nuisance.DESCRIPTOR_CONFIG`:
            the loudest second, as the voice descriptor sees it).
        encoder: a `build_speaker_encoder()` model (default: built here).
        batch_size: clips per batch.

    Returns:
        A float32 array `(clips, 256)` of unit vectors.

    Example:
    >>> collection_embeddings(load_audio(), FeatureConfig()).shape  # doctest: +SKIP
    (3000, 256)
    """
    if config.sample_rate != SAMPLE_RATE:
        raise ValueError(f"the speaker encoder takes {SAMPLE_RATE} Hz audio; the config gives {config.sample_rate} Hz")
    key = (tuple(map(str, collection.paths)), config)
    if encoder is None and key in _EMBEDDINGS:
        return _EMBEDDINGS[key]
    from keras_uvac import pipeline

    model = encoder or build_speaker_encoder()
    batches = pipeline.waveform_batches(collection, config, batch_size=batch_size)
    # NumPy between the two: the mel spectra are TensorFlow's, the encoder runs on any Keras backend.
    embedded = [np.asarray(model(np.asarray(mel_power(batch["waveform"])), training=False)) for batch in batches]
    embedded = np.concatenate(embedded) if embedded else np.zeros((0, HIDDEN_SIZE), np.float32)
    if encoder is None:
        # Every run of a consensus and its self-labelling group the same clips: embed them once per process.
        _EMBEDDINGS.clear()
        _EMBEDDINGS[key] = embedded
    return embedded
