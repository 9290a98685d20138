"""Features: the UVAC input, a normalised STFT magnitude and its activity mask.

`AudioFeatures` is their one definition: a Keras layer that the tf.data
pipeline runs (on the CPU, on any backend), the model runs on its own device
when it is given waveforms, and the raw-audio export converts.

The paper's numbers (960-sample window, 480 hop, 128 bins, 99 frames) only fit
48 kHz audio, so the definition here is in time and frequency: a 20 ms Hann
window, a 10 ms hop and 128 bins of 50 Hz above the zero-frequency bin. At 48 kHz
that is exactly the paper's STFT; at any rate of 12.8 kHz or more, one second
gives the same 128 x 99 input.
"""

import dataclasses
import fractions
import functools
import math

import keras
import numpy as np
import scipy.signal
import tensorflow as tf

from keras_uvac import validation
from keras_uvac._private_apis import DataLayer

LONG_CLIP_POLICIES = ("loudest", "centred", "start")
MAGNITUDES = ("linear", "log", "power")
# The options that came after the paper's features, as the paper has them: what a config saved before they
# existed (or before they became the default: the root-compressed, noise-floored magnitude) meant.
PAPER_FEATURES = {"magnitude": "linear", "noise_margin_db": None}
DFT_FORMS = ("fft", "matrix")
# The rates audio may be resampled to and the longest clip kept: twice the paper's 48 kHz, and windows far longer
# than a word or a sound event, yet a batch of clips still fits in memory (128 clips of 30 s at 96 kHz: 1.5 GB).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 96_000
MAX_DURATION = 30.0
NOISE_MARGIN_RANGE = (0.0, 60.0)


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
    """Every parameter of the feature computation.

    Args:
        sample_rate: rate the audio is resampled to, in Hz (>= 12.8 kHz so
            that 128 bins of 50 Hz exist).
        duration: clip length in seconds; shorter clips are zero-padded.
        frame_ms: STFT window length in milliseconds (Hann, periodic).
        hop_ms: STFT hop in milliseconds.
        num_bins: frequency bins kept, starting above the zero-frequency bin.
        long_clip_policy: what to do with a clip longer than `duration`:
            `"loudest"` keeps the `duration` window of highest energy (a word
            inside a long recording; a shorter sound may sit anywhere in it,
            at its end in silence), `"centred"` moves that window so that the
            centre of its energy sits in the middle (a shorter sound in the
            middle of the window, wherever it is in the clip), `"start"` keeps
            the beginning.
        magnitude: `"linear"` (the paper's STFT magnitude), `"log"` (its
            logarithm over the `log_range_db` below each clip's peak, as a
            level in dB: quiet harmonics and formants count, not just the
            loudest bins) or `"power"` (the default: the magnitude raised to
            `power_exponent`: a compression between the two that lifts the
            quiet parts without a range to choose).
        log_range_db: the dynamic range kept by `magnitude="log"`; anything
            quieter reads as 0.
        noise_margin_db: also read as 0 what is less than this many dB above
            the clip's own noise level (the mean magnitude of its quietest
            fully recorded frame), so that a noisy recording's noise does not
            fill the picture: with `magnitude="log"` the range ends there
            instead of in the noise; with `"linear"` or `"power"` that level is
            subtracted from the magnitude first (spectral subtraction, Boll
            1979), which leaves what stands well above the noise nearly as it
            was. The default is 6 dB; `None` keeps the magnitude as it is.
        power_exponent: the exponent of `magnitude="power"`, in (0, 1]
            (1 is the linear magnitude; 0.5 its square root).

    The paper's features are `FeatureConfig(magnitude="linear",
    noise_margin_db=None)`.

    Example:
    >>> config = FeatureConfig(sample_rate=48000)
    >>> config.frame_length, config.hop_length, config.num_frames
    (960, 480, 99)
    >>> FeatureConfig.from_config(config.get_config()) == config
    True
    """

    sample_rate: int = 16000
    duration: float = 1.0
    frame_ms: float = 20.0
    hop_ms: float = 10.0
    num_bins: int = 128
    long_clip_policy: str = "loudest"
    magnitude: str = "power"
    log_range_db: float = 80.0
    noise_margin_db: float | None = 6.0
    power_exponent: float = 0.5

    def __post_init__(self):
        try:
            validation.number("sample_rate", self.sample_rate, MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, whole=True)
            validation.number("duration", self.duration, 0, MAX_DURATION, low_open=True)
            validation.number("frame_ms", self.frame_ms, 0, 1000, low_open=True)
            validation.number("hop_ms", self.hop_ms, 0, 1000, low_open=True)
            validation.number("num_bins", self.num_bins, 1, 4096, whole=True)
            validation.choice("long_clip_policy", self.long_clip_policy, LONG_CLIP_POLICIES)
            validation.choice("magnitude", self.magnitude, MAGNITUDES)
            validation.number("log_range_db", self.log_range_db, 0, 200, low_open=True)
            if self.noise_margin_db is not None:
                validation.number("noise_margin_db", self.noise_margin_db, *NOISE_MARGIN_RANGE)
            validation.number("power_exponent", self.power_exponent, 0, 1, low_open=True)
            for name, milliseconds in (("frame_ms", self.frame_ms), ("hop_ms", self.hop_ms),
                                       ("duration", 1000 * self.duration)):
                samples = milliseconds * self.sample_rate / 1000
                if samples < 1 or abs(samples - round(samples)) > 1e-6:
                    raise validation.InvalidValue(name, f"a whole number of samples at {self.sample_rate} Hz "
                                                        f"(it gives {samples:g})", getattr(self, name))
            if self.num_bins + 1 > self.frame_length // 2 + 1:
                raise validation.InvalidValue(
                    "sample_rate", f"at least {2000 * self.num_bins / self.frame_ms:g} Hz, so that a "
                                   f"{self.frame_ms:g} ms window holds {self.num_bins} bins above 0 Hz",
                    self.sample_rate)
            if self.num_samples < self.frame_length:
                raise validation.InvalidValue("duration", f"at least one frame ({self.frame_ms:g} ms)", self.duration)
        except validation.InvalidValue as error:
            raise error.named(error.name, "FeatureConfig") from None

    @property
    def frame_length(self):
        return round(self.frame_ms * self.sample_rate / 1000)

    @property
    def hop_length(self):
        return round(self.hop_ms * self.sample_rate / 1000)

    @property
    def num_samples(self):
        return round(self.duration * self.sample_rate)

    @property
    def num_frames(self):
        return (self.num_samples - self.frame_length) // self.hop_length + 1

    @property
    def bin_hz(self):
        return self.sample_rate / self.frame_length

    def get_config(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        """The configuration of a `get_config()` dict.

        A dict saved before an option existed lacks its key; it reads as the
        paper's features (`PAPER_FEATURES`), which is what such a model was
        trained on.
        """
        return cls(**{**PAPER_FEATURES, **config})


def feature_config_dict(feature_config):
    """The config dict of a `FeatureConfig`, a config dict or None (today's default), as a model stores it.

    Example:
    >>> feature_config_dict(None)["magnitude"]
    'power'
    """
    if isinstance(feature_config, dict):
        return feature_config
    return (feature_config or FeatureConfig()).get_config()


# The convolution's filters span `down` input samples for each of `up` phases; beyond this, SciPy resamples.
_MAX_FILTER_VALUES = 2**22


# Output groups (one sample per phase) computed together by one convolution step: a one-channel input makes the
# convolution slow, so the input is read in blocks of `groups * down` samples.
# Rate pairs with a large `up` or `down` already give wide filters and use fewer groups.
_GROUPS_PER_STEP = 8


@functools.cache
def _polyphase_filters(up, down):
    """SciPy's `resample_poly` filter for `up/down`, laid out as a convolution over blocks of input samples.

    Output group `g` (the output samples `g * up` to `g * up + up - 1`) reads
    the input, left-padded by `shift` zeros, from sample `g * down` on. The
    input is reshaped into blocks of `groups * down` samples, and one stride-1
    convolution over the blocks gives `groups` output groups per block.

    Returns `(filters, shift, groups)` with float32 filters
    `(kernel_blocks, groups * down, groups * up)`; or None when that layout
    would hold more than `_MAX_FILTER_VALUES` values (rates with a large `up`
    and `down`, such as 44,101 Hz to 16 kHz).
    """
    largest = max(up, down)
    half_length = 10 * largest
    prototype = scipy.signal.firwin(2 * half_length + 1, 1.0 / largest, window=("kaiser", 5.0)) * up
    # SciPy's alignment: pre-padding that centres the output samples, and the samples it then drops.
    pre_pad = down - half_length % down
    prototype = np.concatenate([np.zeros(pre_pad), prototype])
    dropped = (half_length + pre_pad) // down
    # Output sample r reads inputs base_r, base_r - 1, ... with taps prototype[phase_r], prototype[phase_r + up], ...
    bases = [(phase + dropped) * down // up for phase in range(up)]
    phases = [(phase + dropped) * down % up for phase in range(up)]
    taps = [prototype[phase::up] for phase in phases]
    shift = max(0, max(len(row) - 1 - base for base, row in zip(bases, taps)))
    span = max(bases) + shift + 1
    groups = max(1, min(_GROUPS_PER_STEP, 64 // largest))
    kernel_blocks = -(-((groups - 1) * down + span) // (groups * down))
    if kernel_blocks * groups * down * groups * up > _MAX_FILTER_VALUES:
        return None
    filters = np.zeros((kernel_blocks * groups * down, groups * up), np.float32)
    for channel, (base, row) in enumerate(zip(bases, taps)):
        for group in range(groups):
            filters[group * down + base + shift - np.arange(len(row)), group * up + channel] = row
    return filters.reshape(kernel_blocks, groups * down, groups * up), shift, groups


def resample(waveforms, source_rate, target_rate):
    """Resamples float waveforms along their last axis as SciPy's `resample_poly` does, with TensorFlow ops.

    The same Kaiser-windowed filter and alignment as `scipy.signal.resample_poly`
    (agreement to about 1e-6), computed as one convolution over blocks of input
    samples with an output channel per filter phase and block position, so a
    batch resamples in one op, in parallel, in a tf.data graph or eagerly.
    Unusual rate pairs whose filter layout would be too large (e.g. 44,101 Hz)
    are resampled by SciPy itself.

    Args:
        waveforms: one waveform `(samples,)` or a batch `(batch, samples)`.
        source_rate: their rate in Hz.
        target_rate: the wanted rate in Hz.

    Returns:
        A float32 tensor with `ceil(samples * target / source)` samples per waveform.

    Example:
    >>> tuple(resample(np.zeros(8000), 8000, 16000).shape)
    (16000,)
    >>> tuple(resample(np.zeros((2, 48000)), 48000, 16000).shape)
    (2, 16000)
    """
    waveforms = tf.convert_to_tensor(waveforms, tf.float32)
    ratio = fractions.Fraction(int(target_rate), int(source_rate))
    up, down = ratio.numerator, ratio.denominator
    if up == down:
        return waveforms
    batch = waveforms[None] if waveforms.shape.rank == 1 else waveforms
    layout = _polyphase_filters(up, down)
    if layout is None:
        resampled = tf.numpy_function(
            lambda values: scipy.signal.resample_poly(values, up, down, axis=1).astype(np.float32), [batch],
            tf.float32, stateful=False)
        resampled.set_shape([batch.shape[0], None])
        return resampled[0] if waveforms.shape.rank == 1 else resampled
    filters, shift, groups = layout
    samples = tf.shape(batch, out_type=tf.int64)[1]
    outputs = (samples * up + down - 1) // down
    blocks = (outputs + groups * up - 1) // (groups * up)
    needed = (blocks + len(filters) - 1) * groups * down
    padded = tf.pad(batch, [[0, 0], [shift, tf.maximum(needed - samples - shift, 0)]])[:, :needed]
    padded = tf.reshape(padded, [tf.shape(batch)[0], -1, groups * down])
    by_block = tf.nn.conv1d(padded, filters, stride=1, padding="VALID")
    resampled = tf.reshape(by_block, [tf.shape(batch)[0], -1])[:, :outputs]
    return resampled[0] if waveforms.shape.rank == 1 else resampled


@keras.saving.register_keras_serializable(package="keras_uvac")
class AudioFeatures(DataLayer):
    """The UVAC features of fixed-length waveforms: the package's one STFT.

    Frames are cut at each hop, windowed (periodic Hann) and transformed to
    bins 1..num_bins, in one of two forms that agree to about 1e-6: the
    backend's real FFT (`dft="fft"`, the default: the pipeline and the model's
    own front end), or one constant matrix product with the DFT's cosine and
    sine rows (`dft="matrix"`: TFLite's RFFT2D only takes power-of-two lengths,
    and 20 ms at 16 kHz is 320 samples, so the raw-audio export uses it). The
    magnitude (or its log or power, by `FeatureConfig.magnitude`) is min-max normalised
    per clip (the paper's z-score then min-max equals the min-max alone); a
    silent clip gives zeros, never NaN.

    Args:
        feature_config: a `FeatureConfig` or its config dict (default: `FeatureConfig()`).
        dft: `"fft"` or `"matrix"`, how the transform is computed.
        **kwargs: passed to `keras.layers.Layer`.

    Call arguments:
        inputs: waveforms `(batch, num_samples)`, or a dict with `waveform`
            and `length` (samples of recorded audio per clip).

    Returns:
        The spectrogram `(batch, num_bins, num_frames)` in [0, 1]; for a dict,
        a dict with `spectrogram` and `activity_mask` `(batch, num_frames)`,
        1 where a frame starts within the recorded audio and 0 in the padding.

    Example:
    >>> features = AudioFeatures(FeatureConfig())({"waveform": np.zeros((2, 16000), "float32"),
    ...                                            "length": np.array([16000, 800])})
    >>> tuple(features["spectrogram"].shape), tuple(features["activity_mask"].shape)
    ((2, 128, 99), (2, 99))
    """

    def __init__(self, feature_config=None, dft="fft", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if dft not in DFT_FORMS:
            raise ValueError(f"AudioFeatures: dft must be one of {DFT_FORMS}, got {dft!r}")
        self.feature_config = feature_config_dict(feature_config)
        self.dft = dft
        config = self.config = FeatureConfig.from_config(self.feature_config)
        samples = np.arange(config.frame_length)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * samples / config.frame_length)
        if dft == "matrix":
            angle = 2 * np.pi * samples[:, None] * np.arange(1, config.num_bins + 1)[None, :] / config.frame_length
            # One product gives the real parts (first num_bins columns) and the imaginary parts (the rest).
            self.dft_matrix = (window[:, None] * np.concatenate([np.cos(angle), np.sin(angle)], axis=1)
                               ).astype("float32")
        else:
            self.window = window.astype("float32")
        self.frame_starts = (np.arange(config.num_frames) * config.hop_length).astype("int32")
        # Frames are cut from blocks of `block` samples by strided slices (a gather of every frame's samples
        # costs more than the DFT itself).
        self.block = math.gcd(config.frame_length, config.hop_length)

    def _frames(self, waveform):
        config, numpy = self.config, self.backend.numpy
        block_step = config.hop_length // self.block
        blocks_used = ((config.num_frames - 1) * config.hop_length + config.frame_length) // self.block
        blocks = numpy.reshape(waveform[:, :blocks_used * self.block], (-1, blocks_used, self.block))
        last = (config.num_frames - 1) * block_step + 1
        return numpy.concatenate([blocks[:, first:first + last:block_step]
                                  for first in range(config.frame_length // self.block)], axis=-1)

    def _magnitude(self, waveform):
        """The STFT magnitude of waveforms `(batch, num_samples)`, `(batch, num_bins, num_frames)`, unscaled."""
        numpy, bins = self.backend.numpy, self.config.num_bins
        if self.dft == "matrix":
            spectrum = numpy.matmul(self._frames(waveform), self.dft_matrix)
            real, imaginary = spectrum[..., :bins], spectrum[..., bins:]
        else:
            real, imaginary = self.backend.math.rfft(self._frames(waveform) * self.window)
            real, imaginary = real[..., 1:bins + 1], imaginary[..., 1:bins + 1]
        return numpy.transpose(numpy.sqrt(real * real + imaginary * imaginary), (0, 2, 1))

    def call(self, inputs):
        numpy = self.backend.numpy
        spectrogram = self._magnitude(inputs["waveform"] if isinstance(inputs, dict) else inputs)
        lengths = self.backend.cast(inputs["length"], "int32") if isinstance(inputs, dict) else None
        noise_floor = None
        if self.config.noise_margin_db is not None:
            noise_floor = self._noise_level(spectrogram, lengths) * 10.0 ** (self.config.noise_margin_db / 20)
        if self.config.magnitude == "log":
            # The floor follows each clip's peak, so the level does not matter; 1e-12 keeps silence finite.
            peak = numpy.max(spectrogram, axis=(1, 2), keepdims=True)
            floor = numpy.maximum(peak * 10.0 ** (-self.config.log_range_db / 20), 1e-12)
            if noise_floor is not None:
                floor = numpy.maximum(floor, noise_floor)
            spectrogram = numpy.log(numpy.maximum(spectrogram, floor))
        else:
            if noise_floor is not None:
                spectrogram = numpy.maximum(spectrogram - noise_floor, 0.0)
            if self.config.magnitude == "power":
                spectrogram = numpy.power(spectrogram, self.config.power_exponent)
        low = numpy.min(spectrogram, axis=(1, 2), keepdims=True)
        high = numpy.max(spectrogram, axis=(1, 2), keepdims=True)
        spectrogram = (spectrogram - low) / numpy.maximum(high - low, 1e-12)
        if not isinstance(inputs, dict):
            return spectrogram
        activity_mask = self.backend.cast(numpy.less(self.frame_starts[None, :], lengths[:, None]), "float32")
        return {"spectrogram": spectrogram, "activity_mask": activity_mask}

    def _noise_level(self, spectrogram, lengths):
        """The mean magnitude of each clip's quietest frame that lies wholly in the recording, `(batch, 1, 1)`.

        A frame that overlaps the zero padding would read as quieter than the
        recording's noise; a clip without a whole frame gets 0 (no noise floor).
        Without `lengths` (a plain waveform) every frame is recorded audio.
        """
        numpy = self.backend.numpy
        frame_levels = numpy.mean(spectrogram, axis=1)
        if lengths is None:
            return numpy.min(frame_levels, axis=1)[:, None, None]
        whole = numpy.less_equal(self.frame_starts[None, :] + self.config.frame_length, lengths[:, None])
        quietest = numpy.min(numpy.where(whole, frame_levels, np.float32(np.inf)), axis=1)
        return numpy.where(numpy.isfinite(quietest), quietest, 0.0)[:, None, None]

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            batch = input_shape["waveform"][0]
            return {"spectrogram": (batch, self.config.num_bins, self.config.num_frames),
                    "activity_mask": (batch, self.config.num_frames)}
        return (input_shape[0], self.config.num_bins, self.config.num_frames)

    def get_config(self):
        return {**super().get_config(), "feature_config": self.feature_config, "dft": self.dft}


def spectrogram_and_mask(waveforms, lengths, config):
    """The UVAC features of a batch of fixed-length waveforms, in TensorFlow (e.g. in tf.data): `AudioFeatures`.

    Args:
        waveforms: float32 tensor `(batch, num_samples)`.
        lengths: int tensor `(batch,)`, samples of recorded audio per clip.
        config: a `FeatureConfig`.

    Returns:
        `(spectrogram, activity_mask)`: float32 `(batch, num_bins, num_frames)`
        in [0, 1], and float32 `(batch, num_frames)` with 1 where a frame
        holds recorded audio and 0 where it is only padding.

    Example:
    >>> spectrogram, mask = spectrogram_and_mask(tf.zeros((2, 16000)), tf.constant([16000, 800]),
    ...                                          FeatureConfig())
    >>> spectrogram.shape, mask.shape
    (TensorShape([2, 128, 99]), TensorShape([2, 99]))
    """
    @tf.function(autograph=False)
    def compute(waveforms, lengths):
        # In a TensorFlow graph the layer computes with TensorFlow, whatever the Keras backend.
        return AudioFeatures(config)({"waveform": waveforms, "length": lengths})

    features = compute(tf.convert_to_tensor(waveforms, tf.float32), tf.convert_to_tensor(lengths))
    return features["spectrogram"], features["activity_mask"]
