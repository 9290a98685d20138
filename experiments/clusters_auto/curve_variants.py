"""Issue 38: the stability curve on saved pretrained codes, with more halves and EM restarts than the product uses.

    python experiments/clusters_auto/curve_variants.py CODES.npz HALVES SEED N_INIT [LARGEST_K]

(`save_codes.py` writes CODES.npz.) Prints `(K, mean adjusted Rand index between the halves' partitions, fewest
clusters any half's partition used)` for K from 2.
"""

import sys

import numpy as np
from sklearn import metrics, mixture


def main():
    codes = np.load(sys.argv[1])["codes"].astype(np.float64)
    halves, seed, restarts = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    largest = int(sys.argv[5]) if len(sys.argv) > 5 else 20
    rng = np.random.default_rng(seed)
    subsets = [rng.permutation(len(codes))[:len(codes) // 2] for _ in range(halves)]
    rows = []
    for k in range(2, largest + 1):
        partitions = [mixture.GaussianMixture(k, covariance_type="tied", n_init=restarts, reg_covar=np.exp(-4),
                                              random_state=seed + index).fit(codes[subset]).predict(codes)
                      for index, subset in enumerate(subsets)]
        agreement = np.mean([metrics.adjusted_rand_score(partitions[first], partitions[second])
                             for first in range(halves) for second in range(first + 1, halves)])
        rows.append((k, round(float(agreement), 3), min(len(np.unique(partition)) for partition in partitions)))
    print(halves, seed, rows)


if __name__ == "__main__":
    main()
