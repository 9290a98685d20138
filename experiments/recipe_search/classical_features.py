"""K-means (PCA 50) on transforms of the UVAC features: how much digit identity they carry.

    python benchmarks/recipe_search/classical_features.py
"""

import numpy as np
from scipy.fft import dct
from scipy.ndimage import gaussian_filter1d
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from keras_uvac import datasets, metrics, pipeline


def kmeans_accuracy(values, labels, components=50):
    flat = values.reshape(len(values), -1)
    flat = flat - flat.mean(0)
    points = PCA(components, random_state=0).fit_transform(flat) if components else flat
    return np.mean([metrics.unsupervised_accuracy(labels, KMeans(10, n_init=5, random_state=seed).fit_predict(points))
                    for seed in range(2)])


def time_normalised(spectrogram, mask, frames=32):
    """The active frames stretched to a fixed number of frames."""
    active = spectrogram[:, :max(int(mask.sum()), 2)]
    positions = np.linspace(0, active.shape[1] - 1, frames)
    return np.stack([np.interp(positions, np.arange(active.shape[1]), row) for row in active])


def main():
    collection = datasets.load_audio()
    arrays = pipeline.extract_features(collection, progress=False)
    spectrograms, masks, labels = arrays["spectrogram"], arrays["activity_mask"], collection.labels
    log_spectrograms = np.log(spectrograms + 1e-2)
    variants = {"linear": spectrograms, "log": log_spectrograms}
    for sigma in (2, 4):
        smooth = gaussian_filter1d(log_spectrograms, sigma, axis=1)
        variants[f"log smoothed {sigma}"] = smooth
        variants[f"log smoothed {sigma}, time-normalised"] = np.stack(
            [time_normalised(s, m) for s, m in zip(smooth, masks)])
    cepstra = dct(gaussian_filter1d(log_spectrograms, 3, axis=1)[:, :80], axis=1, norm="ortho")[:, 1:14]
    variants["cepstrum 13, time-normalised"] = np.stack([time_normalised(c, m) for c, m in zip(cepstra, masks)])
    for name, values in variants.items():
        components = 0 if name.startswith("cepstrum") else 50
        print(f"{name:45s} {kmeans_accuracy(values, labels, components):.3f}")


if __name__ == "__main__":
    main()
