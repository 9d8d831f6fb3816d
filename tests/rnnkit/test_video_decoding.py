"""rnnkit.data.video on clips the tests write: .avi and .mp4, short, one-frame, corrupt and empty files."""

import numpy as np
import pytest
import tensorflow as tf

from rnnkit.data.video import (
    DecodeReport,
    VideoDecodeError,
    clip_dataset,
    fit_frames,
    read_clip,
    read_frames,
    sample_frames,
    sample_indices,
    write_video,
)

NUM_FRAMES = 8
LEVEL = 9  # frame i is a flat grey of i * LEVEL, so a decoded frame tells which frame it was


def numbered_clip(count: int, height: int = 40, width: int = 56) -> np.ndarray:
    levels = (np.arange(count) * LEVEL).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (count, height, width, 3)).copy()


def frame_numbers(frames: np.ndarray) -> list[int]:
    return [int(round(frame.mean() / LEVEL)) for frame in frames]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    paths = {
        "avi": write_video(folder / "long.avi", numbered_clip(27)),
        "mp4": write_video(folder / "long.mp4", numbered_clip(20)),
        "short": write_video(folder / "short.mp4", numbered_clip(5)),
        "one": write_video(folder / "one.avi", numbered_clip(1)),
    }
    paths["corrupt"] = folder / "corrupt.avi"
    paths["corrupt"].write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(range(256)) * 8)
    paths["empty"] = folder / "empty.mp4"
    paths["empty"].write_bytes(b"")
    return paths


@pytest.mark.parametrize("kind, total", [("avi", 27), ("mp4", 20)])
def test_long_clips_are_sampled_uniformly_from_both_containers(clips, kind, total):
    frames, length = read_clip(clips[kind], NUM_FRAMES)
    assert frames.shape == (NUM_FRAMES, 40, 56, 3) and frames.dtype == np.uint8 and length == NUM_FRAMES
    assert frame_numbers(frames) == sample_indices(total, NUM_FRAMES).tolist()
    kept, counted = read_frames(clips[kind], NUM_FRAMES)
    assert counted == total and len(kept) == NUM_FRAMES


def test_a_clip_shorter_than_the_frame_count_is_padded_at_the_end(clips):
    frames, length = read_clip(clips["short"], NUM_FRAMES)
    assert length == 5
    assert frame_numbers(frames[:5]) == [0, 1, 2, 3, 4]
    assert not frames[5:].any()  # right padding with black frames


def test_a_one_frame_clip_gives_one_real_frame(clips):
    frames, length = read_clip(clips["one"], NUM_FRAMES)
    assert length == 1 and frames.shape[0] == NUM_FRAMES and not frames[1:].any()


@pytest.mark.parametrize("kind, words", [("corrupt", "not a video"), ("empty", r"empty file \(0 bytes\)")])
def test_bad_files_raise_an_error_naming_the_file(clips, kind, words):
    with pytest.raises(VideoDecodeError, match=words) as error:
        read_clip(clips[kind], NUM_FRAMES)
    assert str(clips[kind]) in str(error.value)


def test_a_truncated_clip_is_sampled_from_the_frames_that_decode(clips, tmp_path):
    data = clips["avi"].read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: int(len(data) * 0.8)])  # the header still promises 27 frames
    kept, total = read_frames(cut, NUM_FRAMES)
    assert NUM_FRAMES < total < 27
    assert frame_numbers(kept) == sample_indices(total, NUM_FRAMES).tolist()


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.avi"):
        read_clip(tmp_path / "nowhere.avi", NUM_FRAMES)


def test_the_pipeline_skips_and_counts_bad_clips_once_across_epochs(clips):
    order = ["avi", "corrupt", "short", "empty", "one", "mp4"]
    report = DecodeReport()
    dataset = clip_dataset([clips[key] for key in order], list(range(len(order))), num_frames=NUM_FRAMES,
                           image_size=24, report=report)
    for _ in range(2):  # two epochs: the bad clips are met twice, counted once
        items = list(dataset.as_numpy_iterator())
    assert [label for _, label in items] == [0, 2, 4, 5]
    assert [int(inputs["lengths"]) for inputs, _ in items] == [NUM_FRAMES, 5, 1, NUM_FRAMES]
    assert all(inputs["frames"].shape == (NUM_FRAMES, 24, 24, 3) for inputs, _ in items)
    assert report.skipped == 2 and set(report.failed) == {str(clips["corrupt"]), str(clips["empty"])}
    assert "skipped 2 clip(s)" in report.summary() and "empty file" in report.summary()


@pytest.mark.parametrize("total", [1, 3, 8, 9, 15, 16, 100, 997])
def test_the_tensorflow_sampler_picks_the_same_frames(total):
    video = numbered_clip(total, 2, 2)
    frames, length = sample_frames(tf.constant(video), NUM_FRAMES)
    expected = sample_indices(total, NUM_FRAMES)
    assert int(length) == len(expected)
    np.testing.assert_array_equal(frames.numpy()[: len(expected)], video[expected])
    assert not frames.numpy()[len(expected):].any()


def test_sampling_spreads_over_the_whole_clip():
    indices = sample_indices(160, 16)
    assert indices[0] == 5 and indices[-1] == 155 and np.all(np.diff(indices) == 10)
    with pytest.raises(ValueError, match="at least one frame"):
        sample_indices(0, 16)


def test_fit_frames_centre_crops_to_a_square():
    frames = np.zeros((2, 30, 50, 3), np.uint8)
    frames[:, :, 10:40] = 200  # the centre 30x30 square
    fitted = fit_frames(frames, 16).numpy()
    assert fitted.shape == (2, 16, 16, 3) and fitted.dtype == np.float32
    np.testing.assert_allclose(fitted, 200.0, atol=1e-3)


def test_write_video_refuses_unknown_suffixes(tmp_path):
    with pytest.raises(ValueError, match=".avi, .mp4"):
        write_video(tmp_path / "clip.gif", numbered_clip(2))


def test_windows_span_the_whole_clip_at_other_offsets_and_together_are_a_finer_sampling():
    windows = [sample_indices(160, 16, window, 4) for window in range(4)]
    assert [int(indices[0]) for indices in windows] == [1, 3, 6, 8]
    assert all(indices[-1] >= 150 for indices in windows)  # every window reaches the end of the clip
    np.testing.assert_array_equal(np.sort(np.concatenate(windows)), sample_indices(160, 64))
    np.testing.assert_array_equal(sample_indices(160, 16, 0, 1), sample_indices(160, 16))
    np.testing.assert_array_equal(sample_indices(5, 16, 3, 4), np.arange(5))  # a short clip: all its frames
    with pytest.raises(ValueError, match="window must be in"):
        sample_indices(160, 16, 4, 4)


@pytest.mark.parametrize("total, window", [(100, 0), (100, 2), (7, 1), (33, 3)])
def test_the_tensorflow_sampler_agrees_on_windows(total, window):
    video = numbered_clip(total, 2, 2)
    frames, length = sample_frames(tf.constant(video), NUM_FRAMES, window, 4)
    expected = sample_indices(total, NUM_FRAMES, window, 4)
    np.testing.assert_array_equal(frames.numpy()[: len(expected)], video[expected])


def test_read_windows_decodes_every_window_in_one_pass(clips):
    from rnnkit.data.video import read_windows

    frames, total = read_windows(clips["avi"], NUM_FRAMES, 3)
    assert frames.shape == (3, NUM_FRAMES, 40, 56, 3) and total == 27
    for window in range(3):
        assert frame_numbers(frames[window]) == sample_indices(27, NUM_FRAMES, window, 3).tolist()
    short, total = read_windows(clips["short"], NUM_FRAMES, 2)
    assert short.shape[:2] == (2, 5) and total == 5  # fewer frames than num_frames: all of them, in each window


def test_a_long_clip_is_sampled_over_its_whole_length(tmp_path):
    long = write_video(tmp_path / "long.mp4", numbered_clip(28 * 10, 16, 16)[:, :, :, :] % 252, fps=25)
    frames, total = read_frames(long, 4)
    assert total == 280 and len(frames) == 4  # frames 35, 105, 175, 245: the last quarter is covered too


def test_a_truncated_mp4_is_an_error_naming_the_file(clips, tmp_path):
    data = clips["mp4"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # this writer puts the MP4 index (moov) at the end: it is gone
    with pytest.raises(VideoDecodeError, match="not a video OpenCV can open") as error:
        read_frames(cut, NUM_FRAMES)
    assert str(cut) in str(error.value)


@pytest.mark.parametrize("height, width", [(64, 36), (37, 53)])
def test_portrait_and_odd_sized_videos_are_centre_cropped(tmp_path, height, width):
    frames = numbered_clip(12, height, width)
    path = write_video(tmp_path / f"clip_{height}x{width}.avi", frames)
    decoded, length = read_clip(path, NUM_FRAMES)
    # (the MJPEG writer may round an odd side to even; the reader takes whatever size arrives)
    assert length == NUM_FRAMES and abs(decoded.shape[1] - height) <= 1 and abs(decoded.shape[2] - width) <= 1
    fitted = fit_frames(decoded, 24).numpy()
    assert fitted.shape == (NUM_FRAMES, 24, 24, 3)
    assert frame_numbers(fitted) == sample_indices(12, NUM_FRAMES).tolist()


def test_fit_frames_takes_windows_of_frames():
    frames = np.zeros((2, 3, 30, 50, 3), np.uint8)
    frames[1] = 100
    fitted = fit_frames(frames, 8).numpy()
    assert fitted.shape == (2, 3, 8, 8, 3) and fitted[0].max() == 0 and np.allclose(fitted[1], 100.0, atol=1e-3)
