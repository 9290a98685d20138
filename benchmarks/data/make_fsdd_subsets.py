"""Writes two development corpora cut from the bundled FSDD, as folders that `uvac train --data` reads.

- `fsdd5/`: the digits 0-4 (1,500 clips, five classes of 300);
- `fsdd_unequal/`: ten digits with 300/300/200/200/100/100/50/50/25/25 clips, a seeded random choice of each
  digit's files (1,350 clips; the largest class 12 times the smallest).

Both keep the FSDD's file names, so their speakers and labels are read as the FSDD's. The FSDD is CC BY-SA 4.0
(Zohar Jackson and contributors, github.com/Jakobovski/free-spoken-digit-dataset); the subsets are too.

    python benchmarks/data/make_fsdd_subsets.py runs/fsdd_subsets
"""

import argparse
import os
import shutil

import numpy as np

UNEQUAL_SIZES = (300, 300, 200, 200, 100, 100, 50, 50, 25, 25)
SUBSETS = ("fsdd5", "fsdd_unequal")


def subset_indices(labels, name):
    """The FSDD clips (indices into the bundled collection, sorted) of one subset.

    Example:
    >>> len(subset_indices(np.repeat(np.arange(10), 300), "fsdd_unequal"))
    1350
    """
    labels = np.asarray(labels)
    if name == "fsdd5":
        return np.flatnonzero(labels < 5)
    if name == "fsdd_unequal":
        # Seeded, not the first files in name order: those would be one speaker's.
        order = np.random.default_rng(0).permutation(len(labels))
        keep = [order[labels[order] == digit][:size] for digit, size in enumerate(UNEQUAL_SIZES)]
        return np.sort(np.concatenate(keep))
    raise ValueError(f"unknown subset {name!r}; one of {SUBSETS}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="folder to write the subsets' folders into")
    args = parser.parse_args()
    from keras_uvac import datasets

    fsdd = datasets.load_audio()
    for name in SUBSETS:
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        for index in subset_indices(fsdd.labels, name):
            shutil.copy(fsdd.paths[index], folder)
        print(f"wrote {folder}")


if __name__ == "__main__":
    main()
