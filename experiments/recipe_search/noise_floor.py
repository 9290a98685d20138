"""Where does a clip's noise floor (`FeatureConfig.noise_margin_db`) lie above the fixed log range, by speaker?

For every `--every`-th clip of a corpus: the noise level of `features.AudioFeatures` (the mean magnitude of the
clip's quietest whole frame) raised by the margin, in dB relative to the clip's peak, and the share of clips where
it lies above `-log_range_db` (where the noise floor, not the range, decides). With `--models`, also each model's
validation accuracy by speaker (clusters matched to labels once over all validation clips). The test split is not
read.

    python benchmarks/recipe_search/noise_floor.py [--data DIR] [--every 3] [--margin-db 6] [--range-db 40]
        [--models M.keras ...]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def floor_levels(collection, margin_db):
    """Each clip's noise floor in dB relative to its peak."""
    from keras_uvac import pipeline
    from keras_uvac.features import AudioFeatures, FeatureConfig

    layer = AudioFeatures(FeatureConfig(magnitude="log", noise_margin_db=margin_db))
    levels = []
    for batch in pipeline.waveform_batches(collection, FeatureConfig()):
        magnitude = np.asarray(layer._magnitude(batch["waveform"]))
        noise = np.asarray(layer._noise_level(magnitude, np.asarray(batch["length"], "int32")))[:, 0, 0]
        levels.append(20 * np.log10(np.maximum(noise * 10 ** (margin_db / 20), 1e-12) / magnitude.max(axis=(1, 2))))
    return np.concatenate(levels)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the corpus folder (default: the bundled FSDD)")
    parser.add_argument("--every", type=int, default=3)
    parser.add_argument("--margin-db", type=float, default=6.0)
    parser.add_argument("--range-db", type=float, default=40.0)
    parser.add_argument("--models", nargs="*", default=[])
    args = parser.parse_args()
    from keras_uvac import datasets, metrics

    corpus = datasets.load_audio(args.data)
    sample = corpus.subset(range(0, len(corpus), args.every))
    levels, speakers = floor_levels(sample, args.margin_db), np.asarray(sample.speakers)
    print(f"noise floor above the {args.range_db:g} dB range: {np.mean(levels > -args.range_db):.0%} of "
          f"{len(levels)} clips")
    for speaker in sorted(set(speakers)):
        mine = levels[speakers == speaker]
        print(f"  {speaker}: {np.mean(mine > -args.range_db):.0%} (median floor {np.median(mine):.1f} dB)")
    if not args.models:
        return
    from balanced_consensus import validation_scorer

    from keras_uvac.model import UVAC

    for path in args.models:
        splits, _, features, _ = validation_scorer(args.data, path)  # each model on its own features
        labels, speakers = np.asarray(splits["validation"].labels), np.asarray(splits["validation"].speakers)
        clusters = UVAC.from_preset(path).predict_clusters(features["validation"])[0]
        matched, label_index = metrics.matched_label_index(labels, clusters)
        right = matched == label_index
        print(path, f"{right.mean():.1%}", " ".join(f"{speaker} {right[speakers == speaker].mean():.0%}"
                                                      for speaker in sorted(set(speakers))))


if __name__ == "__main__":
    main()
