import json

import numpy as np
from conftest import tone, write_wav

from keras_uvac import cli, presets


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
    assert lines[0] == "path,cluster,probability" and len(lines) == 4
    for line in lines[1:]:
        _, cluster, probability = line.rsplit(",", 2)
        assert 0 <= int(cluster) < 10 and 0.0 < float(probability) <= 1.0


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
