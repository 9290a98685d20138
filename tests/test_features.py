import fractions
import glob

import numpy as np
import pytest
import scipy.io.wavfile
import scipy.signal
import tensorflow as tf

from keras_uvac import cli
from keras_uvac.features import AudioFeatures, FeatureConfig, resample, spectrogram_and_mask


def reference_features(path, sample_rate, magnitude_kind="linear", log_range_db=80.0, noise_margin_db=None,
                       power_exponent=0.5):
    """The feature definition written independently with NumPy and SciPy."""
    rate, samples = scipy.io.wavfile.read(path)
    waveform = samples.astype(np.float64) / 32768.0
    if rate != sample_rate:
        divisor = np.gcd(rate, sample_rate)
        waveform = scipy.signal.resample_poly(waveform, sample_rate // divisor, rate // divisor)
    assert len(waveform) <= sample_rate, "reference handles clips up to one second"
    padded = np.zeros(sample_rate)
    padded[:len(waveform)] = waveform
    window_length, hop = sample_rate // 50, sample_rate // 100
    frames = np.lib.stride_tricks.sliding_window_view(padded, window_length)[::hop]
    window = scipy.signal.get_window("hann", window_length)
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1))[:, 1:129].T
    noise_floor = 0.0
    if noise_margin_db is not None:
        whole_frames = np.arange(frames.shape[0]) * hop + window_length <= len(waveform)
        noise_floor = magnitude[:, whole_frames].mean(axis=0).min() * 10 ** (noise_margin_db / 20)
    if magnitude_kind == "log":
        floor = max(magnitude.max() * 10 ** (-log_range_db / 20), noise_floor)
        magnitude = 20 * np.log10(np.maximum(magnitude, floor))
    else:
        magnitude = np.maximum(magnitude - noise_floor, 0.0)
        if magnitude_kind == "power":
            magnitude = magnitude ** power_exponent
    spectrogram = (magnitude - magnitude.min()) / (magnitude.max() - magnitude.min())
    mask = (np.arange(frames.shape[0]) * hop < len(waveform)).astype(np.float32)
    return spectrogram, mask


@pytest.mark.parametrize("sample_rate,magnitude,log_range_db,noise_margin_db,power_exponent", [
    (16000, "linear", 80.0, None, 0.5), (48000, "linear", 80.0, None, 0.5), (16000, "log", 80.0, None, 0.5),
    (16000, "log", 40.0, None, 0.5), (16000, "log", 80.0, 6.0, 0.5), (16000, "power", 80.0, None, 0.5),
    (16000, "power", 80.0, None, 0.3), (16000, "power", 80.0, 6.0, 0.5), (16000, "linear", 80.0, 6.0, 0.5)])
def test_uvac_features_on_audiomnist_match_numpy_scipy_reference(tmp_path, audiomnist_sample, sample_rate,
                                                                 magnitude, log_range_db, noise_margin_db,
                                                                 power_exponent):
    out = tmp_path / "features.npz"
    noise_options = ["--noise-margin-db", "none" if noise_margin_db is None else str(noise_margin_db)]
    assert cli.main(["-q", "features", audiomnist_sample, "--out", str(out), "--sample-rate", str(sample_rate),
                     "--magnitude", magnitude, "--log-range-db", str(log_range_db), *noise_options,
                     "--power-exponent", str(power_exponent)]) == 0
    arrays = np.load(out)
    assert arrays["spec"].shape == (6, 128, 99) and arrays["mask"].shape == (6, 99)
    assert arrays["spec"].min() >= 0.0 and arrays["spec"].max() <= 1.0
    assert sorted(arrays["path"]) == sorted(glob.glob(f"{audiomnist_sample}/data/*/*.wav"))
    for spectrogram, mask, path in zip(arrays["spec"], arrays["mask"], arrays["path"]):
        expected_spectrogram, expected_mask = reference_features(str(path), sample_rate, magnitude, log_range_db,
                                                                 noise_margin_db, power_exponent)
        np.testing.assert_allclose(spectrogram, expected_spectrogram, atol=2e-4)
        np.testing.assert_array_equal(mask, expected_mask)
        assert 0 < mask.sum() < 99


def test_config_is_the_papers_stft_at_48k_and_round_trips():
    config = FeatureConfig(sample_rate=48000)
    assert (config.frame_length, config.hop_length, config.num_frames, config.bin_hz) == (960, 480, 99, 50.0)
    assert FeatureConfig.from_config(config.get_config()) == config
    assert FeatureConfig().num_frames == FeatureConfig(sample_rate=22050 * 2).num_frames == 99


def test_default_is_the_noise_floored_square_root_and_older_configs_read_as_the_papers():
    assert (FeatureConfig().magnitude, FeatureConfig().noise_margin_db) == ("power", 6.0)
    saved_before_the_options = {key: value for key, value in FeatureConfig().get_config().items()
                                if key not in ("magnitude", "noise_margin_db")}
    older = FeatureConfig.from_config(saved_before_the_options)
    assert (older.magnitude, older.noise_margin_db) == ("linear", None)
    assert AudioFeatures(None).config == FeatureConfig()


def test_cli_feature_defaults_are_the_feature_configs():
    parser = cli.build_parser()
    args = parser.parse_args(["features", "clips", "--out", "features.npz"])
    assert (args.magnitude, args.noise_margin_db, args.power_exponent, args.log_range_db) == (
        FeatureConfig().magnitude, FeatureConfig().noise_margin_db, FeatureConfig().power_exponent,
        FeatureConfig().log_range_db)
    without_floor = parser.parse_args(["features", "clips", "--out", "f.npz", "--noise-margin-db", "none"])
    assert without_floor.noise_margin_db is None


@pytest.mark.parametrize("kwargs,problem", [
    ({"sample_rate": 8000}, r"sample_rate must be at least 12800 Hz"),
    ({"sample_rate": 16001}, r"frame_ms must be a whole number of samples at 16001 Hz"),
    ({"sample_rate": 16000.0}, r"sample_rate must be a whole number in \[1000, 96000\], got 16000.0"),
    ({"long_clip_policy": "middle"}, "long_clip_policy"),
    ({"duration": 0.01}, r"duration must be at least one frame \(20 ms\)"),
    ({"duration": float("inf")}, r"duration must be a finite number in \(0, 30\], got inf"),
    ({"magnitude": "mel"}, "magnitude must be one of"),
    ({"log_range_db": 0.0}, r"log_range_db must be a finite number in \(0, 200\]"),
    ({"noise_margin_db": float("nan")}, r"noise_margin_db must be a finite number in \[0, 60\], got nan"),
    ({"magnitude": "power", "power_exponent": 0.0}, r"power_exponent must be a finite number in \(0, 1\]"),
    ({"magnitude": "power", "power_exponent": 1.5}, r"power_exponent must be a finite number in \(0, 1\]"),
])
def test_invalid_configs_are_refused(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        FeatureConfig(**kwargs)


@pytest.mark.parametrize("config", [{"magnitude": "linear", "noise_margin_db": None},
                                    {"magnitude": "log", "noise_margin_db": None},
                                    {"magnitude": "log", "noise_margin_db": 6.0},
                                    {"magnitude": "power", "noise_margin_db": None}, {}])
def test_silent_clip_gives_finite_zero_features(config):
    spectrogram, mask = spectrogram_and_mask(tf.zeros((1, 16000)), tf.constant([8000]), FeatureConfig(**config))
    assert np.all(np.isfinite(spectrogram.numpy())) and float(tf.reduce_max(spectrogram)) == 0.0
    assert int(tf.reduce_sum(mask)) == 50


def test_noise_floor_follows_each_clips_own_noise_and_ignores_the_padding():
    rng = np.random.default_rng(0)
    tone = np.zeros(16000, "float32")
    tone[4000:8000] = 0.5 * np.sin(2 * np.pi * 1025 * np.arange(4000) / 16000)
    noise_levels = np.array([1e-3, 3e-2], "float32")[:, None]
    noisy = (tone + noise_levels * rng.standard_normal((2, 16000))).astype("float32")
    noisy[:, 12000:] = 0.0  # padding: quieter than any noise, and not part of the recording
    lengths = tf.constant([12000, 12000])
    config = FeatureConfig(magnitude="log", log_range_db=80.0, noise_margin_db=6.0)
    floored, _ = spectrogram_and_mask(noisy, lengths, config)
    unfloored, _ = spectrogram_and_mask(noisy, lengths,
                                        FeatureConfig(magnitude="log", log_range_db=80.0, noise_margin_db=None))
    noise_only = floored.numpy()[:, :, 55:70]  # 0.55-0.72 s: noise after the tone, before the padding
    assert np.mean(noise_only[1] == 0.0) > 0.8, "most of the louder clip's noise reads as 0"
    assert np.mean(unfloored.numpy()[1, :, 55:70] == 0.0) < 0.1, "without the floor the noise is kept"
    # The tone (between the 1000 and 1050 Hz bins) is kept; its window's skirt three bins off stands above the
    # quieter clip's noise, not the louder one's.
    tone_frames = floored.numpy()[:, :, 26:48]
    assert tone_frames[:, 19:21].min() > 0.9
    assert tone_frames[0, 23].mean() > 0.3 and tone_frames[1, 23].mean() < 0.1


@pytest.mark.parametrize("magnitude", ["linear", "power"])
def test_noise_subtraction_clears_the_noise_and_keeps_what_stands_above_it(magnitude):
    rng = np.random.default_rng(0)
    noisy = 3e-2 * rng.standard_normal(16000).astype("float32")
    noisy[4000:8000] += 0.5 * np.sin(2 * np.pi * 1025 * np.arange(4000) / 16000)
    noisy[12000:] = 0.0  # padding, not part of the recording
    waveforms, lengths = noisy[None], tf.constant([12000])
    subtracted, _ = spectrogram_and_mask(waveforms, lengths, FeatureConfig(magnitude=magnitude, noise_margin_db=6.0))
    kept, _ = spectrogram_and_mask(waveforms, lengths, FeatureConfig(magnitude=magnitude, noise_margin_db=None))
    subtracted, kept = subtracted.numpy()[0], kept.numpy()[0]
    assert np.mean(subtracted[:, 55:70] == 0.0) > 0.9, "the noise after the tone reads as 0"
    assert np.mean(kept[:, 55:70] == 0.0) < 0.01
    # The tone (between the 1000 and 1050 Hz bins) stands 30 dB above the noise and keeps its level.
    np.testing.assert_allclose(subtracted[19:21, 26:48], kept[19:21, 26:48], atol=0.05)


def test_mask_marks_frames_that_start_inside_the_recording():
    _, mask = spectrogram_and_mask(tf.random.normal((3, 16000)), tf.constant([16000, 160, 161]), FeatureConfig())
    assert mask.numpy().sum(axis=1).tolist() == [99, 1, 2]


def test_resample_changes_length_by_the_rate_ratio():
    assert resample(np.ones(8000), 8000, 16000).shape == (16000,)
    assert resample(np.ones(48000), 48000, 16000).shape == (16000,)
    assert resample(np.ones(441), 44100, 16000).shape == (160,)
    assert resample(np.ones((3, 0)), 44100, 16000).shape == (3, 0)


@pytest.mark.parametrize("source_rate", [8000, 11025, 22050, 44100, 48000, 96000, 44101])
def test_resample_is_scipys_resample_poly(source_rate):
    rng = np.random.default_rng(0)
    waveforms = rng.uniform(-1, 1, (3, source_rate // 3 + 7)).astype(np.float32)
    ratio = fractions.Fraction(16000, source_rate)
    expected = scipy.signal.resample_poly(waveforms, ratio.numerator, ratio.denominator, axis=1)
    np.testing.assert_allclose(resample(waveforms, source_rate, 16000), expected, atol=1e-5)
    np.testing.assert_allclose(resample(waveforms[0], source_rate, 16000), expected[0], atol=1e-5)


@pytest.fixture(scope="module")
def fsdd_test_clips():
    """The bundled FSDD test split: its waveforms and lengths, and the pipeline's features."""
    from keras_uvac import datasets, pipeline

    test = datasets.load_audio().split(seed=0)["test"]
    waveforms, lengths = map(np.stack, zip(*pipeline.waveform_dataset(test, FeatureConfig()).as_numpy_iterator()))
    return waveforms, lengths, pipeline.extract_features(test, progress=False)


@pytest.mark.slow
def test_one_stft_the_pipeline_the_models_front_end_and_the_raw_audio_export_agree(fsdd_test_clips):
    import keras

    from keras_uvac import export
    from keras_uvac.model import UVAC

    waveforms, lengths, expected = fsdd_test_clips
    model = UVAC(encoder_channels=(4, 8), gru_units=(8,), decoder_channels=(8, 4))
    computed = model.features({"waveform": waveforms, "length": lengths})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(computed["spectrogram"]), expected["spectrogram"], atol=1e-5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(computed["activity_mask"]), expected["activity_mask"])
    # The raw-audio export converts the same layer, in its matrix form, to LiteRT; it takes every sample for
    # recorded audio (a microphone's window has no padding), so the noise floor is measured over the whole clip.
    inputs = keras.Input((waveforms.shape[1],), batch_size=1)
    front_end = keras.Model(inputs, AudioFeatures(FeatureConfig(), dft="matrix")(inputs))
    waveforms = waveforms[::5]  # LiteRT runs one clip at a time: every fifth test clip
    exported = export.TFLiteRunner(export.convert_tflite(front_end))(waveforms)
    whole = model.features({"waveform": waveforms, "length": np.full(len(waveforms), waveforms.shape[1])})
    # The square root magnifies the two DFTs' float32 rounding just above 0.
    np.testing.assert_allclose(exported, keras.ops.convert_to_numpy(whole["spectrogram"]), atol=1e-4)


def test_the_front_end_computes_the_same_features_on_the_jax_backend(tmp_path, fsdd_test_clips):
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    waveforms, lengths, expected = fsdd_test_clips
    np.savez(tmp_path / "clips.npz", waveforms=waveforms[:40], lengths=lengths[:40])
    script = ("import sys, numpy as np, keras; from keras_uvac.features import AudioFeatures; "
              "clips = np.load(sys.argv[1]); assert keras.backend.backend() == 'jax'; "
              "out = {form: AudioFeatures(dft=form)({'waveform': clips['waveforms'], 'length': clips['lengths']}) "
              "for form in ('fft', 'matrix')}; "
              "np.savez(sys.argv[2], **{f'{form}_{k}': np.asarray(v) for form in out for k, v in out[form].items()})")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "clips.npz"), str(tmp_path / "jax.npz")],
                   check=True, env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True, timeout=300)
    computed = np.load(tmp_path / "jax.npz")
    for form in ("fft", "matrix"):
        np.testing.assert_allclose(computed[f"{form}_spectrogram"], expected["spectrogram"][:40], atol=1e-5)
        np.testing.assert_array_equal(computed[f"{form}_activity_mask"], expected["activity_mask"][:40])


def test_audio_features_round_trips_and_refuses_an_unknown_dft():
    from keras_uvac.features import AudioFeatures

    layer = AudioFeatures(FeatureConfig(sample_rate=48000), dft="matrix", name="front")
    copy = AudioFeatures.from_config(layer.get_config())
    assert (copy.dft, copy.config, copy.name) == ("matrix", FeatureConfig(sample_rate=48000), "front")
    with pytest.raises(ValueError, match="dft must be one of"):
        AudioFeatures(dft="wavelet")
