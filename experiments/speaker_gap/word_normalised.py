"""Pseudo-speaker descriptors with the word taken out, grouped into 6, 20 or 60 groups (no training).

Issue 37, step 2. Today's descriptor (background spectrum + mean cepstrum of the active frames) carries the word:
on the many-voices corpus its groups have digit NMI 0.30, so the speaker terms remove part of what the clusters
should keep. Hypothesis: subtracting from each clip's descriptor the mean descriptor of clips that say the same
word, as a label-free proxy (K-means on the log spectrograms) guesses it, leaves the voice and channel, and groups
of the residual follow the speakers better and the words less. The true digits give the upper bound (never used
to choose). Training split of the seeded 80/10/10 split only.

    python experiments/speaker_gap/word_normalised.py DATA [DATA ...] [--json F]
"""


import numpy as np
from common import corpora_parser, scored, splits, write_rows
from sklearn.metrics import normalized_mutual_info_score as nmi

from keras_uvac import baselines, nuisance, pipeline


def standardised_with_word_means(descriptors, words):
    """The standardised descriptors, and the mean of each word group's (one row per group, in `np.unique` order)."""
    standardised = (descriptors - descriptors.mean(0)) / (descriptors.std(0) + 1e-9)
    return standardised, np.stack([standardised[words == word].mean(0) for word in np.unique(words)])


def residual(descriptors, words):
    """Each standardised descriptor minus the mean of its word group."""
    standardised, means = standardised_with_word_means(descriptors, words)
    return standardised - means[np.unique(words, return_inverse=True)[1]]


def without_word_directions(descriptors, words, keep_out):
    """Standardised descriptors with the `keep_out` directions that separate the word groups most projected away."""
    standardised, means = standardised_with_word_means(descriptors, words)
    _, _, directions = np.linalg.svd(means - means.mean(0), full_matrices=False)
    basis = directions[:keep_out]
    return standardised - standardised @ basis.T @ basis


def clip_normalised(features):
    """Log spectrograms with each clip's mean over its active frames taken out per frequency bin (the channel and
    part of the voice's colour), zero on inactive frames."""
    log_spectrogram = np.log(features["spectrogram"] + 1e-3)
    mask = features["activity_mask"][:, None, :]
    mean = np.sum(log_spectrogram * mask, axis=2, keepdims=True) / np.maximum(np.sum(mask, axis=2, keepdims=True), 1)
    return (log_spectrogram - mean) * mask


def word_proxy(name, features, labels):
    """Groups of clips that probably say the same word: K-means on (clip-normalised) spectrograms, a trained
    model's clusters (`model PATH`), K-means on saved codes of these clips (`codes PATH.npz`), or the digits."""
    if name == "true digits":
        return labels
    if name.startswith("model "):
        from keras_uvac.model import UVAC

        return UVAC.from_preset(name.split(maxsplit=1)[1]).predict_clusters(features)[0]
    if name.startswith("codes "):
        saved = np.load(name.split(maxsplit=1)[1])
        assert np.array_equal(saved["labels"], labels), "the codes are not of these clips"
        return baselines.kmeans_clusters(saved["codes"], 10, seed=0)
    values = clip_normalised(features) if name.endswith("clip-normalised") else features["spectrogram"]
    return baselines.kmeans_clusters(values, int(name.split()[0].removeprefix("kmeans")), seed=0)


def main():
    parser = corpora_parser()
    parser.add_argument("--proxies", nargs="+", default=["kmeans10", "kmeans30", "true digits"])
    args = parser.parse_args()
    results = []
    for data in args.data:
        train = splits(data)["train"]
        descriptors = nuisance.collection_descriptors(train)
        features = pipeline.extract_features(train, progress=False)
        labels = np.asarray(train.labels)
        proxies = {name: word_proxy(name, features, labels) for name in args.proxies}
        candidates = {"today": descriptors}
        for name, words in proxies.items():
            print(data, name, "proxy digit NMI", round(float(nmi(labels, words)), 3), flush=True)
            candidates[f"residual within {name}"] = residual(descriptors, words)
            candidates[f"9 word directions of {name} removed"] = without_word_directions(descriptors, words, 9)
        for name, values in candidates.items():
            for groups in (6, 20, 60):
                results.append(scored(train, nuisance.group_descriptors(values, groups, seed=0), data=data,
                                      descriptor=name, groups=groups))
    write_rows(args.json, results)


if __name__ == "__main__":
    main()
