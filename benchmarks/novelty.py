"""The novelty score of the shipped model on its FSDD test clips and on audio of other kinds.

    python benchmarks/novelty.py --json benchmarks/results/novelty.json

Other kinds: white and pink noise, tones, chirps and music-like notes (eight of each, made here, as in
tests/test_novelty.py) and digits spoken by espeak-ng in six other languages (tests/data/other_speech/).
Reports the AUROC of the score, and the share of each kind's clips beyond the reference's threshold.
"""

import argparse
import os
import re
import sys
import tempfile

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from test_novelty import OTHER_SPEECH, _other_kinds  # noqa: E402

from keras_uvac import datasets, novelty  # noqa: E402
from keras_uvac.atomic import write_json  # noqa: E402
from keras_uvac.model import UVAC  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="uvac_fsdd")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    model = UVAC.from_preset(args.model)
    reference = model.card["novelty"]
    splits = datasets.load_audio().split(seed=0)
    with tempfile.TemporaryDirectory() as folder:
        others = _other_kinds(folder) + OTHER_SPEECH
        scores = {name: novelty.novelty_scores(novelty.novelty_terms(model, collection), reference)
                  for name, collection in [("test", splits["test"]), ("others", datasets.load_audio(others))]}
    kinds = [re.sub(r"\d+\.wav$", "", os.path.basename(path)) if path.endswith(".wav") else "espeak-ng speech"
             for path in others]
    beyond = {kind: float(np.mean([score > reference["threshold"] for score, of in zip(scores["others"], kinds)
                                   if of == kind])) for kind in sorted(set(kinds))}
    result = {"model": args.model, "threshold": reference["threshold"], "test_clips": len(scores["test"]),
              "other_clips": len(scores["others"]),
              "auroc": float(roc_auc_score(np.r_[np.zeros(len(scores["test"])), np.ones(len(scores["others"]))],
                                           np.r_[scores["test"], scores["others"]])),
              "test_share_beyond_threshold": float(np.mean(scores["test"] > reference["threshold"])),
              "share_beyond_threshold_by_kind": beyond}
    print(result)
    if args.json:
        write_json(args.json, result, indent=2)


if __name__ == "__main__":
    main()
