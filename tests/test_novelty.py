"""The novelty score: it tells the shipped model's FSDD test clips from audio of other kinds."""

import csv
import glob
import os

import numpy as np
import pytest
import scipy.signal
import soundfile
from conftest import TESTS_DIR
from sklearn.metrics import roc_auc_score

from keras_uvac import cli, datasets, novelty
from keras_uvac.model import UVAC

OTHER_SPEECH = sorted(glob.glob(os.path.join(TESTS_DIR, "data", "other_speech", "*.flac")))


def test_the_reference_puts_one_percent_of_training_clips_beyond_its_threshold():
    rng = np.random.default_rng(0)
    terms = {name: rng.gamma(2.0, size=2000) for name in novelty.TERMS}
    reference = novelty.fit_reference(terms)
    scores = novelty.novelty_scores(terms, reference)
    assert np.mean(scores > reference["threshold"]) == pytest.approx(0.01, abs=0.002)
    far = {name: values + 100 for name, values in terms.items()}
    assert (novelty.novelty_scores(far, reference) > reference["threshold"]).all()
    assert novelty.describe(scores, reference) is None
    assert novelty.describe(novelty.novelty_scores(far, reference), reference).startswith("2000 of 2000 clips")


def _other_kinds(folder, count=8):
    """White and pink noise, tones, chirps and music-like notes, one second at 16 kHz each."""
    rng, rate = np.random.default_rng(1), 16000
    times = np.arange(rate) / rate
    for index in range(count):
        note = times[:rate // 4]
        signals = {
            "white": rng.standard_normal(rate),
            "pink": scipy.signal.lfilter([1.0], [1.0, -0.99], rng.standard_normal(rate)),
            "tone": np.sin(2 * np.pi * rng.uniform(100, 3000) * times),
            "chirp": scipy.signal.chirp(times, rng.uniform(100, 500), 1.0, rng.uniform(1000, 6000)),
            "music": np.concatenate([sum(np.sin(2 * np.pi * pitch * k * note) / k for k in range(1, 5))
                                     * np.exp(-3 * note) for pitch in rng.uniform(200, 800, 4)]),
        }
        for kind, signal in signals.items():
            soundfile.write(os.path.join(folder, f"{kind}{index}.wav"), 0.5 * signal / np.abs(signal).max(), rate)
    return sorted(glob.glob(os.path.join(folder, "*.wav")))


def test_the_shipped_model_tells_its_test_clips_from_other_audio(tmp_path, capsys):
    model = UVAC.from_preset("uvac_fsdd")
    reference = model.card["novelty"]
    test = datasets.load_audio().split(seed=0)["test"]
    others = _other_kinds(str(tmp_path)) + OTHER_SPEECH
    assert len(OTHER_SPEECH) == 18
    test_scores = novelty.novelty_scores(novelty.novelty_terms(model, test), reference)
    other_scores = novelty.novelty_scores(novelty.novelty_terms(model, datasets.load_audio(others)), reference)
    auroc = roc_auc_score(np.r_[np.zeros(len(test_scores)), np.ones(len(other_scores))],
                          np.r_[test_scores, other_scores])
    assert auroc >= 0.9, auroc
    assert novelty.describe(test_scores, reference) is None  # no warning for the model's own kind of audio
    # The command line: a column beside the existing ones, and the summary line for a folder of other audio.
    assert cli.main(["-q", "cluster", *others, "--csv", str(tmp_path / "clusters.csv")]) == 0
    assert "clips look unlike the training data of this model" in capsys.readouterr().err
    with open(tmp_path / "clusters.csv") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert reader.fieldnames == ["path", "cluster", "probability", "novelty"] and len(rows) == len(others)
    np.testing.assert_allclose([float(row["novelty"]) for row in rows], other_scores, atol=2e-3)
