"""How well do label-free voice descriptors recover the speakers (and not the words)?

Hypothesis: the speaker terms need groups that share a voice and a channel but not a word. Measured on
the training split of the bundled FSDD: speaker NMI (want high) and digit NMI (want low) of K-means
groups, for several descriptors and group counts. `background+cepstral mean` is what
`keras_uvac.nuisance` uses.

    python benchmarks/recipe_search/pseudo_speakers.py --json benchmarks/recipe_search/results/pseudo_speakers.json
"""

import argparse
import json

import numpy as np
from sklearn import cluster, metrics, preprocessing

from keras_uvac import datasets, nuisance, pipeline
from keras_uvac.features import FeatureConfig


def descriptors(collection, config):
    waveforms = list(pipeline.waveform_dataset(collection, config).as_numpy_iterator())
    cepstra, pitch = [], []
    for waveform, length in waveforms:
        samples = waveform[:max(length, config.frame_length)]
        frames = np.lib.stride_tricks.sliding_window_view(samples, config.frame_length)[::config.hop_length]
        spectrum = np.abs(np.fft.rfft(frames * np.hanning(config.frame_length), axis=1))[:, 1:]
        energy = (spectrum ** 2).sum(1)
        active = energy > 0.05 * energy.max()
        log_spectrum = np.log(spectrum[active] + 1e-6)
        cepstrum = np.fft.irfft(log_spectrum, axis=1)[:, 1:21]
        cepstra.append(np.concatenate([cepstrum.mean(0), cepstrum.std(0)]))
        # Pitch from the autocorrelation peak between 60 and 400 Hz in the active frames.
        low, high = config.sample_rate // 400, config.sample_rate // 60
        autocorrelation = np.fft.irfft(np.abs(np.fft.rfft(frames[active], n=2 * config.frame_length)) ** 2)
        lags = low + autocorrelation[:, low:high].argmax(1)
        strength = autocorrelation[np.arange(len(lags)), lags] / (autocorrelation[:, 0] + 1e-9)
        f0 = config.sample_rate / lags[strength > 0.3] if np.any(strength > 0.3) else np.array([0.0])
        pitch.append([np.median(f0), np.percentile(f0, 25), np.percentile(f0, 75)])
    voice = np.stack([nuisance.voice_descriptor(waveform[:length]) for waveform, length in waveforms])
    return {"cepstrum mean+std": np.array(cepstra), "pitch": np.log(np.maximum(np.array(pitch), 1.0)),
            "cepstrum+pitch": np.hstack([np.array(cepstra), np.log(np.maximum(np.array(pitch), 1.0)) * 4]),
            "background": voice[:, :nuisance.BACKGROUND_BANDS], "cepstral mean": voice[:, nuisance.BACKGROUND_BANDS:],
            "background+cepstral mean": voice}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data")
    parser.add_argument("--json")
    args = parser.parse_args()
    collection = datasets.load_audio(args.data).split(seed=0)["train"]
    config = FeatureConfig(frame_ms=40.0, hop_ms=20.0)
    speakers = np.unique(collection.speakers, return_inverse=True)[1]
    results = {}
    for name, values in descriptors(collection, config).items():
        scaled = preprocessing.StandardScaler().fit_transform(values)
        for groups in (6, 12, 24):
            found = cluster.KMeans(groups, n_init=5, random_state=0).fit_predict(scaled)
            row = {"speaker_nmi": metrics.normalized_mutual_info_score(speakers, found),
                   "digit_nmi": metrics.normalized_mutual_info_score(collection.labels, found)}
            results[f"{name} k={groups}"] = row
            print(f"{name:16s} k={groups:3d} speaker NMI {row['speaker_nmi']:.3f} digit NMI {row['digit_nmi']:.3f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
