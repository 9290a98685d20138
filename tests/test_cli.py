import json

import numpy as np
from conftest import tone, write_wav

from keras_uvac import cli


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
