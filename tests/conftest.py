"""Shared test helpers: small WAV files written on the fly, the bundled sample data, and `uvac` run in-process."""

import contextlib
import os
import shutil
import signal
import struct

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
AUDIOMNIST_SAMPLE = os.path.join(TESTS_DIR, "data", "audiomnist_sample")


def pytest_configure(config):
    import keras_uvac  # noqa: F401, I001  (first, so that TensorFlow is imported quietly, as the package does)
    import tensorflow as tf

    # Grappler optimises each new TensorFlow graph, which pays off over a long training; the tests train tiny models
    # for a few steps each (median of a tiny training 6.4 s without it, 6.9 s with it, on a quiet machine:
    # experiments/ci_time/grappler_tiny_training.py). The processes that tests start (the command line, notebooks,
    # the installed wheel) keep TensorFlow's defaults.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def write_wav(path, samples, sample_rate, encoding="pcm16"):
    """Writes `samples` (frames x channels, or 1-D, floats in [-1, 1]) as a WAV file."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim == 1:
        samples = samples[:, None]
    channels = samples.shape[1]
    if encoding == "pcm8":
        data, bits, tag = np.clip(np.round(samples * 128 + 128), 0, 255).astype("u1").tobytes(), 8, 1
    elif encoding == "pcm16":
        data, bits, tag = np.clip(np.round(samples * 32768), -32768, 32767).astype("<i2").tobytes(), 16, 1
    elif encoding == "pcm24":
        values = np.clip(np.round(samples * 2**23), -(2**23), 2**23 - 1).astype("<i4").reshape(-1)
        data = np.stack([values & 0xFF, (values >> 8) & 0xFF, (values >> 16) & 0xFF], axis=1).astype("u1").tobytes()
        bits, tag = 24, 1
    elif encoding == "pcm32":
        data, bits, tag = np.clip(np.round(samples * 2**31), -(2**31), 2**31 - 1).astype("<i4").tobytes(), 32, 1
    elif encoding == "float32":
        data, bits, tag = samples.astype("<f4").tobytes(), 32, 3
    elif encoding == "float64":
        data, bits, tag = samples.astype("<f8").tobytes(), 64, 3
    else:
        raise ValueError(encoding)
    write_raw_wav(path, data, sample_rate, channels, bits, tag)
    return str(path)


def write_raw_wav(path, data, sample_rate, channels, bits, format_tag, declared_data_bytes=None):
    """Writes a WAV file around raw sample bytes, with a chosen header."""
    block_align = channels * bits // 8
    byte_rate = (sample_rate * block_align) % 2**32
    fmt = struct.pack("<HHIIHH", format_tag, channels, sample_rate, byte_rate, block_align, bits)
    size = len(data) if declared_data_bytes is None else declared_data_bytes
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    with open(path, "wb") as handle:
        handle.write(b"RIFF" + struct.pack("<I", len(body)) + body)
    return str(path)


def tone(duration, sample_rate, frequency=440.0, amplitude=0.5):
    times = np.arange(int(round(duration * sample_rate))) / sample_rate
    return amplitude * np.sin(2 * np.pi * frequency * times)


def copy_fsdd_subset(folder, every):
    """Copies every `every`-th bundled FSDD clip into `folder` (FSDD naming, so speakers and labels are kept)."""
    from keras_uvac import datasets

    for path in datasets.load_audio().paths[::every]:
        shutil.copy(path, folder)
    return folder


@contextlib.contextmanager
def no_hang(seconds=120):
    """Raises TimeoutError in this process after `seconds`, so that a hang fails its test instead of stalling CI."""
    def stop(signum, frame):
        raise TimeoutError(f"hung for {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_uvac(capsys, *arguments):
    """Runs `uvac -q ARGUMENTS` in this process, as a user runs it; returns (exit status, stdout, stderr).

    An uncaught exception (a traceback for the user) fails the calling test.
    """
    from keras_uvac import cli

    with no_hang():
        try:
            status = cli.main(["-q", *map(str, arguments)])
        except SystemExit as exit_:  # argparse's errors
            status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def audiomnist_sample():
    return AUDIOMNIST_SAMPLE
