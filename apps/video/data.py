"""Video sources for the video app: the UCF101 and HMDB51 layouts, tfds `ucf101`, and a generated demo set.

SOURCE is one of
  demo           short clips of one shape (square, triangle or disc) on a plain background,
                 moving left, right, up or down, rotating or growing; written as real .avi
                 (MJPEG) and .mp4 (MPEG-4) files in the UCF101 layout with its split lists,
                 once, under $RNNKIT_VIDEO_DEMO (default ~/.cache/rnnkit/video-demo-v4);
  PATH           one folder of clips per class, as a folder or a .tar/.tar.gz of it (a folder
                 such as UCF-101/ below PATH is found too), with the split lists of
                 UCF101:  <Class>/v_<Class>_g<NN>_c<NN>.avi|.mp4
                          classInd.txt, trainlist0N.txt, testlist0N.txt (anywhere under PATH,
                          e.g. ucfTrainTestlist/; N is the config's split)
                 HMDB51:  <action>/<movie>_<action>_<tags>_<n>.avi
                          <action>_test_split<N>.txt (e.g. in testTrainMulti_7030_splits/):
                          "<clip> 1" trains, "<clip> 2" tests, "<clip> 0" is not in split N
                 or none. A list entry matches its file with or without the extension, so
                 re-encoded copies (.avi lists, .mp4 files) work. With lists, test is the
                 listed test split and train the training list; without them every clip is
                 for training and there is no test split. Validation is a share of the
                 training *groups* (UCF101's _gNN_, one actor and scene cut from one long video;
                 HMDB51's movie), so that clips of one group are never on both sides;
  tfds:ucf101    UCF101 through TensorFlow Datasets (downloads 6.5 GB; needs the network).

A listed clip whose file is missing is skipped and counted; a clip that does not
decode is skipped and counted when it is read (rnnkit.data.video.DecodeReport).
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from rnnkit.data.video import VIDEO_SUFFIXES
from rnnkit.io import extract_archive

DEMO = "demo"
DEMO_VERSION = 4
DEMO_CLASSES = ("MoveLeft", "MoveRight", "MoveUp", "MoveDown", "Rotate", "Grow")
GROUP_PATTERN = re.compile(r"_g(\d+)_", re.IGNORECASE)


@dataclass
class Clip:
    path: Path
    label: int
    group: str  # clips of one group share actor and scene; a split keeps a group on one side

    @property
    def name(self) -> str:
        return self.path.name


@dataclass
class VideoSource:
    name: str
    classes: list[str]
    train: list[Clip]
    val: list[Clip]
    test: list[Clip] | None  # None: the source has no test split
    skipped: dict[str, int] = field(default_factory=dict)
    tfds: dict | None = None  # tfds:NAME sources: split name -> tf.data.Dataset of decoded videos
    lists: str = ""  # which split lists defined train/test ("" when there were none)

    def split(self, name: str) -> list[Clip]:
        if name == "train":
            return self.train
        if name == "val":
            return self.val
        if name == "test":
            if self.test is None:
                raise ValueError(f"--data {self.name}: has no test split (no testlist file); use --split all or val")
            return self.test
        if name == "all":
            return self.train + self.val + (self.test or [])
        raise ValueError(f"unknown split {name!r}; use train, val, test or all")


def group_of(path: Path, class_name: str) -> str:
    """The clips that must stay on one side of a split: UCF101's class/gNN, HMDB51's movie, else the clip itself.

    UCF101 numbers its groups per class (g08 of Archery and of Biking are
    different videos). An HMDB51 clip is named <movie>_<action>_<tags>_<n>;
    a movie gives clips of several actions, so its group spans classes.
    """
    match = GROUP_PATTERN.search(path.stem)
    if match:
        return f"{class_name}/g{int(match.group(1)):02d}"
    action = f"_{class_name.lower()}_"
    position = path.stem.lower().find(action)
    if position > 0:
        return f"movie/{path.stem[:position]}"
    return f"{class_name}/{path.stem}"


def group_folds(clips: list[Clip], folds: int, seed: int = 0) -> list[int]:
    """A fold number (0..folds-1) per clip: each class's groups dealt round the folds, a group never split.

    Every fold then holds about 1/folds of each class's groups (at least one
    when the class has `folds` groups or more): a stratified group k-fold.
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, not {folds}")
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    load = np.zeros(folds, np.int64)  # clips per fold, to even out classes whose group count is not a multiple
    by_class: dict[int, list[str]] = {}
    sizes: Counter = Counter(clip.group for clip in clips)
    for clip in clips:
        groups = by_class.setdefault(clip.label, [])
        if clip.group not in groups:
            groups.append(clip.group)
    for label in sorted(by_class):
        groups = [group for group in sorted(by_class[label]) if group not in fold_of]
        rng.shuffle(groups)
        order = [int(fold) for fold in np.lexsort((rng.random(folds), load))]  # emptiest folds first
        for index, group in enumerate(groups):
            fold = order[index % folds]
            fold_of[group] = fold
            load[fold] += sizes[group]
    return [fold_of[clip.group] for clip in clips]


# -- the UCF101 layout --------------------------------------------------------


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def find_video_root(root: Path) -> Path:
    """The folder whose subfolders (one per class) hold the clips: PATH itself or a folder below it."""
    class_dirs = {path.parent for path in root.rglob("*") if path.is_file() and _is_video(path)}
    if not class_dirs:
        raise ValueError(f"--data {root}: no video files ({', '.join(VIDEO_SUFFIXES)}) in class folders below it")
    parents = {folder.parent for folder in class_dirs}
    if len(parents) > 1:
        shown = ", ".join(sorted(str(parent) for parent in parents)[:4])
        raise ValueError(f"--data {root}: class folders are under several parents ({shown}); "
                         "point --data at the one folder whose subfolders are the classes")
    return parents.pop()


def _find_list(root: Path, name: str) -> Path | None:
    matches = sorted(path for path in root.rglob(name) if path.is_file())
    if not matches:
        lowered = name.lower()
        matches = sorted(path for path in root.rglob("*.txt") if path.name.lower() == lowered)
    return matches[0] if matches else None


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise ValueError(f"{path}: cannot read it ({error})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _class_index(path: Path | None, folders: list[str]) -> list[str]:
    """Class names in label order: classInd.txt ("1 ApplyEyeMakeup") when there is one, else sorted folders."""
    if path is None:
        return sorted(folders)
    named: dict[int, str] = {}
    for number, line in enumerate(_read_lines(path), start=1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise ValueError(f"{path}: line {number} is {line!r}; expected '<index> <ClassName>'")
        named[int(parts[0])] = parts[1]
    return [named[index] for index in sorted(named)]


def split_groups(clips: list[Clip], fraction: float, seed: int) -> tuple[list[Clip], list[Clip]]:
    """(kept, held out): about `fraction` of each class's groups held out, at least one when it has two."""
    if fraction <= 0:
        return clips, []
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    by_class: dict[int, list[str]] = {}
    for clip in clips:
        groups = by_class.setdefault(clip.label, [])
        if clip.group not in groups:
            groups.append(clip.group)
    for groups in by_class.values():
        if len(groups) < 2:
            continue
        count = min(len(groups) - 1, max(1, round(fraction * len(groups))))
        held.update(rng.choice(sorted(groups), size=count, replace=False).tolist())
    return [clip for clip in clips if clip.group not in held], [clip for clip in clips if clip.group in held]


class _FileIndex:
    """The clips below a video root, found by a list entry with or without its extension, in any case.

    UCF101's lists and folders disagree on case in places (HandStandPushups /
    HandstandPushups); re-encoded copies keep the lists' .avi names for .mp4
    files; HMDB51's lists name files without their class folder.
    """

    def __init__(self, video_root: Path):
        self.by_path: dict[str, Path] = {}
        self.by_stem: dict[str, list[Path]] = {}
        for path in sorted(video_root.rglob("*")):
            if path.is_file() and _is_video(path):
                relative = path.relative_to(video_root).as_posix().lower()
                self.by_path[relative] = path
                for key in (relative.rsplit(".", 1)[0], path.stem.lower(), f"{path.parent.name.lower()}/{path.stem.lower()}"):
                    self.by_stem.setdefault(key, []).append(path)

    def __len__(self) -> int:
        return len(self.by_path)

    def files(self) -> list[Path]:
        return sorted(self.by_path.values())

    def find(self, entry: str, class_name: str | None = None) -> Path | None:
        relative = entry.strip().replace("\\", "/").lstrip("./").lower()
        if relative in self.by_path:
            return self.by_path[relative]
        if class_name and f"{class_name.lower()}/{relative}" in self.by_path:
            return self.by_path[f"{class_name.lower()}/{relative}"]
        stem = relative.rsplit(".", 1)[0] if Path(relative).suffix.lower() in VIDEO_SUFFIXES else relative
        keys = [stem] + ([f"{class_name.lower()}/{stem}"] if class_name else [])
        for key in keys:
            found = self.by_stem.get(key, [])
            if len(found) == 1:
                return found[0]
            if found:  # the same clip in several encodings: any one is that clip
                return sorted(found, key=lambda path: VIDEO_SUFFIXES.index(path.suffix.lower()))[0]
        return None


HMDB_SPLIT = re.compile(r"^(?P<action>.+)_test_split(?P<split>\d)\.txt$", re.IGNORECASE)


def _hmdb_lists(root: Path, split: int) -> list[Path]:
    return sorted(path for path in root.rglob("*_test_split*.txt")
                  if path.is_file() and (match := HMDB_SPLIT.match(path.name)) and int(match["split"]) == split)


def ucf_source(path: str | Path, *, split: int = 1, val_fraction: float = 0.15, seed: int = 0) -> VideoSource:
    """Read a folder of class folders (or a .tar/.tar.gz of one) with UCF101 or HMDB51 lists or none."""
    given = Path(path)
    if not given.exists():
        raise FileNotFoundError(f"--data {given}: no such file or folder")
    root = extract_archive(given) if given.is_file() and given.name.endswith((".tar.gz", ".tgz", ".tar")) else given
    if not root.is_dir():
        raise ValueError(f"--data {given}: expected a folder (or .tar.gz) in the UCF101 layout (one folder per class)")
    video_root = find_video_root(root)
    # class folders hold clips; a folder of split lists beside them (HMDB51's) is not a class
    folders = sorted(child.name for child in video_root.iterdir()
                     if child.is_dir() and any(_is_video(item) for item in child.iterdir()))
    classes = _class_index(_find_list(root, "classInd.txt"), folders)
    label_of = {name.lower(): index for index, name in enumerate(classes)}
    skipped: Counter = Counter()
    index = _FileIndex(video_root)

    def clip_for(path: Path) -> Clip | None:
        label = label_of.get(path.parent.name.lower())
        if label is None:
            skipped["clips of classes missing from classInd.txt"] += 1
            return None
        return Clip(path, label, group_of(path, classes[label]))

    def found(entry: str, class_name: str | None = None) -> Clip | None:
        path = index.find(entry, class_name)
        if path is None:
            skipped["listed clips missing from the video folders"] += 1
            return None
        return clip_for(path)

    def listed(list_path: Path) -> list[Clip]:
        return [clip for line in _read_lines(list_path) if (clip := found(line.split()[0])) is not None]

    train_list = _find_list(root, f"trainlist{split:02d}.txt")
    test_list = _find_list(root, f"testlist{split:02d}.txt")
    hmdb = _hmdb_lists(root, split) if train_list is None else []
    lists = ""
    if train_list is not None:
        train = listed(train_list)
        test = listed(test_list) if test_list is not None else None
        lists = train_list.name + (f" + {test_list.name}" if test_list is not None else "")
    elif hmdb:
        train, test = [], []
        for list_path in hmdb:
            action = HMDB_SPLIT.match(list_path.name)["action"]
            for number, line in enumerate(_read_lines(list_path), start=1):
                parts = line.split()
                if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                    raise ValueError(f"{list_path}: line {number} is {line!r}; expected '<clip> 0|1|2' (HMDB51 split)")
                if parts[1] == "0":
                    continue  # not part of this split
                clip = found(parts[0], action)
                if clip is not None:
                    (train if parts[1] == "1" else test).append(clip)
        lists = f"{len(hmdb)} HMDB51 *_test_split{split}.txt lists"
    else:
        train = [clip for file in index.files() if (clip := clip_for(file)) is not None]
        test = None
    if test:
        overlap = {clip.group for clip in train} & {clip.group for clip in test}
        if overlap:
            print(f"note: {len(overlap)} group(s) are in both the train and the test list (e.g. {sorted(overlap)[0]})")
    train, val = split_groups(train, val_fraction, seed)
    if not train:
        raise ValueError(f"--data {given}: no training clip found")
    return VideoSource(str(given), classes, train, val, test, dict(skipped), lists=lists)


# -- TensorFlow Datasets ------------------------------------------------------


def _reachable(host: str, seconds: float = 5.0) -> bool:
    import socket

    try:
        socket.create_connection((host, 443), timeout=seconds).close()
    except OSError:
        return False
    return True


def tfds_source(name: str, val_fraction: float = 0.15) -> VideoSource:
    """UCF101 through tfds (`ucf101` or e.g. `ucf101/ucf101_1_256`); videos arrive decoded.

    tfds gives no group names, so validation is the last `val_fraction` of the
    train split (file order, which keeps most groups together).
    """
    offline = ("tfds downloads UCF101 (6.5 GB) on first use, which needs the network; offline, pass a folder in "
               "the UCF101 layout (one folder per class, with ucfTrainTestlist/) instead")
    unreachable = None
    try:
        import tensorflow_datasets as tfds

        builder = tfds.builder(name)
        if not builder.is_prepared():
            # tfds retries a failing download for minutes; without a route to the data, say so at once.
            host = urlparse(builder.info.homepage or "").hostname
            if host and not _reachable(host):
                unreachable = host
        if unreachable is None:
            builder.download_and_prepare()
    except Exception as error:  # DatasetNotFoundError, download and preparation errors, ...
        raise ValueError(f"--data tfds:{name}: could not load it ({type(error).__name__}: {str(error)[:200]}). "
                         f"{offline}") from None
    if unreachable is not None:
        raise ValueError(f"--data tfds:{name}: {unreachable} cannot be reached. {offline}")
    keep = max(1, min(99, round(100 * (1 - val_fraction))))
    datasets = {
        "train": builder.as_dataset(split=f"train[:{keep}%]"),
        "val": builder.as_dataset(split=f"train[{keep}%:]"),
        "test": builder.as_dataset(split="test"),
    }
    classes = list(builder.info.features["label"].names)
    return VideoSource(f"tfds:{name}", classes, [], [], [], tfds=datasets)


# -- the generated demo set ---------------------------------------------------


def demo_root() -> Path:
    return Path(os.environ.get("RNNKIT_VIDEO_DEMO") or Path.home() / ".cache" / "rnnkit" / f"video-demo-v{DEMO_VERSION}")


def _shape_points(kind: str, centre: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    corners = {"square": 4, "triangle": 3}[kind]
    turns = angle + np.arange(corners) * 2 * np.pi / corners + np.pi / 4
    points = np.stack([centre[0] + radius * np.cos(turns), centre[1] + radius * np.sin(turns)], axis=1)
    return np.round(points * 16).astype(np.int32)  # 4 fractional bits: smooth sub-pixel motion


def render_clip(rng: np.random.Generator, action: str, look: dict, frames: int, width: int = 72, height: int = 64) -> np.ndarray:
    """One demo clip, RGB uint8 [frames, height, width, 3]."""
    import cv2

    low, high = 0.22, 0.78
    x, y = rng.uniform(0.4, 0.6) * width, rng.uniform(0.4, 0.6) * height
    radius = rng.uniform(6, 9)
    travel = rng.uniform(0.35, 0.5)
    angle, spin = rng.uniform(0, np.pi), rng.choice([-1, 1]) * rng.uniform(0.6, 1.0) * np.pi
    start, end = np.array([x, y, radius, angle]), np.array([x, y, radius, angle])
    if action in ("MoveLeft", "MoveRight"):
        start[0] = (high if action == "MoveLeft" else low) * width + rng.uniform(-2, 2)
        end[0] = start[0] + (-1 if action == "MoveLeft" else 1) * travel * width
    elif action in ("MoveUp", "MoveDown"):
        start[1] = (high if action == "MoveUp" else low) * height + rng.uniform(-2, 2)
        end[1] = start[1] + (-1 if action == "MoveUp" else 1) * travel * height
    elif action == "Rotate":
        end[3] = angle + spin
        start[2] = end[2] = rng.uniform(10, 14)
    elif action == "Grow":
        start[2], end[2] = rng.uniform(3, 4), rng.uniform(20, 24)
    else:
        raise ValueError(f"unknown demo action {action!r}")
    kind = str(rng.choice(["square", "triangle"] if action == "Rotate" else ["square", "triangle", "disc"]))
    clip = np.empty((frames, height, width, 3), np.uint8)
    for index in range(frames):
        share = index / max(1, frames - 1)
        cx, cy, r, a = start + share * (end - start)
        canvas = np.empty((height, width, 3), np.float32)
        canvas[:] = look["background"]
        if kind == "disc":
            cv2.circle(canvas, (int(round(cx * 16)), int(round(cy * 16))), int(round(r * 16)), look["colour"], -1,
                       lineType=cv2.LINE_AA, shift=4)
        else:
            cv2.fillPoly(canvas, [_shape_points(kind, (cx, cy), r, a)], look["colour"], lineType=cv2.LINE_AA, shift=4)
        canvas += rng.normal(0, 6, canvas.shape)
        clip[index] = np.clip(canvas, 0, 255).astype(np.uint8)
    return clip


def write_demo(root: Path, groups: int = 20, clips_per_group: int = 5, test_groups: int = 4, seed: int = 0) -> Path:
    """Write the demo set (UCF101 layout with split lists) to `root`, atomically; returns `root`."""
    from rnnkit.data.video import write_video
    from rnnkit.io import atomic_directory

    rng = np.random.default_rng(seed)
    # keep_existing: the workers of a cluster on one machine may write the demo at the same time.
    with atomic_directory(root, keep_existing=True) as scratch:
        videos, lists = scratch / "UCF-101", scratch / "ucfTrainTestlist"
        lists.mkdir()
        train_lines, test_lines = [], []
        for label, action in enumerate(DEMO_CLASSES):
            for group in range(1, groups + 1):
                # A group is one "scene": its clips share the background. Shape and colour are drawn per
                # clip, so that no class can be told by what is drawn, only by how it moves.
                background = tuple(float(v) for v in rng.uniform(0, 110, 3))
                for number in range(1, clips_per_group + 1):
                    look = {"background": background, "colour": tuple(float(v) for v in rng.uniform(150, 255, 3))}
                    suffix = ".avi" if number % 2 else ".mp4"
                    relative = f"{action}/v_{action}_g{group:02d}_c{number:02d}{suffix}"
                    frames = int(rng.integers(8, 41))  # some clips are shorter than the 16 frames sampled
                    write_video(videos / relative, render_clip(rng, action, look, frames), fps=12)
                    if group <= test_groups:
                        test_lines.append(relative)
                    else:
                        train_lines.append(f"{relative} {label + 1}")
        (lists / "classInd.txt").write_text("".join(f"{i + 1} {name}\n" for i, name in enumerate(DEMO_CLASSES)))
        (lists / "trainlist01.txt").write_text("\n".join(train_lines) + "\n")
        (lists / "testlist01.txt").write_text("\n".join(test_lines) + "\n")
    return root


def ensure_demo() -> Path:
    """The demo set's folder, written on first use (600 clips, a few seconds)."""
    root = demo_root()
    if not (root / "ucfTrainTestlist" / "testlist01.txt").is_file():
        print(f"writing the demo video set to {root} ...", flush=True)
        try:
            write_demo(root)
        except FileExistsError:  # another process wrote it first
            pass
    return root


# -- any source ---------------------------------------------------------------


def limit_per_class(clips: list[Clip], count: int) -> list[Clip]:
    """At most `count` clips of each class, taken across its groups in turn (not all from the first group)."""
    if not count:
        return clips
    position: Counter = Counter()
    ranked = []
    for clip in clips:
        ranked.append((position[clip.group], clip.group, clip))
        position[clip.group] += 1
    taken: Counter = Counter()
    kept = []
    for _, _, clip in sorted(ranked, key=lambda item: (item[0], item[1])):
        if taken[clip.label] < count:
            kept.append(clip)
            taken[clip.label] += 1
    return kept


def load_source(source: str, *, val_fraction: float = 0.15, max_clips_per_class: int = 0, split: int = 1,
                seed: int = 0) -> VideoSource:
    if source == DEMO:
        loaded = ucf_source(ensure_demo(), split=1, val_fraction=val_fraction, seed=seed)
        loaded.name = DEMO
    elif source.startswith("tfds:"):
        return tfds_source(source.split(":", 1)[1], val_fraction)
    else:
        loaded = ucf_source(source, split=split, val_fraction=val_fraction, seed=seed)
    if max_clips_per_class:
        loaded.train = limit_per_class(loaded.train, max_clips_per_class)
        loaded.val = limit_per_class(loaded.val, max_clips_per_class)
        loaded.test = limit_per_class(loaded.test, max_clips_per_class) if loaded.test is not None else None
    return loaded


def describe(source: VideoSource) -> str:
    if source.tfds is not None:
        return f"{source.name}: {len(source.classes)} classes (tfds)"
    test = "no test split" if source.test is None else f"{len(source.test)} test"
    groups = len({clip.group for clip in source.train})
    return (f"{source.name}: {len(source.classes)} classes, {len(source.train)} training clips ({groups} groups), "
            f"{len(source.val)} validation, {test}")


def steps(count: int, batch_size: int) -> int:
    return max(1, math.ceil(count / batch_size))
