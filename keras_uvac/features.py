"""Features: the UVAC input, a normalised STFT magnitude and its activity mask.

The paper's numbers (960-sample window, 480 hop, 128 bins, 99 frames) only fit
48 kHz audio, so the definition here is in time and frequency: a 20 ms Hann
window, a 10 ms hop and 128 bins of 50 Hz above the zero-frequency bin. At 48 kHz
that is exactly the paper's STFT; at any rate of 12.8 kHz or more, one second
gives the same 128 x 99 input.
"""

import dataclasses
import fractions

import numpy as np
import scipy.signal
import tensorflow as tf

LONG_CLIP_POLICIES = ("loudest", "start")


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
            inside a long recording), `"start"` keeps the beginning.

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

    def __post_init__(self):
        for name, milliseconds in (("frame_ms", self.frame_ms), ("hop_ms", self.hop_ms),
                                   ("duration", 1000 * self.duration)):
            samples = milliseconds * self.sample_rate / 1000
            if samples < 1 or abs(samples - round(samples)) > 1e-6:
                raise ValueError(f"FeatureConfig: {name} gives {samples:g} samples at {self.sample_rate} Hz, "
                                 "not a positive whole number")
        if self.num_bins + 1 > self.frame_length // 2 + 1:
            raise ValueError(
                f"FeatureConfig: {self.num_bins} bins above 0 Hz need a {2 * self.num_bins}-sample window, but "
                f"{self.frame_ms} ms at {self.sample_rate} Hz is {self.frame_length}; raise sample_rate")
        if self.num_samples < self.frame_length:
            raise ValueError("FeatureConfig: duration is shorter than one frame")
        if self.long_clip_policy not in LONG_CLIP_POLICIES:
            raise ValueError(f"FeatureConfig: long_clip_policy must be one of {LONG_CLIP_POLICIES}, "
                             f"got {self.long_clip_policy!r}")

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
        return cls(**config)


def resample(waveform, source_rate, target_rate):
    """Resamples a 1-D float waveform with SciPy's polyphase filter.

    Args:
        waveform: 1-D array.
        source_rate: its rate in Hz.
        target_rate: the wanted rate in Hz.

    Returns:
        A float32 array of `ceil(len * target / source)` samples.

    Example:
    >>> resample(np.zeros(8000), 8000, 16000).shape
    (16000,)
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    if int(source_rate) == int(target_rate):
        return waveform
    ratio = fractions.Fraction(int(target_rate), int(source_rate))
    return scipy.signal.resample_poly(waveform, ratio.numerator, ratio.denominator).astype(np.float32)


def fit_to_duration(waveform, config):
    """Pads or cuts a waveform to `config.num_samples`.

    Works in graph mode. A longer clip is cut by `config.long_clip_policy`.

    Args:
        waveform: float32 tensor of shape `(samples,)`, at `config.sample_rate`.
        config: a `FeatureConfig`.

    Returns:
        `(fixed, length)`: the waveform of exactly `num_samples` samples and the
        number of those that hold recorded audio (the rest is zero padding).

    Example:
    >>> fixed, length = fit_to_duration(tf.ones(100), FeatureConfig())
    >>> fixed.shape, int(length)
    (TensorShape([16000]), 100)
    """
    target = config.num_samples
    length = tf.shape(waveform)[0]
    if config.long_clip_policy == "loudest":
        # The window of highest energy: one cumulative sum gives every window's energy.
        energy = tf.concat([[0.0], tf.cumsum(tf.cast(waveform, tf.float64) ** 2)], axis=0)
        window_energy = energy[target:] - energy[:-target]
        start = tf.cond(length > target, lambda: tf.cast(tf.argmax(window_energy), tf.int32), lambda: 0)
    else:
        start = 0
    kept = waveform[start:start + target]
    kept_length = tf.shape(kept)[0]
    fixed = tf.pad(kept, [[0, target - kept_length]])
    fixed.set_shape([target])
    return fixed, kept_length


def spectrogram_and_mask(waveforms, lengths, config):
    """Computes the UVAC features for a batch of fixed-length waveforms.

    One batched STFT, magnitude, the `num_bins` bins above 0 Hz, then each clip
    min-max normalised to [0, 1] (the paper's z-score then min-max equals the
    min-max alone). A silent clip gives all zeros, never NaN.

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
    stft = tf.signal.stft(waveforms, frame_length=config.frame_length, frame_step=config.hop_length,
                          fft_length=config.frame_length, window_fn=tf.signal.hann_window)
    # Magnitude before the bin slice: TFLite cannot slice complex tensors (raw-audio export).
    magnitude = tf.abs(stft)[:, :, 1:config.num_bins + 1]
    spectrogram = tf.transpose(magnitude, (0, 2, 1))
    low = tf.reduce_min(spectrogram, axis=(1, 2), keepdims=True)
    high = tf.reduce_max(spectrogram, axis=(1, 2), keepdims=True)
    spectrogram = tf.math.divide_no_nan(spectrogram - low, high - low)
    frame_starts = tf.range(config.num_frames) * config.hop_length
    activity_mask = tf.cast(frame_starts[tf.newaxis, :] < tf.cast(lengths, tf.int32)[:, tf.newaxis], tf.float32)
    return spectrogram, activity_mask
