"""What the speaker-gap experiments share: a corpus's seeded splits, and groups scored against speakers and digits."""

import argparse
import json

from sklearn.metrics import normalized_mutual_info_score as nmi

from keras_uvac import datasets


def corpora_parser():
    """The arguments every table script takes: one or more corpora (`fsdd`: the bundled FSDD) and `--json`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="+")
    parser.add_argument("--json")
    return parser


def splits(data):
    """The seeded 80/10/10 split of DATA (`fsdd`: the bundled FSDD)."""
    return datasets.load_audio(data if data != "fsdd" else None).split(seed=0)


def scored(train, groups, /, **row):
    """`row` with the groups' NMI with the speakers and with the digits, printed as one JSON line."""
    row.update(speaker_nmi=round(float(nmi(train.speakers, groups)), 3),
               digit_nmi=round(float(nmi(train.labels, groups)), 3))
    print(json.dumps(row), flush=True)
    return row


def write_rows(path, rows):
    """The rows as a JSON list at `path`, when a path is given."""
    if path:
        with open(path, "w") as handle:
            json.dump(rows, handle, indent=1)
