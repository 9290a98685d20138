"""TensorFlow's start-up, without its C++ log on the terminal.

On a machine without a GPU, importing TensorFlow prints absl's pre-init note,
oneDNN's note and CUDA probing errors ("Could not find cuda drivers", "failed
call to cuInit") straight to file descriptor 2, ignoring Python's logging.
The package imports TensorFlow once, here, with that descriptor pointed at
/dev/null for the import and the device discovery, then restores it: nothing
else changes. `TF_CPP_MIN_LOG_LEVEL` set by the user, `uvac --verbose`, or
TensorFlow imported beforehand leave the log as TensorFlow writes it.
"""

import os
import sys


def _wants_log():
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return True
    command_line = os.path.basename(sys.argv[0] if sys.argv else "") in ("uvac", "cli.py")
    return command_line and any(argument in ("-v", "--verbose") for argument in sys.argv[1:])


def import_tensorflow():
    """Imports TensorFlow and discovers its devices, its start-up log discarded unless wanted."""
    if _wants_log():
        import tensorflow as tf

        return tf
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        descriptor = 2
    sys.stderr.flush()
    saved = os.dup(descriptor)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
        import tensorflow as tf

        tf.config.list_logical_devices()
    finally:
        os.dup2(saved, descriptor)
        os.close(saved)
        os.close(devnull)
    return tf
