"""Training on several devices: tf.distribute on simulated CPU devices, multi-worker processes, JAX DataParallel."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import run_uvac

TINY = {"encoder_channels": [4, 8], "gru_units": [8], "decoder_channels": [8, 4], "num_clusters": 3, "latent_dim": 4,
        "consistency_weight": 1.0, "speaker_weight": 1.0, "cross_speaker_weight": 1.0, "cluster_weight": 0.0}

# One training step of the full objective (augmented views, contrastive, cross-speaker and speaker terms, KL with
# sampling, batch norm) on one global batch, on one device and on two; prints losses and the largest weight change.
STEP = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    TINY = json.loads(sys.argv[1])
    cluster_weight = TINY.pop("cluster_weight")
    rng = np.random.default_rng(0)
    batch = {"spectrogram": rng.random((8, 128, 99), dtype=np.float32),
             "activity_mask": (np.arange(99) < rng.integers(40, 99, size=(8, 1))).astype(np.float32),
             "speaker": np.array([0, 1, 0, 1, 2, 2, 0, 1], np.int32)}
    import keras
    from keras_uvac.model import UVAC

    def step(distribution_scope):
        keras.utils.set_random_seed(0)
        with distribution_scope():
            model = UVAC(**TINY, seed=0)
            # SGD: the updated weights show the summed gradient itself (Adam's first step is lr * sign(g), which
            # turns the float noise of the conv biases that batch norm cancels into full steps).
            model.compile(optimizer=keras.optimizers.SGD(1e-3))
        model.cluster_weight.assign(cluster_weight)
        before = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
        logs = model.fit(dataset(), epochs=1, verbose=0).history
        after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
        return {k: v[0] for k, v in logs.items()}, after, before

    def largest_difference(first, second):
        return max(float(np.abs(a - b).max()) for a, b in zip(first, second))
""")

TENSORFLOW = STEP + textwrap.dedent("""
    import contextlib
    import tensorflow as tf
    def dataset():
        return tf.data.Dataset.from_tensors(batch)
    single, single_weights, _ = step(contextlib.nullcontext)
    from keras_uvac.distribution import Replicas
    with Replicas("mirrored") as replicas:
        assert replicas.count == 2, replicas.count
        mirrored, mirrored_weights, before = step(replicas.scope)
    print(json.dumps({"single": single, "distributed": mirrored,
                      "weight_difference": largest_difference(single_weights, mirrored_weights),
                      "weight_change": largest_difference(single_weights, before)}))
""")

JAX = STEP + textwrap.dedent("""
    import contextlib
    import jax
    import tensorflow as tf
    def dataset():
        return tf.data.Dataset.from_tensors(batch)
    single, single_weights, _ = step(contextlib.nullcontext)
    from keras_uvac.distribution import Replicas
    with Replicas("mirrored") as replicas:
        assert replicas.count == 2 and len(jax.devices()) == 2
        parallel, parallel_weights, before = step(contextlib.nullcontext)
    print(json.dumps({"single": single, "distributed": parallel,
                      "weight_difference": largest_difference(single_weights, parallel_weights),
                      "weight_change": largest_difference(single_weights, before)}))
""")


def run_python(code, environment, *arguments, timeout=600):
    result = subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **environment})
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_same_step(result):
    assert result["single"].keys() == result["distributed"].keys()
    for name, value in result["single"].items():
        assert result["distributed"][name] == pytest.approx(value, rel=1e-5, abs=1e-5), name
    assert result["weight_change"] > 1e-4  # the step did move the weights
    assert result["weight_difference"] < 1e-5


@pytest.mark.slow
def test_a_mirrored_step_on_two_cpu_devices_equals_one_device():
    code = ("import tensorflow as tf\n"
            "cpu = tf.config.list_physical_devices('CPU')[0]\n"
            "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
            + TENSORFLOW)
    # With the joint phase's cluster term on, every batch-level term of the default recipe is in the step.
    assert_same_step(run_python(code, {"KERAS_BACKEND": "tensorflow"}, json.dumps({**TINY, "cluster_weight": 1.0})))


@pytest.mark.slow
def test_a_jax_data_parallel_step_on_two_devices_equals_one_device():
    result = run_python(JAX, {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
                        json.dumps(TINY))
    assert_same_step(result)


def free_port():
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


@pytest.mark.slow
def test_two_worker_processes_train_the_consensus_of_runs_and_the_model_clusters(tmp_path, capsys):
    data = tmp_path / "fsdd"
    data.mkdir()
    from keras_uvac import datasets

    for path in datasets.load_audio().paths[::20]:
        shutil.copy(path, data)
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    out = tmp_path / "m.keras"
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        command = [sys.executable, "-m", "keras_uvac.cli", "-q", "train", "--data", str(data), "--epochs", "2",
                   "--out", str(out), "--distribute", "multi-worker", "--model-config", json.dumps(
                       {key: value for key, value in TINY.items() if key != "cluster_weight"})]
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={
            **os.environ, "TF_CONFIG": json.dumps(config), "TF_CPP_MIN_LOG_LEVEL": "3"}))
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, error) in zip(processes, outputs):
        assert process.returncode == 0, [line[:1500] for line in error.splitlines() if "error" in line]
    assert not any("one run" in error for _, error in outputs)  # the consensus is not dropped
    card = json.loads((tmp_path / "m.keras.card.json").read_text())
    assert card["replicas"] == 2 and card["epochs_done"] == 2
    # The default's consensus of three runs, each run data-parallel over both workers.
    assert card["consensus"]["seeds"] == [0, 1, 2] and len(card["consensus"]["self_labelling"]) == 3
    placement = "each run data-parallel over 2 replicas on 2 workers, one run after another"
    assert card["consensus"]["placement"] == placement
    status, output, error = run_uvac(capsys, "cluster", "--model", out, *datasets.load_audio().paths[:3])
    assert status == 0, error[-3000:]
    clusters = [line.split("\t")[0] for line in output.splitlines() if line.endswith(".wav")]
    assert len(clusters) == 3 and all(cluster.isdigit() for cluster in clusters)
    assert np.isfinite(card["test_metrics"]["UVAC"]["nmi"])
