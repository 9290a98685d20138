"""What keras_uvac takes from Keras' and TensorFlow's internals: if an upgrade breaks one, this test names it."""

import random

import keras
import numpy as np
import pytest

from keras_uvac import _private_apis


def test_keras_data_layer_runs_inside_tf_data_whatever_the_backend():
    # keras.src.layers.preprocessing.data_layer.DataLayer: the base of features.AudioFeatures.
    import tensorflow as tf

    from keras_uvac.features import AudioFeatures, FeatureConfig

    assert issubclass(AudioFeatures, _private_apis.DataLayer) and issubclass(AudioFeatures, keras.layers.Layer)
    layer = AudioFeatures(FeatureConfig(sample_rate=16000))
    waveforms = tf.data.Dataset.from_tensor_slices(np.zeros((2, 16000), "float32")).batch(2)
    spectrogram = next(iter(waveforms.map(layer)))
    assert isinstance(spectrogram, tf.Tensor) and spectrogram.shape == (2, 128, 99)


def test_tensorflow_reports_its_cpu_kernels():
    # tensorflow.python.util._pywrap_util_port.IsMklEnabled: _startup's warning when oneDNN came too late.
    assert _private_apis.tensorflow_uses_onednn() in (True, False)


def test_keras_global_random_state_is_restored():
    # keras.src.backend.common.global_state, its "global_random_seed" and "global_seed_generator".
    keras.utils.set_random_seed(11)
    keras.random.normal((2,))
    expected_keras, expected_numpy, expected_python = keras.random.normal((3,)), np.random.rand(3), random.random()
    keras.utils.set_random_seed(11)
    keras.random.normal((2,))
    with _private_apis.global_random_state_kept():
        keras.utils.set_random_seed(5)
        keras.random.normal((4,))
        np.random.rand(9)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(keras.random.normal((3,))),
                                  keras.ops.convert_to_numpy(expected_keras))
    np.testing.assert_array_equal(np.random.rand(3), expected_numpy)
    assert random.random() == expected_python


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the TensorFlow trainer's method")
def test_the_tensorflow_trainer_still_has_the_symbolic_build_that_uvac_overrides():
    # keras.src.backend.tensorflow.trainer.TensorFlowTrainer._maybe_symbolic_build(iterator, data_batch): replaced for
    # UVAC by _private_apis.OptimizerOnlySymbolicBuild; if Keras renames it, multi-worker training breaks again.
    import inspect

    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    from keras_uvac.model import UVAC

    assert list(inspect.signature(TensorFlowTrainer._maybe_symbolic_build).parameters) == [
        "self", "iterator", "data_batch"]
    assert UVAC._maybe_symbolic_build is _private_apis.OptimizerOnlySymbolicBuild._maybe_symbolic_build
    model = UVAC(encoder_channels=(4, 8), gru_units=(8,), decoder_channels=(8, 4))
    model.compile(optimizer="adam")
    model._maybe_symbolic_build()
    assert model.optimizer.built
