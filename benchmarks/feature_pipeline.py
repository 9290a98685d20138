"""Feature throughput: the tf.data pipeline against a plain per-file SciPy loop.

Both compute the same features (decode, resample to 16 kHz, pad to 1 s, 20 ms
Hann STFT with 10 ms hop, 128 bins, min-max) for every clip of the bundled FSDD.
Each is timed several times in this one run; medians and their ratio are
written to benchmarks/results/feature_pipeline.json.

    python benchmarks/feature_pipeline.py [--repeats 5]
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

from keras_uvac import datasets, pipeline
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "feature_pipeline.json"))
    args = parser.parse_args()

    collection = datasets.load_audio()
    config = FeatureConfig()
    clips = len(collection)
    pipeline.extract_features(collection, config, progress=False)  # warm-up: traces the graph
    pipeline_seconds = timed(lambda: pipeline.extract_features(collection, config, progress=False), args.repeats)
    loop_seconds = timed(lambda: scipy_loop(collection.paths, config), args.repeats)
    result = {
        "what": "feature clips per second on the bundled FSDD (3,000 clips, 8 kHz -> 16 kHz, 128 x 99)",
        "command": f"python benchmarks/feature_pipeline.py --repeats {args.repeats}",
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "tensorflow": tf.__version__},
        "repeats": args.repeats,
        "tf_data_pipeline_clips_per_s": clips / statistics.median(pipeline_seconds),
        "scipy_per_file_loop_clips_per_s": clips / statistics.median(loop_seconds),
        "pipeline_seconds": pipeline_seconds,
        "loop_seconds": loop_seconds,
    }
    result["speedup"] = result["tf_data_pipeline_clips_per_s"] / result["scipy_per_file_loop_clips_per_s"]
    with atomic_path(args.out) as temporary, open(temporary, "w") as handle:
        json.dump(result, handle, indent=2)
    print(f"tf.data pipeline: {result['tf_data_pipeline_clips_per_s']:.0f} clips/s, "
          f"SciPy loop: {result['scipy_per_file_loop_clips_per_s']:.0f} clips/s, "
          f"ratio {result['speedup']:.2f}x (medians of {args.repeats})")


if __name__ == "__main__":
    main()
