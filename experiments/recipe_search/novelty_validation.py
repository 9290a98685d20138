"""Novelty terms on the FSDD validation split against audio of other kinds: which terms, and how combined.

    python benchmarks/recipe_search/novelty_validation.py \
        --json benchmarks/recipe_search/results/novelty_validation.json

The reference is fitted on the training split; AUROCs compare the validation clips with the other kinds of
tests/test_novelty.py (noise, tones, chirps, music-like notes; espeak-ng speech). One-off research script.
"""

import argparse
import os
import sys
import tempfile

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))
from test_novelty import OTHER_SPEECH, _other_kinds  # noqa: E402

from keras_uvac import datasets, novelty  # noqa: E402
from keras_uvac.atomic import write_json  # noqa: E402
from keras_uvac.model import UVAC  # noqa: E402


def scaled_terms(terms, reference):
    rows = []
    for name in novelty.TERMS:
        deviation = terms[name] - reference["terms"][name]["median"]
        rows.append((np.abs(deviation) if name == "loudness_range" else deviation) / reference["terms"][name]["scale"])
    return np.stack(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    args = parser.parse_args()
    model = UVAC.from_preset("uvac_fsdd")
    splits = datasets.load_audio().split(seed=0)
    reference = novelty.fit_reference(novelty.novelty_terms(model, splits["train"]))
    validation = scaled_terms(novelty.novelty_terms(model, splits["validation"]), reference)
    with tempfile.TemporaryDirectory() as folder:
        groups = {"made": _other_kinds(folder), "espeak-ng speech": OTHER_SPEECH}
        others = {name: scaled_terms(novelty.novelty_terms(model, datasets.load_audio(paths)), reference)
                  for name, paths in groups.items()}
    others["all"] = np.concatenate([others["made"], others["espeak-ng speech"]], axis=1)
    candidates = {name: (lambda rows, index=index: rows[index]) for index, name in enumerate(novelty.TERMS)}
    candidates["mean of latent_nll and reconstruction"] = lambda rows: rows[:2].mean(axis=0)
    candidates["mean of the three"] = lambda rows: rows.mean(axis=0)
    candidates["max of the three"] = lambda rows: rows.max(axis=0)
    table = {}
    for name, score in candidates.items():
        table[name] = {group: float(roc_auc_score(np.r_[np.zeros(validation.shape[1]), np.ones(rows.shape[1])],
                                                  np.r_[score(validation), score(rows)]))
                       for group, rows in others.items()}
        print(name, table[name])
    if args.json:
        write_json(args.json, {"validation_clips": validation.shape[1], "auroc": table}, indent=2)


if __name__ == "__main__":
    main()
