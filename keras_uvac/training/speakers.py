"""Speakers for the speaker terms: the data's ids, pseudo-speakers found without them, or none."""

import numpy as np

from keras_uvac.training.recipes import RECIPES

SPEAKER_MODES = ("auto", "ids", "pseudo", "none")

def speaker_source(collection, mode):
    """What the speaker terms group clips by for `mode`: `"ids"`, `"pseudo"` or `"none"`.

    Raises:
        ValueError: `mode` is `"ids"` and the collection names no speakers.

    Example:
    >>> speaker_source(load_audio(), "auto")  # doctest: +SKIP
    'ids'
    """
    if mode not in SPEAKER_MODES:
        raise ValueError(f"speakers must be one of {SPEAKER_MODES}, got {mode!r}")
    if mode == "ids" and collection.speakers is None:
        raise ValueError("speakers='ids' (--speakers ids), but the data names no speakers; use 'pseudo' or 'auto'")
    if mode == "none":
        return "none"
    return "pseudo" if mode == "pseudo" or collection.speakers is None else "ids"


def describe_speakers(collection, mode, recipe=None):
    """What the speaker terms will group clips by, in words.

    Example:
    >>> describe_speakers(load_audio(), "auto")  # doctest: +SKIP
    'the 6 speaker ids of the data'
    """
    source = speaker_source(collection, mode)
    if source == "none":
        return "none (the recipe clusters less well without them)"
    recipe = recipe or RECIPES["default"]
    if source == "pseudo":
        from keras_uvac import nuisance

        groups = np.arange(recipe.pseudo_speakers)
        if nuisance.resolve_descriptor(recipe.pseudo_speaker_descriptor) == "encoder":
            text = (f"at least {len(groups)} pseudo-speaker groups found by the speaker encoder, as many as the voices "
                    "it tells apart (no speaker ids used)")
        else:
            text = f"{len(groups)} pseudo-speaker groups found from voice and channel (no speaker ids used)"
    else:
        groups = collection.speakers
        text = f"the {len(set(groups))} speaker ids of the data"
    run_length = speaker_run_length(recipe, groups)
    return text + (f", each batch dealt in runs of {run_length} clips of one speaker" if run_length else "")


def speaker_run_length(recipe, speakers):
    """Clips per run of one speaker in the recipe's shuffled batches for these speaker ids (0: plain shuffling).

    Example:
    >>> speaker_run_length(RECIPES["default"], np.arange(48)), speaker_run_length(RECIPES["default"], np.arange(6))
    (4, 0)
    """
    many = speakers is not None and len(np.unique(speakers)) >= recipe.speaker_runs_from
    return recipe.clips_per_speaker if many else 0


def speaker_groups(collection, mode, recipe, seed=0):
    """The speaker of each clip that the speaker terms use, as int32 indices from 0, or None for none.

    Example:
    >>> speaker_groups(load_audio(), "auto", RECIPES["default"])[:3]  # doctest: +SKIP
    array([0, 0, 0], dtype=int32)
    """
    source = speaker_source(collection, mode)
    if source == "none":
        return None
    if source == "pseudo":
        from keras_uvac import nuisance

        groups = nuisance.collection_pseudo_speakers(collection, recipe.pseudo_speakers, seed,
                                                     recipe.pseudo_speaker_descriptor)
    else:
        groups = collection.speakers
    return np.unique(np.asarray(groups), return_inverse=True)[1].astype(np.int32)

