"""What a run keeps on disk: checkpoints after every epoch, its history, its lock, and the final model.

A run writes `<out>.run/`: after every epoch a checkpoint folder
`checkpoints/epoch-NNNN/` (model, optimizer, random generators' states and
history, renamed into place when complete), `history.json`, and a `lock` while
it trains. A run killed at any point resumes from a whole checkpoint to the
weights of the uninterrupted run.
"""

import contextlib
import json
import math
import os
import shutil
import tempfile
import time

import keras
import numpy as np

from keras_uvac.atomic import atomic_path, write_json
from keras_uvac.model import UVAC

# The folders of a run's restart candidates and of the runs of its consensus.
RESTARTS = "restarts"
MEMBERS = "runs"
CLUSTER_CHOICE = "clusters"

CHECKPOINTS = "checkpoints"


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN loss, or a run directory in the way)."""


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves a resumable checkpoint after every good epoch; stops on a NaN loss.

    A checkpoint is one folder, `checkpoints/epoch-NNNN/`, holding the model
    with its optimizer (`model.keras`), the state of every random generator
    (`random_state.npz`) and the history up to that epoch (`history.json`).
    It is written under a temporary name and renamed when complete, so a run
    killed at any point resumes from a whole checkpoint whose history matches
    its weights. `history.json` beside it is a copy for readers.

    Args:
        run_directory: the run's folder.
        write: write the checkpoints (False on the workers of a multi-worker
            run other than the chief).
    """

    def __init__(self, run_directory, write=True):
        super().__init__()
        self.run_directory = os.fspath(run_directory)
        self.write = write
        self.history_path = os.path.join(self.run_directory, "history.json")
        self.history = []
        self.failure = None
        self._epoch_start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.failure is None:
            self.failure = f"loss became {float(loss)} at batch {batch + 1}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.failure is not None:
            self.failure = f"epoch {epoch + 1}: {self.failure}"
            return
        record = {"epoch": epoch + 1, "seconds": time.perf_counter() - self._epoch_start}
        record.update({name: float(value) for name, value in (logs or {}).items()})
        self.history.append(record)
        if self.write:
            save_checkpoint(self.model, self.history, self.run_directory)
            write_json(self.history_path, self.history)


def _seed_states(model):
    return [variable for variable in model.non_trainable_variables if variable.path.endswith("seed_generator_state")]


def reseed(model, seed):
    """Restarts the model's random generators (sampling, augmentation) as a model built with `seed` starts them.

    Example:
    >>> reseed(model, 1)  # doctest: +SKIP
    """
    fresh = type(model).from_config({**model.get_config(), "seed": seed})
    for variable, initial in zip(_seed_states(model), _seed_states(fresh), strict=True):
        variable.assign(initial.value)


def save_checkpoint(model, history, run_directory):
    """Writes `checkpoints/epoch-NNNN/` atomically and removes older checkpoints.

    Example:
    >>> save_checkpoint(model, history, "uvac.keras.run")  # doctest: +SKIP
    """
    folder = os.path.join(run_directory, CHECKPOINTS)
    os.makedirs(folder, exist_ok=True)
    final = os.path.join(folder, f"epoch-{len(history):04d}")
    temporary = tempfile.mkdtemp(prefix=".epoch-", suffix=".partial", dir=folder)
    try:
        model.save(os.path.join(temporary, "model.keras"))
        # Keras does not save random generators' states; a resumed run needs them to draw the same noise.
        np.savez(os.path.join(temporary, "random_state.npz"),
                 *[keras.ops.convert_to_numpy(variable) for variable in _seed_states(model)])
        write_json(os.path.join(temporary, "history.json"), history)
        os.replace(temporary, final)
    except OSError as error:
        # A full disk names the checkpoint, not its temporary folder; the previous checkpoint is still there.
        raise OSError(error.errno, error.strerror or str(error), final) from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    for name in os.listdir(folder):
        if name != os.path.basename(final):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def latest_checkpoint(run_directory):
    """The newest complete checkpoint folder of a run, or None."""
    folder = os.path.join(run_directory, CHECKPOINTS)
    if not os.path.isdir(folder):
        return None
    complete = sorted(name for name in os.listdir(folder) if name.startswith("epoch-") and "." not in name)
    return os.path.join(folder, complete[-1]) if complete else None


def load_checkpoint(checkpoint):
    """`(model, history)` of a checkpoint folder, random states restored."""
    model = keras.models.load_model(os.path.join(checkpoint, "model.keras"))
    with np.load(os.path.join(checkpoint, "random_state.npz")) as states:
        for index, variable in enumerate(_seed_states(model)):
            variable.assign(states[f"arr_{index}"])
    with open(os.path.join(checkpoint, "history.json")) as handle:
        return model, json.load(handle)


def read_history(run_directory):
    """The per-epoch records of a run (empty for a new run); of a consensus, the run that carries it.

    Example:
    >>> read_history("saved_models/uvac_fsdd.keras.run")[-1]["val_accuracy"]  # doctest: +SKIP
    """
    path = os.path.join(run_directory, "history.json")
    consensus_record = os.path.join(run_directory, MEMBERS, "consensus.json")
    if not os.path.exists(path) and os.path.exists(consensus_record):
        with open(consensus_record) as handle:
            carrying_seed = json.load(handle)["carrying_seed"]
        path = os.path.join(run_directory, MEMBERS, f"seed-{carrying_seed}.keras.run", "history.json")
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return json.load(handle)


@contextlib.contextmanager
def run_lock(run_directory):
    """Holds `run_directory/lock` so that two trainings never write one run.

    A lock left by a process that no longer runs is taken over.

    Raises:
        TrainingError: another live process holds the lock.
    """
    path = os.path.join(run_directory, "lock")
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                with open(path) as handle:
                    owner = int(handle.read().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _process_alive(owner):
                raise TrainingError(f"{run_directory} is in use by another training (process {owner}); wait for it "
                                    "or choose another --out") from None
            os.remove(path)
    else:
        raise TrainingError(f"{run_directory}: cannot take its lock file")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(str(os.getpid()))
    try:
        yield
    finally:
        os.remove(path)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_partial_files(out_path):
    """Removes temporaries that an interrupted save left beside the model or in its run."""
    folder = os.path.dirname(os.path.abspath(out_path))
    stem = os.path.splitext(os.path.basename(out_path))[0]
    for name in os.listdir(folder):
        if name.startswith(f".{stem}.") and ".partial" in name:
            os.remove(os.path.join(folder, name))
    checkpoints = os.path.join(os.fspath(out_path) + ".run", CHECKPOINTS)
    if os.path.isdir(checkpoints):
        for name in os.listdir(checkpoints):
            if name.endswith(".partial"):
                shutil.rmtree(os.path.join(checkpoints, name), ignore_errors=True)


def wait_for_file(path, timeout=600.0):
    """Waits until a file that another process writes (the chief worker's model of a run) exists.

    Args:
        path: the file; it appears whole, as `save_for_inference` renames it into place.
        timeout: seconds to wait.

    Returns:
        `path`.

    Raises:
        TrainingError: the file did not appear in time.

    Example:
    >>> wait_for_file(__file__)  # doctest: +ELLIPSIS
    '...checkpoints.py'
    """
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TrainingError(f"{path} did not appear within {timeout:.0f} s: the chief worker, which writes it, "
                                "may have failed; see its log")
        time.sleep(0.5)
    return path


def save_for_inference(model, path):
    """Saves a UVAC model without its optimizer state, atomically.

    Args:
        model: a `UVAC`.
        path: the `.keras` file to write.

    Example:
    >>> save_for_inference(model, "saved_models/uvac_fsdd.keras")  # doctest: +SKIP
    """
    bare = UVAC.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    with atomic_path(path) as temporary:
        bare.save(temporary)

