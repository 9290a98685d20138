"""Builds a synthetic keyword corpus with espeak-ng: 20 words of very unequal frequency, 48 voices, noisy rooms.

A development corpus unlike the FSDD (issue #38): twenty command words instead of ten digits, the most frequent word
six times as common as the rarest (counts fall geometrically with the word's rank), every clip from one of 48
voices (the voices, pitches, rates and recording channels of `make_synthetic_digits.py`: colouring filter,
reverberation and a noise floor per voice) with its own pitch and rate jitter and a noise level of its own.
Files are 16 kHz mono PCM in class folders, `<word>/<voice>_<index>.wav`, which `uvac train --data` reads as one
class per folder and no speaker ids (the case of most real corpora).

Needs the espeak-ng program (Debian: `apt-get install espeak-ng`).

    python benchmarks/data/make_synthetic_keywords.py runs/synthetic_keywords [--most 240] [--ratio 6]
"""

import argparse
import os
import shutil

import numpy as np
from make_synthetic_digits import ACCENTS, VARIANTS, channel, jittered, record, require_espeak, speak, write_clip

WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "forward", "backward", "follow",
         "learn", "visual", "house", "happy", "bird", "tree", "wow")


def word_counts(most, ratio):
    """Clips per word of `WORDS`, falling geometrically from `most` to `most / ratio` (rounded)."""
    return [int(round(most * ratio ** (-rank / (len(WORDS) - 1)))) for rank in range(len(WORDS))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the corpus folder (replaced)")
    parser.add_argument("--most", type=int, default=240, help="clips of the most frequent word")
    parser.add_argument("--ratio", type=float, default=6.0, help="most frequent over rarest word's count")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    require_espeak()
    rng = np.random.default_rng(args.seed)
    shutil.rmtree(args.out, ignore_errors=True)
    voices = []
    for accent, variant in [(accent, variant) for variant in VARIANTS for accent in ACCENTS]:
        female = variant.startswith("f")
        pitch = rng.integers(55, 90) if female else rng.integers(15, 55)
        voices.append((f"{accent}+{variant}", pitch, rng.integers(120, 200), channel(rng)))
    counts = word_counts(args.most, args.ratio)
    for word, count in zip(WORDS, counts):
        os.makedirs(os.path.join(args.out, word))
        for index in range(count):
            number = int(rng.integers(len(voices)))
            voice, pitch, speed, recording_channel = voices[number]
            clip = record(*speak(word, voice, *jittered(rng, pitch, speed)), recording_channel, rng)
            clip = np.clip(clip + rng.normal(size=len(clip)) * 10 ** (rng.uniform(-50, -30) / 20), -1, 1)
            write_clip(os.path.join(args.out, word, f"{number + 1:02d}_{index:03d}.wav"), clip)
    print(f"wrote {sum(counts)} clips of {len(WORDS)} words ({counts[0]} to {counts[-1]} each) from {len(voices)} "
          f"voices to {args.out}")


if __name__ == "__main__":
    main()
