import numpy as np
import pytest
import torch

from keras_uvac import datasets, nuisance, speaker_encoder, training


def test_mel_filters_are_triangles_of_unit_area_rising_with_frequency():
    filters = speaker_encoder.slaney_mel_filters()
    bin_hz = speaker_encoder.SAMPLE_RATE / speaker_encoder.WINDOW_LENGTH
    assert filters.shape == (201, 40) and filters.min() >= 0
    peaks = filters.argmax(axis=0)
    assert np.all(np.diff(peaks) >= 0) and peaks[-1] > peaks[0]
    wide = (filters > 0).sum(axis=0) >= 8  # the discrete sum reads the area well once a filter spans a few bins
    np.testing.assert_allclose(filters[:, wide].sum(axis=0) * bin_hz, 1.0, rtol=0.05)


def test_mel_power_is_160_frames_whatever_the_length_and_puts_a_tone_in_its_band():
    time = np.arange(16000) / 16000
    tone = np.sin(2 * np.pi * 1000 * time).astype(np.float32)
    for samples in (8000, 16000, 30000):
        mels = speaker_encoder.mel_power(np.resize(tone, (1, samples))).numpy()
        assert mels.shape == (1, 160, 40)
    band = int(np.argmax(speaker_encoder.mel_power(tone[None]).numpy()[0, 50]))
    assert band == int(np.argmax(speaker_encoder.slaney_mel_filters()[25]))  # bin 25: 1 kHz at 40 Hz per bin
    assert not np.any(speaker_encoder.mel_power(np.zeros((1, 16000), np.float32)).numpy())


def test_keras_encoder_equals_the_pytorch_network_with_the_same_weights():
    encoder = speaker_encoder.build_speaker_encoder()
    state = torch.load(speaker_encoder.weights_path(), map_location="cpu", weights_only=True)["model_state"]
    lstm = torch.nn.LSTM(40, 256, 3, batch_first=True)
    lstm.load_state_dict({name[len("lstm."):]: value for name, value in state.items() if name.startswith("lstm.")})
    mels = np.random.default_rng(0).gamma(0.5, 0.02, size=(3, 160, 40)).astype(np.float32)
    with torch.no_grad():
        _, (hidden, _) = lstm(torch.from_numpy(mels))
        projected = torch.relu(hidden[-1] @ state["linear.weight"].T + state["linear.bias"])
        expected = (projected / projected.norm(dim=1, keepdim=True)).numpy()
    np.testing.assert_allclose(np.asarray(encoder(mels)), expected, atol=1e-5)


def test_embeddings_of_real_clips_find_their_speaker_and_not_their_digit():
    fsdd = datasets.load_audio()
    clips = fsdd.subset(np.arange(0, len(fsdd), 50))  # 60 clips: 6 speakers, 10 digits
    embedded = speaker_encoder.collection_embeddings(clips, nuisance.DESCRIPTOR_CONFIG)
    assert embedded.shape == (60, 256)
    np.testing.assert_allclose(np.linalg.norm(embedded, axis=1), 1.0, rtol=1e-5)
    similarity = embedded @ embedded.T
    np.fill_diagonal(similarity, -1)
    nearest = similarity.argmax(axis=1)
    speakers, digits = np.array(clips.speakers), np.array(clips.labels)
    assert np.mean(speakers[nearest] == speakers) >= 0.8
    assert np.mean(digits[nearest] == digits) <= 0.3


def test_groups_follow_the_voices_and_never_fall_under_the_floor():
    rng = np.random.default_rng(0)
    voices = np.repeat(rng.normal(size=(12, 64)), 30, axis=0) + 0.05 * rng.normal(size=(360, 64))
    assert len(np.unique(nuisance.group_embeddings(voices, min_groups=6))) == 12
    one_voice = rng.normal(size=(1, 64)) + 0.01 * rng.normal(size=(90, 64))
    assert len(np.unique(nuisance.group_embeddings(one_voice, min_groups=6))) == 6


def test_auto_uses_the_encoder_only_when_it_is_installed(monkeypatch):
    assert nuisance.resolve_descriptor("auto") == "encoder"
    monkeypatch.setattr(speaker_encoder, "available", lambda: False)
    assert nuisance.resolve_descriptor("auto") == "voice"
    with pytest.raises(ValueError, match="pseudo_speaker_descriptor"):
        training.RECIPES["default"].with_changes({"pseudo_speaker_descriptor": "mfcc"})
