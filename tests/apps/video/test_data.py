"""Video sources: the UCF101 layout with and without split lists, groups kept whole, the demo set."""

import shutil
from pathlib import Path

import pytest

from apps.video.data import DEMO_CLASSES, find_video_root, limit_per_class, load_source, ucf_source


def test_demo_is_real_avi_and_mp4_files_in_the_ucf101_layout(tiny_demo):
    source = load_source("demo")
    assert source.classes == list(DEMO_CLASSES)
    suffixes = {clip.path.suffix for clip in source.train + source.val + source.test}
    assert suffixes == {".avi", ".mp4"}
    assert (tiny_demo / "ucfTrainTestlist" / "trainlist01.txt").is_file()
    assert len(source.test) == 6 * 2 * 2 and len(source.train) == len(source.val) == 6 * 2


def test_groups_never_cross_a_split(tiny_demo):
    source = load_source("demo", val_fraction=0.5)
    train, val, test = ({clip.group for clip in clips} for clips in (source.train, source.val, source.test))
    assert not (train & val) and not (train & test) and not (val & test)
    assert {clip.group.split("/")[1] for clip in source.test} == {"g01", "g02"}  # exactly testlist01's groups


def test_without_split_lists_every_clip_trains_and_validation_takes_whole_groups(tiny_demo, tmp_path):
    root = tmp_path / "mine"
    shutil.copytree(tiny_demo / "UCF-101", root / "videos")
    source = ucf_source(root, val_fraction=0.3, seed=1)
    assert source.test is None
    assert len(source.train) + len(source.val) == 6 * 4 * 2
    assert not {clip.group for clip in source.train} & {clip.group for clip in source.val}
    with pytest.raises(ValueError, match="no test split"):
        source.split("test")


def test_listed_but_missing_clips_are_skipped_and_counted_and_case_is_forgiven(tiny_demo, tmp_path):
    root = tmp_path / "ucf"
    shutil.copytree(tiny_demo, root)
    lists = root / "ucfTrainTestlist"
    lines = (lists / "testlist01.txt").read_text().splitlines()
    lines = [lines[0].lower(), *lines[1:], "Grow/v_Grow_g99_c01.avi"]  # UCF101's lists differ in case from its folders
    (lists / "testlist01.txt").write_text("\n".join(lines) + "\n")
    source = ucf_source(root)
    assert len(source.test) == 24
    assert source.skipped == {"listed clips missing from the video folders": 1}


def test_classind_sets_the_label_order(tiny_demo, tmp_path):
    root = tmp_path / "ucf"
    shutil.copytree(tiny_demo, root)
    reordered = list(reversed(DEMO_CLASSES))
    (root / "ucfTrainTestlist" / "classInd.txt").write_text("".join(f"{i + 1} {n}\n" for i, n in enumerate(reordered)))
    source = ucf_source(root)
    assert source.classes == reordered
    assert all(source.classes[clip.label] in clip.path.name for clip in source.test)


def test_limit_per_class_takes_clips_from_every_group(tiny_demo):
    source = load_source("demo")
    limited = limit_per_class(source.test, 2)
    assert len(limited) == 12
    assert len({clip.group for clip in limited}) == 12  # one clip of each of the two test groups per class


def test_bad_sources_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere: no such file"):
        load_source(str(tmp_path / "nowhere"))
    (tmp_path / "empty" / "Class").mkdir(parents=True)
    with pytest.raises(ValueError, match="no video files"):
        find_video_root(tmp_path / "empty")
    with pytest.raises(ValueError, match="tfds:no_such_set_xyz: could not load it"):
        load_source("tfds:no_such_set_xyz")


def test_tfds_videos_go_through_the_same_sampling_and_resizing():
    """tfds:ucf101 needs the network; its examples ({"video", "label"}) are stood in for here."""
    import numpy as np
    import tensorflow as tf

    from apps.video.config import VideoConfig
    from apps.video.data import VideoSource
    from apps.video.inputs import batches
    from rnnkit.data.video import DecodeReport

    videos = [np.full((count, 48, 64, 3), 10 * count, np.uint8) for count in (3, 20)]
    examples = tf.data.Dataset.from_generator(
        lambda: ({"video": video, "label": index} for index, video in enumerate(videos)),
        output_signature={"video": tf.TensorSpec((None, 48, 64, 3), tf.uint8), "label": tf.TensorSpec((), tf.int64)})
    source = VideoSource("tfds:stand_in", ["a", "b"], [], [], [], tfds={"train": examples, "val": examples, "test": examples})
    config = VideoConfig(num_frames=8, image_size=16, batch_size=2)
    inputs, labels = next(iter(batches(source, "test", config, DecodeReport(), training=False)))
    assert inputs["frames"].shape == (2, 8, 16, 16, 3) and inputs["frames"].dtype == tf.float32
    assert inputs["lengths"].numpy().tolist() == [3, 8] and labels.numpy().tolist() == [0, 1]
    assert not inputs["frames"][0, 3:].numpy().any() and np.allclose(inputs["frames"][1].numpy(), 200.0)


def test_a_tar_gz_of_the_layout_reads_like_the_folder(tiny_demo, tmp_path):
    import tarfile

    archive = tmp_path / "ucf.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tiny_demo, arcname="UCF101")
    source = ucf_source(archive)
    assert len(source.test) == 24 and source.classes == list(DEMO_CLASSES)
    (tmp_path / "broken.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="broken.tar.gz: cannot read the archive"):
        ucf_source(tmp_path / "broken.tar.gz")


def test_tfds_without_a_route_to_the_data_fails_at_once_with_what_to_do(monkeypatch):
    from apps.video import data

    monkeypatch.setattr(data, "_reachable", lambda host, seconds=5.0: False)
    with pytest.raises(ValueError, match="cannot be reached.*UCF101 layout"):
        data.load_source("tfds:ucf101")


def test_list_entries_match_files_with_or_without_their_extension(tiny_demo, tmp_path):
    """Re-encoded copies keep UCF101's .avi names in the lists; entries without any extension match too."""
    root = tmp_path / "ucf"
    shutil.copytree(tiny_demo, root)
    lists = root / "ucfTrainTestlist"
    lines = (lists / "testlist01.txt").read_text().splitlines()
    renamed = [line.rsplit(".", 1)[0] + (".avi" if line.endswith(".mp4") else "") for line in lines]
    (lists / "testlist01.txt").write_text("\n".join(renamed) + "\n")  # .mp4 files listed as .avi, .avi ones bare
    source = ucf_source(root)
    assert len(source.test) == 24 and not source.skipped
    assert sorted(clip.path.name for clip in source.test) == sorted(Path(line).name for line in lines)


def test_hmdb51_folders_and_split_files(tiny_demo, tmp_path):
    """HMDB51: <action>/<movie>_<action>_<tags>_<n>.avi and <action>_test_split1.txt ("name 1|2|0")."""
    root = tmp_path / "hmdb51"
    clips = sorted((tiny_demo / "UCF-101" / "Grow").iterdir()) + sorted((tiny_demo / "UCF-101" / "Rotate").iterdir())
    splits: dict[str, list[str]] = {"brush_hair": [], "kick_ball": []}
    for index, clip in enumerate(clips):
        action = "brush_hair" if index < len(clips) // 2 else "kick_ball"
        movie = f"Movie{index % 4}"  # each movie has clips of both actions: its group spans classes
        name = f"{movie}_{action}_u_cm_np1_fr_goo_{index}{clip.suffix}"
        (root / action).mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / action / name)
        splits[action].append(f"{name} {2 if index % 4 == 0 else 0 if index % 4 == 3 else 1}")
    (root / "testTrainMulti_7030_splits").mkdir()
    for action, lines in splits.items():
        (root / "testTrainMulti_7030_splits" / f"{action}_test_split1.txt").write_text("\n".join(lines) + "\n")
    source = ucf_source(root, val_fraction=0.3, seed=0)
    assert source.classes == ["brush_hair", "kick_ball"] and "HMDB51" in source.lists
    assert {clip.group for clip in source.test} == {"movie/Movie0"}
    assert len(source.train) + len(source.val) == len(clips) // 2  # "1" entries; "0" ones are not in split 1
    assert not {clip.group for clip in source.train} & {clip.group for clip in source.val}
    assert {clip.group for clip in source.train + source.val} == {"movie/Movie1", "movie/Movie2"}


def test_group_folds_keep_groups_whole_and_give_every_class_to_every_fold(tiny_demo):
    from apps.video.data import group_folds

    source = load_source("demo")
    clips = source.train + source.val + source.test  # 4 groups of each of 6 classes
    folds = group_folds(clips, 4, seed=3)
    by_group: dict[str, set[int]] = {}
    for clip, fold in zip(clips, folds, strict=True):
        by_group.setdefault(clip.group, set()).add(fold)
    assert all(len(found) == 1 for found in by_group.values())  # a group is in one fold only
    for fold in range(4):
        assert {clip.label for clip, other in zip(clips, folds, strict=True) if other == fold} == set(range(6))
    assert group_folds(clips, 4, seed=3) == folds and group_folds(clips, 4, seed=4) != folds
    with pytest.raises(ValueError, match="at least 2"):
        group_folds(clips, 1)
