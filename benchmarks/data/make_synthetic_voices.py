"""Builds a spoken-digit corpus of many close synthetic voices with espeak-ng, for issue 37's speaker-id gap.

`make_synthetic_digits.py`'s 48 voices are espeak-ng's stock variants: few and far apart, so its corpus loses
almost nothing without speaker ids, where real corpora of about 60 speakers lose 40 points. Here each speaker is a
voice of its own, written as an espeak-ng variant file: each of the first five formants moved by its own factor
around one vocal-tract-length factor (so a voice is not a scaled copy of another), its own formant heights and
widths, pitch base and range, roughness, breathiness, flutter, consonant strength and stress pattern, speaking
rate and one of espeak-ng's eight English accents; its recording channel is `make_synthetic_digits.channel`'s
(colouring filter, room, noise floor). Voices are drawn from one distribution, so many of them are close.
Files are 16 kHz mono PCM in the AudioMNIST layout, `data/<speaker>/<digit>_<speaker>_<index>.wav` (speaker ids in
the names; `uvac train --speakers pseudo` trains as if they were not there).

Needs the espeak-ng program (Debian: `apt-get install espeak-ng`).

    python benchmarks/data/make_synthetic_voices.py runs/synthetic_voices [--speakers 60] [--repetitions 5]
"""

import argparse
import os
import shutil
import subprocess
import tempfile

import numpy as np
from make_synthetic_digits import ACCENTS, WORDS, channel, record, require_espeak, speak, write_clip

# espeak-ng takes a variant after "en" but silently not after its alias "en-gb".
VOICE_ACCENTS = tuple("en" if accent == "en-gb" else accent for accent in ACCENTS)


def espeak_data_folder():
    """espeak-ng's own data folder (the one holding `voices/!v`), as the program reports it."""
    result = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True, text=True)
    folder = result.stdout.split("Data at:")[-1].strip()
    if not os.path.isdir(os.path.join(folder, "voices", "!v")):
        raise SystemExit(f"espeak-ng's data folder {folder!r} has no voices/!v")
    return folder


def voice_variant(rng, name):
    """The text of one speaker's espeak-ng variant file."""
    female = rng.random() < 0.5
    tract = rng.uniform(1.02, 1.18) if female else rng.uniform(0.88, 1.04)
    base = rng.uniform(150, 230) if female else rng.uniform(75, 140)
    lines = ["language variant", f"name {name}", f"gender {'female' if female else 'male'}", "",
             f"pitch {base:.0f} {base * rng.uniform(1.3, 1.9):.0f}",
             f"roughness {rng.integers(0, 5)}", f"flutter {rng.integers(0, 20)}",
             f"consonants {rng.integers(80, 130)} {rng.integers(80, 130)}",
             "stressAdd " + " ".join(str(value) for value in rng.integers(-20, 21, size=8)),
             "breath " + " ".join(str(value) for value in rng.integers(0, 4, size=8)), ""]
    for formant in range(9):
        jitter = rng.uniform(0.94, 1.06) if 1 <= formant <= 5 else 1.0
        frequency = 100 if formant == 0 else 100 * tract * jitter
        lines.append(f"formant {formant} {frequency:.0f} {rng.uniform(75, 110):.0f} {rng.uniform(90, 160):.0f}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="the corpus folder (its data/ is replaced)")
    parser.add_argument("--speakers", type=int, default=60)
    parser.add_argument("--repetitions", type=int, default=5, help="clips per digit and speaker")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    require_espeak()
    rng = np.random.default_rng(args.seed)
    data = os.path.join(args.out, "data")
    shutil.rmtree(data, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        # The voices go into a copy of espeak-ng's data, so that the system's stays as it was.
        copy = os.path.join(scratch, "espeak-ng-data")
        shutil.copytree(espeak_data_folder(), copy)
        for number in range(1, args.speakers + 1):
            speaker, variant = f"{number:03d}", f"uvac{number:03d}"
            with open(os.path.join(copy, "voices", "!v", variant), "w") as handle:
                handle.write(voice_variant(rng, variant))
            accent = VOICE_ACCENTS[rng.integers(len(VOICE_ACCENTS))]
            voice, speed = f"{accent}+{variant}", rng.integers(120, 200)
            # espeak-ng falls back to the accent's stock voice, silently, when it cannot read a variant.
            stock, _ = speak("zero", accent, 50, 160, data_folder=scratch)
            if np.array_equal(speak("zero", voice, 50, 160, data_folder=scratch)[0], stock):
                raise SystemExit(f"espeak-ng did not take the variant {variant} from {copy}")
            recording_channel = channel(rng)
            os.makedirs(os.path.join(data, speaker))
            for digit, word in enumerate(WORDS):
                for index in range(args.repetitions):
                    pitch, clip_speed = 50 + int(rng.integers(-8, 9)), int(speed * rng.uniform(0.85, 1.15))
                    samples, rate = speak(word, voice, pitch, clip_speed, data_folder=scratch)
                    write_clip(os.path.join(data, speaker, f"{digit}_{speaker}_{index}.wav"),
                               record(samples, rate, recording_channel, rng))
    print(f"wrote {args.speakers * len(WORDS) * args.repetitions} clips of {args.speakers} speakers to {data}")


if __name__ == "__main__":
    main()
