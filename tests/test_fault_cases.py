"""Fault cases as a careless or hostile user meets them: each gives one clear error (exit 2) or the right result.

Every case runs the `uvac` command line in this process, the way a user runs it; the cases that must not take
memory run in a subprocess that reports its own peak memory. A case that would hang (a FIFO) is cut off by an
alarm, so a regression fails instead of stalling CI.
"""

import csv
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
from conftest import copy_fsdd_subset, no_hang, run_uvac, tone, write_raw_wav, write_wav

from keras_uvac import audio, cli, datasets, presets, training

SHIPPED_MODEL = presets.preset_files("uvac_fsdd")[0]
TINY_MODEL = {"encoder_channels": [4, 8], "gru_units": [8], "decoder_channels": [8, 4], "num_clusters": 3,
              "latent_dim": 4}
TINY_RECIPE = training.Recipe(name="t", epochs=2, batch_size=32, pretrain_epochs=1, gmm_initialization=True,
                              kl_warmup_epochs=1, kl_weight=0.25)


@pytest.fixture
def good(tmp_path):
    return write_wav(tmp_path / "good.wav", tone(0.5, 16000), 16000)


@pytest.fixture(scope="module")
def small_fsdd(tmp_path_factory):
    return copy_fsdd_subset(tmp_path_factory.mktemp("fsdd_60"), 50)


def _fifo(folder, name="pipe.wav"):
    path = os.path.join(folder, name)
    os.mkfifo(path)
    return path


def _huge_config_model(folder):
    path = os.path.join(folder, "huge_config.keras")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", " " * 20_000_000)
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
    return path


def _bad_card_model(folder):
    path = os.path.join(folder, "m.keras")
    shutil.copy(SHIPPED_MODEL, path)
    with open(path + ".card.json", "w") as handle:
        handle.write('{"recipe": ')
    return path


# (case, arguments given the test's folder and a good clip, expected exit status, regex the last stderr line matches)
CASES = [
    ("output /dev/full", lambda d, g: ["features", g, "--out", "/dev/full"], 2,
     r"--out /dev/full: a path under /dev or /proc"),
    ("csv /dev/stdout", lambda d, g: ["cluster", g, "--csv", "/dev/stdout"], 2,
     r"--csv /dev/stdout: a path under /dev.*\(or - for standard output\)"),
    ("output a FIFO", lambda d, g: ["features", g, "--out", _fifo(d, "out.npz")], 2,
     r"out.npz: a FIFO, not a regular file"),
    ("noise margin nan", lambda d, g: ["features", g, "--out", f"{d}/f.npz", "--noise-margin-db", "nan"], 2,
     r"argument --noise-margin-db: expected a finite number in \[0, 60\], got 'nan'"),
    ("FIFO in a data folder", lambda d, g: ["features", d, "--out", f"{d}/f.npz"] if _fifo(d) else [], 2,
     r"pipe.wav: a FIFO, not a regular file"),
    ("model is a FIFO", lambda d, g: ["cluster", "--model", _fifo(d, "m.keras"), g], 2,
     r"m.keras: a FIFO, not a model file"),
    ("sample rate 1e9", lambda d, g: ["features", g, "--out", f"{d}/f.npz", "--sample-rate", "1000000000"], 2,
     r"--sample-rate must be a whole number in \[1000, 96000\], got 1000000000"),
    ("sample rate 0", lambda d, g: ["train", "--sample-rate", "0", "--out", f"{d}/m.keras"], 2,
     r"--sample-rate must be a whole number in \[1000, 96000\], got 0"),
    ("sample rate 1", lambda d, g: ["train", "--sample-rate", "1", "--out", f"{d}/m.keras"], 2,
     r"--sample-rate must be a whole number in \[1000, 96000\], got 1$"),
    ("sample rate -16000", lambda d, g: ["train", "--sample-rate=-16000", "--out", f"{d}/m.keras"], 2,
     r"--sample-rate must be a whole number in \[1000, 96000\], got -16000"),
    ("sample rate 8000", lambda d, g: ["train", "--sample-rate", "8000", "--out", f"{d}/m.keras"], 2,
     r"--sample-rate must be at least 12800 Hz"),
    ("model config a list", lambda d, g: ["train", "--model-config", "[1, 2]", "--out", f"{d}/m.keras"], 2,
     r"--model-config must be a JSON object"),
    ("model config not JSON", lambda d, g: ["train", "--model-config", "{latent_dim: 4}", "--out", f"{d}/m.keras"],
     2, r"--model-config is not valid JSON \(Expecting property name"),
    ("model config unknown", lambda d, g: ["train", "--model-config", '{"latent_dims": 4}', "--out", f"{d}/m.keras"],
     2, r"--model-config: not a UVAC argument: latent_dims"),
    ("zero clusters", lambda d, g: ["train", "--model-config", '{"num_clusters": 0}', "--out", f"{d}/m.keras"], 2,
     r"--model-config: num_clusters must be a whole number in \[1, 1000\], got 0"),
    ("negative latent", lambda d, g: ["train", "--model-config", '{"latent_dim": -1}', "--out", f"{d}/m.keras"], 2,
     r"--model-config: latent_dim must be a whole number in \[1, 1024\], got -1"),
    ("zero clusters option", lambda d, g: ["train", "--clusters", "0", "--out", f"{d}/m.keras"], 2,
     r"argument --clusters: expected a whole number in \[1, 1000\], got '0'"),
    ("clusters not a number", lambda d, g: ["train", "--clusters", "many", "--out", f"{d}/m.keras"], 2,
     r"argument --clusters: expected a whole number in \[1, 1000\], got 'many'"),
    ("clusters auto without pretraining", lambda d, g: ["train", "--clusters", "auto", "--recipe", "paper", "--out",
                                                        f"{d}/m.keras"], 2,
     r"--clusters auto chooses K on the codes of the recipe's pretraining; recipe 'paper' has none"),
    ("clusters disagree", lambda d, g: ["train", "--clusters", "3", "--model-config", '{"num_clusters": 4}',
                                        "--out", f"{d}/m.keras"], 2,
     r"--clusters 3 and --model-config's num_clusters 4 disagree"),
    ("batch size 0", lambda d, g: ["train", "--recipe-config", '{"batch_size": 0}', "--out", f"{d}/m.keras"], 2,
     r"--recipe-config: batch_size must be a whole number of at least 1, got 0"),
    ("learning rate text", lambda d, g: ["train", "--recipe-config", '{"learning_rate": "fast"}',
                                         "--out", f"{d}/m.keras"], 2,
     r"--recipe-config: learning_rate must be a finite number in \(0, 10\], got 'fast'"),
    ("duration inf", lambda d, g: ["train", "--duration", "inf", "--out", f"{d}/m.keras"], 2,
     r"--duration must be a finite number in \(0, 30\], got inf"),
    ("duration nan", lambda d, g: ["train", "--duration", "nan", "--out", f"{d}/m.keras"], 2,
     r"--duration must be a finite number in \(0, 30\], got nan"),
    ("negative seed", lambda d, g: ["train", "--seed=-1", "--out", f"{d}/m.keras"], 2,
     r"argument --seed: expected a whole number in \[0, 4294967295\], got '-1'"),
    ("out is a folder", lambda d, g: ["train", "--out", d], 2, r"--out .*: a folder; name a file in it"),
    ("out is empty", lambda d, g: ["train", "--out", ""], 2, r"--out: an empty path; name a file"),
    ("out without .keras", lambda d, g: ["train", "--out", f"{d}/model"], 2,
     r"--out .*/model: the file name must end with .keras"),
    ("export out without .onnx", lambda d, g: ["export", "--format", "onnx", "--out", f"{d}/m.tflite"], 2,
     r"--out .*/m.tflite: the file name must end with .onnx"),
    ("data is a FIFO", lambda d, g: ["train", "--data", _fifo(d), "--out", f"{d}/m.keras"], 2,
     r"pipe.wav: a FIFO, not a regular file"),
    ("data is /dev/zero", lambda d, g: ["cluster", "/dev/zero"], 2, r"/dev/zero: a character device, not a regular"),
    ("card not JSON", lambda d, g: ["cluster", "--model", _bad_card_model(d), g], 2,
     r"m.keras.card.json: the model card is not valid JSON"),
    ("config.json of 20 MB", lambda d, g: ["cluster", "--model", _huge_config_model(d), g], 2,
     r"huge_config.keras: its config.json is 20,000,000 bytes"),
]


@pytest.mark.parametrize(("case", "arguments", "status", "message"), CASES, ids=[case[0] for case in CASES])
def test_a_fault_gives_one_clear_line_and_exit_2(tmp_path, good, capsys, case, arguments, status, message):
    folder = tmp_path / "work"
    folder.mkdir()
    given, stdout, stderr = run_uvac(capsys, *arguments(str(folder), good))
    assert given == status, stderr
    last_line = stderr.strip().splitlines()[-1]
    assert re.search(message, last_line), last_line
    assert "Traceback" not in stderr and "nan" not in stdout.lower()
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # never replaced by a regular file
    assert not list(folder.glob("*.run")), "training started before the options were checked"
    assert not [name for name in os.listdir(folder) if ".partial" in name]


def test_csv_dash_is_standard_output_and_reports_go_to_standard_error(good, capsys):
    with no_hang():  # with its progress bar, which must not reach the CSV
        status = cli.main(["cluster", good, "--csv", "-"])
    stdout, stderr = capsys.readouterr()
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert [row["path"] for row in rows] == [good] and 0 <= int(rows[0]["cluster"]) < 10
    assert "1 files in 1 of 10 clusters" in stderr and "read 1 files" in stderr


def test_stray_names_keep_the_labels_of_the_others(tmp_path, capsys):
    (tmp_path / "digits").mkdir()
    folder = copy_fsdd_subset(tmp_path / "digits", 25)
    write_wav(folder / "recording notes.wav", tone(0.3, 8000), 8000)
    out = tmp_path / "f.npz"
    status, _, stderr = run_uvac(capsys, "features", folder, "--out", out)
    assert status == 2 and "recording notes.wav: name does not follow" in stderr and "--skip-bad-files" in stderr
    status, stdout, stderr = run_uvac(capsys, "features", folder, "--out", out, "--skip-bad-files")
    assert status == 0 and "read 120 files as fsdd: 10 classes, 6 speakers, 1 skipped" in stdout
    assert np.load(out)["label"].shape == (120,)
    assert "recording notes.wav" in stderr


def test_unreadable_names_loops_and_fifos_are_skipped_and_counted(tmp_path, good, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(good, folder / "good.wav")
    os.symlink("loop.wav", folder / "loop.wav")
    os.mkfifo(folder / "pipe.wav")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.wav"), "wb") as handle:
        handle.write(open(good, "rb").read())
    status, _, stderr = run_uvac(capsys, "features", folder, "--out", tmp_path / "f.npz")
    assert status == 2 and "Traceback" not in stderr
    status, stdout, stderr = run_uvac(capsys, "features", folder, "--out", tmp_path / "f.npz", "--skip-bad-files")
    assert status == 0 and "skipped 3 file(s)" in stderr and "read 1 files" in stdout
    assert "caf\\xe9.wav: the file name is not valid UTF-8" in stderr
    assert "loop.wav: cannot be read (Too many levels of symbolic links)" in stderr
    assert "pipe.wav: a FIFO, not a regular file" in stderr
    # Named one by one on the command line, the loop is skipped too.
    status, _, stderr = run_uvac(capsys, "features", folder / "loop.wav", good, "--out", tmp_path / "g.npz",
                             "--skip-bad-files")
    assert status == 0 and "skipped 1 file(s)" in stderr


def test_an_empty_class_folder_is_named_and_left_out(tmp_path, caplog):
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        write_wav(tmp_path / name / "a.wav", tone(0.3, 16000), 16000)
    (tmp_path / "empty").mkdir()
    collection = datasets.load_audio(tmp_path, layout="class_folders")
    assert collection.class_names == ["cat", "dog"]
    assert "empty: an empty class folder" in caplog.text


def test_a_full_disk_names_the_output_and_leaves_nothing(tmp_path, good, capsys, monkeypatch):
    def disk_full(handle, **arrays):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", disk_full)
    out = tmp_path / "f.npz"
    status, _, stderr = run_uvac(capsys, "features", good, "--out", out)
    assert status == 2 and stderr.strip() == f"uvac features: error: {out}: No space left on device"
    assert os.listdir(tmp_path) == ["good.wav"]


def test_a_file_cut_short_or_deleted_after_it_was_read_is_named(tmp_path, good):
    from keras_uvac import pipeline

    paths = [write_wav(tmp_path / f"{index}.wav", tone(0.5, 16000, 300 + 50 * index), 16000) for index in range(3)]
    collection = datasets.load_audio(paths)
    with open(paths[1], "r+b") as handle:
        handle.truncate(1000)
    with pytest.raises(audio.AudioFileError, match=r"1.wav: it changed since it was read \(16,044 bytes then, 1,000"):
        pipeline.extract_features(collection, progress=False)
    os.remove(paths[2])
    with pytest.raises(audio.AudioFileError, match=r"1.wav: .*; 1 other file\(s\) changed too"):
        pipeline.extract_features(collection, progress=False)


class _DeleteAfterFirstEpoch(keras.callbacks.Callback):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            shutil.move(self.path, self.path + ".away")


def test_a_training_file_deleted_between_epochs_is_named_and_the_run_resumes(small_fsdd, tmp_path):
    collection = datasets.load_audio(small_fsdd)
    victim = collection.paths[7]
    out = tmp_path / "m.keras"
    with pytest.raises(audio.AudioFileError, match=rf"{victim}: it can no longer be read .*resume \(--resume\)"):
        training.train(collection, out, TINY_RECIPE, verbose=0, callbacks=[_DeleteAfterFirstEpoch(victim)],
                       **TINY_MODEL)
    assert training.latest_checkpoint(f"{out}.run").endswith("epoch-0001")
    shutil.move(victim + ".away", victim)
    _, history = training.train(collection, out, TINY_RECIPE, verbose=0, resume=True, **TINY_MODEL)
    assert [record["epoch"] for record in history] == [1, 2]


def test_a_full_disk_during_a_checkpoint_names_it_and_leaves_a_run_that_starts_again(small_fsdd, tmp_path,
                                                                                    monkeypatch):
    collection = datasets.load_audio(small_fsdd)
    out = tmp_path / "m.keras"
    real_savez = np.savez

    def disk_full(path, *arrays):
        raise OSError(28, "No space left on device", path)

    monkeypatch.setattr(training.checkpoints.np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left on device") as raised:
        training.train(collection, out, TINY_RECIPE, verbose=0, **TINY_MODEL)
    assert raised.value.filename == os.path.join(f"{out}.run", "checkpoints", "epoch-0001")
    assert not [name for _, _, names in os.walk(tmp_path) for name in names if ".partial" in name]
    monkeypatch.setattr(training.checkpoints.np, "savez", real_savez)
    _, history = training.train(collection, out, TINY_RECIPE, verbose=0, **TINY_MODEL)  # no --resume needed
    assert len(history) == 2


def test_ctrl_c_during_the_mixture_fit_is_one_line_and_exit_130(small_fsdd, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training.recipes, "fit_prior_to_codes", interrupted)
    out = tmp_path / "m.keras"
    status, _, stderr = run_uvac(capsys, "train", "--data", small_fsdd, "--out", out, "--epochs", "2", "--runs", "1",
                             "--model-config", json.dumps(TINY_MODEL))
    assert status == 130 and stderr.strip().splitlines()[-1] == "uvac train: interrupted; resume with --resume"
    assert "Traceback" not in stderr
    assert training.latest_checkpoint(f"{out}.run") is not None


# The peak of this process's own memory (VmHWM): getrusage's ru_maxrss also counts the parent's memory at the fork,
# which is a test worker's, often above 2 GB (experiments/ci_time/maxrss_after_fork.py).
MEMORY_SCRIPT = """
import json, sys
from keras_uvac import cli
statuses = [cli.main(["-q", "features", sys.argv[1], "--out", sys.argv[2]]),
            cli.main(["-q", "features", sys.argv[3], "--out", sys.argv[2], "--sample-rate", "1000000000"])]
peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"statuses": statuses, "peak_bytes": peak_kib * 1024}))
"""


@pytest.mark.slow
def test_huge_but_valid_headers_are_refused_within_2_gb(tmp_path, good):
    # 64 channels of 768 kHz float64 for 10.9 s: every value within the header limits, 4.3 GB of samples (sparse).
    frames = int(10.9 * 768_000)
    huge = write_raw_wav(tmp_path / "huge.wav", b"", 768_000, 64, 64, 3, declared_data_bytes=frames * 64 * 8)
    with open(huge, "r+b") as handle:
        handle.truncate(44 + frames * 64 * 8)
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, huge, str(tmp_path / "f.npz"), good],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [2, 2]
    assert "huge.wav: decoding it takes about 10,442 MB" in result.stderr
    assert "--sample-rate must be a whole number in [1000, 96000]" in result.stderr
    assert report["peak_bytes"] < 2 * 2**30


def test_batches_too_large_to_resample_are_refused_and_features_take_smaller_ones(tmp_path):
    from keras_uvac import features, pipeline

    collection = datasets.load_audio([write_wav(tmp_path / "long.wav", tone(31, 48000), 48000)])
    config = features.FeatureConfig(duration=30.0)
    with pytest.raises(audio.AudioFileError, match=r"long.wav: a batch of 128 of its 30 s windows at 48000 Hz"):
        pipeline.waveform_batches(collection, config, batch_size=128)
    spectrogram = pipeline.extract_features(collection, config, progress=False)["spectrogram"]
    assert spectrogram.shape == (1, 128, 2999) and np.isfinite(spectrogram).all()
