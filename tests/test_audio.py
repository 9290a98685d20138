import numpy as np
import pytest
import scipy.io.wavfile
from conftest import write_raw_wav, write_wav

from keras_uvac import audio


def decode(info):
    return audio.decode_samples(info.path, info.data_offset, info.data_bytes,
                                audio.ENCODINGS.index(info.encoding), info.channels).numpy()


@pytest.mark.parametrize("encoding,tolerance", [("pcm8", 1 / 127), ("pcm16", 1e-4), ("pcm24", 1e-6),
                                                ("pcm32", 1e-6), ("float32", 1e-7), ("float64", 1e-7)])
def test_every_supported_encoding_decodes_to_the_written_samples(tmp_path, encoding, tolerance):
    samples = np.linspace(-0.9, 0.9, 101)
    info = audio.inspect_wav(write_wav(tmp_path / "a.wav", samples, 16000, encoding))
    assert (info.encoding, info.channels, info.sample_rate, info.num_frames) == (encoding, 1, 16000, 101)
    np.testing.assert_allclose(decode(info), samples, atol=tolerance)


def test_pcm16_matches_scipy_reader(audiomnist_sample):
    path = f"{audiomnist_sample}/data/01/0_01_0.wav"
    rate, expected = scipy.io.wavfile.read(path)
    info = audio.inspect_wav(path)
    assert info.sample_rate == rate == 48000
    np.testing.assert_allclose(decode(info), expected / 32768.0, atol=1e-7)


def test_stereo_is_mixed_to_mono(tmp_path):
    left, right = np.full(50, 0.5), np.full(50, -0.25)
    info = audio.inspect_wav(write_wav(tmp_path / "s.wav", np.stack([left, right], 1), 22050, "pcm16"))
    assert info.channels == 2 and info.num_frames == 50
    np.testing.assert_allclose(decode(info), 0.125, atol=1e-4)


def test_extra_chunks_before_data_are_skipped(tmp_path):
    path = write_wav(tmp_path / "a.wav", np.zeros(10), 8000)
    raw = open(path, "rb").read()
    # Insert an odd-sized LIST chunk (padded to even) between fmt and data.
    data_at = raw.index(b"data")
    patched = raw[:data_at] + b"LIST" + (3).to_bytes(4, "little") + b"abc\x00" + raw[data_at:]
    open(path, "wb").write(patched)
    info = audio.inspect_wav(path)
    assert info.num_frames == 10
    np.testing.assert_array_equal(decode(info), np.zeros(10))


@pytest.mark.parametrize("content,problem", [
    (b"", "empty file"),
    (b"hello, this is a text file and not audio at all", "not a WAV file"),
    (b"RIFF\x10\x00\x00\x00WAVE", "no fmt chunk"),
])
def test_malformed_files_are_refused_by_name(tmp_path, content, problem):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(audio.AudioFileError, match=problem) as error:
        audio.inspect_wav(path)
    assert str(path) in str(error.value)


def test_truncated_file_is_refused(tmp_path):
    path = write_wav(tmp_path / "t.wav", np.zeros(1000), 8000)
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-500])
    with pytest.raises(audio.AudioFileError, match="truncated"):
        audio.inspect_wav(path)


def test_header_without_samples_is_refused(tmp_path):
    path = write_raw_wav(tmp_path / "e.wav", b"", 8000, 1, 16, 1)
    with pytest.raises(audio.AudioFileError, match="no audio samples"):
        audio.inspect_wav(path)


@pytest.mark.parametrize("tag,bits,name", [(2, 4, "ADPCM"), (7, 8, "mu-law"), (1, 12, "12-bit PCM"),
                                           (3, 16, "16-bit float")])
def test_unsupported_encodings_are_refused_clearly(tmp_path, tag, bits, name):
    path = write_raw_wav(tmp_path / "u.wav", b"\x00" * 64, 8000, 1, bits, tag)
    with pytest.raises(audio.AudioFileError, match=f"unsupported encoding.*{name}"):
        audio.inspect_wav(path)


def test_float_file_with_nan_is_refused(tmp_path):
    path = write_wav(tmp_path / "n.wav", np.array([0.0, np.nan, 0.1]), 16000, "float32")
    with pytest.raises(audio.AudioFileError, match="NaN"):
        audio.inspect_wav(path)


def test_missing_file_is_reported_by_name(tmp_path):
    with pytest.raises(audio.AudioFileError, match="missing.wav: cannot be read"):
        audio.inspect_wav(tmp_path / "missing.wav")
