"""Feature throughput: the tf.data pipeline against a plain per-file SciPy loop, and where the STFT runs in training.

Both compute the same features (decode, resample to 16 kHz, fit to 1 s, 20 ms
Hann STFT with 10 ms hop, 128 bins, min-max) for every clip of the bundled FSDD,
end to end from the files. Each is timed several times in this one run. Then the
default recipe's training step is timed on precomputed features and on
waveforms, whose features the model computes inside the step
(`UVAC.front_end`), on the device TensorFlow places it (a GPU when there is
one). Medians and ratios are written to benchmarks/results/feature_pipeline.json.

    python benchmarks/feature_pipeline.py [--repeats 5] [--steps 8]
"""

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import scipy.io.wavfile
import scipy.signal
import tensorflow as tf

from keras_uvac import datasets, pipeline, training
from keras_uvac.atomic import atomic_path
from keras_uvac.features import FeatureConfig


def scipy_loop(paths, config):
    """The reference: one file at a time, NumPy and SciPy only."""
    window = scipy.signal.get_window("hann", config.frame_length)
    outputs = []
    for path in paths:
        rate, samples = scipy.io.wavfile.read(path)
        waveform = samples.astype(np.float32) / 32768.0
        divisor = np.gcd(rate, config.sample_rate)
        waveform = scipy.signal.resample_poly(waveform, config.sample_rate // divisor, rate // divisor)
        padded = np.zeros(config.num_samples, np.float32)
        padded[:min(len(waveform), config.num_samples)] = waveform[:config.num_samples]
        frames = np.lib.stride_tricks.sliding_window_view(padded, config.frame_length)[::config.hop_length]
        magnitude = np.abs(np.fft.rfft(frames * window, axis=1))[:, 1:config.num_bins + 1].T
        outputs.append((magnitude - magnitude.min()) / max(magnitude.max() - magnitude.min(), 1e-12))
    return np.stack(outputs)


def timed(function, repeats):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def training_step_rates(inputs, steps, windows, batch=64):
    """Clips/s of the default recipe's training step on `inputs`, per window of `steps` steps (one `fit` call)."""
    import keras

    model = training.build_model(training.RECIPES["default"], seed=0)
    ends = []
    clock = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs=None: ends.append(time.perf_counter()))
    warmup = 2 * steps
    needed = (warmup + windows * steps) * batch
    data = {key: np.resize(value, (needed, *value.shape[1:])) for key, value in inputs.items()}
    model.fit(data, batch_size=batch, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
    marks = ends[warmup - 1::steps]
    return [batch * steps / (end - start) for start, end in zip(marks, marks[1:])]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8, help="training steps per timed window")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "feature_pipeline.json"))
    args = parser.parse_args()

    collection = datasets.load_audio()
    config = FeatureConfig(magnitude="linear", noise_margin_db=None)  # the reference computes the paper's features
    clips = len(collection)
    pipeline.extract_features(collection, config, progress=False)  # warm-up: traces the graph
    pipeline_seconds = timed(lambda: pipeline.extract_features(collection, config, progress=False), args.repeats)
    # The same pipeline stopped before the STFT: decoding, cutting and resampling only.
    waveform_seconds = timed(lambda: list(pipeline.waveform_batches(collection, config).as_numpy_iterator()),
                             args.repeats)
    loop_seconds = timed(lambda: scipy_loop(collection.paths, config), args.repeats)

    train = collection.subset(range(0, len(collection), 3))
    waveforms, lengths = map(np.stack, zip(*pipeline.waveform_dataset(train, config).as_numpy_iterator()))
    features = pipeline.extract_features(train, config, progress=False)
    speakers = np.unique(train.speakers, return_inverse=True)[1].astype("int32")
    step_rates = {
        "precomputed_features": training_step_rates({**features, "speaker": speakers}, args.steps, args.repeats),
        "features_in_the_step": training_step_rates({"waveform": waveforms, "length": lengths.astype("int32"),
                                                     "speaker": speakers}, args.steps, args.repeats),
    }
    result = {
        "what": "feature clips per second on the bundled FSDD (3,000 clips, 8 kHz -> 16 kHz, 128 x 99), and the "
                "default recipe's training step on precomputed features and on waveforms",
        "command": f"python benchmarks/feature_pipeline.py --repeats {args.repeats} --steps {args.steps}",
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "gpus": len(tf.config.list_physical_devices("GPU")),
                    "python": platform.python_version(), "tensorflow": tf.__version__},
        "repeats": args.repeats,
        "tf_data_pipeline_clips_per_s": clips / statistics.median(pipeline_seconds),
        "scipy_per_file_loop_clips_per_s": clips / statistics.median(loop_seconds),
        "pipeline_seconds": pipeline_seconds,
        "pipeline_waveforms_only_clips_per_s": clips / statistics.median(waveform_seconds),
        "pipeline_waveforms_only_seconds": waveform_seconds,
        "loop_seconds": loop_seconds,
    }
    result["speedup"] = result["tf_data_pipeline_clips_per_s"] / result["scipy_per_file_loop_clips_per_s"]
    result["training_step_clips_per_s"] = {name: statistics.median(rates) for name, rates in step_rates.items()}
    result["training_step_window_clips_per_s"] = step_rates
    result["training_step_ratio_features_in_the_step"] = (result["training_step_clips_per_s"]["features_in_the_step"]
                                                          / result["training_step_clips_per_s"]["precomputed_features"])
    with atomic_path(args.out) as temporary, open(temporary, "w") as handle:
        json.dump(result, handle, indent=2)
    print(f"tf.data pipeline: {result['tf_data_pipeline_clips_per_s']:.0f} clips/s, "
          f"SciPy loop: {result['scipy_per_file_loop_clips_per_s']:.0f} clips/s, "
          f"ratio {result['speedup']:.2f}x (medians of {args.repeats}); training step: "
          + ", ".join(f"{name} {rate:.0f} clips/s" for name, rate in result["training_step_clips_per_s"].items()))


if __name__ == "__main__":
    main()
