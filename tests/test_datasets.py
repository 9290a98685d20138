import json
import logging

import numpy as np
import pytest
from conftest import tone, write_wav

from keras_uvac import audio, datasets


def make_digit_folder(folder, speakers=("ann", "bob"), digits=(0, 1, 2), takes=2):
    folder.mkdir(parents=True, exist_ok=True)
    for speaker in speakers:
        for digit in digits:
            for take in range(takes):
                write_wav(folder / f"{digit}_{speaker}_{take}.wav", tone(0.3, 8000, 200 + 100 * digit), 8000)
    return folder


def test_bundled_fsdd_has_3000_labeled_clips_and_attribution():
    collection = datasets.load_audio()
    assert len(collection) == 3000
    assert np.bincount(collection.labels).tolist() == [300] * 10
    assert sorted(set(collection.speakers)) == sorted(collection.speaker_metadata)
    assert {info.sample_rate for info in collection.files} == {8000}
    readme = open(datasets.bundled_fsdd_path() + "/../README.md").read()
    assert "CC BY-SA 4.0" in readme and "Zohar Jackson" in readme


def test_audiomnist_layout_gives_labels_speakers_and_metadata(audiomnist_sample):
    collection = datasets.load_audio(audiomnist_sample)
    assert len(collection) == 6
    assert collection.labels.tolist() == [0, 5, 2, 9, 3, 6]
    assert collection.speakers == ["01", "02", "08", "42", "51", "56"]
    assert collection.speaker_metadata["01"]["gender"] == "male" and len(collection.speaker_metadata) == 60
    assert datasets.load_audio(audiomnist_sample + "/data", layout="audiomnist").labels.tolist() == [0, 5, 2, 9, 3, 6]


def test_fsdd_naming_folder_is_detected(tmp_path):
    collection = datasets.load_audio(make_digit_folder(tmp_path / "digits"))
    assert len(collection) == 12 and sorted(set(collection.speakers)) == ["ann", "bob"]
    assert collection.labels.tolist().count(2) == 4


def test_class_folders_are_labeled_by_folder(tmp_path):
    for scene in ("street", "cafe", "quiet"):
        for take in range(2):
            (tmp_path / scene).mkdir(exist_ok=True)
            write_wav(tmp_path / scene / f"take{take}.wav", tone(0.2, 16000), 16000)
    collection = datasets.load_audio(tmp_path)
    assert collection.class_names == ["cafe", "quiet", "street"]
    assert collection.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_unlabeled_folder_and_file_list(tmp_path):
    for name in ("a.wav", "b.wav"):
        write_wav(tmp_path / name, tone(0.2, 16000), 16000)
    folder = datasets.load_audio(tmp_path)
    assert folder.labels is None and len(folder) == 2
    listed = datasets.load_audio([str(tmp_path / "a.wav"), str(tmp_path / "b.wav")])
    assert listed.labels is None and listed.paths == folder.paths


def test_names_without_labels_error_when_fsdd_layout_is_asked(tmp_path):
    folder = make_digit_folder(tmp_path / "d")
    write_wav(folder / "untitled.wav", tone(0.2, 8000), 8000)
    # Most names carry labels, so auto reads the folder as fsdd and names the stray file instead of dropping them.
    for layout in ("auto", "fsdd"):
        with pytest.raises(audio.AudioFileError, match="untitled.wav: name does not follow.*--skip-bad-files"):
            datasets.load_audio(folder, layout=layout)
    assert datasets.load_audio(folder, layout="unlabeled").labels is None
    skipped = datasets.load_audio(folder, layout="fsdd", on_error="skip")
    assert len(skipped) == 12 and len(skipped.skipped) == 1


def test_bad_files_raise_by_name_or_are_skipped_and_counted(tmp_path, caplog):
    folder = make_digit_folder(tmp_path / "d")
    (folder / "9_ann_7.wav").write_bytes(b"")
    (folder / "8_ann_7.wav").write_bytes(b"not audio at all, just text")
    (folder / "photo.png").write_bytes(b"\x89PNG....")
    (folder / "notes.txt").write_text("sidecar documentation is ignored")
    with pytest.raises(audio.AudioFileError, match="8_ann_7.wav: not a WAV file"):
        datasets.load_audio(folder)
    with caplog.at_level(logging.WARNING):
        collection = datasets.load_audio(folder, on_error="skip")
    assert len(collection) == 12
    assert sorted(path.rsplit("/", 1)[1] for path, _ in collection.skipped) == ["8_ann_7.wav", "9_ann_7.wav",
                                                                                "photo.png"]
    assert "skipped 3 file(s)" in caplog.text


def test_empty_folder_and_missing_path_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no usable audio files"):
        datasets.load_audio(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        datasets.load_audio(tmp_path / "nowhere")


def test_random_split_is_seeded_disjoint_and_80_10_10():
    first, second = datasets.random_split(3000, seed=3), datasets.random_split(3000, seed=3)
    assert [len(part) for part in first] == [2400, 300, 300]
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert len(np.unique(np.concatenate(first))) == 3000
    assert not np.array_equal(first[2], datasets.random_split(3000, seed=4)[2])


def test_speaker_split_keeps_each_speaker_in_one_part():
    collection = datasets.load_audio()
    parts = collection.split("speaker", seed=1)
    speaker_sets = [set(part.speakers) for part in parts.values()]
    assert all(speaker_sets) and sum(len(s) for s in speaker_sets) == 6
    assert not (speaker_sets[0] & speaker_sets[1] or speaker_sets[0] & speaker_sets[2]
                or speaker_sets[1] & speaker_sets[2])
    assert [p.paths for p in parts.values()] == [p.paths for p in collection.split("speaker", seed=1).values()]


def test_split_fractions_are_checked():
    with pytest.raises(ValueError, match="sum to 1"):
        datasets.random_split(10, (0.5, 0.1, 0.1))


def test_fsdd_speaker_metadata_is_read(tmp_path):
    make_digit_folder(tmp_path / "recordings")
    (tmp_path / "speakers.json").write_text(json.dumps({"ann": {"gender": "female"}}))
    assert datasets.load_fsdd(tmp_path).speaker_metadata == {"ann": {"gender": "female"}}


def test_audiomnist_layout_is_found_by_its_names_without_the_metadata_file(tmp_path, audiomnist_sample):
    import shutil

    shutil.copytree(audiomnist_sample, tmp_path / "corpus", ignore=shutil.ignore_patterns("audioMNIST_meta.txt"))
    collection = datasets.load_audio(tmp_path / "corpus")
    assert collection.layout == "audiomnist"
    assert collection.labels.tolist() == [0, 5, 2, 9, 3, 6]
    assert collection.speakers == ["01", "02", "08", "42", "51", "56"]
    assert collection.describe() == "read 6 files as audiomnist: 10 classes, 6 speakers"


def test_digit_named_subfolders_are_never_silently_class_folders(tmp_path):
    make_digit_folder(tmp_path / "session_a")
    make_digit_folder(tmp_path / "session_b")
    with pytest.raises(ValueError, match="--layout class_folders"):
        datasets.load_audio(tmp_path)
    assert datasets.load_audio(tmp_path, layout="class_folders").class_names == ["session_a", "session_b"]


def test_a_folder_named_like_a_wav_file_does_not_change_the_layout(tmp_path):
    folder = make_digit_folder(tmp_path / "digits")
    (folder / "x.wav").mkdir()
    collection = datasets.load_audio(folder)
    assert collection.layout == "fsdd" and collection.speakers is not None and len(collection) == 12


def test_describe_says_when_there_are_no_labels_or_speakers(tmp_path):
    write_wav(tmp_path / "a.wav", tone(0.2, 16000), 16000)
    assert datasets.load_audio(tmp_path).describe() == "read 1 files as unlabeled: no labels, no speaker ids"


def test_windows_cover_each_long_clip_and_leave_short_ones_whole(tmp_path):
    from keras_uvac.features import FeatureConfig

    for name, seconds, rate in (("long", 3.5, 16000), ("short", 0.5, 16000), ("odd", 2.3, 44100)):
        (tmp_path / name).mkdir()
        write_wav(tmp_path / name / "clip.wav", tone(seconds, rate), rate)
    collection = datasets.load_audio(tmp_path)
    windows = collection.windows(FeatureConfig(duration=1.0))
    starts, ends = windows.window_seconds(1.0)
    by_class = {name: [(round(start, 3), round(end, 3)) for start, end, label in zip(starts, ends, windows.labels)
                       if windows.class_names[label] == name] for name in ("long", "short", "odd")}
    assert by_class["long"] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (2.5, 3.5)]
    assert by_class["short"] == [(0.0, 0.5)]
    # At 44.1 kHz a start falls every 441 samples (10 ms), where the 16 kHz grid meets the file's.
    odd = np.array([windows.class_names[label] == "odd" for label in windows.labels])
    assert by_class["odd"][:2] == [(0.0, 1.0), (1.0, 2.0)] and all(windows.window_starts[odd] % 441 == 0)
    assert len(by_class["odd"]) == 3 and 2.29 <= by_class["odd"][2][1] <= 2.3
    overlapping = collection.windows(FeatureConfig(duration=1.0), hop=0.5)
    assert sum(windows.class_names[label] == "long" for label in overlapping.labels) == 6
    assert collection.window_seconds(1.0)[0].tolist() == [0.0, 0.0, 0.0]
