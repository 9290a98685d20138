"""The package as a user installs it: a wheel in a fresh virtualenv, run from another folder; a quiet CLI."""

import json
import os
import subprocess
import sys
import sysconfig

import pytest

from keras_uvac import presets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-4000:])
    return result


@pytest.mark.slow
def test_a_wheel_in_a_fresh_virtualenv_runs_a_quiet_demo_and_cluster_from_another_folder(tmp_path):
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "wheel"),
         ROOT])
    (wheel,) = (tmp_path / "wheel").iterdir()
    environment = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(environment)])
    python = environment / "bin" / "python"
    # The new environment reuses this one's dependencies (TensorFlow and the rest), not its keras_uvac:
    # a path in a .pth file is searched after the environment's own site-packages, and the editable
    # install's hook (itself a .pth file in this environment) is not run from there.
    site_packages = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    with open(os.path.join(site_packages, "test_environment.pth"), "w") as handle:
        handle.write(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    located = run([str(python), "-c", "import keras_uvac, keras_uvac.presets as p; "
                                      "print(keras_uvac.__file__); print(p.preset_files('uvac_fsdd')[0])"],
                  cwd=elsewhere).stdout.split()
    assert all(path.startswith(str(environment)) for path in located), located

    quiet_environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    demo = run([str(environment / "bin" / "uvac"), "demo"], cwd=elsewhere, env=quiet_environment)
    card = json.loads(open(presets.preset_files("uvac_fsdd")[1]).read())
    assert f"| UVAC | {100 * card['test_metrics']['UVAC']['accuracy']:.2f} |" in demo.stdout
    # On a CPU machine, nothing but the command's own lines and its progress bar (on stdout).
    assert demo.stderr == "" and "clip" in demo.stdout

    clips = sorted(os.listdir(os.path.join(os.path.dirname(located[0]), "data", "fsdd", "recordings")))[:3]
    recordings = os.path.join(os.path.dirname(located[0]), "data", "fsdd", "recordings")
    cluster = run([str(environment / "bin" / "uvac"), "-q", "cluster", *[os.path.join(recordings, c) for c in clips]],
                  cwd=elsewhere)
    rows = [line for line in cluster.stdout.splitlines() if line.endswith(".wav")]
    assert len(rows) == 3 and all(row.split("\t")[0].isdigit() for row in rows)


@pytest.mark.parametrize("arguments", [["--help"], ["--version"], ["export", "--help"]])
def test_help_and_version_answer_without_tensorflow(arguments):
    uvac = os.path.join(os.path.dirname(sys.executable), "uvac")
    answer = run([uvac, *arguments], env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"})
    imported = [line.split("|")[-1].strip() for line in answer.stderr.splitlines() if line.startswith("import time")]
    assert "keras_uvac" in imported and not any(name.split(".")[0] in ("tensorflow", "keras") for name in imported)
    assert ("usage: uvac" in answer.stdout) != (arguments == ["--version"])


def test_from_preset_loads_in_safe_mode_and_carries_its_card():
    from keras_uvac import UVAC

    model = UVAC.from_preset("uvac_fsdd")
    assert isinstance(model, UVAC) and model.card["seed"] == 0
    with pytest.raises(FileNotFoundError, match="not a preset name"):
        UVAC.from_preset("no_such_preset")


def test_save_to_preset_round_trips(tmp_path):
    from keras_uvac import UVAC

    model = UVAC(encoder_channels=(4, 8), gru_units=(8,), decoder_channels=(8, 4), num_clusters=3, latent_dim=4)
    model.save_to_preset(tmp_path / "mine", card={"data": "tests"})
    loaded = UVAC.from_preset(tmp_path / "mine")
    assert loaded.card == {"data": "tests"} and loaded.get_config()["num_clusters"] == 3
    assert sorted(os.listdir(tmp_path)) == ["mine"]
