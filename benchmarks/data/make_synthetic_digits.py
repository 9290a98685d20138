"""Builds a synthetic many-speaker spoken-digit corpus in AudioMNIST layout with espeak-ng.

A development aid beside the FSDD, never the only evidence: 48 "speakers" (eight English accents of
espeak-ng times six voice variants), each with its own pitch, speaking rate and recording channel
(a random colouring filter, a noise floor and room reverberation), saying each digit `--repetitions`
times with jittered pitch and rate. Files are 16 kHz mono PCM, `data/<speaker>/<digit>_<speaker>_<index>.wav`,
with no `audioMNIST_meta.txt` (so the layout is found from the names).

Needs the espeak-ng program (Debian: `apt-get install espeak-ng`).

    python benchmarks/data/make_synthetic_digits.py runs/synthetic_digits [--speakers 48] [--repetitions 5]
"""

import argparse
import io
import os
import shutil
import subprocess
import wave

import numpy as np
import scipy.io.wavfile
import scipy.signal

from keras_uvac.features import resample

ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029",
           "en-us-nyc")
VARIANTS = ("m1", "m3", "m7", "f1", "f3", "f5")
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RATE = 16000


def speak(text, voice, pitch, speed, data_folder=None):
    """espeak-ng's waveform for `text`, float32 at its own rate (`data_folder`: the folder holding another
    `espeak-ng-data` than the system's)."""
    path = [f"--path={data_folder}"] if data_folder else []
    result = subprocess.run(["espeak-ng", *path, "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
                            check=True, capture_output=True)
    with wave.open(io.BytesIO(result.stdout)) as handle:
        rate = handle.getframerate()
        samples = np.frombuffer(handle.readframes(handle.getnframes()), "<i2").astype(np.float32) / 32768
    return samples, rate


def require_espeak():
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (Debian: apt-get install espeak-ng)")


def jittered(rng, pitch, speed):
    """One clip's pitch (0-99) and rate (words per minute) around a voice's own."""
    return int(np.clip(pitch + rng.integers(-6, 7), 0, 99)), int(speed * rng.uniform(0.85, 1.15))


def write_clip(path, clip):
    """`clip` (floats in [-1, 1]) as a 16 kHz 16-bit PCM WAV file."""
    scipy.io.wavfile.write(path, RATE, (clip * 32767).astype(np.int16))


def channel(rng):
    """A speaker's recording channel: colouring filter, reverberation tail and noise level."""
    low, high = rng.uniform(80, 400), rng.uniform(3000, 7500)
    colouring = scipy.signal.butter(2, [low, high], btype="bandpass", fs=RATE, output="sos")
    decay = rng.uniform(0.05, 0.4)
    tail = rng.normal(size=int(decay * RATE)) * np.exp(-6.9 * np.arange(int(decay * RATE)) / (decay * RATE))
    room = np.concatenate([[1.0], rng.uniform(0.05, 0.3) * tail / np.abs(tail).max()])
    return colouring, room, rng.uniform(-45, -25)


def record(samples, source_rate, recording_channel, rng):
    colouring, room, noise_db = recording_channel
    samples = resample(samples, source_rate, RATE)
    samples = scipy.signal.sosfilt(colouring, scipy.signal.fftconvolve(samples, room)[:len(samples) + len(room) // 2])
    samples = samples / (np.abs(samples).max() + 1e-9) * rng.uniform(0.3, 0.9)
    samples = np.pad(samples, (int(rng.uniform(0.02, 0.15) * RATE), int(rng.uniform(0.02, 0.15) * RATE)))
    samples = samples + rng.normal(size=len(samples)) * 10 ** (noise_db / 20)
    return np.clip(samples, -1, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the corpus folder (its data/ is replaced)")
    parser.add_argument("--speakers", type=int, default=48)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    require_espeak()
    rng = np.random.default_rng(args.seed)
    data = os.path.join(args.out, "data")
    shutil.rmtree(data, ignore_errors=True)
    voices = [(accent, variant) for variant in VARIANTS for accent in ACCENTS][:args.speakers]
    for number, (accent, variant) in enumerate(voices):
        speaker = f"{number + 1:02d}"
        os.makedirs(os.path.join(data, speaker))
        female = variant.startswith("f")
        pitch, speed = rng.integers(55, 90) if female else rng.integers(15, 55), rng.integers(120, 200)
        recording_channel = channel(rng)
        for digit, word in enumerate(WORDS):
            for index in range(args.repetitions):
                samples, rate = speak(word, f"{accent}+{variant}", *jittered(rng, pitch, speed))
                write_clip(os.path.join(data, speaker, f"{digit}_{speaker}_{index}.wav"),
                           record(samples, rate, recording_channel, rng))
    print(f"wrote {len(voices) * len(WORDS) * args.repetitions} clips of {len(voices)} speakers to {data}")


if __name__ == "__main__":
    main()
