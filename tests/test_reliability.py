"""Bad input, interrupted runs and crowded runs: a clear error, or nothing lost (issue classes 1-8)."""

import dataclasses
import os
import shutil
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
from conftest import copy_fsdd_subset, run_uvac, tone, write_raw_wav, write_wav

from keras_uvac import audio, cli, datasets, pipeline, presets, training

TINY = {"encoder_channels": [4, 8], "gru_units": [8], "decoder_channels": [8, 4], "num_clusters": 3, "latent_dim": 4,
        "consistency_weight": 1.0, "speaker_weight": 1.0, "cross_speaker_weight": 1.0}
RECIPE = training.Recipe(name="t", epochs=3, batch_size=32, pretrain_epochs=1, gmm_initialization=True,
                         kl_warmup_epochs=1, kl_weight=0.25, cluster_weight=1.0)


class SimulatedKill(BaseException):
    """Stands for SIGKILL: nothing after the raise runs, and Keras does not catch it."""


@pytest.fixture(scope="module")
def small_fsdd(tmp_path_factory):
    return copy_fsdd_subset(tmp_path_factory.mktemp("fsdd_tiny"), 50)


def features_of(paths):
    return pipeline.extract_features(datasets.load_audio(list(map(str, paths)), layout="unlabeled"),
                                     progress=False)


# 1. Finite samples that overflow.
@pytest.mark.parametrize(("encoding", "peak"), [("float32", 3e38), ("float64", 1e300)])
def test_huge_finite_float_samples_give_finite_features(tmp_path, encoding, peak):
    path = write_wav(tmp_path / "loud.wav", tone(0.5, 16000) * 2 * peak, 16000, encoding)
    arrays = features_of([path, write_wav(tmp_path / "plain.wav", tone(0.5, 16000), 16000)])
    assert np.all(np.isfinite(arrays["spectrogram"]))
    np.testing.assert_allclose(arrays["spectrogram"][0], arrays["spectrogram"][1], atol=1e-4)


# 2. The sample-rate field.
@pytest.mark.parametrize("rate", [4_000_000_000, 2_147_483_647, 2_000_000, 1])
def test_impossible_sample_rates_are_refused_by_name(tmp_path, rate):
    path = write_raw_wav(tmp_path / "rate.wav", b"\0\0" * 100, rate, 1, 16, 1)
    with pytest.raises(audio.AudioFileError, match=r"rate.wav: sample rate \d+ Hz is outside"):
        audio.inspect_wav(path)
    collection = datasets.load_audio([path, write_wav(tmp_path / "ok.wav", tone(0.2, 16000), 16000)], on_error="skip")
    assert len(collection) == 1 and len(collection.skipped) == 1


def test_too_many_channels_and_too_long_files_are_refused(tmp_path):
    with pytest.raises(audio.AudioFileError, match="200 channels"):
        audio.inspect_wav(write_raw_wav(tmp_path / "wide.wav", b"\0" * 400 * 10, 16000, 200, 16, 1))
    long_file = write_raw_wav(tmp_path / "long.wav", b"\0\0" * 10, 1000, 1, 16, 1, declared_data_bytes=2_000_000)
    with open(long_file, "ab") as handle:
        handle.truncate(2_000_100)
    with pytest.raises(audio.AudioFileError, match="1000 s long"):
        audio.inspect_wav(long_file)


def test_the_command_line_names_a_bad_rate_or_skips_it_and_never_prints_nan(tmp_path, capsys):
    bad = write_raw_wav(tmp_path / "bad_rate.wav", b"\0\0" * 100, 4_000_000_000 % 2**32, 1, 16, 1)
    loud = write_wav(tmp_path / "loud.wav", tone(0.5, 16000) * 6e37, 16000, "float32")
    assert cli.main(["-q", "cluster", bad, loud]) == 2
    error = capsys.readouterr().err
    assert "bad_rate.wav: sample rate" in error and "Traceback" not in error
    assert cli.main(["-q", "cluster", "--skip-bad-files", bad, loud]) == 0
    captured = capsys.readouterr()
    assert "skipped 1 file(s)" in captured.err and "nan" not in captured.out
    assert "1 files in 1 of 10 clusters" in captured.out


# 3. Resume reproduces the uninterrupted run.
def _final_state(model, history):
    weights = [keras.ops.convert_to_numpy(variable) for variable in model.weights]
    return weights, [{key: value for key, value in record.items() if key != "seconds"} for record in history]


@pytest.fixture(scope="module")
def uninterrupted(small_fsdd, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "m.keras"
    return _final_state(*training.train(datasets.load_audio(small_fsdd), out, RECIPE, verbose=0, **TINY))


def _kill_mid_step(monkeypatch):
    class Kill(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations.numpy() == 5:
                raise SimulatedKill

    return [Kill()]


def _kill_during_mixture_fit(monkeypatch):
    def killed(*args, **kwargs):
        raise SimulatedKill

    monkeypatch.setattr(training.recipes, "fit_prior_to_codes", killed)
    return []


def _kill_before_checkpoint(monkeypatch):
    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise SimulatedKill

    return [Kill()]


def _kill_during_checkpoint_write(monkeypatch):
    """Killed in epoch 2's checkpoint write, after the model file and before the random states."""
    real_savez, calls = np.savez, []

    def killed(path, *arrays):
        calls.append(path)
        if len(calls) == 2:
            raise SimulatedKill
        return real_savez(path, *arrays)

    monkeypatch.setattr(training.checkpoints.np, "savez", killed)
    return []


def _kill_between_checkpoint_and_history(monkeypatch):
    """Killed after epoch 2's checkpoint, before the run's history.json copy."""
    real = training.checkpoints.write_json

    def killed(path, payload, **kwargs):
        if os.path.dirname(path).endswith(".run") and path.endswith("history.json") and len(payload) == 2:
            raise SimulatedKill
        return real(path, payload, **kwargs)

    monkeypatch.setattr(training.checkpoints, "write_json", killed)
    return []


@pytest.mark.slow
@pytest.mark.parametrize("kill", [_kill_mid_step, _kill_during_mixture_fit, _kill_before_checkpoint,
                                  _kill_during_checkpoint_write, _kill_between_checkpoint_and_history])
def test_a_run_killed_anywhere_resumes_to_the_uninterrupted_result(small_fsdd, tmp_path, uninterrupted, kill):
    collection = datasets.load_audio(small_fsdd)
    out = tmp_path / "m.keras"
    with pytest.MonkeyPatch.context() as patch:
        callbacks = kill(patch)
        with pytest.raises(SimulatedKill):
            training.train(collection, out, RECIPE, verbose=0, callbacks=callbacks, **TINY)
    assert not out.exists()
    weights, history = _final_state(*training.train(collection, out, RECIPE, verbose=0, resume=True, **TINY))
    assert len(history) == len(uninterrupted[1])
    for record, expected in zip(history, uninterrupted[1]):
        assert record.keys() == expected.keys()
        np.testing.assert_allclose(list(record.values()), list(expected.values()), rtol=1e-6)
    for actual, expected in zip(weights, uninterrupted[0]):
        np.testing.assert_allclose(actual, expected, atol=1e-6)
    leftovers = [name for _, _, names in os.walk(tmp_path) for name in names if ".partial" in name]
    assert leftovers == [] and not (tmp_path / "m.keras.run" / "checkpoints").exists()
    assert [record["epoch"] for record in training.read_history(tmp_path / "m.keras.run")] == [1, 2, 3]


# 4. Small data and argument ranges.
@pytest.mark.parametrize("count", [1, 6, 80])
def test_too_little_data_is_refused_before_any_work(tmp_path, capsys, count):
    for path in datasets.load_audio().paths[:count]:
        shutil.copy(path, tmp_path)
    out = tmp_path / "m.keras"
    status, _, error = run_uvac(capsys, "train", "--data", str(tmp_path), "--out", str(out))
    assert status == 2 and "10 clusters need at least 10 clips in each of the training, validation and test" in error
    assert f"got {count}" in error and not out.exists() and not (tmp_path / "m.keras.run").exists()


@pytest.mark.parametrize("epochs", ["0", "-1", "two"])
def test_epoch_counts_below_one_are_refused(capsys, epochs):
    status, _, error = run_uvac(capsys, "train", "--epochs", epochs)
    assert status == 2 and "--epochs" in error and "Traceback" not in error


@pytest.mark.parametrize("recipe_config, message", [('{"cluster_wieght": 3}', "not a recipe field: cluster_wieght"),
                                                    ("{cluster_weight: 3}", "Expecting property name"),
                                                    ("[3]", "not [3]")])
def test_a_bad_recipe_config_is_refused_before_any_work(tmp_path, capsys, recipe_config, message):
    out = tmp_path / "m.keras"
    status, _, error = run_uvac(capsys, "train", "--recipe-config", recipe_config, "--out", str(out))
    assert status == 2 and message in error and "Traceback" not in error
    assert not (tmp_path / "m.keras.run").exists()


def test_train_refuses_zero_epochs_and_too_few_clips_in_python(small_fsdd, tmp_path):
    collection = datasets.load_audio(small_fsdd)
    with pytest.raises(ValueError, match="Recipe: epochs must be a whole number of at least 1, got 0"):
        training.train(collection, tmp_path / "m.keras", dataclasses.replace(RECIPE, epochs=0), **TINY)
    with pytest.raises(ValueError, match="3 clusters need at least 3 training clips; got 2"):
        training.train(collection.subset([0, 1]), tmp_path / "m.keras", RECIPE, **TINY)


# 5. Operating-system and model-file errors.
def test_a_read_only_output_folder_is_one_line(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    error = OSError(30, "Read-only file system", str(folder / "f.npz"))
    status, message = call_cli_raising(["features", "--out", str(folder / "f.npz")], error)
    assert status == 2 and message.strip() == f"uvac features: error: {folder / 'f.npz'}: Read-only file system"


def test_a_full_disk_is_one_line(tmp_path):
    status, message = call_cli_raising(["features", "--out", str(tmp_path / "f.npz")],
                                       OSError(28, "No space left on device", str(tmp_path / "f.npz")))
    assert status == 2 and message.strip().endswith("f.npz: No space left on device")


def call_cli_raising(arguments, error):
    import io
    from contextlib import redirect_stderr

    def fail(*args, **kwargs):
        raise error

    stream = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stderr(stream):
        patch.setattr(pipeline, "extract_features", fail)
        status = cli.main(["-q", *arguments])
    return status, stream.getvalue()


@pytest.mark.parametrize("content", ["text", "truncated", "h5", "sequential", "os_system"])
def test_bad_model_files_are_named_without_a_traceback(tmp_path, capsys, content):
    path = tmp_path / "bad.keras"
    shipped = presets.preset_files("uvac_fsdd")[0]
    if content == "text":
        path.write_text("not a model")
        expected = "not a Keras model archive"
    elif content == "truncated":
        path.write_bytes(open(shipped, "rb").read()[:5000])
        expected = "not a Keras model archive"
    elif content == "h5":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(200))
        expected = "not a Keras model archive"
    elif content == "sequential":
        keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(path)
        expected = "holds a Sequential model, not a keras_uvac UVAC model"
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", '{"module": "os", "class_name": "system", "config": {}}')
            archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        expected = "cannot be loaded as a keras_uvac model"
    status, _, error = run_uvac(capsys, "cluster", "--model", str(path), shipped)
    assert status == 2 and expected in error and str(path) in error and "Traceback" not in error


# 6. A stray entry: see tests/test_datasets.py::test_a_folder_named_like_a_wav_file_does_not_change_the_layout.


# 7. Two trainings into one run.
def test_a_second_training_into_the_same_run_is_refused(small_fsdd, tmp_path):
    run_directory = tmp_path / "m.keras.run"
    run_directory.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_directory / "lock").write_text(str(sleeper.pid))
        with pytest.raises(training.TrainingError, match=f"in use by another training \\(process {sleeper.pid}\\)"):
            training.train(datasets.load_audio(small_fsdd), tmp_path / "m.keras", RECIPE, **TINY)
    finally:
        sleeper.kill()
        sleeper.wait()
    # The holder died without cleaning up: its stale lock is taken over, and released at the end.
    model, history = training.train(datasets.load_audio(small_fsdd), tmp_path / "m.keras",
                                    dataclasses.replace(RECIPE, epochs=1), verbose=0, **TINY)
    assert len(history) == 1 and not (run_directory / "lock").exists()


# 8. A file name that starts with "-".
def test_a_dash_file_name_gets_a_hint(capsys):
    status, _, error = run_uvac(capsys, "cluster", "-clip.wav")
    assert status == 2 and "goes after '--'" in error
