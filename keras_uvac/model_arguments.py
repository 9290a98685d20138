"""The arguments of `UVAC`: the compact architectures, and the check of every argument before a model is built.

Example:
>>> ARCHITECTURES["tiny"]["gru_units"]
()
"""

from keras_uvac import features, validation

RECONSTRUCTION_LOSSES = ("sse", "mse", "bce")
# Encoder sizes (`UVAC` arguments). Only the encoder and the prior are exported, so the compact ones keep the
# paper's decoder: it shapes the codes during training and never reaches the device.
ARCHITECTURES = {
    "full": {},
    "small": {"encoder_channels": (4, 16, 32, 32), "encoder_kernel_size": 5, "encoder_padding": "same",
              "gru_units": (48,)},
    "tiny": {"encoder_channels": (4, 8, 16, 32), "encoder_kernel_size": 5, "encoder_padding": "same",
             "gru_units": ()},
}

def _whole_numbers(name, values, low, empty=False):
    if not isinstance(values, (list, tuple)) or (not values and not empty):
        raise validation.InvalidValue(name, f"a{'' if empty else ' non-empty'} list of whole numbers", values)
    for value in values:
        try:
            validation.number(name, value, low, 65536, whole=True)
        except validation.InvalidValue:
            raise validation.InvalidValue(name, f"a list of whole numbers in [{low}, 65536]", values) from None


def _object(name, value, of):
    if not isinstance(value, dict):
        raise validation.InvalidValue(name, f"an object of {of}, or null", value)


def _feature_config(name, value):
    if isinstance(value, dict):
        features.FeatureConfig.from_config(value)
    elif not isinstance(value, features.FeatureConfig):
        raise validation.InvalidValue(name, "a FeatureConfig or its config dict", value)


def _optional(check):
    return lambda name, value: value is None or check(name, value)


_ARGUMENT_CHECKS = {
    "num_clusters": lambda name, value: validation.number(name, value, 1, 1000, whole=True),
    "latent_dim": lambda name, value: validation.number(name, value, 1, 1024, whole=True),
    "encoder_channels": lambda name, value: _whole_numbers(name, value, 1),
    "gru_units": lambda name, value: _whole_numbers(name, value, 1, empty=True),
    "encoder_kernel_size": lambda name, value: validation.number(name, value, 1, 64, whole=True),
    "encoder_padding": lambda name, value: validation.choice(name, value, ("paper", "same")),
    "decoder_channels": lambda name, value: _whole_numbers(name, value, 1),
    "num_bins": _optional(lambda name, value: validation.number(name, value, 1, whole=True)),
    "num_frames": _optional(lambda name, value: validation.number(name, value, 1, whole=True)),
    "reconstruction_loss": lambda name, value: validation.choice(name, value, RECONSTRUCTION_LOSSES),
    "prior_initialization": lambda name, value: validation.choice(name, value, ("paper", "zeros")),
    "min_log_variance": lambda name, value: validation.number(name, value, -50, 50),
    "learn_mixture_weights": validation.flag,
    "tied_prior_variances": validation.flag,
    "consistency_weight": lambda name, value: validation.number(name, value, 0),
    "speaker_weight": lambda name, value: validation.number(name, value, 0),
    "cross_speaker_weight": lambda name, value: validation.number(name, value, 0),
    "reconstruct_from_view": validation.flag,
    "augmentation": _optional(lambda name, value: _object(name, value, "SpectrogramAugment arguments")),
    "posterior_temperature": lambda name, value: validation.number(name, value, 0.01, 100),
    "unroll": validation.flag,
    "feature_config": _optional(_feature_config),
    "seed": _optional(lambda name, value: validation.number(name, value, 0, whole=True)),
}


def check_model_arguments(arguments, owner="UVAC"):
    """Checks `UVAC` arguments (names, types and ranges) before a model is built.

    Args:
        arguments: a dict of `UVAC` constructor arguments (e.g. a recipe's `model` with overrides).
        owner: what the message names them by (`"UVAC"`, `"--model-config"`).

    Raises:
        ValueError: a name that `UVAC` does not take, or a value of the wrong type or outside its range;
            the message names the argument and what it may be.

    Example:
    >>> check_model_arguments({"num_clusters": 5, "latent_dim": 16})
    >>> check_model_arguments({"latent_dim": -1})
    Traceback (most recent call last):
    ...
    keras_uvac.validation.InvalidValue: UVAC: latent_dim must be a whole number in [1, 1024], got -1
    """
    known = list(_ARGUMENT_CHECKS)
    unknown = sorted(set(arguments) - set(known))
    if unknown:
        raise ValueError(f"{owner}: not a UVAC argument: {', '.join(unknown)} (the arguments: {', '.join(known)})")
    try:
        for name, value in arguments.items():
            _ARGUMENT_CHECKS[name](name, value)
    except validation.InvalidValue as error:
        raise error.named(error.name, owner) from None
    except TypeError as error:  # a feature_config name that is not a field
        raise ValueError(f"{owner}: feature_config: {error}") from None
