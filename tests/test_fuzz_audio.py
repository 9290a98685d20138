"""Seeded fuzzing of WAV headers and samples: every file is refused by name, or gives finite features in [0, 1]."""

import os
import struct

import numpy as np
import pytest
from conftest import write_wav

from keras_uvac import audio, datasets, pipeline

CASES = 3000


def _mutations(original, rng):
    """One mutated copy of a WAV file's bytes, chosen among header, size and sample faults."""
    data = bytearray(original)
    kind = rng.integers(6)
    if kind == 0:  # random bytes anywhere in the header
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(0, 44)] = rng.integers(0, 256)
    elif kind == 1:  # one header field set to an extreme value
        offset, width = [(20, 2), (22, 2), (24, 4), (28, 4), (32, 2), (34, 2), (40, 4), (4, 4), (16, 4)][
            rng.integers(9)]
        value = int(rng.choice([0, 1, 2, 3, 255, 65535, 2**31 - 1, 2**32 - 1, 4_000_000_000, 48000, 1_000_000]))
        data[offset:offset + width] = (value % 2**(8 * width)).to_bytes(width, "little")
    elif kind == 2:  # truncated anywhere
        del data[rng.integers(0, len(data)):]
    elif kind == 3:  # random sample bytes
        positions = rng.integers(44, len(data), size=rng.integers(1, 200))
        for position in positions:
            data[position] = rng.integers(0, 256)
    elif kind == 4:  # junk chunk before the data
        junk = bytes(rng.integers(0, 256, size=rng.integers(0, 64), dtype=np.uint8))
        size = int(rng.choice([len(junk), 0, 2**32 - 1, len(junk) + 7]))
        data[36:36] = b"junk" + struct.pack("<I", size) + junk
    else:  # extreme float samples, some NaN or infinite
        samples = np.frombuffer(bytes(original[44:]), "<i2").astype(np.float64) / 32768
        samples = samples * 10.0 ** rng.uniform(-45, 300)
        if rng.random() < 0.3:
            samples[rng.integers(0, len(samples))] = rng.choice([np.nan, np.inf, -np.inf])
        return None, samples
    return bytes(data), None


@pytest.mark.slow
def test_mutated_wav_files_are_refused_or_give_finite_normalised_features(tmp_path):
    rng = np.random.default_rng(0)
    sources = datasets.load_audio().paths[::150]
    originals = [open(path, "rb").read() for path in sources]
    paths = []
    for case in range(CASES):
        paths.append(str(tmp_path / f"case{case:05d}.wav"))
        mutated, float_samples = _mutations(originals[case % len(originals)], rng)
        if mutated is None:
            encoding = "float32" if np.all(np.abs(float_samples[np.isfinite(float_samples)]) < 3e38) else "float64"
            write_wav(paths[-1], float_samples, 8000, encoding)
        else:
            with open(paths[-1], "wb") as handle:
                handle.write(mutated)
    accepted, refused = _inspect_each(paths, audio.inspect_wav)
    assert refused > CASES // 10 and len(accepted) > CASES // 10
    _assert_finite_normalised_features(accepted)


def _inspect_each(paths, inspect):
    """The files that `inspect` accepts, and how many it refused, each by its own name and with a problem."""
    accepted, refused = [], 0
    for path in paths:
        try:
            accepted.append(inspect(path))
        except audio.AudioFileError as error:
            assert error.path == path and error.problem
            refused += 1
    return accepted, refused


def _assert_finite_normalised_features(accepted):
    spectrogram = pipeline.extract_features(datasets.AudioCollection(files=accepted), progress=False)["spectrogram"]
    finite = np.isfinite(spectrogram).all(axis=(1, 2))
    assert finite.all(), [os.path.basename(info.path) for info, ok in zip(accepted, finite) if not ok][:5]
    assert spectrogram.min() >= 0 and spectrogram.max() <= 1


ENCODED_CASES = 300


@pytest.mark.slow
@pytest.mark.parametrize("extension", [".flac", ".mp3"])
def test_mutated_flac_and_mp3_files_are_refused_or_give_finite_normalised_features(tmp_path, extension):
    import soundfile

    rng = np.random.default_rng(1)
    originals = []
    for path in datasets.load_audio().paths[::300]:
        samples, rate = soundfile.read(path, dtype="float32")
        encoded = str(tmp_path / f"original{extension}")
        soundfile.write(encoded, samples, rate)
        originals.append(open(encoded, "rb").read())
    paths = []
    for case in range(ENCODED_CASES):
        data = bytearray(originals[case % len(originals)])
        kind = rng.integers(3)
        if kind == 0:  # random bytes in the header and first frames
            for _ in range(rng.integers(1, 8)):
                data[rng.integers(0, min(len(data), 256))] = rng.integers(0, 256)
        elif kind == 1:  # random bytes anywhere
            for position in rng.integers(0, len(data), size=rng.integers(1, 100)):
                data[position] = rng.integers(0, 256)
        else:  # truncated anywhere
            del data[rng.integers(0, len(data)):]
        paths.append(str(tmp_path / f"case{case:04d}{extension}"))
        with open(paths[-1], "wb") as handle:
            handle.write(data)
    accepted, refused = _inspect_each(paths, audio.inspect_audio)
    assert refused > 0 and accepted  # FLAC's checksums refuse most; MP3 resynchronises and decodes most
    _assert_finite_normalised_features(accepted)
