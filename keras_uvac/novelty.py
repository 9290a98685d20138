"""How unlike a model's training data a clip is: a per-clip novelty score, and the reference it is read against.

A model puts every clip in some cluster, with a probability near 1 even for
noise. The novelty score says when that cluster may mean nothing. It averages
three terms, each scaled by how it spreads over the training clips (0 at their
median, 1 at their 90th percentile):

- `latent_nll`: the negative log-density of the clip's latent mean under the
  model's mixture prior (far from every cluster);
- `reconstruction`: the decoder's squared error per recorded cell (a picture
  the model cannot draw);
- `loudness_range`: how far the dB range between the clip's loud (90th
  percentile) and quiet (10th) frames lies from the training clips' (recorded
  speech spans tens of dB; stationary noise and tones span almost none, and
  digitally silent synthetic audio far more).

The reference (per-term medians and scales, and the 99th percentile of the
training clips' scores as the threshold) is fitted on the training clips and
kept in the model card under `"novelty"`. On the FSDD validation split against
noise, tones, chirps, music-like signals and espeak-ng speech, the three
terms' mean separates best (docs/design.md, "Novelty").
"""

import numpy as np
from keras import ops

from keras_uvac import pipeline

TERMS = ("latent_nll", "reconstruction", "loudness_range")
THRESHOLD_QUANTILE = 0.99
# A folder where more than this share of clips is beyond the threshold is reported (1% of training clips are).
REPORTED_SHARE = 0.1


def novelty_terms(model, collection, features=None, batch_size=128):
    """The three novelty terms of every clip of a collection, in collection order.

    Args:
        model: a trained `UVAC`.
        collection: a `datasets.AudioCollection`.
        features: the collection's features (`pipeline.extract_features`), if
            they were computed already (e.g. to cluster the clips); else the
            model's front end computes them from the waveforms.
        batch_size: clips per batch.

    Returns:
        A dict of float arrays `(clips,)`, one per name in `TERMS`.

    Example:
    >>> terms = novelty_terms(model, load_audio("clips/"))  # doctest: +SKIP
    """
    config = model.feature_config_object()
    terms = {name: [] for name in TERMS}
    batches = pipeline.waveform_batches(collection, config, batch_size=batch_size)
    done = 0
    with pipeline.files_named_on_failure(collection):
        for batch in batches.as_numpy_iterator():
            count = len(batch["length"])
            if features is None:
                computed = model.features({"waveform": batch["waveform"], "length": batch["length"]})
                spectrogram = ops.convert_to_numpy(computed["spectrogram"])
                mask = ops.convert_to_numpy(computed["activity_mask"])[:, None, :]
            else:
                spectrogram = features["spectrogram"][done:done + count]
                mask = features["activity_mask"][done:done + count][:, None, :]
            done += count
            z_mean, _ = model.encode(spectrogram)
            terms["latent_nll"].append(-ops.convert_to_numpy(ops.logsumexp(model.prior.cluster_logits(z_mean),
                                                                              axis=-1)))
            error = np.square((spectrogram - ops.convert_to_numpy(model.decoder(z_mean))) * mask)
            terms["reconstruction"].append(error.sum(axis=(1, 2)) / np.maximum(mask.sum(axis=(1, 2)) * model.num_bins,
                                                                             1.0))
            terms["loudness_range"].append(_loudness_range(batch["waveform"], batch["length"], config))
    return {name: np.concatenate(values).astype(np.float64) for name, values in terms.items()}


def _loudness_range(waveforms, lengths, config):
    """dB between the 90th and 10th percentile of each clip's frame RMS, over its recorded frames."""
    starts = np.arange(config.num_frames) * config.hop_length
    frames = np.stack([waveforms[:, start:start + config.frame_length] for start in starts], axis=1)
    rms = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=-1))
    recorded = starts[None, :] + config.frame_length <= np.maximum(lengths[:, None], config.frame_length)
    ranges = []
    for levels, keep in zip(rms, recorded):
        low, high = np.quantile(levels[keep], [0.1, 0.9])
        ranges.append(20 * np.log10((high + 1e-9) / (low + 1e-9)))
    return np.array(ranges)


def fit_reference(terms):
    """The reference of training clips' terms: per-term median and scale, and the score threshold.

    Args:
        terms: `novelty_terms` of the training clips.

    Returns:
        A JSON-ready dict: `terms` (`median`, `scale` per term), `threshold`
        and `quantile` (the share of training clips at or below it).

    Example:
    >>> reference = fit_reference({"latent_nll": np.arange(100.0), "reconstruction": np.arange(100.0),
    ...                            "loudness_range": np.arange(100.0)})
    >>> reference["terms"]["latent_nll"]
    {'median': 49.5, 'scale': 39.6}
    """
    reference = {"terms": {}, "quantile": THRESHOLD_QUANTILE}
    for name in TERMS:
        values = np.asarray(terms[name], np.float64)
        median = float(np.median(values))
        spread = np.abs(values - median) if name == "loudness_range" else values - median
        reference["terms"][name] = {"median": round(median, 6),
                                    "scale": round(max(float(np.quantile(spread, 0.9)), 1e-9), 6)}
    reference["threshold"] = round(float(np.quantile(novelty_scores(terms, reference), THRESHOLD_QUANTILE)), 6)
    return reference


def novelty_scores(terms, reference):
    """Each clip's novelty score: the mean of its terms scaled by the reference (about 1 at the training clips'
    90th percentile; beyond `reference["threshold"]` only 1% of training clips lie).

    Example:
    >>> scores = novelty_scores(novelty_terms(model, clips), model.card["novelty"])  # doctest: +SKIP
    """
    scaled = []
    for name in TERMS:
        deviation = np.asarray(terms[name], np.float64) - reference["terms"][name]["median"]
        if name == "loudness_range":
            deviation = np.abs(deviation)  # too steady and too silent are both unlike recorded speech
        scaled.append(deviation / reference["terms"][name]["scale"])
    return np.mean(scaled, axis=0)


def describe(scores, reference):
    """One line when many clips lie beyond the threshold, else None.

    Example:
    >>> describe(np.array([9.0, 9.0, 0.0]), {"threshold": 2.0})[:60]
    '2 of 3 clips look unlike the training data of this model (fe'
    """
    beyond = int(np.sum(scores > reference["threshold"]))
    if beyond == 0 or beyond <= REPORTED_SHARE * len(scores):
        return None
    return (f"{beyond} of {len(scores)} clips look unlike the training data of this model (fewer than "
            f"{100 * (1 - THRESHOLD_QUANTILE):.0f}% of its training clips score above {reference['threshold']:.2f}): "
            "its clusters may not mean anything here")
