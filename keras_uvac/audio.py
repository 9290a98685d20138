"""Audio files: WAV inspection in Python, sample decoding with TensorFlow ops.

Every file is inspected once, when a dataset is assembled: its RIFF header is read
and checked so that a corrupt, truncated or unsupported file is reported by name
before any epoch starts. The samples themselves are decoded later, inside the
tf.data pipeline, with `tf.io.decode_raw`, which handles every encoding below.
"""

import dataclasses
import os
import stat
import struct

import numpy as np
import tensorflow as tf

from keras_uvac.validation import file_kind

# WAVE format tags (RIFF specification).
_FORMAT_PCM = 0x0001
_FORMAT_IEEE_FLOAT = 0x0003
_FORMAT_EXTENSIBLE = 0xFFFE
_FORMAT_NAMES = {0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "mu-law", 0x0011: "IMA ADPCM",
                 0x0055: "MPEG layer 3"}

# Index order matters: it is the branch index of `decode_samples`' switch.
ENCODINGS = ("pcm8", "pcm16", "pcm24", "pcm32", "float32", "float64")
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
    """What `inspect_wav` learned about one WAV file.

    Args:
        path: the file.
        encoding: one of `ENCODINGS`.
        channels: number of interleaved channels.
        sample_rate: frames per second.
        data_offset: byte offset of the first sample.
        data_bytes: number of sample bytes (a whole number of frames).
        file_size: the file's size in bytes when it was inspected.
        modified_ns: its modification time then, in nanoseconds.
    """

    path: str
    encoding: str
    channels: int
    sample_rate: int
    data_offset: int
    data_bytes: int
    file_size: int = 0
    modified_ns: int = 0

    @property
    def bytes_per_frame(self):
        return self.channels * BITS_PER_SAMPLE[self.encoding] // 8

    @property
    def num_frames(self):
        return self.data_bytes // self.bytes_per_frame

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


def inspect_wav(path):
    """Reads and checks the header of a WAV file without decoding its samples.

    Float files are also scanned for NaN and infinite samples, which would
    otherwise poison the features.

    Args:
        path: path to a `.wav` file.

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
    path = str(path)
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
        with open(path, "rb") as handle:
            info = _parse_riff(path, handle, status.st_size)
    except OSError as error:
        raise AudioFileError(path, f"cannot be read ({error.strerror or error})") from error
    info = dataclasses.replace(info, file_size=status.st_size, modified_ns=status.st_mtime_ns)
    if info.decoding_bytes > MAX_DECODING_BYTES:
        raise AudioFileError(path, f"decoding it takes about {info.decoding_bytes / 2**20:,.0f} MB "
                                   f"({info.channels} channels x {info.num_frames:,} frames of {info.encoding}), "
                                   f"above the {MAX_DECODING_BYTES / 2**20:,.0f} MB allowed per file; cut it into "
                                   "shorter clips or mix it down to mono")
    if info.encoding.startswith("float"):
        dtype = np.dtype("<f4" if info.encoding == "float32" else "<f8")
        samples = np.memmap(path, dtype=dtype, mode="r", offset=info.data_offset,
                            shape=(info.data_bytes // dtype.itemsize,))
        # In blocks, so that the scan of a long file does not hold it all in memory.
        block = 2**22
        if not all(np.isfinite(samples[start:start + block]).all() for start in range(0, len(samples), block)):
            raise AudioFileError(path, "contains NaN or infinite samples")
    return info


def _parse_riff(path, handle, file_size):
    if file_size == 0:
        raise AudioFileError(path, "empty file")
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
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioFileError(path, f"sample rate {sample_rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz; "
                                   "the header is corrupt or the file is not audio")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioFileError(path, f"corrupt WAV: {channels} channels (1..{MAX_CHANNELS} supported)")
    if block_align != channels * bits // 8:
        raise AudioFileError(path, f"corrupt WAV: block align {block_align} does not match {channels} x {bits} bits")
    return encoding, channels, sample_rate, block_align


def decode_samples(path, data_offset, data_bytes, encoding_index, channels):
    """Decodes a WAV file's samples to a mono float32 waveform with TensorFlow ops.

    Works in graph mode, so it runs inside `tf.data.Dataset.map`. The header
    facts come from `inspect_wav`.

    Args:
        path: scalar string tensor.
        data_offset: scalar int tensor, byte offset of the samples.
        data_bytes: scalar int tensor, number of sample bytes.
        encoding_index: scalar int tensor, index into `ENCODINGS`.
        channels: scalar int tensor.

    Returns:
        A float32 tensor of shape `(frames,)` in [-1, 1], the channel mean
        (a float file whose peak exceeds 1 is scaled to peak 1).

    Example:
    >>> info = inspect_wav("a.wav")  # doctest: +SKIP
    >>> decode_samples(info.path, info.data_offset, info.data_bytes,
    ...                ENCODINGS.index(info.encoding), info.channels)  # doctest: +SKIP
    """
    raw = tf.strings.substr(tf.io.read_file(path), data_offset, data_bytes)
    # A file cut short since it was inspected would decode to fewer samples, or fail with no name.
    intact = tf.debugging.Assert(tf.equal(tf.cast(tf.strings.length(raw), tf.int64), tf.cast(data_bytes, tf.int64)),
                                 ["audio file shorter than when it was inspected:", path])
    with tf.control_dependencies([intact]):
        raw = tf.identity(raw)

    def pcm24():
        # Little-endian 3-byte integers: assemble, then sign-extend from bit 23.
        triplets = tf.reshape(tf.cast(tf.io.decode_raw(raw, tf.uint8), tf.int32), (-1, 3))
        unsigned = triplets[:, 0] + triplets[:, 1] * 256 + triplets[:, 2] * 65536
        signed = tf.where(unsigned >= 2**23, unsigned - 2**24, unsigned)
        return tf.cast(signed, tf.float32) / 2.0**23

    def within_unit(samples):
        # Float files may exceed [-1, 1] by any finite amount (3e38 squares to infinity in the STFT); the
        # features are normalised per clip anyway, so scaling a loud clip down changes nothing else.
        peak = tf.reduce_max(tf.abs(samples))
        return tf.cast(samples / tf.maximum(peak, tf.ones_like(peak)), tf.float32)

    branches = [
        lambda: (tf.cast(tf.io.decode_raw(raw, tf.uint8), tf.float32) - 128.0) / 128.0,
        lambda: tf.cast(tf.io.decode_raw(raw, tf.int16), tf.float32) / 2.0**15,
        pcm24,
        lambda: tf.cast(tf.io.decode_raw(raw, tf.int32), tf.float32) / 2.0**31,
        lambda: within_unit(tf.io.decode_raw(raw, tf.float32)),
        lambda: within_unit(tf.io.decode_raw(raw, tf.float64)),
    ]
    interleaved = tf.switch_case(tf.cast(encoding_index, tf.int32), branches)
    return tf.reduce_mean(tf.reshape(interleaved, (-1, channels)), axis=1)
