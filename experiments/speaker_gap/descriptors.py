"""How well pseudo-speaker groups follow the speakers and avoid the digits, per descriptor and group count.

Issue 37, step 2 (no training): on a corpus's training split, groups from each candidate descriptor, scored by
their NMI with the speaker ids (higher is better) and with the digits (lower is better).

    python experiments/speaker_gap/descriptors.py DATA [DATA ...] [--json F]
"""


import numpy as np
from common import corpora_parser, scored, splits, write_rows

from keras_uvac import nuisance, pipeline

SPLIT = nuisance.BACKGROUND_BANDS


def pitch(waveform, rate, config=nuisance.DESCRIPTOR_CONFIG):
    """Median and spread of log F0 over the clip's voiced frames (normalised autocorrelation peak above 0.5)."""
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(waveform, np.float64),
                                                      config.frame_length)[::config.hop_length]
    energy = np.sum(frames ** 2, axis=1)
    frames = frames[energy > 0.05 * energy.max()]
    frames = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames, 2 * config.frame_length, axis=1)
    correlation = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :config.frame_length]
    correlation = correlation / (correlation[:, :1] + 1e-12)
    low, high = int(rate / 400), int(rate / 60)
    lags = low + np.argmax(correlation[:, low:high], axis=1)
    voiced = correlation[np.arange(len(lags)), lags] > 0.5
    if not voiced.any():
        return np.zeros(2)
    log_f0 = np.log(rate / lags[voiced])
    return np.array([np.median(log_f0), np.std(log_f0)])


def descriptors(collection):
    config = nuisance.DESCRIPTOR_CONFIG
    rows = []
    for waveform, length in pipeline.waveform_dataset(collection, config).as_numpy_iterator():
        clip = waveform[:length]
        rows.append(np.concatenate([nuisance.voice_descriptor(clip), pitch(clip, config.sample_rate)]))
    return np.stack(rows)


def main():
    parser = corpora_parser()
    args = parser.parse_args()
    results = []
    for data in args.data:
        train = splits(data)["train"]
        table = descriptors(train)
        candidates = {"background+cepstrum (today)": table[:, :-2], "background": table[:, :SPLIT],
                      "cepstrum": table[:, SPLIT:-2], "background+cepstrum+pitch": table,
                      "pitch": table[:, -2:], "background+pitch": np.concatenate([table[:, :SPLIT], table[:, -2:]], 1)}
        for name, values in candidates.items():
            for groups in (6, 20, 60):
                results.append(scored(train, nuisance.group_descriptors(values, groups, seed=0), data=data,
                                      descriptor=name, groups=groups))
    write_rows(args.json, results)


if __name__ == "__main__":
    main()
