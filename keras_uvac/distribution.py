"""Training on several devices: tf.distribute on TensorFlow, keras.distribution on JAX.

`Replicas("mirrored")` spreads each global batch over the devices of one
machine: a `tf.distribute.MirroredStrategy` over its GPUs (or, without GPUs,
its logical CPU devices) on TensorFlow, `keras.distribution.DataParallel` over
`jax.devices()` on JAX. `Replicas("multi-worker")` runs a
`tf.distribute.MultiWorkerMirroredStrategy` over the machines that `TF_CONFIG`
names; each worker reads its own share of the files. The loss is exact under
either (see `keras_uvac.model.UVAC.loss_terms`): a distributed step computes
what one device computes on the same global batch.
"""

import contextlib
import json
import math
import os

import keras

MODES = ("none", "mirrored", "multi-worker")


def is_chief():
    """Whether this process is the chief of the workers `TF_CONFIG` names (True without `TF_CONFIG`).

    Example:
    >>> is_chief()
    True
    """
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task, cluster = config.get("task", {}), config.get("cluster", {})
    if not task:
        return True
    return task.get("type") == "chief" or ("chief" not in cluster and task.get("type") == "worker"
                                           and task.get("index", 0) == 0)


class Replicas:
    """The devices (and workers) one training runs on; a context manager.

    Args:
        mode: one of `MODES`.

    Attributes:
        count: replicas in sync (1 for `"none"`).
        is_chief: whether this process writes checkpoints and the model.

    Example:
    >>> with Replicas("none") as replicas:
    ...     replicas.count, replicas.is_chief
    (1, True)
    """

    def __init__(self, mode="none"):
        if mode not in MODES:
            raise ValueError(f"distribute must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.strategy = None
        self.count = 1
        self.is_chief = True
        self._previous_distribution = None
        self._distribution_set = False

    def __enter__(self):
        if self.mode == "none":
            return self
        backend = keras.backend.backend()
        if backend == "tensorflow":
            self._enter_tensorflow()
        elif backend == "jax" and self.mode == "mirrored":
            import jax

            self._previous_distribution = keras.distribution.distribution()
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
            self._distribution_set = True
            self.count = len(jax.devices())
        else:
            raise ValueError(f"distribute={self.mode!r} needs the TensorFlow backend"
                             + ("" if backend == "jax" else " or, for 'mirrored', JAX")
                             + f"; this is {backend}")
        return self

    def _enter_tensorflow(self):
        import tensorflow as tf

        if self.mode == "mirrored":
            devices = None if tf.config.list_logical_devices("GPU") else [
                device.name for device in tf.config.list_logical_devices("CPU")]
            self.strategy = tf.distribute.MirroredStrategy(devices)
        else:
            if "TF_CONFIG" not in os.environ:
                raise ValueError("distribute='multi-worker' needs TF_CONFIG to name the workers and this one")
            self.strategy = tf.distribute.MultiWorkerMirroredStrategy()
            self.is_chief = is_chief()
        self.count = self.strategy.num_replicas_in_sync

    def __exit__(self, *exc_info):
        if self._distribution_set:
            keras.distribution.set_distribution(self._previous_distribution)
        return False

    def scope(self):
        """Where the model and its optimizer must be built."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    @property
    def workers(self):
        """Machines (processes) taking part: the chief and workers that `TF_CONFIG` names, or 1."""
        if self.mode != "multi-worker":
            return 1
        cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
        return len(cluster.get("worker", [])) + len(cluster.get("chief", []))

    def steps_per_epoch(self, num_clips, batch_size):
        """Global steps per epoch; several replicas drop a last, partial batch so every replica has clips."""
        if self.count == 1:
            return math.ceil(num_clips / batch_size)
        per_replica = batch_size // self.count
        steps = (num_clips // self.workers // per_replica) // (self.count // self.workers)
        if steps < 1:
            raise ValueError(f"{num_clips} clips do not fill one global batch of {batch_size} on {self.count} "
                             "replicas")
        return steps

    def dataset(self, collection, batch_size, build):
        """The training data: `build(collection, batch_size, drop_remainder)` on one worker, or per worker.

        With several workers each builds its equal share of the files, batched
        at its share of the global batch.
        """
        if self.count > 1 and batch_size % self.count:
            raise ValueError(f"the global batch of {batch_size} does not divide among {self.count} replicas")
        if self.workers == 1:
            return build(collection, batch_size, self.count > 1)
        share = len(collection) // self.workers

        def worker_data(context):
            files = range(context.input_pipeline_id, share * self.workers, context.num_input_pipelines)
            return build(collection.subset(list(files)), context.get_per_replica_batch_size(batch_size), True)

        return self.strategy.distribute_datasets_from_function(worker_data)
