import fractions

import numpy as np
import pytest
import scipy.signal
from conftest import tone, write_wav

from keras_uvac import audio, datasets, pipeline
from keras_uvac.features import FeatureConfig


def mixed_collection(folder):
    """Clips that differ in rate, channels, encoding, length and loudness."""
    write_wav(folder / "8k.wav", tone(0.4, 8000), 8000, "pcm16")
    write_wav(folder / "48k_stereo.wav", np.stack([tone(0.5, 48000)] * 2, 1), 48000, "pcm24")
    write_wav(folder / "44k1_float.wav", tone(0.7, 44100), 44100, "float32")
    write_wav(folder / "silent.wav", np.zeros(4000), 16000, "pcm16")
    write_wav(folder / "long.wav", tone(2.5, 16000), 16000, "pcm8")
    return datasets.load_audio(folder)


def test_every_input_kind_gives_finite_128_by_99_features(tmp_path):
    collection = mixed_collection(tmp_path)
    arrays = pipeline.extract_features(collection, progress=False)
    assert arrays["spectrogram"].shape == (5, 128, 99)
    assert np.all(np.isfinite(arrays["spectrogram"]))
    assert arrays["spectrogram"].min() >= 0 and arrays["spectrogram"].max() <= 1
    active = dict(zip([p.rsplit("/", 1)[1] for p in collection.paths], arrays["activity_mask"].sum(1)))
    assert active == {"8k.wav": 40, "48k_stereo.wav": 50, "44k1_float.wav": 70, "silent.wav": 25, "long.wav": 99}
    silent = collection.paths.index(str(tmp_path / "silent.wav"))
    assert arrays["spectrogram"][silent].max() == 0.0


def test_a_batch_of_mixed_rates_holds_each_clip_resampled_as_scipy_does(tmp_path):
    collection = mixed_collection(tmp_path)
    batch = next(iter(pipeline.waveform_batches(collection, FeatureConfig(long_clip_policy="start"))))
    for row, path in enumerate(collection.paths):
        info = collection.files[row]
        samples = audio.decode_samples(path, info.data_offset, info.data_bytes, audio.ENCODINGS.index(info.encoding),
                                       info.channels).numpy()
        ratio = fractions.Fraction(16000, info.sample_rate)
        expected = scipy.signal.resample_poly(samples, ratio.numerator, ratio.denominator)[:16000]
        np.testing.assert_allclose(batch["waveform"][row, :len(expected)], expected, atol=1e-5, err_msg=path)
        assert batch["length"][row] == len(expected)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_waveforms_are_scipy_resampled_and_keep_the_loudest_second_centred_or_not_or_the_start(tmp_path, rate):
    rng = np.random.default_rng(0)
    long_clip = rng.normal(0, 0.01, int(2.5 * rate))
    long_clip[int(1.5 * rate):int(1.6 * rate)] = rng.uniform(-0.9, 0.9, int(0.1 * rate))  # the word, 1.5 s in
    short_clip = rng.uniform(-0.5, 0.5, int(0.3 * rate))
    write_wav(tmp_path / "long.wav", long_clip, rate, "float32")
    write_wav(tmp_path / "short.wav", short_clip, rate, "float32")
    collection = datasets.load_audio(tmp_path)
    ratio = fractions.Fraction(16000, rate)

    def resample(waveform):
        return scipy.signal.resample_poly(waveform, ratio.numerator, ratio.denominator)

    for policy in ("loudest", "centred", "start"):
        config = FeatureConfig(long_clip_policy=policy)
        kept = dict(zip([path.rsplit("/", 1)[1] for path in collection.paths],
                        pipeline.waveform_dataset(collection, config).as_numpy_iterator()))
        reference = resample(long_clip)
        waveform, length = kept["long.wav"]
        assert length == 16000
        # Where the kept second sits in the whole clip's resampled version.
        start = int(np.argmin(np.abs(np.lib.stride_tricks.sliding_window_view(reference, 100) - waveform[:100]).sum(1)))
        assert policy != "start" or start == 0
        np.testing.assert_allclose(waveform, reference[start:start + 16000], atol=1e-5)
        if policy == "loudest":
            assert start <= int(1.5 * 16000) and start + 16000 >= int(1.6 * 16000)
        elif policy == "centred":  # the word's middle, 1.55 s in, at the window's, within the 10 ms grid of 44.1 kHz
            assert abs(start + 8000 - int(1.55 * 16000)) <= 160
        else:
            assert np.abs(waveform).max() < 0.1  # the first second holds no word
        waveform, length = kept["short.wav"]
        assert length == len(resample(short_clip)) == int(0.3 * 16000)
        np.testing.assert_allclose(waveform[:length], resample(short_clip), atol=1e-5)
        assert not waveform[length:].any()


def test_labeled_dataset_yields_features_and_labels_for_fit():
    collection = datasets.load_audio().subset(range(0, 3000, 100))
    dataset = pipeline.feature_dataset(collection, batch_size=8)
    inputs, labels = next(iter(dataset))
    assert inputs["spectrogram"].shape == (8, 128, 99) and inputs["activity_mask"].shape == (8, 99)
    assert labels.numpy().tolist() == collection.labels[:8].tolist()


def test_speakers_come_as_integer_ids_when_asked_for(tmp_path):
    collection = datasets.load_audio().subset(range(0, 3000, 100))
    inputs, labels = next(iter(pipeline.feature_dataset(collection, batch_size=30, with_speakers=True)))
    names = sorted(set(collection.speakers))
    assert inputs["speaker"].numpy().tolist() == [names.index(name) for name in collection.speakers]
    assert labels.numpy().tolist() == collection.labels.tolist()
    unknown = next(iter(pipeline.feature_dataset(mixed_collection(tmp_path), batch_size=5, with_speakers=True)))
    assert "speaker" not in unknown


def test_unlabeled_dataset_yields_feature_dicts(tmp_path):
    dataset = pipeline.feature_dataset(mixed_collection(tmp_path), batch_size=2)
    batches = list(dataset)
    assert [batch["spectrogram"].shape[0] for batch in batches] == [2, 2, 1]


def test_cached_shuffled_epochs_hold_the_same_clips_in_new_orders():
    collection = datasets.load_audio().subset(range(0, 3000, 60))
    dataset = pipeline.feature_dataset(collection, batch_size=16, shuffle=True, seed=0, cache=True)
    epochs = [np.concatenate([labels.numpy() for _, labels in dataset]) for _ in range(2)]
    assert sorted(epochs[0]) == sorted(epochs[1]) == sorted(collection.labels)
    assert not np.array_equal(epochs[0], epochs[1])
    plain = pipeline.extract_features(collection, progress=False)["spectrogram"]
    cached = np.concatenate([x["spectrogram"].numpy() for x, _ in
                             pipeline.feature_dataset(collection, batch_size=16, cache=True)])
    np.testing.assert_allclose(cached, plain, atol=1e-6)


@pytest.mark.parametrize("cache", [True, False])
def test_clips_come_in_runs_of_one_speaker_when_asked_for_cached_or_streamed(cache):
    collection = datasets.load_audio().subset(range(0, 3000, 25))  # 120 clips, 6 speakers
    dataset = pipeline.feature_dataset(collection, batch_size=16, shuffle=True, seed=0, cache=cache,
                                       with_speakers=True, clips_per_speaker=4)
    epochs = []
    for _ in range(2):
        batches = [(inputs["speaker"].numpy(), labels.numpy()) for inputs, labels in dataset]
        epochs.append((np.concatenate([speakers for speakers, _ in batches]),
                       np.concatenate([labels for _, labels in batches])))
    for speakers, labels in epochs:
        assert sorted(labels) == sorted(collection.labels)  # every clip once per epoch
        runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, speakers, -1]) != 0))
        # Runs of one speaker hold a multiple of 4 clips, but for each speaker's last, shorter run.
        assert np.sum(runs % 4 != 0) <= len(set(speakers))
        assert np.mean(runs) >= 4
    assert not np.array_equal(epochs[0][0], epochs[1][0])


def test_auto_cache_streams_features_of_a_corpus_above_the_budget(monkeypatch):
    collection = datasets.load_audio().subset(range(0, 3000, 100))
    config = FeatureConfig()
    assert pipeline.feature_bytes(collection, config) == 30 * 2 * 4 * 99 * 129
    cached = pipeline.feature_dataset(collection, config, batch_size=8, cache="auto")
    monkeypatch.setattr(pipeline, "FEATURE_CACHE_BYTES", pipeline.feature_bytes(collection, config) - 1)
    streamed = pipeline.feature_dataset(collection, config, batch_size=8, cache="auto")
    # The cached dataset reads back one cache; the streamed one decodes the files again.
    assert "CacheDataset" in _dataset_kinds(cached) and "CacheDataset" not in _dataset_kinds(streamed)
    for (cached_inputs, cached_labels), (streamed_inputs, streamed_labels) in zip(cached, streamed):
        np.testing.assert_array_equal(cached_labels, streamed_labels)
        np.testing.assert_allclose(cached_inputs["spectrogram"], streamed_inputs["spectrogram"], atol=1e-6)


def _dataset_kinds(dataset):
    kinds = []
    while dataset is not None:
        kinds.append(type(dataset).__name__)
        inputs = dataset._inputs()
        dataset = inputs[0] if inputs else None
    return kinds


def test_file_cache_is_written(tmp_path):
    collection = datasets.load_audio().subset(range(10))
    list(pipeline.feature_dataset(collection, cache=str(tmp_path / "cache"), with_labels=False))
    assert list(tmp_path.glob("cache*"))


def test_48k_config_gives_same_shape():
    collection = datasets.load_audio().subset([0, 1])
    arrays = pipeline.extract_features(collection, FeatureConfig(sample_rate=48000), progress=False)
    assert arrays["spectrogram"].shape == (2, 128, 99)


def test_each_window_of_a_long_clip_is_its_stretch_of_the_resampled_clip(tmp_path):
    rng = np.random.default_rng(0)
    samples = {16000: 0.1 * rng.standard_normal(int(3.5 * 16000)), 44100: 0.1 * rng.standard_normal(int(2.3 * 44100))}
    for rate, signal in samples.items():
        write_wav(tmp_path / f"clip{rate}.wav", signal.astype("float32"), rate, encoding="float32")
    config = FeatureConfig(duration=1.0)
    windows = datasets.load_audio(tmp_path).windows(config)
    batch = next(iter(pipeline.waveform_batches(windows, config, batch_size=16)))
    assert len(windows) == 7 and batch["length"].numpy().tolist() == [16000] * 7
    for index, (info, start) in enumerate(zip(windows.files, windows.window_starts)):
        whole = scipy.signal.resample_poly(samples[info.sample_rate], 16000 // np.gcd(info.sample_rate, 16000),
                                           info.sample_rate // np.gcd(info.sample_rate, 16000))
        offset = start * 16000 // info.sample_rate
        np.testing.assert_allclose(batch["waveform"].numpy()[index], whole[offset:offset + 16000], atol=1e-5)


def test_active_seconds_find_the_sound_in_silence_and_in_noise():
    rate = 16000
    rng = np.random.default_rng(0)
    burst = np.sin(2 * np.pi * 440 * np.arange(int(0.4 * rate)) / rate)
    silent = np.r_[np.zeros(rate // 2), burst, np.zeros(rate // 2)]
    noisy = silent + 0.003 * rng.standard_normal(len(silent))  # about 47 dB below the tone
    seconds = pipeline.active_seconds(np.stack([silent, noisy]), [len(silent)] * 2, rate)
    np.testing.assert_allclose(seconds, 0.4, atol=0.03)
    assert pipeline.active_seconds(burst[None, :200], [200], rate)[0] == 200 / rate  # shorter than a frame


def test_the_chosen_duration_holds_most_clips_sound_and_is_capped():
    assert pipeline.choose_duration(np.r_[np.full(95, 0.62), np.full(5, 3.0)]) == 0.7
    assert pipeline.choose_duration(np.full(10, 0.6)) == 0.6
    assert pipeline.choose_duration(np.full(10, 25.0)) == 10.0
    assert pipeline.choose_duration(np.full(10, 0.01)) == 0.1
