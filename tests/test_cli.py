import json
import os
import shutil

import numpy as np
from conftest import tone, write_wav

from keras_uvac import cli, presets
from keras_uvac.model import UVAC


def test_baselines_print_and_write_table_rows(tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert cli.main(["-q", "baselines", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| K-means |" in printed and "| GMM-EM |" in printed and "| labels as clusters |" in printed
    result = json.loads(out.read_text())
    assert result["test_clips"] == 300
    for method in ("labels as clusters", "K-means", "GMM-EM"):
        assert set(result["rows"][method]) >= {"accuracy", "nmi", "silhouette", "dbi"}
    assert result["rows"]["labels as clusters"]["accuracy"] == 1.0
    assert 0.1 < result["rows"]["K-means"]["accuracy"] < 0.9


def test_features_default_to_bundled_data_with_labels(tmp_path):
    out = tmp_path / "all.npz"
    assert cli.main(["-q", "features", "--out", str(out)]) == 0
    arrays = np.load(out)
    assert arrays["spec"].shape == (3000, 128, 99) and arrays["label"].shape == (3000,)


def test_bad_file_is_named_and_exit_status_is_2(tmp_path, capsys):
    write_wav(tmp_path / "good.wav", tone(0.3, 16000), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF")
    assert cli.main(["-q", "features", str(tmp_path), "--out", str(tmp_path / "f.npz")]) == 2
    assert "broken.wav: not a WAV file" in capsys.readouterr().err
    assert not (tmp_path / "f.npz").exists()
    assert cli.main(["-q", "features", str(tmp_path), "--skip-bad-files", "--out", str(tmp_path / "f.npz")]) == 0
    assert "skipped 1 file(s)" in capsys.readouterr().err
    assert np.load(tmp_path / "f.npz")["spec"].shape == (1, 128, 99)


def test_baselines_refuse_unlabeled_data(tmp_path, capsys):
    write_wav(tmp_path / "a.wav", tone(0.3, 16000), 16000)
    write_wav(tmp_path / "b.wav", tone(0.3, 16000), 16000)
    try:
        cli.main(["-q", "baselines", "--data", str(tmp_path)])
    except SystemExit as exit_:
        assert "no labels" in str(exit_)
    else:
        raise AssertionError("baselines ran on unlabeled data")


SHIPPED_CARD = presets.preset_files("uvac_fsdd")[1]


def test_evaluate_reproduces_the_shipped_model_card(tmp_path, capsys):
    card = json.loads(open(SHIPPED_CARD).read())
    out = tmp_path / "evaluation.json"
    assert cli.main(["-q", "evaluate", "--json", str(out), "--plots", str(tmp_path / "plots")]) == 0
    rows = json.loads(out.read_text())["rows"]
    for method, expected in card["test_metrics"].items():
        for name in ("accuracy", "nmi", "silhouette", "dbi"):
            assert abs(rows[method][name] - expected[name]) < 1e-4, (method, name)
    assert (tmp_path / "plots" / "tsne_clusters.png").stat().st_size > 10_000
    assert "| UVAC |" in capsys.readouterr().out


def test_evaluate_reports_purity_when_clusters_and_classes_differ(tmp_path, capsys):
    from keras_uvac import datasets

    fsdd = datasets.load_audio()
    for path, label in list(zip(fsdd.paths, fsdd.labels))[::4]:
        if fsdd.class_names[label] in "01234":  # five digits for the shipped model's ten clusters
            os.symlink(path, tmp_path / os.path.basename(path))
    out = tmp_path / "evaluation.json"
    assert cli.main(["-q", "evaluate", "--data", str(tmp_path), "--json", str(out)]) == 0
    printed, uvac = capsys.readouterr().out, json.loads(out.read_text())["rows"]["UVAC"]
    assert "10 clusters for 5 classes: accuracy matches them one to one; purity" in printed
    # Ten clusters for five digits split them: one-to-one matching leaves half the clusters counted as wrong.
    assert f"{100 * uvac['purity']:.1f}%" in printed and uvac["purity"] > uvac["accuracy"]


def test_demo_runs_on_the_shipped_model(capsys):
    assert cli.main(["-q", "demo"]) == 0
    printed = capsys.readouterr().out
    assert "| UVAC |" in printed and "| K-means |" in printed
    assert "read 3000 files as fsdd: 10 classes, 6 speakers" in printed and "higher is better" in printed


def test_cluster_writes_one_row_per_file_without_labels(tmp_path):
    for index in range(3):
        write_wav(tmp_path / f"clip{index}.wav", tone(0.4, 16000, 300 + 200 * index), 16000)
    out = tmp_path / "clusters.csv"
    assert cli.main(["-q", "cluster", str(tmp_path), "--csv", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "path,cluster,probability,novelty" and len(lines) == 4
    for line in lines[1:]:
        _, cluster, probability, novelty = line.rsplit(",", 3)
        assert 0 <= int(cluster) < 10 and 0.0 < float(probability) <= 1.0 and np.isfinite(float(novelty))


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["-q", "evaluate", "--model", str(tmp_path / "none.keras")]) == 2
    assert "none.keras: no such model file" in capsys.readouterr().err


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from keras_uvac.atomic import atomic_path

    with atomic_path(tmp_path / "out.txt") as temporary, open(temporary, "w") as handle:
        handle.write("x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "out.txt").st_mode) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["out.txt"]


def _clusters(csv_path):
    import csv

    with open(csv_path) as handle:
        return {os.path.splitext(os.path.basename(row["path"]))[0]: int(row["cluster"])
                for row in csv.DictReader(handle)}


def test_flac_gives_the_clusters_of_the_wavs_and_mp3_at_128_kbits_nearly_all(tmp_path, capsys):
    import scipy.signal
    import soundfile

    from keras_uvac import datasets

    test = datasets.load_audio().split(seed=0)["test"]
    for folder in ("wav", "flac", "mp3"):
        (tmp_path / folder).mkdir()
    for path in test.paths:
        name = os.path.splitext(os.path.basename(path))[0]
        shutil.copy(path, tmp_path / "wav")
        samples, rate = soundfile.read(path, dtype="int16")
        soundfile.write(tmp_path / "flac" / f"{name}.flac", samples, rate)
        # MPEG-1 layer III, whose 128 kbit/s needs 32 kHz or more: the 8 kHz clips are upsampled first.
        upsampled = scipy.signal.resample_poly(samples / 32768.0, 4, 1).astype(np.float32)
        soundfile.write(tmp_path / "mp3" / f"{name}.mp3", upsampled, 4 * rate, format="MP3",
                        bitrate_mode="CONSTANT", compression_level=(320 - 128) / (320 - 32))
    clusters = {}
    for folder in ("wav", "flac", "mp3"):
        assert cli.main(["-q", "cluster", str(tmp_path / folder), "--csv", str(tmp_path / f"{folder}.csv")]) == 0
        clusters[folder] = _clusters(tmp_path / f"{folder}.csv")
    assert "read 300 files as fsdd: 10 classes" in capsys.readouterr().out
    assert len(clusters["wav"]) == 300 and clusters["flac"] == clusters["wav"]
    same = np.mean([clusters["mp3"][name] == cluster for name, cluster in clusters["wav"].items()])
    assert same >= 0.95, same


def test_a_folder_of_mp3_files_trains(tmp_path, capsys):
    import soundfile

    from keras_uvac import datasets

    for path in datasets.load_audio().paths[::50]:
        samples, rate = soundfile.read(path, dtype="float32")
        soundfile.write(tmp_path / os.path.basename(path).replace(".wav", ".mp3"), samples, rate)
    out = tmp_path / "m.keras"
    model_config = {"encoder_channels": [4, 8], "gru_units": [8], "decoder_channels": [8, 4], "latent_dim": 4}
    assert cli.main(["-q", "train", "--data", str(tmp_path), "--out", str(out), "--epochs", "2", "--runs", "1",
                     "--clusters", "3", "--model-config", json.dumps(model_config)]) == 0
    assert "read 60 files as fsdd: 10 classes, 6 speakers" in capsys.readouterr().out
    card = json.loads(open(f"{out}.card.json").read())
    assert card["test_metrics"] and UVAC.from_preset(str(out)).num_clusters == 3


def test_train_takes_one_cluster_per_class_of_labelled_data_unless_told(tmp_path, capsys, monkeypatch):
    _class_folders(tmp_path, ("cat", "dog", "owl"))
    asked = _stop_training(monkeypatch, lambda args, kwargs: kwargs.get("num_clusters"))
    out = str(tmp_path / "m.keras")
    assert cli.main(["-q", "train", "--data", str(tmp_path), "--out", out]) == 130
    assert "3 clusters, one per class of the data" in capsys.readouterr().out
    assert cli.main(["-q", "train", "--data", str(tmp_path), "--clusters", "2", "--out", out]) == 130
    assert asked == [3, 2]


def test_cluster_windows_gives_one_row_per_window_of_a_long_recording(tmp_path, capsys):
    import csv

    import soundfile

    from keras_uvac import datasets

    samples = np.concatenate([soundfile.read(path, dtype="float32")[0] for path in datasets.load_audio().paths[:3]])
    soundfile.write(tmp_path / "long.wav", samples, 8000)
    out = tmp_path / "rows.csv"
    assert cli.main(["-q", "cluster", str(tmp_path / "long.wav"), "--windows", "--hop", "0.25", "--csv",
                     str(out)]) == 0
    with open(out) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "cluster", "probability", "novelty", "start_s", "end_s"]
    starts = [float(row["start_s"]) for row in rows]
    assert starts[:3] == [0.0, 0.25, 0.5] and float(rows[-1]["end_s"]) == round(len(samples) / 8000, 3)
    assert f"{len(rows)} windows of 1 s from 1 files" in capsys.readouterr().out
    assert cli.main(["-q", "cluster", str(tmp_path / "long.wav"), "--hop", "0.5"]) == 2
    assert "--hop sets the step between windows; it needs --windows" in capsys.readouterr().err


def test_train_duration_auto_takes_the_window_from_the_training_clips(tmp_path, capsys, monkeypatch):
    _class_folders(tmp_path, ("low", "high"))
    asked = _stop_training(monkeypatch, lambda args, kwargs: (kwargs["feature_config"].duration,
                                                              kwargs["card"]["duration_auto"]["window_s"]))
    assert cli.main(["-q", "train", "--data", str(tmp_path), "--duration", "auto",
                     "--out", str(tmp_path / "m.keras")]) == 130
    assert asked == [(0.3, 0.3)]
    output = capsys.readouterr().out
    assert "--duration auto: the sound of 95% of the 19 training clips lasts at most" in output
    assert "; window 0.3 s" in output
    assert cli.main(["-q", "baselines", "--duration", "auto"]) == 2
    assert "only uvac train chooses the window" in capsys.readouterr().err


def test_train_window_chooses_which_part_of_a_long_clip_is_kept(tmp_path, monkeypatch):
    _class_folders(tmp_path, ("low", "high"))
    asked = _stop_training(monkeypatch, lambda args, kwargs: kwargs["feature_config"].long_clip_policy)
    for window in ("centred", None):
        options = ["--window", window] if window else []
        assert cli.main(["-q", "train", "--data", str(tmp_path), "--out", str(tmp_path / "m.keras"), *options]) == 130
    assert asked == ["centred", "loudest"]


def test_train_pseudo_speakers_chooses_what_the_groups_are_found_from(tmp_path, capsys, monkeypatch):
    _class_folders(tmp_path, ("low", "high"))
    asked = _stop_training(monkeypatch, lambda args, kwargs: args[2].pseudo_speaker_descriptor)
    out = str(tmp_path / "m.keras")
    assert cli.main(["-q", "train", "--data", str(tmp_path), "--out", out]) == 130
    assert "6 pseudo-speaker groups found from voice and channel" in capsys.readouterr().out
    assert cli.main(["-q", "train", "--data", str(tmp_path), "--pseudo-speakers", "encoder", "--out", out]) == 130
    assert "at least 6 pseudo-speaker groups found by the speaker encoder" in capsys.readouterr().out
    assert asked == ["voice", "encoder"]


def _class_folders(root, names):
    """One folder of 12 short tones per name, as a labelled corpus that `uvac train --data` reads."""
    for name in names:
        (root / name).mkdir()
        for index in range(12):
            write_wav(root / name / f"{index}.wav", tone(0.3, 16000, 200 + 40 * index), 16000)
    return root


def _stop_training(monkeypatch, read):
    """Replaces `training.train` by one that keeps `read(args, kwargs)` and stops before training; the list kept."""
    from keras_uvac import training

    asked = []

    def record(*args, **kwargs):
        asked.append(read(args, kwargs))
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", record)
    return asked
