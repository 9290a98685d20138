"""TensorFlow's start-up as keras_uvac sets it: the CPU kernels it chooses, and that they change no result."""

import json
import os
import platform
import subprocess
import sys
import warnings

import numpy as np
import pytest

from keras_uvac import _startup

ON_X86_LINUX = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")


def run_python(code, **environment):
    clean = {key: value for key, value in os.environ.items() if key not in ("TF_ENABLE_ONEDNN_OPTS",)}
    result = subprocess.run([sys.executable, "-c", code], env={**clean, "TF_CPP_MIN_LOG_LEVEL": "3", **environment},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_tensorflow_imported_first_with_eigen_kernels_warns(monkeypatch):
    from tensorflow.python.util import _pywrap_util_port

    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setattr(_startup, "_onednn_applies", lambda: True)
    monkeypatch.setattr(_pywrap_util_port, "IsMklEnabled", lambda: False)
    with pytest.warns(RuntimeWarning, match="import keras_uvac first"):
        assert not _startup.choose_cpu_kernels()
    monkeypatch.setattr(_pywrap_util_port, "IsMklEnabled", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not _startup.choose_cpu_kernels()


# A short fixed-seed training and the shipped model's clusters, under one kernel choice (given by the environment).
FIXED_SEED_RUN = """
import json, os, shutil, tempfile
from keras_uvac import datasets, pipeline, training
from keras_uvac._private_apis import tensorflow_uses_onednn
from keras_uvac.model import UVAC
collection = datasets.load_audio()
subset = collection.subset(range(0, len(collection), 40))
recipe = training.Recipe(name="t", epochs=3, pretrain_epochs=2, gmm_initialization=True, kl_weight=0.25,
                         cluster_weight=1.0, model=training.RECIPES["default"].model)
folder = tempfile.mkdtemp()
model, history = training.train(subset, folder + "/m.keras", recipe, seed=0, verbose=0, encoder_channels=[4, 8],
                                gru_units=[8], decoder_channels=[8, 4], latent_dim=4)
features = pipeline.extract_features(subset, progress=False)
shipped = UVAC.from_preset("uvac_fsdd")
test_features = pipeline.extract_features(collection.split(seed=0)["test"], progress=False)
print(json.dumps({"kernels": [os.environ.get("TF_ENABLE_ONEDNN_OPTS"), tensorflow_uses_onednn()],
                  "loss": [record["loss"] for record in history],
                  "latent_means": model.latent_mean(features).tolist(),
                  "shipped_clusters": shipped.predict_clusters(test_features)[0].tolist()}))
shutil.rmtree(folder)
"""


@pytest.mark.slow
@pytest.mark.skipif(not ON_X86_LINUX, reason="TensorFlow's oneDNN choice applies to x86 Linux only")
def test_onednn_kernels_are_chosen_unless_the_user_chose_and_both_give_the_same_clusters():
    # An AVX2-only CPU as oneDNN sees it, with TensorFlow's own choice there (Eigen) and keras_uvac's (oneDNN).
    eigen = run_python(FIXED_SEED_RUN, ONEDNN_MAX_CPU_ISA="AVX2", TF_ENABLE_ONEDNN_OPTS="0")
    onednn = run_python(FIXED_SEED_RUN, ONEDNN_MAX_CPU_ISA="AVX2")
    assert eigen["kernels"] == ["0", False]
    if ON_X86_LINUX:  # where keras_uvac chooses oneDNN unless the user chose
        assert onednn["kernels"] == ["1", True]
    # Rounding differs between the kernels, and training amplifies it from epoch to epoch (measured: 1e-6 after the
    # first epoch, 5e-3 after the third).
    np.testing.assert_allclose(onednn["loss"][0], eigen["loss"][0], rtol=1e-4)
    np.testing.assert_allclose(onednn["loss"], eigen["loss"], rtol=2e-2)
    # So small a model, trained this briefly, puts every clip in one cluster, and rounding decides which; its codes
    # are compared instead (measured: they differ by 6% of their largest value).
    codes = {name: np.array(run["latent_means"]) for name, run in (("onednn", onednn), ("eigen", eigen))}
    np.testing.assert_allclose(codes["onednn"], codes["eigen"], atol=0.2 * np.abs(codes["eigen"]).max())
    # The shipped model's clusters of the 300 test clips do not depend on the kernels.
    assert onednn["shipped_clusters"] == eigen["shipped_clusters"]
