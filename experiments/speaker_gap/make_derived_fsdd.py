"""Derives a many-speaker corpus from the FSDD's six real speakers, in AudioMNIST layout.

A development corpus for the id-free path (issue 37): real corpora have tens of speakers whose voices are
close, which six FSDD speakers and espeak-ng's far-apart voices do not show. Each real speaker's 500 clips
are dealt to `--per-speaker` derived speakers (by the clip's index, so each derived speaker says every digit
the same number of times). A derived speaker has its own vocal-tract-length-and-pitch factor (the clip is
resampled, which scales formants, pitch and duration together, as a shorter or longer vocal tract and
faster or slower speech do) and its own recording channel (colouring filter, room and noise floor, as in
`make_synthetic_digits.py`, or `--channel mild`: one studio's microphones). Files are 8 kHz like the FSDD, written as
`data/<speaker>/<digit>_<speaker>_<index>.wav` with no `audioMNIST_meta.txt` (the layout is found from the names).

The FSDD is CC BY-SA 4.0 (Zohar Jackson and contributors, github.com/Jakobovski/free-spoken-digit-dataset);
a corpus derived from it is too, and keeps this attribution.

    python experiments/speaker_gap/make_derived_fsdd.py runs/derived_fsdd [--per-speaker 10] [--warp 0.12] \
        [--channel mild]
"""

import argparse
import os
import shutil
import sys

import numpy as np
import scipy.io.wavfile
import scipy.signal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benchmarks", "data"))
from make_synthetic_digits import channel  # noqa: E402

FSDD = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "fsdd", "recordings")
RATE = 8000


def mild_channel(rng):
    """A channel of one studio's microphones: a gentle band limit, a short room and a low noise floor."""
    colouring = scipy.signal.butter(1, [rng.uniform(50, 150), rng.uniform(3300, 3900)], btype="bandpass", fs=RATE,
                                    output="sos")
    length = int(rng.uniform(0.02, 0.08) * RATE)
    tail = rng.normal(size=length) * np.exp(-6.9 * np.arange(length) / length)
    room = np.concatenate([[1.0], rng.uniform(0.02, 0.1) * tail / np.abs(tail).max()])
    return colouring, room, rng.uniform(-60, -45)


def derived_clip(samples, warp, recording_channel, rng):
    """One FSDD clip as the derived speaker says it: resampled by `warp`, then recorded on its channel."""
    colouring, room, noise_db = recording_channel
    samples = scipy.signal.resample_poly(samples, 1000, int(round(1000 * warp)))
    samples = scipy.signal.sosfilt(colouring, scipy.signal.fftconvolve(samples, room)[:len(samples) + len(room) // 2])
    samples = samples / (np.abs(samples).max() + 1e-9) * rng.uniform(0.3, 0.9)
    return np.clip(samples + rng.normal(size=len(samples)) * 10 ** (noise_db / 20), -1, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the corpus folder (its data/ is replaced)")
    parser.add_argument("--fsdd", default=FSDD, help="the FSDD recordings folder")
    parser.add_argument("--per-speaker", type=int, default=10, help="derived speakers per real speaker")
    parser.add_argument("--warp", type=float, default=0.12,
                        help="largest relative change of vocal tract length and pitch (factor in 1 +- warp)")
    parser.add_argument("--channel", choices=["varied", "mild"], default="varied",
                        help="each derived speaker's channel: as varied as make_synthetic_digits.py's, or one studio's")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    data = os.path.join(args.out, "data")
    shutil.rmtree(data, ignore_errors=True)
    names = sorted(name for name in os.listdir(args.fsdd) if name.endswith(".wav"))
    real_speakers = sorted({name.split("_")[1] for name in names})
    voices = {}
    for real in real_speakers:
        for part in range(args.per_speaker):
            speaker = f"{len(voices) + 1:02d}"
            new_channel = channel if args.channel == "varied" else mild_channel
            voices[real, part] = speaker, rng.uniform(1 - args.warp, 1 + args.warp), new_channel(rng)
            os.makedirs(os.path.join(data, speaker))
    # The varied channels' filters are designed at 16 kHz; at 8 kHz their bands scale by half, which keeps them in band.
    for name in names:
        digit, real, index = name[:-4].split("_")
        speaker, warp, recording_channel = voices[real, int(index) % args.per_speaker]
        rate, samples = scipy.io.wavfile.read(os.path.join(args.fsdd, name))
        samples = samples.astype(np.float64) / (32768 if samples.dtype == np.int16 else 1)
        clip = derived_clip(samples, warp, recording_channel, rng)
        path = os.path.join(data, speaker, f"{digit}_{speaker}_{int(index) // args.per_speaker}.wav")
        scipy.io.wavfile.write(path, rate, (clip * 32767).astype(np.int16))
    print(f"wrote {len(names)} clips of {len(voices)} derived speakers to {data}")


if __name__ == "__main__":
    main()
