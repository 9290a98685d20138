"""The tf.data pipeline: audio files in, batches of UVAC features out.

Files are decoded in parallel, each cut at its own sample rate to the stretch
that is kept, then batched; resampling and the STFT (`features.AudioFeatures`)
run once per batch. Elements are
`({"spectrogram": (B, bins, frames), "activity_mask": (B, frames)}, label)`,
or the feature dict alone when the data has no labels, so `model.fit` takes
the dataset directly either way. With `on_device=True` the batches hold the
waveforms instead, and the model computes the same features on its device.
"""

import contextlib
import math

import keras
import numpy as np
import tensorflow as tf

from keras_uvac import audio
from keras_uvac import features as features_lib

FEATURE_BATCH = 128
# Features that would take more bytes than this are computed again every epoch instead of kept in memory:
# recomputing them costs about 2% of a training epoch (`benchmarks/feature_pipeline.py`), and keeps them out of memory.
FEATURE_CACHE_BYTES = 256 * 2**20


@contextlib.contextmanager
def files_named_on_failure(*collections, hint=""):
    """Turns a failed read of a file that changed or vanished since it was inspected into an error naming it.

    TensorFlow's own error for a deleted file comes from deep in a graph, and a
    truncated one fails the length check of `audio.decode_samples`; either way
    the files of `collections` are looked at again and the first that changed
    is named.

    Args:
        *collections: the `datasets.AudioCollection`s being read (None is skipped).
        hint: words added to the message (e.g. how to resume).

    Raises:
        audio.AudioFileError: a file changed or disappeared; other errors pass unchanged.

    Example:
    >>> with files_named_on_failure(collection):  # doctest: +SKIP
    ...     extract_features(collection)
    """
    try:
        yield
    except tf.errors.OpError:
        changed = [(info.path, problem) for collection in collections if collection is not None
                   for info in collection.files if (problem := info.changed())]
        if not changed:
            raise
        path, problem = changed[0]
        more = f"; {len(changed) - 1} other file(s) changed too" if len(changed) > 1 else ""
        raise audio.AudioFileError(path, f"{problem}{more}{hint}") from None


def _file_table(collection, config):
    """Per-file facts for the pipeline, computed once from the headers so that the per-file graph stays small."""
    files = collection.files
    rates = np.array([info.sample_rate for info in files], np.int64)
    frames = np.array([info.num_frames for info in files], np.int64)
    divisors = np.gcd(rates, config.sample_rate)
    up, down = config.sample_rate // divisors, rates // divisors
    # Source samples beyond a window's edges that SciPy's polyphase filter (10 taps per phase either side) reads.
    margin = down * -(-(10 * np.maximum(up, down) // up + 1) // down)
    window = -(-config.num_samples * down // up)
    starts = np.zeros(len(files), np.int64) if collection.window_starts is None else collection.window_starts
    return {
        "path": [info.path for info in files],
        "data_offset": np.array([info.data_offset for info in files], np.int64),
        "data_bytes": np.array([info.data_bytes for info in files], np.int64),
        "encoding": np.array([audio.ENCODINGS.index(info.encoding) for info in files], np.int32),
        "channels": np.array([info.channels for info in files], np.int32),
        "up": up, "down": down, "margin": margin, "frames": frames, "window": window, "start": starts,
        # Kept samples that hold recorded audio: a long clip's loudest window is filled wherever it starts.
        "length": np.minimum(config.num_samples, -(-(frames - starts) * up // down)).astype(np.int32),
    }


def _resampling_bytes(table):
    """Memory that resampling takes per clip of a batch: its padded float32 window, and the convolution's copy."""
    return (table["window"] + 2 * table["margin"]) * 4 * 2


def _source_window(waveform, file, config, given_start=False):
    """The stretch of a decoded clip, at its own rate, that resamples to the kept `config.duration`.

    A clip longer than the duration keeps the window that starts at the
    table's `start` when `given_start` (`AudioCollection.windows`), else, by
    `config.long_clip_policy`, its loudest window, that window centred on its
    energy, or its start, chosen at the source rate where the source and
    output sample grids meet (every sample at 8 kHz, every 10 ms at
    44.1 kHz), plus the margin the resampling filter reads on either side
    (zeros where the clip has none, as SciPy's filter sees it), so that the
    kept samples begin at the same place, `margin * up / down`, in every
    resampled stretch of a rate.
    """
    window, margin, down = file["window"], file["margin"], file["down"]
    start = file["start"]
    if not given_start and config.long_clip_policy in ("loudest", "centred"):
        def loudest():
            power = tf.cast(waveform, tf.float64) ** 2
            energy = tf.concat([[0.0], tf.cumsum(power)], axis=0)
            position = tf.argmax(energy[window:] - energy[:-window])
            if config.long_clip_policy == "centred":
                # Every window that holds all of a shorter sound is about as loud, so argmax may leave the sound
                # anywhere in it (at its end in silence): centring on the energy's centre puts it in the middle.
                kept = power[position:position + window]
                centre = tf.reduce_sum(tf.range(window, dtype=tf.float64) * kept) / tf.maximum(
                    tf.reduce_sum(kept), 1e-30)
                shifted = position + tf.cast(tf.round(centre), tf.int64) - window // 2
                position = tf.clip_by_value(shifted, 0, file["frames"] - window)
            return position - position % down

        start = tf.cond(file["frames"] > window, loudest, lambda: start)
    padded = tf.pad(waveform, [[margin, margin]])
    return {"stretch": padded[start:start + window + 2 * margin], "up": file["up"], "down": down,
            "length": file["length"]}


def _resample_batch(batch, rates, num_samples):
    """Resamples a batch of zero-padded stretches, one convolution per rate, and cuts out the kept samples.

    `rates` holds `(up, down, offset)`: a rate's ratio and where its kept samples start once resampled.
    """
    def kept_samples(stretches, up, down, offset):
        resampled = features_lib.resample(stretches, down, up)  # the ratio's terms stand in for the rates
        # Room for every kept position, also in the padding beyond a short clip.
        return tf.pad(resampled, [[0, 0], [0, offset + num_samples]])[:, offset:offset + num_samples]

    if len(rates) == 1:
        waveforms = kept_samples(batch["stretch"], *rates[0])
    else:
        rows_by_rate, waveforms_by_rate = [], []
        for up, down, offset in rates:
            rows = tf.where((batch["up"] == up) & (batch["down"] == down))[:, 0]
            rows_by_rate.append(tf.cast(rows, tf.int32))
            waveforms_by_rate.append(kept_samples(tf.gather(batch["stretch"], rows), up, down, offset))
        waveforms = tf.dynamic_stitch(rows_by_rate, waveforms_by_rate)
    inside = tf.range(num_samples)[None, :] < batch["length"][:, None]
    return tf.where(inside, waveforms, 0.0)


def waveform_batches(collection, config, batch_size=FEATURE_BATCH, shuffle=False, seed=None, drop_remainder=False,
                     columns=None, clips_per_speaker=0):
    """Batches of decoded, resampled, fixed-length waveforms, straight from the files.

    Files are decoded in parallel with TensorFlow ops, each cut at its own
    rate to the stretch that will be kept, and resampled a batch at a time
    (`features.resample`: SciPy's polyphase filter as one convolution per
    batch and rate). Shuffling reorders the files, before anything is read.

    Args:
        collection: a `datasets.AudioCollection`.
        config: a `features.FeatureConfig`.
        batch_size: clips per batch.
        shuffle: reshuffle the files every epoch.
        seed: shuffle seed.
        drop_remainder: drop a last, smaller batch.
        columns: dict of per-clip arrays (labels, speaker ids) to carry along.
        clips_per_speaker: with `shuffle` and a `speaker` column, deal the
            shuffled files in runs of this many of one speaker (see
            `feature_dataset`); 0: plain shuffling.

    Returns:
        A dataset of dicts: float32 `waveform` `(batch, num_samples)`, int32
        `length` (samples holding recorded audio), and `columns`.

    Example:
    >>> batch = next(iter(waveform_batches(load_audio(), FeatureConfig())))  # doctest: +SKIP
    >>> batch["waveform"].shape  # doctest: +SKIP
    TensorShape([128, 16000])
    """
    table = _file_table(collection, config)
    per_clip = _resampling_bytes(table)
    if len(collection) and per_clip.max() * batch_size > audio.MAX_DECODING_BYTES:
        largest = int(np.argmax(per_clip))
        raise audio.AudioFileError(
            table["path"][largest],
            f"a batch of {batch_size} of its {config.duration:g} s windows at {collection.files[largest].sample_rate} "
            f"Hz takes about {per_clip[largest] * batch_size / 2**20:,.0f} MB to resample, above the "
            f"{audio.MAX_DECODING_BYTES / 2**20:,.0f} MB allowed; resample the files to a lower rate first, or use "
            "a shorter duration or batch")
    offsets = table["margin"] * table["up"] // table["down"]
    rates = sorted(set(zip(table["up"].tolist(), table["down"].tolist(), offsets.tolist())))
    columns = {name: np.asarray(values) for name, values in (columns or {}).items()}

    def window(file):
        waveform = audio.decode_samples(file["path"], file["data_offset"], file["data_bytes"],
                                        file["encoding"], file["channels"])
        return {**_source_window(waveform, file, config, collection.window_starts is not None),
                **{name: file[name] for name in columns}}

    def resample(batch):
        return {"waveform": _resample_batch(batch, rates, config.num_samples), "length": batch["length"],
                **{name: batch[name] for name in columns}}

    files = tf.data.Dataset.from_tensor_slices({**table, **columns})
    if shuffle:
        files = files.shuffle(len(collection), seed=seed, reshuffle_each_iteration=True)
        if clips_per_speaker and "speaker" in columns:
            files = _speaker_runs(files, clips_per_speaker, len(collection), seed)
    windows = files.map(window, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return windows.padded_batch(batch_size, drop_remainder=drop_remainder).map(
        resample, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def waveform_dataset(collection, config):
    """`waveform_batches` one clip at a time.

    Args:
        collection: a `datasets.AudioCollection`.
        config: a `features.FeatureConfig`.

    Returns:
        A dataset of `(waveform, length)`: float32 `(num_samples,)` and the
        number of samples holding recorded audio.

    Example:
    >>> waveforms = waveform_dataset(load_fsdd(), FeatureConfig())  # doctest: +SKIP
    """
    return waveform_batches(collection, config).unbatch().map(lambda clip: (clip["waveform"], clip["length"]))


def feature_dataset(collection, config=None, batch_size=64, shuffle=False, seed=None, cache=False,
                    with_labels=True, with_speakers=False, drop_remainder=False, on_device=False,
                    clips_per_speaker=0, targets=None):
    """Builds the batched feature dataset for a collection.

    Args:
        collection: a `datasets.AudioCollection`.
        config: a `features.FeatureConfig` (default: `FeatureConfig()`).
        batch_size: clips per batch.
        shuffle: reshuffle the clips every epoch.
        seed: shuffle seed.
        cache: False, True (in memory), a file path prefix, or `"auto"`:
            features are computed once and read back in later epochs;
            `"auto"` keeps them in memory when they take at most
            `FEATURE_CACHE_BYTES` (`feature_bytes`) and otherwise computes
            them again every epoch, so that they take no memory on a corpus of
            any size.
        with_labels: yield `(features, label)` when the collection has labels.
        with_speakers: add an int32 `speaker` index to the features when the
            collection knows its speakers (for `UVAC(speaker_weight=...)`).
        drop_remainder: drop a last, smaller batch.
        on_device: yield the decoded, resampled, fixed-length `waveform` and
            its `length` instead of the features, for a model that computes
            them itself on its device (`UVAC.features`); `cache` then keeps
            the decoded waveforms.
        clips_per_speaker: with `shuffle` and `with_speakers`, deal
            the shuffled clips in runs of this many clips of one speaker, so
            that a speaker in a batch has company even when a corpus has
            dozens of speakers (the speaker terms compare a speaker's clips
            within a batch). 0: plain shuffling.
        targets: None, or an int cluster per clip (-1: none) added to the
            features as `target`, for `UVAC`'s self-labelling term.

    Returns:
        A `tf.data.Dataset`.

    Example:
    >>> train = load_audio().split(seed=0)["train"]  # doctest: +SKIP
    >>> model.fit(feature_dataset(train, shuffle=True, cache=True), epochs=10)  # doctest: +SKIP
    """
    config = config or features_lib.FeatureConfig()
    grouped = clips_per_speaker > 0 and shuffle and with_speakers and collection.speakers is not None
    if cache == "auto":
        cache = feature_bytes(collection, config) <= FEATURE_CACHE_BYTES
    columns = {}
    if with_labels and collection.labels is not None:
        columns["label"] = collection.labels
    if with_speakers and collection.speakers is not None:
        # Integer ids are kept as they are, so that shards of one collection agree on them.
        speakers = np.asarray(collection.speakers)
        if not np.issubdtype(speakers.dtype, np.integer):
            speakers = np.unique(speakers, return_inverse=True)[1]
        columns["speaker"] = speakers.astype(np.int32)
    if targets is not None:
        columns["target"] = np.asarray(targets, np.int32)

    def compute(batch):
        if on_device:
            inputs = {"waveform": batch["waveform"], "length": batch["length"]}
        else:
            spectrogram, activity_mask = features_lib.spectrogram_and_mask(batch["waveform"], batch["length"], config)
            inputs = {"spectrogram": spectrogram, "activity_mask": activity_mask}
        for column in ("speaker", "target"):
            if column in batch:
                inputs[column] = batch[column]
        return (inputs, batch["label"]) if "label" in batch else inputs

    if cache is False:
        dataset = waveform_batches(collection, config, batch_size, shuffle, seed, drop_remainder, columns,
                                   clips_per_speaker if grouped else 0)
        dataset = dataset.map(compute, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        # Features are computed once in large batches, stored, and reshuffled per clip each epoch.
        dataset = waveform_batches(collection, config, FEATURE_BATCH, columns=columns)
        dataset = dataset.map(compute, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        dataset = dataset.cache("" if cache is True else str(cache))
        if shuffle:
            dataset = dataset.shuffle(len(collection), seed=seed, reshuffle_each_iteration=True)
        if grouped:
            dataset = _speaker_runs(dataset, clips_per_speaker, len(collection), seed)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    # Keras needs the length for progress bars and schedules; unbatching and dropped remainders hide it.
    batches = len(collection) // batch_size if drop_remainder else math.ceil(len(collection) / batch_size)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    return dataset.prefetch(tf.data.AUTOTUNE)


def feature_bytes(collection, config):
    """The memory that the features of a collection take, and a shuffle buffer as much again.

    Args:
        collection: a `datasets.AudioCollection`.
        config: a `features.FeatureConfig`.

    Returns:
        Bytes, as an int: the float32 spectrograms and activity masks of every
        clip, twice (a cache in memory is read through a shuffle buffer of
        every clip).

    Example:
    >>> feature_bytes(load_fsdd(), FeatureConfig()) // 2**20  # doctest: +SKIP
    292
    """
    per_clip = 4 * config.num_frames * (config.num_bins + 1)
    return 2 * per_clip * len(collection)


def _speaker_runs(clips, run_length, count, seed):
    """Regroups shuffled clips (or files) into runs of `run_length` of one speaker, the runs in random order."""
    def speaker_of(features, *label):
        return tf.cast(features["speaker"], tf.int64)

    runs = clips.group_by_window(speaker_of, lambda _, window: window.batch(run_length), window_size=run_length)
    # A speaker's last run of the epoch may be shorter; every clip is still seen once per epoch.
    runs = runs.shuffle(count // run_length + 1, seed=seed, reshuffle_each_iteration=True)
    return runs.unbatch()


def _batch_within_budget(collection, config, batch_size):
    """`batch_size`, or fewer clips where their windows would take more than the decoding budget to resample."""
    if not len(collection):
        return batch_size
    # Batches only set the speed here: long windows at high rates go in smaller ones.
    largest = int(_resampling_bytes(_file_table(collection, config)).max())
    return max(1, min(batch_size, audio.MAX_DECODING_BYTES // largest))


def extract_features(collection, config=None, batch_size=FEATURE_BATCH, progress=True):
    """Computes the features of every clip into NumPy arrays, in collection order.

    Args:
        collection: a `datasets.AudioCollection`.
        config: a `features.FeatureConfig`.
        batch_size: clips per STFT batch.
        progress: show a Keras progress bar.

    Returns:
        A dict with `"spectrogram"` `(N, bins, frames)` and `"activity_mask"`
        `(N, frames)`, float32.

    Example:
    >>> arrays = extract_features(load_fsdd())  # doctest: +SKIP
    >>> arrays["spectrogram"].shape  # doctest: +SKIP
    (3000, 128, 99)
    """
    config = config or features_lib.FeatureConfig()
    dataset = feature_dataset(collection, config, batch_size=_batch_within_budget(collection, config, batch_size),
                              with_labels=False)
    bar = keras.utils.Progbar(len(collection), unit_name="clip") if progress else None
    spectrograms, masks = [], []
    with files_named_on_failure(collection):
        for batch in dataset.as_numpy_iterator():
            spectrograms.append(batch["spectrogram"])
            masks.append(batch["activity_mask"])
            if bar is not None:
                bar.add(len(batch["activity_mask"]))
    return {"spectrogram": np.concatenate(spectrograms), "activity_mask": np.concatenate(masks)}


def active_seconds(waveforms, lengths, sample_rate, frame_ms=25.0, hop_ms=10.0):
    """How long each clip's sound lasts: from its first to its last active frame, in seconds.

    A frame is active when its level (RMS, in dB) is at least 20 dB below the clip's peak frame and above the
    clip's own noise floor (its 10th-percentile frame) by 6 dB, but never more than 50 dB below the peak: a clip
    recorded in silence is judged by its peak, a noisy one by its floor.

    Args:
        waveforms: `(clips, samples)` float array.
        lengths: samples of each clip that hold audio.
        sample_rate: their rate in Hz.
        frame_ms: frame length in milliseconds.
        hop_ms: hop between frames in milliseconds.

    Returns:
        A float array `(clips,)`.

    Example:
    >>> clip = np.r_[np.zeros(8000), np.sin(np.arange(4000) / 5.0), np.zeros(4000)]
    >>> round(float(active_seconds(clip[None], [16000], 16000)[0]), 2)  # 0.25 s of tone, give or take a frame
    0.27
    """
    frame, hop = round(frame_ms * sample_rate / 1000), round(hop_ms * sample_rate / 1000)
    seconds = np.zeros(len(waveforms))
    for index, (waveform, length) in enumerate(zip(waveforms, lengths)):
        waveform = np.asarray(waveform[:int(length)], np.float64)
        if len(waveform) < frame:
            seconds[index] = len(waveform) / sample_rate
            continue
        frames = np.lib.stride_tricks.sliding_window_view(waveform, frame)[::hop]
        level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
        peak, floor = level.max(), np.percentile(level, 10)
        active = np.flatnonzero(level >= min(max(floor + 6.0, peak - 50.0), peak - 20.0))
        # From the first active frame's centre to the last's, plus one hop: frames that overlap an edge are active.
        seconds[index] = min((active[-1] - active[0] + 1) * hop, len(waveform)) / sample_rate
    return seconds


def active_durations(collection, sample_rate=16000, longest=10.0, batch_size=32):
    """How long the sound lasts in every clip of a collection (`active_seconds`), decoded as training decodes it.

    Args:
        collection: a `datasets.AudioCollection`.
        sample_rate: the rate clips are resampled to.
        longest: clips are read up to this many seconds (their loudest stretch).
        batch_size: clips per batch.

    Returns:
        A float array `(clips,)` in collection order.

    Example:
    >>> seconds = active_durations(load_audio("clips/"))  # doctest: +SKIP
    """
    config = features_lib.FeatureConfig(sample_rate=sample_rate, duration=longest)
    seconds = []
    with files_named_on_failure(collection):
        batches = waveform_batches(collection, config, _batch_within_budget(collection, config, batch_size))
        for batch in batches.as_numpy_iterator():
            seconds.append(active_seconds(batch["waveform"], batch["length"], sample_rate))
    return np.concatenate(seconds) if seconds else np.zeros(0)


def choose_duration(seconds, percentile=95.0, longest=10.0, step=0.1):
    """The window that holds the sound of most clips: the `percentile` of their active durations, rounded up to
    `step` seconds, at most `longest`.

    Example:
    >>> choose_duration(np.r_[np.full(95, 0.62), np.full(5, 3.0)])
    0.7
    """
    # The duration that `percentile`% of the clips do not exceed.
    chosen = np.ceil(np.percentile(seconds, percentile, method="inverted_cdf") / step - 1e-9) * step
    return float(round(min(max(chosen, step), longest), 6))
