"""Atomic file writes: a result is either complete on disk or not there at all."""

import contextlib
import json
import os
import tempfile

from keras_uvac.validation import file_kind


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it onto `path` on success.

    An interruption or error inside the block leaves any earlier `path`
    untouched and removes the temporary file. A symbolic link is followed, so
    its target gets the result and the link stays; a folder, FIFO, device or
    socket at `path` is refused, never replaced. An operating-system error
    (a full disk, a read-only folder) is raised with `path` as its file name,
    not the temporary file's.

    Args:
        path: the final file path.

    Returns:
        A context manager yielding the temporary path to write.

    Raises:
        ValueError: `path` exists and is not a regular file.
        OSError: the file cannot be written, naming `path`.

    Example:
    >>> with atomic_path("results.json") as tmp:  # doctest: +SKIP
    ...     open(tmp, "w").write("{}")
    """
    path = os.fspath(path)
    target = os.path.realpath(path)
    kind = file_kind(path)
    if kind not in ("missing", "a regular file"):
        raise ValueError(f"{path}: {kind}, not a regular file; it is not replaced")
    folder = os.path.dirname(target)
    stem, suffix = os.path.splitext(os.path.basename(target))
    temporary = None
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{suffix}", dir=folder)
        os.close(handle)
        yield temporary
        # mkstemp makes files private; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except OSError as error:
        if error.filename not in (None, temporary, target, folder):
            raise  # about another file, named already
        raise OSError(error.errno, error.strerror or str(error), path) from error
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.remove(temporary)


def write_json(path, payload, indent=1):
    """Writes `payload` as JSON to `path` atomically.

    Example:
    >>> write_json("results.json", {"accuracy": 0.5})  # doctest: +SKIP
    """
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        json.dump(payload, handle, indent=indent)
