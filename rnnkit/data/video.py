"""Video clips for tf.data: decode with OpenCV, sample frames uniformly, pad with a mask, resize.

A clip becomes a fixed number of frames so that a batch is one tensor:

    frames, length = read_clip("v_Biking_g01_c01.avi", num_frames=16)
    # frames: uint8 [16, height, width, 3] (RGB); length: real frames (< 16 for a short clip,
    # whose missing frames are zeros at the end: right padding, as the RNN masks want)

Long clips are sampled at the centres of `num_frames` equal segments, so the
frames span the whole clip; a clip with fewer frames keeps all of them. The
frames are then centre-cropped to a square and resized by `fit_frames`, a
TensorFlow function, so the training pipeline and a serving graph resize the
same way.

`clip_dataset` streams (frames, length) batches from files with the decoding
running in parallel; a clip that does not decode (a zero-byte, truncated or
non-video file) is skipped and recorded in a `DecodeReport`, never an error in
the middle of an epoch. TensorFlow itself has no AVI/MP4 decoder op (only
`tf.io.decode_gif`), so decoding runs in Python through OpenCV (`cv2`, from the
opencv-python-headless package), which reads what its FFmpeg build reads:
AVI (MJPEG, XVID, DivX, ...), MP4 (MPEG-4 part 2, H.264), MKV, WebM, ...
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v")
# Codecs the opencv-python-headless wheels can write without extra libraries.
WRITE_CODECS = {".avi": "MJPG", ".mp4": "mp4v"}
MAX_FRAME_PIXELS = 4096 * 4096  # refuse frames larger than this (a broken header, not a video)


class VideoDecodeError(ValueError):
    """A clip that cannot be read as video; the message names the file."""


def _cv2():
    try:
        import cv2
    except ImportError as error:  # pragma: no cover - a dependency of rnnkit
        raise ImportError("video decoding needs OpenCV: pip install opencv-python-headless") from error
    return cv2


def sample_indices(total: int, num_frames: int, window: int = 0, windows: int = 1) -> np.ndarray:
    """Which of `total` frames to keep: one point in each of `num_frames` equal segments, or all of a short clip.

    With one window the point is the segment's centre. With `windows` W,
    window w takes the point (w + 0.5) / W of the way through each segment,
    so every window spans the whole clip and the W windows together are the
    centres of `num_frames * W` segments: test-time averaging over windows
    sees W times as many distinct frames, and none of a long clip is skipped.
    """
    if total < 1:
        raise ValueError(f"a clip needs at least one frame, got {total}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, not {num_frames}")
    if not 0 <= window < windows:
        raise ValueError(f"window must be in [0, {windows}), not {window}")
    if total <= num_frames:
        return np.arange(total, dtype=np.int64)
    # floor((i + (w + 0.5) / W) * total / num_frames) in integers, so the TF version picks exactly the same frames.
    steps = np.arange(num_frames, dtype=np.int64)
    return (2 * (steps * windows + window) + 1) * total // (2 * num_frames * windows)


def sample_frames(video, num_frames: int, window: int = 0, windows: int = 1):
    """TensorFlow twin of `sample_indices` + `pad_frames`: video `[n, h, w, c]` -> (frames, length).

    frames: `[num_frames, h, w, c]`, right-padded with zeros; length: int32
    real frames (0 for an empty video). Usable inside serving graphs.
    """
    import tensorflow as tf

    video = tf.convert_to_tensor(video)
    total = tf.shape(video, out_type=tf.int64)[0]
    steps = tf.range(num_frames, dtype=tf.int64)
    spread = (2 * (steps * windows + window) + 1) * total // (2 * num_frames * windows)
    indices = tf.where(total > num_frames, spread, steps)
    length = tf.cast(tf.minimum(total, num_frames), tf.int32)
    blank = tf.zeros(tf.concat([[1], tf.shape(video)[1:]], axis=0), video.dtype)
    safe = tf.concat([video, blank], axis=0)  # so that an empty video still has a frame to gather
    picked = tf.gather(safe, tf.minimum(indices, total))
    real = tf.reshape(steps < tf.cast(length, tf.int64), [num_frames] + [1] * (video.shape.rank - 1))
    return tf.where(real, picked, tf.zeros_like(picked)), length


def pad_frames(frames: np.ndarray, num_frames: int) -> np.ndarray:
    """Right-pad `[n, h, w, 3]` frames with black frames to `[num_frames, h, w, 3]`."""
    if len(frames) >= num_frames:
        return frames[:num_frames]
    padding = np.zeros((num_frames - len(frames), *frames.shape[1:]), frames.dtype)
    return np.concatenate([frames, padding])


def _open(path: Path):
    cv2 = _cv2()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path}: empty file (0 bytes)")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoDecodeError(f"{path}: not a video OpenCV can open (unknown container or codec, or a damaged file)")
    return capture


def _to_rgb(frame: np.ndarray, path: Path) -> np.ndarray:
    cv2 = _cv2()
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[0] * frame.shape[1] > MAX_FRAME_PIXELS:
        raise VideoDecodeError(f"{path}: frames of {frame.shape[1]}x{frame.shape[0]} pixels are too large")
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _decode_pass(path: Path, wanted: np.ndarray) -> tuple[dict[int, np.ndarray], int]:
    """Decode the whole stream once, keeping (as RGB) only the frames at `wanted`: (kept by index, frames in it).

    Every frame is decoded (`grab`: a codec cannot skip frames), but only the
    wanted ones are converted and kept, so a long clip costs no memory. The
    count is what the stream really holds, whatever the container claims.
    """
    wanted_set = set(int(index) for index in wanted)
    kept: dict[int, np.ndarray] = {}
    capture = _open(path)
    position = 0
    try:
        while capture.grab():
            if position in wanted_set:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    break  # a frame that does not decode ends the usable part of the clip
                kept[position] = _to_rgb(frame, path)
            position += 1
    finally:
        capture.release()
    return kept, position


def read_windows(path: str | os.PathLike, num_frames: int, windows: int = 1) -> tuple[np.ndarray, int]:
    """Decode the frames of `windows` uniform samplings of one clip: (uint8 [windows, k, h, w, 3] RGB, frames in it).

    k = min(frames in the clip, num_frames); window w is `sample_indices(total,
    num_frames, w, windows)`. One pass when the container's frame count is
    right; when it is missing or wrong (some writers get it wrong, and a
    truncated file promises frames it no longer has) a second pass samples the
    frames that are really there. Raises VideoDecodeError when no frame decodes.
    """
    cv2 = _cv2()
    path = Path(path)
    if windows < 1:
        raise ValueError(f"windows must be at least 1, not {windows}")
    capture = _open(path)
    try:
        reported = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    finally:
        capture.release()

    def wanted_for(total: int) -> list[np.ndarray]:
        return [sample_indices(total, num_frames, window, windows) for window in range(windows)]

    total = max(reported, 0)
    kept: dict[int, np.ndarray] = {}
    if total > 0:
        kept, counted = _decode_pass(path, np.unique(np.concatenate(wanted_for(total))))
    else:
        kept, counted = _decode_pass(path, np.zeros((0,), np.int64))
    if counted != total or (total and len(kept) < len(np.unique(np.concatenate(wanted_for(total))))):
        if counted < 1:
            raise VideoDecodeError(f"{path}: no frame could be decoded (truncated or damaged video)")
        total = counted
        kept, counted = _decode_pass(path, np.unique(np.concatenate(wanted_for(total))))
        total = min(total, counted) if counted else total
    sampled = [[kept[int(index)] for index in indices if int(index) in kept] for indices in wanted_for(total)]
    if not all(sampled):
        raise VideoDecodeError(f"{path}: no frame could be decoded (truncated or damaged video)")
    length = min(len(frames) for frames in sampled)
    return np.stack([np.stack(frames[:length]) for frames in sampled]), total


def read_frames(path: str | os.PathLike, num_frames: int) -> tuple[np.ndarray, int]:
    """Decode the frames of one clip that uniform sampling keeps: (uint8 [k, h, w, 3] RGB, frames in the clip).

    k = min(frames in the clip, num_frames); see `read_windows`.
    """
    frames, total = read_windows(path, num_frames, 1)
    return frames[0], total


def read_clip(path: str | os.PathLike, num_frames: int) -> tuple[np.ndarray, int]:
    """(uint8 [num_frames, h, w, 3] frames right-padded with black, number of real frames)."""
    frames, _ = read_frames(path, num_frames)
    return pad_frames(frames, num_frames), len(frames)


def read_clip_bytes(data: bytes, num_frames: int, suffix: str = ".mp4", name: str = "video") -> tuple[np.ndarray, int]:
    """`read_clip` for encoded bytes (OpenCV reads containers from files, so they go through a temporary one)."""
    if not data:
        raise VideoDecodeError(f"{name}: empty (0 bytes)")
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        try:
            return read_clip(handle.name, num_frames)
        except VideoDecodeError as error:
            raise VideoDecodeError(str(error).replace(handle.name, name)) from None


def write_video(path: str | os.PathLike, frames: Sequence[np.ndarray] | np.ndarray, fps: float = 12.0) -> Path:
    """Write RGB uint8 frames `[n, h, w, 3]` as `.avi` (MJPEG) or `.mp4` (MPEG-4 part 2), atomically."""
    from rnnkit.io import atomic_path

    cv2 = _cv2()
    path = Path(path)
    codec = WRITE_CODECS.get(path.suffix.lower())
    if codec is None:
        raise ValueError(f"{path}: can write {', '.join(WRITE_CODECS)} videos, not {path.suffix or 'no suffix'}")
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise ValueError(f"{path}: expected frames [n >= 1, height, width, 3], got {frames.shape}")
    height, width = frames.shape[1:3]
    with atomic_path(path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), float(fps), (int(width), int(height)))
        if not writer.isOpened():
            raise ValueError(f"{path}: OpenCV cannot write {codec} video here")
        try:
            for frame in frames:
                writer.write(cv2.cvtColor(np.ascontiguousarray(frame, np.uint8), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
    return path


def fit_frames(frames, image_size: int):
    """Centre-crop frames `[..., h, w, 3]` to a square and resize to `image_size` (float32, 0..255).

    A TensorFlow function (antialiased bilinear), used by the input pipeline
    and by serving graphs alike, so both see the same pixels.
    """
    import tensorflow as tf

    frames = tf.convert_to_tensor(frames)
    shape = tf.shape(frames)
    height, width = shape[-3], shape[-2]
    side = tf.minimum(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = frames[..., top: top + side, left: left + side, :]
    if frames.shape.rank is not None and frames.shape.rank > 4:  # tf.image.resize takes at most one batch axis
        leading = tf.shape(square)[:-3]
        flat = tf.reshape(square, tf.concat([[-1], tf.shape(square)[-3:]], axis=0))
        resized = tf.image.resize(tf.cast(flat, tf.float32), (image_size, image_size), antialias=True)
        resized = tf.reshape(resized, tf.concat([leading, [image_size, image_size, 3]], axis=0))
    else:
        resized = tf.image.resize(tf.cast(square, tf.float32), (image_size, image_size), antialias=True)
    return tf.clip_by_value(resized, 0.0, 255.0)


@dataclass
class DecodeReport:
    """The clips a pipeline could not decode (each counted once, however many epochs), thread-safe."""

    failed: dict[str, str] = field(default_factory=dict)
    decoded: int = 0  # clips
    frames: int = 0  # frames kept (sampled)
    frames_in_clips: int = 0  # frames the clips hold (decoding passes through all of them)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_failure(self, path: str, reason: str) -> None:
        with self._lock:
            self.failed.setdefault(path, reason)

    def add_success(self, frames: int, frames_in_clip: int = 0) -> None:
        with self._lock:
            self.decoded += 1
            self.frames += frames
            self.frames_in_clips += frames_in_clip

    @property
    def skipped(self) -> int:
        return len(self.failed)

    def summary(self, limit: int = 5) -> str:
        if not self.failed:
            return "no clip was skipped"
        shown = "; ".join(f"{reason}" for reason in list(self.failed.values())[:limit])
        more = f" (and {self.skipped - limit} more)" if self.skipped > limit else ""
        return f"skipped {self.skipped} clip(s) that could not be decoded: {shown}{more}"


def clip_dataset(
    paths: Sequence[str | os.PathLike],
    labels: Sequence[int] | None,
    *,
    num_frames: int,
    image_size: int,
    report: DecodeReport | None = None,
    parallel: int | None = None,
    shuffle: bool = False,
    seed: int | None = None,
    windows: int = 1,
):
    """A tf.data.Dataset of ({"frames": uint8 [num_frames, S, S, 3], "lengths": int32}, label) per clip.

    With `windows` W > 1, "frames" is [W, num_frames, S, S, 3]: the W uniform
    samplings of `read_windows`, decoded in one pass over the clip.
    Decoding runs in `parallel` threads (default: AUTOTUNE; OpenCV releases
    the GIL while it decodes). Clips that fail are filtered out and recorded
    in `report`. With `shuffle` the clip order changes every epoch (before
    decoding, so nothing waits on a shuffle buffer of frames). The dataset is
    not batched or cached: callers do that, knowing whether the clips fit in memory.
    """
    import tensorflow as tf

    report = report if report is not None else DecodeReport()
    paths = [str(path) for path in paths]
    labels_array = np.zeros(len(paths), np.int32) if labels is None else np.asarray(labels, np.int32)
    if len(labels_array) != len(paths):
        raise ValueError(f"{len(paths)} clips but {len(labels_array)} labels")
    shape = (windows, num_frames) if windows > 1 else (num_frames,)

    def decode(path_bytes):
        path = path_bytes.decode("utf-8")
        try:
            kept, total = read_windows(path, num_frames, windows)
        except (VideoDecodeError, FileNotFoundError, OSError) as error:
            report.add_failure(path, str(error))
            return np.zeros((*shape, 1, 1, 3), np.uint8), np.int32(0), False
        except Exception as error:  # OpenCV raises cv2.error on some damaged streams
            report.add_failure(path, f"{path}: {type(error).__name__}: {error}")
            return np.zeros((*shape, 1, 1, 3), np.uint8), np.int32(0), False
        report.add_success(kept.shape[0] * kept.shape[1], total)
        padded = np.stack([pad_frames(window, num_frames) for window in kept])
        return (padded if windows > 1 else padded[0]), np.int32(kept.shape[1]), True

    def load(path, label):
        frames, length, ok = tf.numpy_function(decode, [path], [tf.uint8, tf.int32, tf.bool], stateful=True)
        frames.set_shape((*shape, None, None, 3))
        length.set_shape(())
        ok.set_shape(())
        return frames, length, label, ok

    def prepare(frames, length, label, ok):
        fitted = tf.cast(tf.round(fit_frames(frames, image_size)), tf.uint8)
        return {"frames": fitted, "lengths": length}, label

    dataset = tf.data.Dataset.from_tensor_slices((paths, labels_array))
    if shuffle:
        dataset = dataset.shuffle(max(1, len(paths)), seed=seed, reshuffle_each_iteration=True)
    calls = parallel if parallel is not None else tf.data.AUTOTUNE
    dataset = dataset.map(load, num_parallel_calls=calls)
    dataset = dataset.filter(lambda frames, length, label, ok: ok)
    return dataset.map(prepare, num_parallel_calls=calls)
