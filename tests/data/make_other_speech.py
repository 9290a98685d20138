"""Writes tests/data/other_speech/: digits spoken by espeak-ng in six other languages, 16 kHz FLAC.

Audio unlike the FSDD's recorded English speakers, for the novelty tests. Run from the repository root:
`python tests/data/make_other_speech.py` (needs the espeak-ng program: `apt-get install espeak-ng`).
"""

import os
import subprocess
import tempfile

import scipy.signal
import soundfile

WORDS = {"de": ["eins", "zwei", "drei"], "fr": ["un", "deux", "trois"], "es": ["uno", "dos", "tres"],
         "it": ["uno", "due", "tre"], "nl": ["een", "twee", "drie"], "pl": ["jeden", "dwa", "trzy"]}
FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "other_speech")

def main():
    os.makedirs(FOLDER, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for voice, words in WORDS.items():
            for word in words:
                spoken = os.path.join(scratch, "word.wav")
                subprocess.run(["espeak-ng", "-v", voice, "-w", spoken, word], check=True)
                samples, rate = soundfile.read(spoken, dtype="float32")
                soundfile.write(os.path.join(FOLDER, f"{voice}_{word}.flac"),
                                scipy.signal.resample_poly(samples, 16000, rate).astype("float32"), 16000)


if __name__ == "__main__":
    main()
