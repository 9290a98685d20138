"""How many pseudo-speaker groups: label-free criteria against the groups' speaker and digit NMI (no training).

Issue 37, step 2. 48 groups lift the many-voices corpus (60.0% -> 69.0% in a short screen) and sink the FSDD
(69.0% -> 43.0%), so the number must come from the data. For each count, today's descriptor grouped as
`nuisance.group_descriptors` does: its BIC (lower is better), the agreement (NMI) of groups fitted on two halves
of the clips with different seeds and predicted on all, and, to judge them only, NMI with speakers and digits.
Training split only.

    python experiments/speaker_gap/group_count.py DATA [DATA ...] [--json F]
"""


import numpy as np
from common import corpora_parser, scored, splits, write_rows
from sklearn import mixture, preprocessing
from sklearn.metrics import normalized_mutual_info_score as nmi

from keras_uvac import nuisance

COUNTS = (3, 6, 12, 24, 48, 96)


def main():
    parser = corpora_parser()
    args = parser.parse_args()
    results = []
    for data in args.data:
        train = splits(data)["train"]
        standardised = preprocessing.StandardScaler().fit_transform(nuisance.collection_descriptors(train))
        halves = np.random.default_rng(0).permutation(len(standardised)).reshape(2, -1)
        for count in COUNTS:
            fitted = mixture.GaussianMixture(count, covariance_type="tied", n_init=5, random_state=0).fit(standardised)
            groups = fitted.predict(standardised)
            half_groups = [mixture.GaussianMixture(count, covariance_type="tied", n_init=5, random_state=1 + index)
                           .fit(standardised[half]).predict(standardised) for index, half in enumerate(halves)]
            results.append(scored(train, groups, data=data, groups=count,
                                  bic=round(float(fitted.bic(standardised)), 1),
                                  halves_agreement=round(float(nmi(*half_groups)), 3)))
    write_rows(args.json, results)


if __name__ == "__main__":
    main()
