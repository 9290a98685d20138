"""Checks of option and config values (type, range, finiteness) and of paths, with messages that name them.

`FeatureConfig`, `Recipe`, `UVAC` and the command line check their values
here, before any work, so that a bad value is reported as the option and its
allowed range rather than as an error deep inside TensorFlow or scikit-learn.
Files are checked to be regular files before they are opened: opening a FIFO
blocks until something writes to it, and a device never ends.
"""

import json
import math
import numbers
import os
import stat

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class InvalidValue(ValueError):
    """A value outside what an option or field allows.

    Args:
        name: the option or field.
        requirement: what it must be, in words (`"a whole number of at least 1"`).
        value: the value given.
        owner: what the name belongs to (`"FeatureConfig"`, `"--recipe-config"`), or empty.

    Example:
    >>> str(InvalidValue("batch_size", "a whole number of at least 1", 0, "Recipe"))
    'Recipe: batch_size must be a whole number of at least 1, got 0'
    """

    def __init__(self, name, requirement, value, owner=""):
        self.name, self.requirement, self.value, self.owner = name, requirement, value, owner
        super().__init__(f"{owner + ': ' if owner else ''}{name} must be {requirement}, got {value!r}")

    def named(self, name, owner=""):
        """The same error, for the option or field `name` of `owner` (e.g. the command line's name of a field)."""
        return InvalidValue(name, self.requirement, self.value, owner)


def number(name, value, low=None, high=None, *, whole=False, low_open=False):
    """Checks that `value` is a finite number (or a whole number) within a range.

    Args:
        name: the option or field, as the user wrote it (`"--duration"`, `"batch_size"`).
        value: the value to check.
        low: the smallest allowed value, or None.
        high: the largest allowed value, or None.
        whole: the value must be an integer (booleans are not).
        low_open: `low` itself is not allowed.

    Returns:
        The value, as an `int` when `whole`, else as a `float`.

    Raises:
        InvalidValue: naming `name`, the allowed range and the value.

    Example:
    >>> number("batch_size", 64, 1, whole=True)
    64
    >>> number("duration", float("inf"), 0, 60, low_open=True)
    Traceback (most recent call last):
    ...
    keras_uvac.validation.InvalidValue: duration must be a finite number in (0, 60], got inf
    """
    kind = numbers.Integral if whole else numbers.Real
    valid = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    valid = valid and (low is None or value > low or (value == low and not low_open))
    valid = valid and (high is None or value <= high)
    if not valid:
        raise InvalidValue(name, describe_range(low, high, whole, low_open), value)
    return int(value) if whole else float(value)


def describe_range(low=None, high=None, whole=False, low_open=False):
    """Words for a range of numbers, as `number` reports it.

    Example:
    >>> describe_range(1, whole=True), describe_range(0, 1, low_open=True)
    ('a whole number of at least 1', 'a finite number in (0, 1]')
    """
    kind = "a whole number" if whole else "a finite number"
    low, high = (None if bound is None else int(bound) if float(bound).is_integer() else bound for bound in (low, high))
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f"{kind} {'above' if low_open else 'of at least'} {low}"
    if high is not None:
        return f"{kind} of at most {high}"
    return kind


def flag(name, value):
    """Checks that `value` is a boolean (JSON's `true` or `false`).

    Example:
    >>> flag("balanced_clusters", True)
    True
    """
    if not isinstance(value, bool):
        raise InvalidValue(name, "true or false", value)
    return value


def choice(name, value, choices):
    """Checks that `value` is one of `choices`.

    Example:
    >>> choice("magnitude", "power", ("linear", "log", "power"))
    'power'
    """
    if value not in choices:
        raise InvalidValue(name, f"one of {', '.join(map(repr, choices))}", value)
    return value


def json_object(name, text):
    """Parses an option's JSON text, which must be an object (`{...}`).

    Args:
        name: the option, for the message (`"--model-config"`).
        text: the JSON text, or None or empty for `{}`.

    Returns:
        A dict.

    Raises:
        ValueError: the text is not JSON, or not an object; the message names the option.

    Example:
    >>> json_object("--model-config", '{"latent_dim": 16}')
    {'latent_dim': 16}
    >>> json_object("--model-config", "[1, 2]")
    Traceback (most recent call last):
    ...
    ValueError: --model-config must be a JSON object such as '{"name": value}', not [1, 2]
    """
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{name} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object such as '{{\"name\": value}}', not {text}")
    return value


def file_kind(path):
    """What `path` is, in words, following symbolic links: `"a regular file"`, `"a FIFO"`, ..., or `"missing"`.

    Example:
    >>> file_kind("/dev/null"), file_kind("/no/such/file")
    ('a character device', 'missing')
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "missing"
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def regular_file(path):
    """Checks, without opening it, that `path` is a regular file (or a link to one) and returns its size.

    Args:
        path: the file.

    Returns:
        Its size in bytes.

    Raises:
        OSError: the file is missing or cannot be read (the operating system's reason, with the path).
        ValueError: it is a folder, FIFO, device or socket.

    Example:
    >>> regular_file("/dev/zero")
    Traceback (most recent call last):
    ...
    ValueError: /dev/zero: a character device, not a regular file
    """
    status = os.stat(path)
    if not stat.S_ISREG(status.st_mode):
        raise ValueError(f"{path}: {file_kind(path)}, not a regular file")
    return status.st_size


def output_file(path, option, suffixes=(), standard_output=False):
    """Checks, before any work, that `path` names a new or regular file in a folder that can be written.

    A device, FIFO or socket is refused rather than replaced by the atomic
    rename that writes every result (as root, that would replace `/dev/full`
    itself).

    Args:
        path: the output path the user gave.
        option: the option it was given as (`"--out"`), for the message.
        suffixes: allowed endings (e.g. `(".keras",)`); empty for any.
        standard_output: `-` is allowed (it means standard output).

    Returns:
        The path.

    Raises:
        ValueError: naming the option, the path and the problem.

    Example:
    >>> output_file("model.keras", "--out", (".keras",))
    'model.keras'
    >>> output_file("model", "--out", (".keras",))
    Traceback (most recent call last):
    ...
    ValueError: --out model: the file name must end with .keras
    """
    text = os.fspath(path)
    if standard_output and text == "-":
        return text
    if not text.strip():
        raise ValueError(f"{option}: an empty path; name a file" + (" (or - for standard output)" * standard_output))
    if os.path.isdir(text):
        raise ValueError(f"{option} {text}: a folder; name a file in it")
    if os.path.abspath(text).startswith(("/dev/", "/proc/")):
        # /dev/stdout and its kind would be replaced by the atomic rename, or written where no one reads.
        raise ValueError(f"{option} {text}: a path under /dev or /proc, not a place for a result; name a file"
                         + (" (or - for standard output)" * standard_output))
    kind = file_kind(text)
    if kind not in ("missing", "a regular file"):
        raise ValueError(f"{option} {text}: {kind}, not a regular file; name a new file"
                         + (" (or - for standard output)" * standard_output))
    if suffixes and not text.lower().endswith(tuple(suffixes)):
        raise ValueError(f"{option} {text}: the file name must end with {' or '.join(suffixes)}")
    folder = os.path.dirname(os.path.abspath(os.path.realpath(text)))
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"{option} {text}: {folder} is {file_kind(folder)}, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {text}: the folder {folder} cannot be written")
    return text
