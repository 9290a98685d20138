"""Audio files: inspection in Python, sample decoding inside the tf.data pipeline.

Every file is inspected once, when a dataset is assembled: a WAV file's RIFF
header is read and checked, and the other formats (FLAC, OGG/Vorbis, Opus, MP3,
AIFF) are opened by libsndfile (`soundfile`), so that a corrupt, truncated or
unsupported file is reported by name before any epoch starts. The samples are
decoded later, inside the tf.data pipeline: WAV with `tf.io.decode_raw`, which
handles every WAV encoding below, the other formats by libsndfile from the
bytes that TensorFlow read.
"""

import dataclasses
import os
import stat
import struct

import numpy as np
import soundfile
import tensorflow as tf

from keras_uvac.validation import file_kind

# WAVE format tags (RIFF specification).
_FORMAT_PCM = 0x0001
_FORMAT_IEEE_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE
_FORMAT_NAMES = {0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM",
                 0x0055: "MPEG layer 3"}

# Index order matters: it is the branch index of `decode_samples`' switch. "encoded": any format that
# libsndfile decodes (its samples come as float32).
ENCODINGS = ("pcm8", "pcm16", "pcm24", "pcm32", "float32", "float64", "encoded")
WAV_EXTENSIONS = (".wav", ".wave")
# The formats read through libsndfile, by extension (Opus lives in an OGG container).
ENCODED_EXTENSIONS = {".flac": "FLAC", ".ogg": "OGG", ".oga": "OGG", ".opus": "OGG", ".mp3": "MP3",
                      ".aif": "AIFF", ".aiff": "AIFF", ".aifc": "AIFF"}
AUDIO_EXTENSIONS = WAV_EXTENSIONS + tuple(ENCODED_EXTENSIONS)
_ENCODING_BY_FORMAT = {
    (_FORMAT_PCM, 8): "pcm8",
    (_FORMAT_PCM, 16): "pcm16",
    (_FORMAT_PCM, 24): "pcm24",
    (_FORMAT_PCM, 32): "pcm32",
    (_FORMAT_IEEE_FLOAT, 32): "float32",
    (_FORMAT_IEEE_FLOAT, 64): "float64",
}
BITS_PER_SAMPLE = {encoding: bits for (_, bits), encoding in _ENCODING_BY_FORMAT.items()}
# Limits of a usable header: rates real recorders use, channel counts of real files, and a length that decodes
# in bounded memory (the features keep one second; a longer file is cut to its loudest second).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 768_000
MAX_CHANNELS = 64
MAX_SECONDS = 600
# Decoding reads a whole file (the loudest window is chosen from all of it): a budget per file keeps a valid but
# huge header (64 channels of 768 kHz float64: 10 GB to decode) from taking the machine's memory. Ten minutes of
# 48 kHz mono 16-bit audio take 0.97 GiB.
MAX_DECODING_BYTES = 2**30


class AudioFileError(ValueError):
    """An audio file that cannot be used, with the file's path and the problem.

    Args:
        path: the offending file.
        problem: what is wrong with it, in words.

    Example:
    >>> str(AudioFileError("a.wav", "empty file"))
    'a.wav: empty file'
    """

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclasses.dataclass(frozen=True)
class WavInfo:
    """What `inspect_audio` learned about one audio file (WAV or another format).

    Args:
        path: the file.
        encoding: one of `ENCODINGS` (`"encoded"`: decoded by libsndfile).
        channels: number of interleaved channels.
        sample_rate: frames per second.
        data_offset: byte offset of the first sample (0 for an encoded file).
        data_bytes: number of sample bytes (a whole number of frames), or the
            whole encoded file's.
        file_size: the file's size in bytes when it was inspected.
        modified_ns: its modification time then, in nanoseconds.
        frames: the decoded frames of an encoded file (None for WAV: they
            follow from `data_bytes`).
    """

    path: str
    encoding: str
    channels: int
    sample_rate: int
    data_offset: int
    data_bytes: int
    file_size: int = 0
    modified_ns: int = 0
    frames: int = None

    @property
    def num_frames(self):
        if self.frames is not None:
            return self.frames
        return self.data_bytes // (self.channels * BITS_PER_SAMPLE[self.encoding] // 8)

    @property
    def duration(self):
        """Length in seconds."""
        return self.num_frames / self.sample_rate

    @property
    def decoding_bytes(self):
        """Memory that decoding takes at its peak: the raw bytes, interleaved float32 samples, and per frame the
        mono float32 waveform and the float64 running energy that finds its loudest window."""
        return self.data_bytes * 2 + self.num_frames * (self.channels * 4 + 4 + 3 * 8)

    def changed(self):
        """How the file differs from when it was inspected, in words, or None if it looks the same.

        Example:
        >>> inspect_wav("a.wav").changed()  # doctest: +SKIP
        """
        try:
            status = os.stat(self.path)
        except OSError as error:
            return f"it can no longer be read ({error.strerror or error})"
        if status.st_size != self.file_size or status.st_mtime_ns != self.modified_ns:
            return f"it changed since it was read ({self.file_size:,} bytes then, {status.st_size:,} now)"
        return None


def inspect_audio(path):
    """Reads and checks an audio file by its extension: WAV by its header, other formats through libsndfile.

    Every file is a regular file with a UTF-8 name, a sample rate, channel
    count and length within the limits above, and a decoding cost within
    `MAX_DECODING_BYTES`. Float WAV files are scanned for NaN and infinite
    samples, and encoded files are decoded once, so that a stream that is
    corrupt past its header is refused here rather than in an epoch.

    Args:
        path: an audio file (`AUDIO_EXTENSIONS`).

    Returns:
        A `WavInfo`.

    Raises:
        AudioFileError: naming the file and what is wrong with it.

    Example:
    >>> info = inspect_audio("7_jackson_32.flac")  # doctest: +SKIP
    >>> info.sample_rate, info.encoding  # doctest: +SKIP
    (8000, 'encoded')
    """
    path = str(path)
    extension = os.path.splitext(path)[1].lower()
    if extension in ENCODED_EXTENSIONS:
        return _inspect(path, _read_encoded)
    if extension in WAV_EXTENSIONS:
        return _inspect(path, _read_wav)
    raise AudioFileError(path, f"not a supported audio file (extension {extension or 'none'}); supported: "
                               f"{', '.join(AUDIO_EXTENSIONS)}")


def inspect_wav(path):
    """Reads and checks the header of a WAV file without decoding its samples, whatever its extension.

    Float files are also scanned for NaN and infinite samples, which would
    otherwise poison the features.

    Args:
        path: path to a WAV file.

    Returns:
        A `WavInfo`.

    Raises:
        AudioFileError: the file is missing, empty, not RIFF/WAVE, truncated,
            has no samples, or uses an encoding other than 8/16/24/32-bit PCM
            or 32/64-bit float.

    Example:
    >>> info = inspect_wav("7_jackson_32.wav")  # doctest: +SKIP
    >>> info.sample_rate, info.encoding  # doctest: +SKIP
    (8000, 'pcm16')
    """
    return _inspect(str(path), _read_wav)


def _inspect(path, read):
    """The checks every file gets, around `read(path, size)`, which parses one format into a `WavInfo`."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise AudioFileError(shown, "the file name is not valid UTF-8 (TensorFlow cannot open it); "
                                    "rename the file") from None
    try:
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            # Opening a FIFO blocks until something writes to it; a device never ends.
            raise AudioFileError(path, f"{file_kind(path)}, not a regular file")
        if status.st_size == 0:
            raise AudioFileError(path, "empty file")
        info = read(path, status.st_size)
    except OSError as error:
        raise AudioFileError(path, f"cannot be read ({error.strerror or error})") from error
    return dataclasses.replace(info, file_size=status.st_size, modified_ns=status.st_mtime_ns)


def _check_budget(info):
    if info.decoding_bytes > MAX_DECODING_BYTES:
        raise AudioFileError(info.path, f"decoding it takes about {info.decoding_bytes / 2**20:,.0f} MB "
                                        f"({info.channels} channels x {info.num_frames:,} frames of "
                                        f"{info.encoding}), above the {MAX_DECODING_BYTES / 2**20:,.0f} MB allowed "
                                        "per file; cut it into shorter clips or mix it down to mono")


def _read_wav(path, file_size):
    with open(path, "rb") as handle:
        info = _parse_riff(path, handle, file_size)
    _check_budget(info)
    if info.encoding.startswith("float"):
        dtype = np.dtype("<f4" if info.encoding == "float32" else "<f8")
        samples = np.memmap(path, dtype=dtype, mode="r", offset=info.data_offset,
                            shape=(info.data_bytes // dtype.itemsize,))
        # In blocks, so that the scan of a long file does not hold it all in memory.
        block = 2**22
        if not all(np.isfinite(samples[start:start + block]).all() for start in range(0, len(samples), block)):
            raise AudioFileError(path, "contains NaN or infinite samples")
    return info


def _read_encoded(path, file_size):
    expected = ENCODED_EXTENSIONS[os.path.splitext(path)[1].lower()]
    try:
        details = soundfile.info(path)
    except (RuntimeError, TypeError) as error:  # soundfile.LibsndfileError is a RuntimeError
        raise AudioFileError(path, f"not a readable {expected} file ({_libsndfile_reason(error)})") from None
    if details.format != expected:
        raise AudioFileError(path, f"holds {details.format} audio, not {expected} as its extension says; rename it")
    _check_header(path, details.samplerate, details.channels)
    if details.frames / details.samplerate > MAX_SECONDS:
        raise AudioFileError(path, f"{details.frames / details.samplerate:.0f} s long; files of at most "
                                   f"{MAX_SECONDS} s are read (cut long recordings into clips first)")
    info = WavInfo(path, "encoded", details.channels, details.samplerate, 0, file_size, frames=details.frames)
    _check_budget(info)
    # Decoded once here, in blocks: the frames counted are what the pipeline will decode, and a stream that is
    # corrupt past its header is named now, not in the middle of an epoch.
    frames = 0
    try:
        with soundfile.SoundFile(path) as stream:
            for block in stream.blocks(blocksize=2**16, dtype="float32", always_2d=True):
                if not np.isfinite(block).all():
                    raise AudioFileError(path, "decodes to NaN or infinite samples")
                frames += len(block)
    except RuntimeError as error:
        raise AudioFileError(path, f"corrupt {expected} stream ({_libsndfile_reason(error)})") from None
    if frames == 0:
        raise AudioFileError(path, "no audio samples")
    return dataclasses.replace(info, frames=frames)


def _libsndfile_reason(error):
    return str(error).split(": ", 1)[-1].strip() or type(error).__name__


def decode_encoded(path, file_size):
    """Decodes a FLAC, OGG, Opus, MP3 or AIFF file to interleaved float32 samples (NumPy, for tf.data).

    Args:
        path: the file, as `str` or `bytes` (a string tensor's value).
        file_size: its size when it was inspected.

    Returns:
        A float32 array `(frames * channels,)`.

    Raises:
        ValueError: the file's size changed since it was inspected.

    Example:
    >>> decode_encoded("clip.flac", os.path.getsize("clip.flac")).dtype  # doctest: +SKIP
    dtype('float32')
    """
    path = os.fsdecode(path.item() if isinstance(path, np.ndarray) else path)
    if os.path.getsize(path) != file_size:
        raise ValueError(f"{path}: its size changed since it was inspected")
    samples, _ = soundfile.read(path, dtype="float32", always_2d=True)
    return samples.reshape(-1)


def _parse_riff(path, handle, file_size):
    header = handle.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise AudioFileError(path, "not a WAV file (no RIFF/WAVE header)")
    audio_format = None
    while True:
        chunk_header = handle.read(8)
        if len(chunk_header) < 8:
            break
        chunk_id, chunk_size = chunk_header[:4], struct.unpack("<I", chunk_header[4:])[0]
        chunk_start = handle.tell()
        if chunk_id == b"fmt ":
            audio_format = _parse_format_chunk(path, handle.read(chunk_size))
        elif chunk_id == b"data":
            if audio_format is None:
                raise AudioFileError(path, "corrupt WAV: data chunk before fmt chunk")
            encoding, channels, sample_rate, block_align = audio_format
            available = file_size - chunk_start
            if chunk_size > available:
                raise AudioFileError(
                    path, f"truncated: the data chunk declares {chunk_size} bytes but the file holds {available}")
            if chunk_size < block_align:
                raise AudioFileError(path, "no audio samples (empty data chunk)")
            whole_frames = chunk_size - chunk_size % block_align
            info = WavInfo(path, encoding, channels, sample_rate, chunk_start, whole_frames)
            if info.duration > MAX_SECONDS:
                raise AudioFileError(path, f"{info.duration:.0f} s long; files of at most {MAX_SECONDS} s are read "
                                           "(cut long recordings into clips first)")
            return info
        handle.seek(chunk_start + chunk_size + (chunk_size & 1))
    if audio_format is None:
        raise AudioFileError(path, "corrupt or truncated WAV: no fmt chunk")
    raise AudioFileError(path, "corrupt or truncated WAV: no data chunk")


def _parse_format_chunk(path, chunk):
    if len(chunk) < 16:
        raise AudioFileError(path, "corrupt WAV: fmt chunk shorter than 16 bytes")
    format_tag, channels, sample_rate, _, block_align, bits = struct.unpack("<HHIIHH", chunk[:16])
    if format_tag == _FORMAT_EXTENSIBLE and len(chunk) >= 26:
        format_tag = struct.unpack("<H", chunk[24:26])[0]
    encoding = _ENCODING_BY_FORMAT.get((format_tag, bits))
    if encoding is None:
        name = {_FORMAT_PCM: "PCM", _FORMAT_IEEE_FLOAT: "float"}.get(format_tag)
        described = f"{bits}-bit {name}" if name else _FORMAT_NAMES.get(format_tag, f"format tag {format_tag:#06x}")
        raise AudioFileError(
            path, f"unsupported encoding {described}; supported: 8/16/24/32-bit PCM and 32/64-bit float")
    _check_header(path, sample_rate, channels)
    if block_align != channels * bits // 8:
        raise AudioFileError(path, f"corrupt WAV: block align {block_align} does not match {channels} x {bits} bits")
    return encoding, channels, sample_rate, block_align


def _check_header(path, sample_rate, channels):
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioFileError(path, f"sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz; "
                                   "the header is corrupt or the file is not audio")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFileError(path, f"corrupt header: {channels} channels (1..{MAX_CHANNELS} supported)")


def decode_samples(path, data_offset, data_bytes, encoding_index, channels):
    """Decodes an audio file's samples to a mono float32 waveform, in a TensorFlow graph.

    Works in graph mode, so it runs inside `tf.data.Dataset.map`: WAV samples
    with `tf.io.decode_raw`, other formats by libsndfile from the same path
    that `inspect_audio` decoded. The facts come from `inspect_audio`.

    Args:
        path: scalar string tensor.
        data_offset: scalar int tensor, byte offset of the samples.
        data_bytes: scalar int tensor, number of sample bytes (an encoded file's size).
        encoding_index: scalar int tensor, index into `ENCODINGS`.
        channels: scalar int tensor.

    Returns:
        A float32 tensor of shape `(frames,)` in [-1, 1], the channel mean
        (a float file whose peak exceeds 1 is scaled to peak 1).

    Example:
    >>> info = inspect_audio("a.wav")  # doctest: +SKIP
    >>> decode_samples(info.path, info.data_offset, info.data_bytes,
    ...                ENCODINGS.index(info.encoding), info.channels)  # doctest: +SKIP
    """
    def read_raw():
        raw = tf.strings.substr(tf.io.read_file(path), data_offset, data_bytes)
        # A file cut short since it was inspected would decode to fewer samples, or fail with no name.
        intact = tf.debugging.Assert(
            tf.equal(tf.cast(tf.strings.length(raw), tf.int64), tf.cast(data_bytes, tf.int64)),
            ["audio file shorter than when it was inspected:", path])
        with tf.control_dependencies([intact]):
            return tf.identity(raw)

    def pcm24():
        # Little-endian 3-byte integers: assemble, then sign-extend from bit 23.
        triplets = tf.reshape(tf.cast(tf.io.decode_raw(read_raw(), tf.uint8), tf.int32), (-1, 3))
        unsigned = triplets[:, 0] + triplets[:, 1] * 256 + triplets[:, 2] * 65536
        signed = tf.where(unsigned >= 2**23, unsigned - 2**24, unsigned)
        return tf.cast(signed, tf.float32) / 2.0**23

    def within_unit(samples):
        # Float files may exceed [-1, 1] by any finite amount (3e38 squares to infinity in the STFT); the
        # features are normalised per clip anyway, so scaling a loud clip down changes nothing else.
        peak = tf.reduce_max(tf.abs(samples))
        return tf.cast(samples / tf.maximum(peak, tf.ones_like(peak)), tf.float32)

    branches = [
        lambda: (tf.cast(tf.io.decode_raw(read_raw(), tf.uint8), tf.float32) - 128.0) / 128.0,
        lambda: tf.cast(tf.io.decode_raw(read_raw(), tf.int16), tf.float32) / 2.0**15,
        pcm24,
        lambda: tf.cast(tf.io.decode_raw(read_raw(), tf.int32), tf.float32) / 2.0**31,
        lambda: within_unit(tf.io.decode_raw(read_raw(), tf.float32)),
        lambda: within_unit(tf.io.decode_raw(read_raw(), tf.float64)),
        lambda: within_unit(tf.numpy_function(decode_encoded, [path, data_bytes], tf.float32, stateful=False)),
    ]
    interleaved = tf.switch_case(tf.cast(encoding_index, tf.int32), branches)
    return tf.reduce_mean(tf.reshape(interleaved, (-1, channels)), axis=1)
