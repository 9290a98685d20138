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


def write_encoded(path, samples, sample_rate, **options):
    import soundfile

    soundfile.write(path, np.asarray(samples, np.float32), sample_rate, **options)
    return str(path)


@pytest.mark.parametrize(("name", "options", "tolerance"), [
    ("a.flac", {}, 1e-4), ("a.aiff", {}, 1e-4), ("a.ogg", {"subtype": "VORBIS"}, None),
    ("a.opus", {"format": "OGG", "subtype": "OPUS"}, None), ("a.mp3", {}, None)])
def test_other_formats_are_inspected_and_decoded_by_libsndfile(tmp_path, name, options, tolerance):
    rate = 48000 if name.endswith(".opus") else 16000
    samples = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate)
    info = audio.inspect_audio(write_encoded(tmp_path / name, samples, rate, **options))
    assert (info.encoding, info.channels, info.sample_rate) == ("encoded", 1, rate)
    decoded = decode(info)
    assert len(decoded) == info.num_frames and np.isfinite(decoded).all()
    if tolerance:  # lossless: the samples themselves
        np.testing.assert_allclose(decoded, samples, atol=tolerance)
    else:  # lossy: the same tone, give or take the codec's delay
        spectrum = np.abs(np.fft.rfft(decoded[len(decoded) // 4:3 * len(decoded) // 4]))
        assert abs(np.argmax(spectrum) * rate / (2 * (len(spectrum) - 1)) - 440) < 10


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wav_named_flac", "empty"])
def test_damaged_encoded_files_are_refused_by_name(tmp_path, damage):
    path = tmp_path / ("a.mp3" if damage != "wav_named_flac" else "a.flac")
    if damage == "wav_named_flac":
        write_wav(path, np.zeros(100), 16000)
        expected = "holds WAV audio, not FLAC"
    elif damage == "empty":
        path.write_bytes(b"")
        expected = "empty file"
    elif damage == "garbage":
        path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
        expected = "not a readable MP3 file|corrupt MP3 stream|no audio samples"
    else:
        flac = write_encoded(tmp_path / "b.flac", np.sin(np.arange(16000) / 5) / 2, 16000)
        path = tmp_path / "a.flac"
        path.write_bytes(open(flac, "rb").read()[:3000])
        expected = "corrupt FLAC stream|not a readable FLAC file"
    with pytest.raises(audio.AudioFileError, match=rf"a\.(mp3|flac): ({expected})"):
        audio.inspect_audio(path)


def test_unsupported_extensions_name_the_supported_ones(tmp_path):
    (tmp_path / "a.m4a").write_bytes(b"....")
    with pytest.raises(audio.AudioFileError, match=r"a.m4a: not a supported audio file \(extension .m4a\); "
                                                   r"supported: .wav, .wave, .flac"):
        audio.inspect_audio(tmp_path / "a.m4a")
