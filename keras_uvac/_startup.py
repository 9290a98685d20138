"""TensorFlow's start-up, without its C++ log on the terminal.

On a machine without a GPU, TensorFlow prints absl's pre-init note, oneDNN's
note and CUDA probing errors ("Could not find cuda drivers", "failed call to
cuInit", when Keras' backend lists the physical devices) straight to file
descriptor 2, ignoring Python's logging. The package imports TensorFlow and
Keras with that descriptor pointed at /dev/null and restores it afterwards; the
command line also probes the devices that way. Devices are not
initialised on import, so a program can still configure them (memory growth,
logical devices) after importing keras_uvac. `TF_CPP_MIN_LOG_LEVEL` set by the user, `uvac --verbose`,
or TensorFlow imported beforehand leave the log as TensorFlow writes it.
"""

import contextlib
import os
import sys

# Read before TensorFlow is imported: importing it sets the variable itself.
_USER_SET_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ


def _is_command_line():
    return os.path.basename(sys.argv[0] if sys.argv else "") in ("uvac", "cli.py")


def answers_without_tensorflow():
    """True when the process is the `uvac` command asked for help or the version, which argparse answers alone.

    The package then skips importing TensorFlow (about 5 s, more under load).
    """
    return _is_command_line() and any(argument in ("-h", "--help", "--version") for argument in sys.argv[1:])


def _wants_log():
    if _USER_SET_LOG_LEVEL:
        return True
    return _is_command_line() and any(argument in ("-v", "--verbose") for argument in sys.argv[1:])


@contextlib.contextmanager
def _descriptor_2_discarded():
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        descriptor = 2
    sys.stderr.flush()
    saved = os.dup(descriptor)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
        yield
    finally:
        os.dup2(saved, descriptor)
        os.close(saved)
        os.close(devnull)


def import_tensorflow():
    """Imports TensorFlow, its start-up log discarded unless wanted (or TensorFlow is already imported)."""
    if "tensorflow" in sys.modules or _wants_log():
        import tensorflow as tf

        return tf
    with _descriptor_2_discarded():
        # Keras' TensorFlow backend lists the physical devices on import, which is when CUDA is probed.
        import keras  # noqa: F401
        import tensorflow as tf
    return tf


def discover_devices():
    """Lets TensorFlow probe its physical devices now, its CUDA log discarded unless wanted (command line only).

    Only the physical devices: initialising the logical ones would fix the
    device configuration before a `MultiWorkerMirroredStrategy` can set up its
    collective ops.
    """
    tf = import_tensorflow()
    if _wants_log():
        tf.config.list_physical_devices()
        return
    with _descriptor_2_discarded():
        tf.config.list_physical_devices()
