"""Writes two small development corpora of 600 clips, 60 per digit, as folders that `uvac train --data` reads.

- `fsdd_small/`: a seeded choice of 60 of each digit's 300 bundled FSDD clips (CC BY-SA 4.0, Zohar Jackson and
  contributors, github.com/Jakobovski/free-spoken-digit-dataset; the subset is too), FSDD file names kept;
- `voices_small/`: the first take of each digit by each of the many-voices corpus's 60 voices
  (`make_synthetic_voices.py`): one clip per word and speaker, its layout kept.

A real corpus of this size (76 speakers who each say each digit once) clustered barely better than K-means
(issue 37); these two reproduce its shape on data the team may look at.

    python benchmarks/data/make_small_corpora.py runs/synthetic_voices/data runs/small_corpora
"""

import argparse
import os
import shutil

import numpy as np

CLIPS_PER_DIGIT = 60


def fsdd_small_indices(labels, seed=0):
    """Indices (sorted) of a seeded choice of `CLIPS_PER_DIGIT` clips of each label.

    Example:
    >>> len(fsdd_small_indices(np.repeat(np.arange(10), 300)))
    600
    """
    labels = np.asarray(labels)
    # Seeded, not the first files in name order: those would be one speaker's.
    order = np.random.default_rng(seed).permutation(len(labels))
    return np.sort(np.concatenate([order[labels[order] == label][:CLIPS_PER_DIGIT] for label in np.unique(labels)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("voices", help="the many-voices corpus (make_synthetic_voices.py's data folder)")
    parser.add_argument("out", help="folder to write fsdd_small/ and voices_small/ into")
    args = parser.parse_args()
    from keras_uvac import datasets

    fsdd = datasets.load_audio()
    folder = os.path.join(args.out, "fsdd_small")
    os.makedirs(folder, exist_ok=True)
    for index in fsdd_small_indices(fsdd.labels):
        shutil.copy(fsdd.paths[index], folder)
    voices = datasets.load_audio(args.voices)
    first_takes = [path for path in voices.paths if os.path.splitext(os.path.basename(path))[0].endswith("_0")]
    for path in first_takes:
        target = os.path.join(args.out, "voices_small", os.path.relpath(path, args.voices))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy(path, target)
    print(f"wrote {folder} ({CLIPS_PER_DIGIT * 10} clips) and {args.out}/voices_small ({len(first_takes)} clips)")


if __name__ == "__main__":
    main()
