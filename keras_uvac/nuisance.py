"""Pseudo-speakers: nuisance groups found without labels or speaker ids.

The speaker terms of `UVAC` make codes follow the word by removing what a
speaker's clips share. Most corpora name no speakers, so this module finds
groups of clips that share a voice and a recording channel but not a word:

- the spectrum of a clip's quietest frames (its background: microphone, room
  and noise floor), which carries almost no word;
- the mean cepstrum of its active frames (vocal tract and channel colour).

Each descriptor is standardised over the corpus and the clips are grouped by a
Gaussian mixture with one covariance shared by all groups (a voice varies along
the same directions whoever speaks, and the shared covariance lets the groups
be elongated along them, which K-means' round groups cannot). On the FSDD
training split, six groups recover the speakers with NMI 0.86 (K-means: 0.70)
while their NMI with the digits is 0.05 (docs/design.md, "Pseudo-speakers").

With `descriptor="encoder"`, a pretrained speaker encoder's embeddings
(`keras_uvac.speaker_encoder`) replace the descriptor, and the number of groups
follows the corpus: at least `num_groups`, more where the embeddings hold more
voices apart.
"""

import numpy as np
from sklearn import cluster, decomposition, mixture, preprocessing

from keras_uvac.features import FeatureConfig

# Long frames resolve the voice's harmonics and the channel's colour.
DESCRIPTOR_CONFIG = FeatureConfig(frame_ms=40.0, hop_ms=20.0)
CEPSTRAL_COEFFICIENTS = 20
BACKGROUND_BANDS = 16
DESCRIPTORS = ("auto", "voice", "encoder")
# Average-linkage merging of speaker embeddings stops at this cosine distance: on 60 close synthetic voices it
# leaves 21 groups, on the FSDD's 6 speakers 5 (docs/design.md, "Pseudo-speakers").
VOICE_DISTANCE = 0.3
# The linkage needs every pairwise distance; a seeded subset this large reads the count well and stays in memory.
COUNT_SUBSET = 4000
# The mixture's shared covariance needs about ten clips per direction: 32 from 320 clips on (on 60 FSDD clips, 6
# directions find the speakers at NMI 0.88, 32 at 0.20).
ENCODER_DIRECTIONS = 32
CLIPS_PER_DIRECTION = 10


def voice_descriptor(waveform, config=DESCRIPTOR_CONFIG):
    """The background spectrum and mean cepstrum of one clip.

    Args:
        waveform: 1-D float array of recorded audio at `config.sample_rate`.
        config: a `FeatureConfig` giving the frame and hop lengths.

    Returns:
        A float32 vector of `BACKGROUND_BANDS + CEPSTRAL_COEFFICIENTS` values.

    Example:
    >>> voice_descriptor(np.random.default_rng(0).normal(size=16000)).shape
    (36,)
    """
    waveform = np.asarray(waveform, np.float64)
    if len(waveform) < config.frame_length:
        waveform = np.pad(waveform, (0, config.frame_length - len(waveform)))
    frames = np.lib.stride_tricks.sliding_window_view(waveform, config.frame_length)[::config.hop_length]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(config.frame_length), axis=1))[:, 1:]
    log_spectrum = np.log(spectrum + 1e-6)
    energy = np.sum(spectrum ** 2, axis=1)
    active = energy > 0.05 * energy.max()
    quiet = energy <= np.percentile(energy, 20)
    band_width = spectrum.shape[1] // BACKGROUND_BANDS
    bands = log_spectrum[quiet, :band_width * BACKGROUND_BANDS].reshape(-1, BACKGROUND_BANDS, band_width)
    background = bands.mean(axis=(0, 2))
    cepstrum = np.fft.irfft(log_spectrum[active], axis=1)[:, 1:CEPSTRAL_COEFFICIENTS + 1].mean(axis=0)
    return np.concatenate([background, cepstrum]).astype(np.float32)


def pseudo_speakers(waveforms, num_groups=6, seed=0):
    """Groups clips by voice and channel, without labels or speaker ids.

    Args:
        waveforms: an iterable of 1-D float arrays (recorded audio only, at
            `DESCRIPTOR_CONFIG.sample_rate`).
        num_groups: number of groups (at most the number of clips).
        seed: seed of the mixture's initialisations.

    Returns:
        An int32 array with one group index per clip.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> groups = pseudo_speakers([rng.normal(size=8000) * scale for scale in (1, 1, 9, 9)], num_groups=2)
    >>> len(set(groups.tolist()))
    2
    """
    return group_descriptors(np.stack([voice_descriptor(waveform) for waveform in waveforms]), num_groups, seed)


def group_descriptors(descriptors, num_groups=6, seed=0):
    """The groups of `pseudo_speakers`, from descriptors already computed (`voice_descriptor` rows).

    Example:
    >>> group_descriptors(np.array([[0.0], [0.1], [5.0], [5.1]]), num_groups=2).tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    """
    if len(descriptors) < num_groups:
        raise ValueError(f"{num_groups} pseudo-speaker groups need at least {num_groups} clips, got {len(descriptors)}")
    standardised = preprocessing.StandardScaler().fit_transform(descriptors)
    groups = mixture.GaussianMixture(num_groups, covariance_type="tied", n_init=5, random_state=seed)
    return groups.fit(standardised).predict(standardised).astype(np.int32)


def group_embeddings(embeddings, min_groups=6, seed=0):
    """Groups of speaker embeddings, as many as the voices they hold apart and at least `min_groups`.

    The count is read from the embeddings (average-linkage groups at cosine
    distance `VOICE_DISTANCE`); the groups are then `group_descriptors` of
    their first principal directions, which, unlike the linkage, leaves no
    outlier clip in a group of its own.

    Args:
        embeddings: float array `(clips, dimensions)` from a speaker encoder.
        min_groups: the fewest groups (a few speakers' corpus keeps this many).
        seed: seed of the subset, the projection and the mixture.

    Returns:
        An int32 array with one group index per clip.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> voices = np.repeat(rng.normal(size=(8, 16)), 20, axis=0) + 0.05 * rng.normal(size=(160, 16))
    >>> len(set(group_embeddings(voices, min_groups=2).tolist()))
    8
    """
    embeddings = np.asarray(embeddings, np.float64)
    sample = np.random.default_rng(seed).permutation(len(embeddings))[:COUNT_SUBSET]
    voices = cluster.AgglomerativeClustering(None, metric="cosine", linkage="average",
                                             distance_threshold=VOICE_DISTANCE).fit_predict(embeddings[sample])
    count = min(max(min_groups, len(np.unique(voices))), len(embeddings))
    directions = max(1, min(ENCODER_DIRECTIONS, len(embeddings) // CLIPS_PER_DIRECTION, embeddings.shape[1]))
    projected = decomposition.PCA(directions, random_state=seed).fit_transform(embeddings)
    return group_descriptors(projected, count, seed)


def resolve_descriptor(descriptor):
    """`"voice"` or `"encoder"` for a `DESCRIPTORS` choice; `"auto"` is the encoder when it is installed.

    Example:
    >>> resolve_descriptor("voice")
    'voice'
    """
    if descriptor not in DESCRIPTORS:
        raise ValueError(f"the pseudo-speaker descriptor must be one of {DESCRIPTORS}, got {descriptor!r}")
    if descriptor != "auto":
        return descriptor
    from keras_uvac import speaker_encoder

    return "encoder" if speaker_encoder.available() else "voice"


def collection_pseudo_speakers(collection, num_groups=6, seed=0, descriptor="voice"):
    """Pseudo-speakers of every clip of a `datasets.AudioCollection`, as speaker names.

    Args:
        collection: a `datasets.AudioCollection`.
        num_groups: the number of groups (`"voice"`), or the fewest (`"encoder"`).
        seed: seed of the grouping.
        descriptor: `"voice"` (`voice_descriptor`), `"encoder"` (the speaker
            encoder's embeddings, `group_embeddings`) or `"auto"`.

    Example:
    >>> collection.speakers = collection_pseudo_speakers(collection)  # doctest: +SKIP
    """
    if resolve_descriptor(descriptor) == "encoder":
        from keras_uvac import speaker_encoder

        embeddings = speaker_encoder.collection_embeddings(collection, DESCRIPTOR_CONFIG)
        groups = group_embeddings(embeddings, num_groups, seed)
    else:
        groups = group_descriptors(collection_descriptors(collection), num_groups, seed)
    return [f"group{group}" for group in groups]


def collection_descriptors(collection):
    """`voice_descriptor` of every clip of a `datasets.AudioCollection`, stacked `(clips, features)`.

    Example:
    >>> collection_descriptors(collection).shape  # doctest: +SKIP
    (3000, 36)
    """
    from keras_uvac import pipeline

    return np.stack([voice_descriptor(waveform[:length]) for waveform, length
                     in pipeline.waveform_dataset(collection, DESCRIPTOR_CONFIG).as_numpy_iterator()])
