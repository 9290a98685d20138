"""Presets: a trained model with its feature configuration and its card, by name or folder.

Shipped presets live in `saved_models/` of the repository and travel in the
wheel as `keras_uvac/preset_files/` (copied there by `setup.py` when the wheel is
built), so `UVAC.from_preset("uvac_fsdd")` works from a checkout and from an
installed wheel alike. A preset saved with `UVAC.save_to_preset(folder)` is a
folder holding `model.keras` (the model, its feature configuration in its
config) and `card.json` (how it was trained and what it scored).
"""

import json
import os
import shutil
import tempfile
import zipfile

from keras_uvac.validation import file_kind, regular_file

PRESETS = {
    "uvac_fsdd": "UVAC, default recipe with speaker ids, trained on the bundled FSDD (seed 0)",
    "uvac_fsdd_small": "the small encoder (keras_uvac.model.ARCHITECTURES) distilled from uvac_fsdd: int8 about "
                       "160 KB, for microcontrollers",
    "uvac_fsdd_tiny": "the tiny time-pooled encoder distilled from uvac_fsdd: int8 about 30 KB, 29 KB arena",
}
MODEL_FILE, CARD_FILE = "model.keras", "card.json"
# A model's config.json is about 1 KB and its card a few KB (a long training's history included).
MAX_CONFIG_BYTES, MAX_CARD_BYTES = 1_000_000, 50_000_000


def shipped_preset_folder():
    """The folder of the shipped presets: in the installed package, else the checkout's `saved_models/`."""
    package = os.path.dirname(os.path.abspath(__file__))
    for folder in (os.path.join(package, "preset_files"), os.path.join(os.path.dirname(package), "saved_models")):
        if os.path.isdir(folder):
            return folder
    raise FileNotFoundError("the shipped presets are missing: no keras_uvac/preset_files/ and no saved_models/")


def preset_files(preset):
    """`(model_file, card_file_or_None)` of a preset name, a preset folder or a `.keras` file.

    Example:
    >>> os.path.basename(preset_files("uvac_fsdd")[0])
    'uvac_fsdd.keras'
    """
    preset = os.fspath(preset)
    if os.path.isdir(preset):
        model_file, card_file = os.path.join(preset, MODEL_FILE), os.path.join(preset, CARD_FILE)
    elif os.path.isfile(preset) or preset.endswith(".keras"):
        model_file, card_file = preset, preset + ".card.json"
    elif preset in PRESETS:
        model_file = os.path.join(shipped_preset_folder(), f"{preset}.keras")
        card_file = model_file + ".card.json"
    else:
        raise FileNotFoundError(f"{preset}: not a preset name ({', '.join(sorted(PRESETS))}), a preset folder or a "
                                ".keras file")
    kind = file_kind(model_file)
    if kind == "missing":
        raise FileNotFoundError(f"{model_file}: no such model file")
    if kind != "a regular file":
        raise ValueError(f"{model_file}: {kind}, not a model file")
    return model_file, card_file if os.path.isfile(card_file) else None


def load_preset(preset, cls):
    """Loads a preset's model (safe mode on) and attaches its card as `model.card`.

    Args:
        preset: a preset name, a preset folder or a `.keras` file.
        cls: the class the model must be (`UVAC.from_preset` passes `UVAC`).

    Returns:
        The model.

    Raises:
        FileNotFoundError: no such preset.
        ValueError: the file is not a Keras archive, cannot be loaded, or holds another model.

    Example:
    >>> model = load_preset("uvac_fsdd", UVAC)  # doctest: +SKIP
    """
    import keras

    model_file, card_file = preset_files(preset)
    if not zipfile.is_zipfile(model_file):
        raise ValueError(f"{model_file}: not a Keras model archive (a .keras file is a zip); it may be truncated or "
                         "of another format")
    with zipfile.ZipFile(model_file) as archive:
        # Keras reads config.json whole and parses it; a huge one would take gigabytes before any check.
        sizes = {info.filename: info.file_size for info in archive.infolist()}
    for name in ("config.json", "metadata.json"):
        if sizes.get(name, 0) > MAX_CONFIG_BYTES:
            raise ValueError(f"{model_file}: its {name} is {sizes[name]:,} bytes; a keras_uvac model's is a few KB "
                             f"(at most {MAX_CONFIG_BYTES:,} read)")
    try:
        model = keras.saving.load_model(model_file, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad archive; all mean the same to the user.
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{model_file}: cannot be loaded as a keras_uvac model ({reason})") from error
    if not isinstance(model, cls):
        raise ValueError(f"{model_file}: holds a {type(model).__name__} model, not a keras_uvac {cls.__name__} model")
    model.card = None if card_file is None else read_card(card_file)
    return model


def read_card(card_file):
    """A model card (JSON) read with a size cap, its problems named with the file.

    Args:
        card_file: the card's path.

    Returns:
        The card as a dict.

    Raises:
        ValueError: the card is too large, not JSON, or not a JSON object.

    Example:
    >>> read_card(preset_files("uvac_fsdd")[1])["recipe"]["name"]
    'default'
    """
    size = regular_file(card_file)
    if size > MAX_CARD_BYTES:
        raise ValueError(f"{card_file}: a model card of {size:,} bytes; cards are read up to {MAX_CARD_BYTES:,}")
    try:
        with open(card_file, "rb") as handle:
            card = json.loads(handle.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{card_file}: the model card is not valid JSON ({error}); repair or delete it") from None
    if not isinstance(card, dict):
        raise ValueError(f"{card_file}: the model card is not a JSON object")
    return card


def save_preset(model, folder, card=None):
    """Writes `model.keras` and `card.json` into `folder` as one unit (a temporary folder renamed into place).

    Example:
    >>> save_preset(model, "my_preset", card={"data": "my corpus"})  # doctest: +SKIP
    """
    folder = os.path.abspath(os.fspath(folder))
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.", suffix=".partial", dir=parent)
    try:
        model.save(os.path.join(temporary, MODEL_FILE))
        with open(os.path.join(temporary, CARD_FILE), "w") as handle:
            json.dump(card if card is not None else getattr(model, "card", None) or {}, handle, indent=2)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.replace(temporary, folder)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return folder
