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

It also chooses TensorFlow's CPU kernels. On Linux, TensorFlow uses oneDNN's
kernels only on CPUs with AVX-512 VNNI/BF16 or AMX, and Eigen's elsewhere; on an
AVX2-only CPU the UVAC training step then runs at 0.43x its speed with oneDNN
(`benchmarks/training_throughput.py`, docs/benchmarks.md). So on x86 Linux the
package turns oneDNN on (`TF_ENABLE_ONEDNN_OPTS=1`) unless the user set the
variable. TensorFlow reads it once, when it is imported: imported before
keras_uvac (`import keras` first), it keeps its own choice, and the package
warns where that choice is Eigen.
"""

import contextlib
import os
import platform
import sys
import warnings

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


def _onednn_applies():
    return (sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
            and "TF_ENABLE_ONEDNN_OPTS" not in os.environ)


def choose_cpu_kernels():
    """Turns TensorFlow's oneDNN kernels on for x86 Linux CPUs, unless the user chose (see the module's docstring).

    Returns:
        True when this call set `TF_ENABLE_ONEDNN_OPTS`.
    """
    if not _onednn_applies():
        return False
    if "tensorflow" not in sys.modules:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
        return True
    from keras_uvac._private_apis import tensorflow_uses_onednn

    if tensorflow_uses_onednn() is False:
        warnings.warn("TensorFlow was imported before keras_uvac and runs its Eigen CPU kernels, which train UVAC "
                      "at about half the speed of its oneDNN kernels on this CPU; import keras_uvac first, or set "
                      "TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow starts", RuntimeWarning, stacklevel=3)
    return False


def import_tensorflow():
    """Imports TensorFlow, its start-up log discarded unless wanted (or TensorFlow is already imported)."""
    choose_cpu_kernels()
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
