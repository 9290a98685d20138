"""The Keras and TensorFlow internals that keras_uvac uses, all in this one module, because no public API does it.

- `DataLayer` (`keras.src.layers.preprocessing.data_layer`): the base of
  Keras' own audio and image preprocessing layers, which run inside a tf.data
  graph whatever the backend (with TensorFlow there, with the backend
  elsewhere). `features.AudioFeatures` is one, so that the pipeline and the
  model compute the features with one layer.
- `tensorflow_uses_onednn()` (`tensorflow.python.util._pywrap_util_port`):
  whether the running TensorFlow chose its oneDNN CPU kernels, which
  `_startup` warns about when it came too late to choose them.
- `global_random_state_kept()` (`keras.src.backend.common.global_state`):
  Keras keeps its global seed and seed generator there; `training.train`
  seeds every run and puts them back afterwards.
- `OptimizerOnlySymbolicBuild`, a base of `UVAC`: overrides the TensorFlow
  trainer's `_maybe_symbolic_build`, which under a `tf.distribute` strategy
  takes a batch of the training data and reduces it over the replicas to
  build the model, and cannot reduce a batch of several inputs under
  `MultiWorkerMirroredStrategy`. UVAC is built when it is constructed and
  has no compiled loss or metrics, so only its optimizer needs building.

`tests/test_private_apis.py` checks each of them: after an upgrade of Keras or
TensorFlow it is the test that names what broke.
"""

import contextlib
import random

import numpy as np
from keras.src.backend.common import global_state
from keras.src.layers.preprocessing.data_layer import DataLayer

# Keras' names of its global seed (keras.utils.set_random_seed) and global seed generator (keras.random's default).
KERAS_SEED_ATTRIBUTES = ("global_random_seed", "global_seed_generator")

__all__ = ["DataLayer", "OptimizerOnlySymbolicBuild", "global_random_state_kept", "tensorflow_uses_onednn"]


class OptimizerOnlySymbolicBuild:
    """A model base whose TensorFlow `fit` builds only the optimizer before training (see the module docstring)."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self.optimizer is not None and not self.optimizer.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)


def tensorflow_uses_onednn():
    """True or False as the running TensorFlow uses oneDNN's CPU kernels; None when it cannot tell."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


@contextlib.contextmanager
def global_random_state_kept():
    """Restores Python's, NumPy's, Keras' (and PyTorch's) global random state, and TensorFlow's global seed, on exit.

    TensorFlow's global seed is put back to the one `keras.utils.set_random_seed` set before (or none); its
    per-op seed counter starts again.

    Example:
    >>> with global_random_state_kept():
    ...     keras.utils.set_random_seed(3)  # doctest: +SKIP
    """
    import keras

    keras_state = [global_state.get_global_attribute(name) for name in KERAS_SEED_ATTRIBUTES]
    python_state, numpy_state = random.getstate(), np.random.get_state()
    torch = None
    if keras.backend.backend() == "torch":
        import torch

        torch_state = torch.get_rng_state()
    try:
        yield
    finally:
        for name, value in zip(KERAS_SEED_ATTRIBUTES, keras_state):
            global_state.set_global_attribute(name, value)
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        if torch is not None:
            torch.set_rng_state(torch_state)
        import tensorflow as tf

        tf.random.set_seed(keras_state[0])
