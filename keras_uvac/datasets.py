"""Datasets: finding audio files, their labels and speakers, and splitting them.

Layouts read by path:

- the bundled Free Spoken Digit Dataset (the default) or any folder of files
  named `{digit}_{speaker}_{index}.wav` (or any other audio extension);
- AudioMNIST: `data/<speaker>/<digit>_<speaker>_<index>.wav` with
  `audioMNIST_meta.txt`;
- one folder per class;
- plain unlabeled folders or file lists (clustering needs no labels).

Every audio file (WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF) is inspected
(`audio.inspect_audio`) as it is collected, so a bad
file is named before training starts. With `on_error="skip"` bad files are left
out, logged, and counted in `AudioCollection.skipped`.
"""

import dataclasses
import json
import logging
import math
import os
import re

import numpy as np

from keras_uvac import audio, validation
from keras_uvac.validation import file_kind

logger = logging.getLogger(__name__)

DIGIT_FILENAME = re.compile(r"^(\d)_([^_]+)_(\d+)\.(" + "|".join(ext[1:] for ext in audio.AUDIO_EXTENSIONS)
                            + r")$", re.IGNORECASE)
# Beside audio, data folders hold documentation and metadata; those are not data.
SIDECAR_EXTENSIONS = {".txt", ".md", ".rst", ".json", ".csv", ".tsv", ".yaml", ".yml", ".pdf", ".html"}
LAYOUTS = ("auto", "fsdd", "audiomnist", "class_folders", "unlabeled")


@dataclasses.dataclass
class AudioCollection:
    """A list of inspected audio files with their labels and speakers, if known.

    Args:
        files: one `audio.WavInfo` per clip.
        labels: int array of class indices, or None when unlabeled.
        class_names: names of the classes indexed by `labels`, or None.
        speakers: one speaker id per clip, or None.
        speaker_metadata: per-speaker facts from the dataset, if any.
        skipped: `(path, problem)` for every file left out.
        layout: how the files were read (one of `LAYOUTS` but `"auto"`), if known.
        window_starts: each clip's window start in frames at its file's rate
            (`windows`), or None: the feature config's long-clip policy.

    Example:
    >>> collection = load_fsdd()  # doctest: +SKIP
    >>> len(collection), collection.class_names[:3]  # doctest: +SKIP
    (3000, ['0', '1', '2'])
    """

    files: list
    labels: np.ndarray = None
    class_names: list = None
    speakers: list = None
    speaker_metadata: dict = dataclasses.field(default_factory=dict)
    skipped: list = dataclasses.field(default_factory=list)
    layout: str = None
    window_starts: np.ndarray = None

    def __len__(self):
        return len(self.files)

    def describe(self):
        """One line saying what was read: layout, files, classes, speakers and skips.

        Example:
        >>> load_fsdd().describe()  # doctest: +SKIP
        'read 3000 files as fsdd: 10 classes, 6 speakers'
        """
        classes = f"{len(self.class_names)} classes" if self.labels is not None else "no labels"
        speakers = f"{len(set(self.speakers))} speakers" if self.speakers is not None else "no speaker ids"
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return f"read {len(self)} files as {self.layout or 'a list'}: {classes}, {speakers}{skipped}"

    @property
    def paths(self):
        return [info.path for info in self.files]

    def subset(self, indices):
        """Returns the clips at `indices` as a new collection."""
        indices = np.asarray(indices, dtype=int)
        return dataclasses.replace(
            self,
            files=[self.files[i] for i in indices],
            labels=None if self.labels is None else self.labels[indices],
            speakers=None if self.speakers is None else [self.speakers[i] for i in indices],
            skipped=[],
            window_starts=None if self.window_starts is None else self.window_starts[indices],
        )

    def windows(self, config, hop=None):
        """Every window of each clip as a clip of its own (a clip no longer than a window stays whole).

        Windows start every `hop` seconds (default: the window's length), the last one ending at the clip's end,
        where the file's and the features' sample grids meet (every 10 ms at 44.1 kHz). Labels and speakers
        follow their clip.

        Args:
            config: the `features.FeatureConfig` whose `duration` and `sample_rate` make the window.
            hop: seconds between window starts.

        Returns:
            A new collection with `window_starts` set (`window_seconds` gives each window's start and end).

        Example:
        >>> windows = load_audio("recordings/").windows(FeatureConfig(duration=1.0))  # doctest: +SKIP
        """
        hop = config.duration if hop is None else validation.number("hop", hop, 0, 3600, low_open=True)
        clips, starts = [], []
        for index, info in enumerate(self.files):
            down = info.sample_rate // math.gcd(info.sample_rate, config.sample_rate)
            window = math.ceil(config.duration * info.sample_rate)
            step = max(down, round(hop * info.sample_rate) // down * down)
            last = max(info.num_frames - window, 0) // down * down
            clip_starts = list(range(0, last, step)) + [last]
            clips += [index] * len(clip_starts)
            starts += clip_starts
        return dataclasses.replace(self.subset(clips), window_starts=np.asarray(starts, np.int64))

    def window_seconds(self, duration):
        """`(starts, ends)` in seconds of each clip's `windows` window of `duration` (the whole clip without)."""
        rates = np.array([info.sample_rate for info in self.files], np.float64)
        lengths = np.array([info.num_frames for info in self.files], np.float64) / rates
        if self.window_starts is None:
            return np.zeros(len(self)), lengths
        starts = self.window_starts / rates
        return starts, np.minimum(starts + duration, lengths)

    def split(self, method="random", fractions=(0.8, 0.1, 0.1), seed=0):
        """Splits into train, validation and test collections.

        Args:
            method: `"random"` (the paper's seeded 80/10/10) or `"speaker"`
                (no speaker in two splits).
            fractions: train, validation and test shares.
            seed: the split is the same for the same seed.

        Returns:
            A dict with keys `"train"`, `"validation"`, `"test"`.
        """
        if method == "random":
            parts = random_split(len(self), fractions, seed)
        elif method == "speaker":
            if self.speakers is None:
                raise ValueError("a speaker split needs speakers; this collection has none")
            parts = speaker_split(self.speakers, fractions, seed)
        else:
            raise ValueError(f"split method must be 'random' or 'speaker', got {method!r}")
        return {name: self.subset(part) for name, part in zip(("train", "validation", "test"), parts)}


def random_split(num_items, fractions=(0.8, 0.1, 0.1), seed=0):
    """Seeded random split of `range(num_items)`.

    Args:
        num_items: number of items.
        fractions: shares of each part; they must sum to 1.
        seed: random seed; the same seed gives the same split.

    Returns:
        A tuple of sorted int arrays, one per fraction.

    Example:
    >>> [len(part) for part in random_split(3000)]
    [2400, 300, 300]
    """
    _check_fractions(fractions)
    order = np.random.default_rng(seed).permutation(num_items)
    bounds = np.round(np.cumsum(fractions) * num_items).astype(int)
    return tuple(np.sort(part) for part in np.split(order, bounds[:-1]))


def speaker_split(speakers, fractions=(0.8, 0.1, 0.1), seed=0):
    """Seeded split in which every speaker's clips fall in one part only.

    Speakers are shuffled and dealt to the parts so that each part's share of
    clips comes as close as whole speakers allow to its fraction; every part
    gets at least one speaker when there are enough.

    Args:
        speakers: one speaker id per item.
        fractions: wanted shares of items per part.
        seed: random seed.

    Returns:
        A tuple of sorted int arrays of item indices, one per fraction.

    Example:
    >>> parts = speaker_split(["a"] * 4 + ["b"] * 4 + ["c"] * 4, (0.34, 0.33, 0.33))
    >>> sorted(len(part) for part in parts)
    [4, 4, 4]
    """
    _check_fractions(fractions)
    speakers = np.asarray(speakers)
    names, counts = np.unique(speakers, return_counts=True)
    if len(names) < len(fractions):
        raise ValueError(f"a speaker split into {len(fractions)} parts needs at least {len(fractions)} speakers, "
                         f"got {len(names)}")
    order = np.random.default_rng(seed).permutation(len(names))
    targets = np.asarray(fractions) * len(speakers)
    assigned = np.zeros(len(fractions))
    part_of = {}
    # The first speakers go one to each part, so no part stays empty.
    for rank, speaker_index in enumerate(order):
        part = rank if rank < len(fractions) else int(np.argmax(targets - assigned))
        part_of[names[speaker_index]] = part
        assigned[part] += counts[speaker_index]
    item_parts = np.array([part_of[speaker] for speaker in speakers])
    return tuple(np.flatnonzero(item_parts == part) for part in range(len(fractions)))


def _check_fractions(fractions):
    if any(share < 0 for share in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")


def bundled_fsdd_path():
    """Path of the Free Spoken Digit Dataset recordings shipped with the package.

    The FSDD is CC BY-SA 4.0, "Free Spoken Digit Dataset (FSDD)", Zohar Jackson
    and contributors; see `keras_uvac/data/fsdd/README.md`.

    Returns:
        The recordings folder as a string.
    """
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "fsdd", "recordings")


def load_fsdd(path=None, on_error="raise"):
    """Loads files named `{digit}_{speaker}_{index}.wav` from one folder.

    Args:
        path: the folder (or its parent holding `recordings/`); None for the
            bundled FSDD.
        on_error: `"raise"` or `"skip"` for bad files and names without labels.

    Returns:
        An `AudioCollection` with digit labels, speakers, and the FSDD speaker
        metadata when `speakers.json` is found.

    Example:
    >>> collection = load_fsdd()  # doctest: +SKIP
    """
    folder = bundled_fsdd_path() if path is None else str(path)
    if os.path.isdir(os.path.join(folder, "recordings")):
        folder = os.path.join(folder, "recordings")
    collection = _load_digit_names(_list_audio_files([folder], on_error), on_error)
    metadata_path = os.path.join(os.path.dirname(os.path.abspath(folder)), "speakers.json")
    if os.path.isfile(metadata_path):
        with open(metadata_path) as handle:
            collection.speaker_metadata = json.load(handle)
    return collection


def load_audiomnist(root, on_error="raise"):
    """Loads AudioMNIST by path: `data/<speaker>/<digit>_<speaker>_<index>.wav`.

    Args:
        root: the dataset folder, or its `data/` folder.
        on_error: `"raise"` or `"skip"`.

    Returns:
        An `AudioCollection` with digit labels, speakers, and the contents of
        `audioMNIST_meta.txt` as `speaker_metadata`.

    Example:
    >>> collection = load_audiomnist("AudioMNIST")  # doctest: +SKIP
    """
    data_folder = os.path.join(root, "data") if os.path.isdir(os.path.join(root, "data")) else str(root)
    speaker_folders = sorted(entry.path for entry in os.scandir(data_folder) if _is_folder(entry))
    if not speaker_folders:
        raise FileNotFoundError(f"{data_folder}: no speaker folders (expected data/<speaker>/*.wav)")
    collection = _load_digit_names(_list_audio_files(speaker_folders, on_error), on_error)
    mismatched = [info.path for info, speaker in zip(collection.files, collection.speakers)
                  if os.path.basename(os.path.dirname(info.path)) != speaker]
    if mismatched:
        raise ValueError(f"{mismatched[0]}: the speaker in the file name differs from its folder "
                         f"({len(mismatched)} files)")
    metadata_path = os.path.join(data_folder, "audioMNIST_meta.txt")
    if os.path.isfile(metadata_path):
        with open(metadata_path) as handle:
            collection.speaker_metadata = json.load(handle)
    else:
        logger.warning("%s: no audioMNIST_meta.txt; speaker metadata is empty", data_folder)
    return collection


def load_class_folders(root, on_error="raise"):
    """Loads one folder per class: `root/<class>/**/*.wav`.

    Args:
        root: the folder whose subfolders are the classes (sorted by name).
        on_error: `"raise"` or `"skip"`.

    Returns:
        An `AudioCollection` labeled by subfolder.

    Example:
    >>> collection = load_class_folders("scenes/")  # doctest: +SKIP
    """
    class_folders = sorted((entry for entry in os.scandir(root)
                            if _is_folder(entry) and not entry.name.startswith(".")), key=lambda entry: entry.name)
    if not class_folders:
        raise FileNotFoundError(f"{root}: no class subfolders")
    files, labels, skipped, class_names = [], [], [], []
    for folder in class_folders:
        part = _list_audio_files([folder.path], on_error, allow_empty=True)
        if not part.files:
            logger.warning("%s: an empty class folder (no usable audio files); it is not a class", folder.path)
            skipped += part.skipped
            continue
        files += part.files
        labels += [len(class_names)] * len(part)
        class_names.append(folder.name)
        skipped += part.skipped
    if not files:
        raise FileNotFoundError(f"{root}: no audio files in its class folders")
    return AudioCollection(files=files, labels=np.asarray(labels), class_names=class_names, skipped=skipped)


def load_unlabeled(sources, on_error="raise"):
    """Loads audio files and folders (searched recursively) without labels.

    Args:
        sources: a path or a list of file and folder paths.
        on_error: `"raise"` or `"skip"`.

    Returns:
        An `AudioCollection` with `labels` None.

    Example:
    >>> collection = load_unlabeled(["recordings/", "extra.wav"])  # doctest: +SKIP
    """
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    return _list_audio_files([str(source) for source in sources], on_error)


def load_audio(source=None, layout="auto", on_error="raise"):
    """Loads a dataset in any supported layout.

    Args:
        source: None for the bundled FSDD, a folder, a file, or a list of them.
        layout: one of `LAYOUTS`; `"auto"` recognises AudioMNIST (its metadata
            file), FSDD-style names, class folders, and otherwise reads the
            files unlabeled.
        on_error: `"raise"` or `"skip"` for bad files.

    Returns:
        An `AudioCollection`.

    Example:
    >>> train = load_audio().split(seed=0)["train"]  # doctest: +SKIP
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if source is None:
        return dataclasses.replace(load_fsdd(on_error=on_error), layout="fsdd")
    if not isinstance(source, (str, os.PathLike)):
        sources = [str(item) for item in source]
        if len(sources) == 1:
            return load_audio(sources[0], layout, on_error)
        if layout not in ("auto", "unlabeled"):
            raise ValueError(f"layout {layout!r} takes one folder, got {len(sources)} paths")
        return dataclasses.replace(load_unlabeled(sources, on_error), layout="unlabeled")
    source = str(source)
    if not os.path.lexists(source):
        raise FileNotFoundError(f"{source}: no such file or folder")
    if layout == "auto":
        layout = _detect_layout(source)
        logger.info("%s: reading as %s", source, layout)
    loaders = {"fsdd": load_fsdd, "audiomnist": load_audiomnist, "class_folders": load_class_folders,
               "unlabeled": load_unlabeled}
    return dataclasses.replace(loaders[layout](source, on_error=on_error), layout=layout)


def _is_folder(entry):
    """`entry.is_dir()`, False for a link that loops (named as a bad file when it is read, not raised here)."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _audio_names(folder):
    """Names of the audio files (not folders) directly in `folder`."""
    return [entry.name for entry in os.scandir(folder) if not _is_folder(entry)
            and entry.name.lower().endswith(audio.AUDIO_EXTENSIONS) and not entry.name.startswith(".")]


def _detect_layout(source):
    if not os.path.isdir(source):
        return "unlabeled"  # one file; a FIFO or device is refused by name when it is inspected
    if any(os.path.isfile(os.path.join(source, *parts, "audioMNIST_meta.txt")) for parts in [(), ("data",)]):
        return "audiomnist"
    folder = os.path.join(source, "recordings") if os.path.isdir(os.path.join(source, "recordings")) else source
    names = _audio_names(folder)
    if names:
        # Most names carry labels: a few stray files must not drop them all (they are named when loading).
        digit_named = sum(bool(DIGIT_FILENAME.match(name)) for name in names)
        return "fsdd" if digit_named > len(names) / 2 else "unlabeled"
    data_folder = os.path.join(source, "data") if os.path.isdir(os.path.join(source, "data")) else source
    subfolders = [entry for entry in os.scandir(data_folder) if _is_folder(entry) and not entry.name.startswith(".")]
    if subfolders and _is_speaker_tree(subfolders):
        return "audiomnist"
    if len(subfolders) > 1 and data_folder == source:
        digit_named = [entry.name for entry in subfolders
                       if any(DIGIT_FILENAME.match(name) for name in _audio_names(entry.path))]
        if digit_named:
            raise ValueError(f"{source}: its subfolders hold files named like digits ({digit_named[0]}/...) but do "
                             "not follow <speaker>/<digit>_<speaker>_<index>.wav; pass --layout class_folders "
                             "(folders are classes), fsdd or unlabeled to say how to read it")
        return "class_folders"
    return "unlabeled"


def _is_speaker_tree(subfolders):
    """AudioMNIST by its names: every folder's files are `<digit>_<folder>_<index>.wav`."""
    for folder in subfolders:
        names = _audio_names(folder.path)
        matches = [DIGIT_FILENAME.match(name) for name in names]
        if not names or not all(match and match.group(2) == folder.name for match in matches):
            return False
    return True


def _load_digit_names(collection, on_error):
    files, labels, speakers, unnamed = [], [], [], []
    for info in collection.files:
        match = DIGIT_FILENAME.match(os.path.basename(info.path))
        if match is None:
            unnamed.append(info.path)
            continue
        files.append(info)
        labels.append(int(match.group(1)))
        speakers.append(match.group(2))
    problem = "name does not follow {digit}_{speaker}_{index}.wav, so it carries no label"
    if unnamed and on_error == "raise":
        others = f"; so do {len(unnamed) - 1} more of the {len(collection)} files" if len(unnamed) > 1 else ""
        raise audio.AudioFileError(unnamed[0], f"{problem}{others}. Leave such files out and keep the others' "
                                               "labels with --skip-bad-files (on_error='skip'), or read every "
                                               "file without labels with --layout unlabeled")
    skipped = list(collection.skipped) + [(path, problem) for path in unnamed]
    if not files:
        raise FileNotFoundError("no labeled audio files left after skipping")
    _log_skips(skipped[len(collection.skipped):])
    return AudioCollection(files=files, labels=np.asarray(labels), class_names=[str(d) for d in range(10)],
                           speakers=speakers, skipped=skipped)


def _list_audio_files(sources, on_error, allow_empty=False):
    """Inspects every audio file under `sources`; sorted, so order is reproducible."""
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    candidates = []
    for source in sources:
        if os.path.isdir(source):
            for folder, subfolders, names in os.walk(source):
                subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
                candidates += [os.path.join(folder, name) for name in sorted(names) if not name.startswith(".")]
        elif os.path.lexists(source):
            candidates.append(source)  # a FIFO, device or broken link is refused (or skipped) by name below
        else:
            raise FileNotFoundError(f"{source}: no such file or folder")
    files, skipped = [], []
    for path in candidates:
        extension = os.path.splitext(path)[1].lower()
        if extension in SIDECAR_EXTENSIONS and path not in sources:
            continue
        try:
            kind = file_kind(path)
            if kind not in ("a regular file", "missing"):  # a broken link is named by inspect_audio
                raise audio.AudioFileError(path, f"{kind}, not a regular file")
            files.append(audio.inspect_audio(path))
        except audio.AudioFileError as error:
            _fail_or_skip(error.path, error.problem, on_error, skipped)
    _log_skips(skipped)
    if not files and not allow_empty:
        raise FileNotFoundError(f"{', '.join(sources)}: no usable audio files"
                                + (f" ({len(skipped)} skipped)" if skipped else ""))
    return AudioCollection(files=files, skipped=skipped)


def _fail_or_skip(path, problem, on_error, skipped):
    if on_error == "raise":
        raise audio.AudioFileError(path, problem)
    skipped.append((path, problem))


def _log_skips(skipped):
    if skipped:
        logger.warning("skipped %d file(s); first: %s: %s", len(skipped), *skipped[0])
