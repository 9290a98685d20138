"""Atomic file writes: a result is either complete on disk or not there at all."""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it onto `path` on success.

    An interruption or error inside the block leaves any earlier `path`
    untouched and removes the temporary file.

    Args:
        path: the final file path.

    Returns:
        A context manager yielding the temporary path to write.

    Example:
    >>> with atomic_path("results.json") as tmp:  # doctest: +SKIP
    ...     open(tmp, "w").write("{}")
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    stem, suffix = os.path.splitext(os.path.basename(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".partial{suffix}", dir=folder)
    os.close(handle)
    try:
        yield temporary
        # mkstemp makes files private; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_json(path, payload, indent=1):
    """Writes `payload` as JSON to `path` atomically.

    Example:
    >>> write_json("results.json", {"accuracy": 0.5})  # doctest: +SKIP
    """
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        json.dump(payload, handle, indent=indent)
