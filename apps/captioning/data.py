"""Image-caption sources, caption text handling and image decoding for the captioning app.

SOURCE is one of
  demo             rendered shapes (circles, squares, triangles in four colours, one or
                   two per picture) with captions made from what was drawn; made in
                   memory, so everything runs offline;
  PATH             the Flickr8k layout, as a folder or a .tar.gz of it:
                     Flicker8k_Dataset/*.jpg (Flickr8k_Dataset/ and Images/ are also found)
                     Flickr8k.token.txt      "<image>.jpg#<n>\\t<caption>" lines
                     Flickr_8k.trainImages.txt, Flickr_8k.devImages.txt, Flickr_8k.testImages.txt
                   (training needs the train list; without a dev list the last 10% of it is
                   held out; `evaluate` also reads a folder with only a test list, or none);
  tfds:coco_captions   MS-COCO captions through TensorFlow Datasets (needs the network).

A listed image whose file is missing, a caption line that does not parse and a
file that does not decode as an image are skipped and counted, never fatal.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.io import extract_archive

DEMO = "demo"
PAD, UNK, START, END = "", "[UNK]", "<start>", "<end>"
SPECIALS = (PAD, UNK, START, END)
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3
MAX_PIXELS = 80_000_000  # refuse to decode anything larger (a decompression bomb, not a photo)
IMAGE_DIRS = ("Flicker8k_Dataset", "Flickr8k_Dataset", "Images")


# -- captions ---------------------------------------------------------------


def standardize(caption: str) -> list[str]:
    """Lower-case words: punctuation dropped, "dog's" kept as one word."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", caption.lower())


class Vocabulary:
    """Words <-> ids. Ids 0-3 are padding, [UNK], <start> and <end>."""

    def __init__(self, words: Sequence[str]):
        if tuple(words[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a captioning vocabulary starts with {SPECIALS}")
        if len(set(words)) != len(words):
            raise ValueError("vocabulary words must be unique")
        self.words = list(words)
        self.index = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def from_captions(cls, captions: Iterable[str], min_count: int = 1, max_size: int = 0) -> Vocabulary:
        counts = Counter(word for caption in captions for word in standardize(caption))
        ranked = sorted((word for word, count in counts.items() if count >= min_count), key=lambda w: (-counts[w], w))
        if max_size:
            ranked = ranked[: max(0, max_size - len(SPECIALS))]
        return cls([*SPECIALS, *ranked])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, caption: str, max_length: int) -> np.ndarray:
        """<start> w1 ... wn <end>, cut to `max_length + 1` ids and padded with 0 to that length.

        Decoder inputs are ids[:-1] and targets ids[1:], both `max_length` long.
        """
        ids = [START_ID, *(self.index.get(word, UNK_ID) for word in standardize(caption))]
        ids = ids[:max_length] + [END_ID] if len(ids) <= max_length else ids[: max_length + 1]
        return np.asarray(ids + [PAD_ID] * (max_length + 1 - len(ids)), np.int32)

    def decode(self, ids) -> str:
        """The words of `ids`, stopping at <end> and skipping padding and <start>."""
        words = []
        for token in np.asarray(ids).reshape(-1):
            token = int(token)
            if token == END_ID:
                break
            if token not in (PAD_ID, START_ID):
                words.append(self.words[token])
        return " ".join(words)

    def save(self, path: str | Path) -> None:
        from rnnkit.io import atomic_write_json

        atomic_write_json(path, {"words": self.words})

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing vocabulary; is this a captioning run folder?")
        return cls(json.loads(path.read_text(encoding="utf-8"))["words"])


# -- images -----------------------------------------------------------------


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Encoded JPEG/PNG/GIF/BMP bytes -> uint8 RGB [height, width, 3].

    Grayscale is repeated to three channels and an alpha channel is dropped.
    Raises ValueError naming `name` when the bytes are not an image or the
    image is absurdly large.
    """
    import tensorflow as tf

    if not data:
        raise ValueError(f"{name}: empty file, not an image")
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as header:  # reads the header only
            width, height = header.size
        if width * height > MAX_PIXELS:
            raise ValueError(f"{name}: {width}x{height} pixels is more than the {MAX_PIXELS:,} this app decodes")
    except ImportError:  # pragma: no cover - pillow comes with matplotlib
        pass
    except (OSError, SyntaxError):
        pass  # let TensorFlow have the last word on formats PIL does not know
    try:
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"{name}: not a JPEG, PNG, GIF or BMP image ({message[:120]})") from None
    return image.numpy()


def resize_image(image, image_size: int):
    """uint8/float RGB [h, w, 3] -> float32 [size, size, 3] in 0..255, rounded to whole values.

    The same TensorFlow ops run inside the exported serving graph, so an
    image gives the same pixels in training, evaluation and serving.
    """
    import tensorflow as tf

    image = tf.image.resize(tf.cast(image, tf.float32), [image_size, image_size], antialias=True)
    return tf.clip_by_value(tf.round(image), 0.0, 255.0)


@dataclass
class CaptionItem:
    """One image and its reference captions; the image is a file or an array."""

    key: str
    captions: list[str]
    path: Path | None = None
    array: np.ndarray | None = None

    def read(self) -> np.ndarray:
        if self.array is not None:
            return self.array
        return decode_image(Path(self.path).read_bytes(), str(self.path))


@dataclass
class CaptionSource:
    name: str
    train: list[CaptionItem]
    val: list[CaptionItem]
    test: list[CaptionItem] | None = None  # None: the source defines no test split
    skipped: Counter = field(default_factory=Counter)
    every: list[CaptionItem] | None = None  # every image with captions and a file (None: train + val + test)
    lists: tuple[str, ...] = ()  # the split lists the source came with, by file name

    def split(self, name: str) -> list[CaptionItem]:
        if name == "all":
            return self.every if self.every is not None else self.train + self.val + (self.test or [])
        splits = {"train": self.train, "val": self.val, "dev": self.val, "test": self.test}
        items = splits.get(name)
        if not items:
            raise ValueError(f"--data {self.name} has no {name} split"
                             + (f" (its lists: {', '.join(self.lists)})" if self.lists else " (it has no split lists)"))
        return items


def load_images(items: Sequence[CaptionItem], image_size: int, progress: str | None = None):
    """Decode and resize every item's image; skip (and count) those that fail.

    Returns (uint8 [n, size, size, 3], kept items, list of (key, reason)).
    """
    import sys

    arrays, kept, failed = [], [], []
    for index, item in enumerate(items):
        try:
            image = item.read()
        except (ValueError, OSError) as error:
            failed.append((item.key, str(error)))
            continue
        arrays.append(resize_image(image, image_size).numpy().astype(np.uint8))
        kept.append(item)
        if progress and (index + 1) % 200 == 0:
            print(f"{progress}: {index + 1}/{len(items)} images", file=sys.stderr, flush=True)
    for key, reason in failed[:5]:
        print(f"skipped {key}: {reason}", file=sys.stderr)
    if len(failed) > 5:
        print(f"... and {len(failed) - 5} more images skipped", file=sys.stderr)
    empty = np.zeros((0, image_size, image_size, 3), np.uint8)
    return (np.stack(arrays) if arrays else empty), kept, failed


# -- the demo set -----------------------------------------------------------

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 210, 40)}
SHAPES = ("circle", "square", "triangle")


def _draw(canvas: np.ndarray, shape: str, colour, centre_x: float, centre_y: float, radius: float) -> None:
    size = canvas.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    if shape == "circle":
        inside = (xs - centre_x) ** 2 + (ys - centre_y) ** 2 <= radius**2
    elif shape == "square":
        inside = (np.abs(xs - centre_x) <= radius * 0.85) & (np.abs(ys - centre_y) <= radius * 0.85)
    else:  # an upward triangle
        top, bottom = centre_y - radius, centre_y + radius
        half_width = (ys - top) / (2 * radius) * radius
        inside = (ys >= top) & (ys <= bottom) & (np.abs(xs - centre_x) <= half_width)
    canvas[inside] = colour


def demo_item(rng: np.random.Generator, index: int, size: int = 96) -> CaptionItem:
    """A picture of one or two shapes and three captions that say what was drawn."""
    canvas = np.full((size, size, 3), 235, np.uint8)
    canvas = np.clip(canvas.astype(np.int16) + rng.integers(-12, 13, canvas.shape), 0, 255).astype(np.uint8)
    count = int(rng.integers(1, 3))
    drawn = []
    for slot in range(count):
        colour = str(rng.choice(list(COLOURS)))
        shape = str(rng.choice(SHAPES))
        radius = float(rng.uniform(0.14, 0.2) * size)
        if count == 1:
            centre_x = float(rng.uniform(0.35, 0.65) * size)
        else:
            centre_x = float(rng.uniform(0.2, 0.3) * size) if slot == 0 else float(rng.uniform(0.7, 0.8) * size)
        centre_y = float(rng.uniform(0.35, 0.65) * size)
        _draw(canvas, shape, COLOURS[colour], centre_x, centre_y, radius)
        drawn.append(f"{colour} {shape}")
    if count == 1:
        captions = [f"a {drawn[0]}", f"a {drawn[0]} in the middle", f"one {drawn[0]} on a gray background"]
    else:
        left, right = drawn
        captions = [f"a {left} and a {right}", f"a {left} left of a {right}", f"a {right} right of a {left}"]
    return CaptionItem(key=f"demo-{index:04d}", captions=captions, array=canvas)


def demo_source(train: int = 400, val: int = 80, test: int = 80, seed: int = 0) -> CaptionSource:
    rng = np.random.default_rng(seed)
    items = [demo_item(rng, index) for index in range(train + val + test)]
    return CaptionSource(DEMO, items[:train], items[train: train + val], items[train + val:])


# -- Flickr8k ---------------------------------------------------------------


def _find(root: Path, name: str) -> Path | None:
    for candidate in (root / name, *root.glob(f"*/{name}"), *root.glob(f"*/*/{name}")):
        if candidate.exists():
            return candidate
    return None


def _read_list(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def flickr8k_source(path: str | Path, val_fraction: float = 0.1) -> CaptionSource:
    """Read the Flickr8k layout (folder or .tar.gz); see the module docstring."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--data {path}: no such file or folder")
    root = extract_archive(path) if path.is_file() and path.name.endswith((".tar.gz", ".tgz", ".tar")) else path
    if not root.is_dir():
        raise ValueError(f"--data {path}: expected a folder (or .tar.gz) in the Flickr8k layout")
    tokens = _find(root, "Flickr8k.token.txt")
    if tokens is None:
        raise FileNotFoundError(f"--data {path}: no Flickr8k.token.txt (the captions file of the Flickr8k layout)")
    image_dir = next((found for name in IMAGE_DIRS if (found := _find(root, name)) is not None and found.is_dir()), None)
    if image_dir is None:
        raise FileNotFoundError(f"--data {path}: no image folder ({' or '.join(IMAGE_DIRS)})")
    skipped: Counter = Counter()
    captions: dict[str, list[str]] = {}
    for line in tokens.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        key, tab, caption = line.partition("\t")
        name = key.split("#", 1)[0].strip()
        if not tab or not name or not standardize(caption):
            skipped["unreadable caption lines"] += 1
            continue
        captions.setdefault(name, []).append(caption.strip())

    def items_for(names: list[str] | None) -> list[CaptionItem]:
        found = []
        for name in names or []:
            if name not in captions:
                skipped["listed images without captions"] += 1
            elif not (image_dir / name).is_file():
                skipped["listed images missing from the image folder"] += 1
            else:
                found.append(CaptionItem(key=name, captions=captions[name], path=image_dir / name))
        return found

    # Every list is optional here: a folder of test photos (or of photos and captions only) is scored by
    # `evaluate`; `train` says so when it finds nothing to train on.
    lists = {name: _read_list(_find(root, f"Flickr_8k.{name}Images.txt")) for name in ("train", "dev", "test")}
    train = items_for(lists["train"])
    if lists["dev"] is None:
        cut = max(1, int(len(train) * (1 - val_fraction)))
        train, val = train[:cut], train[cut:]
    else:
        val = items_for(lists["dev"])
    test = items_for(lists["test"]) if lists["test"] is not None else None
    every = [CaptionItem(key=name, captions=texts, path=image_dir / name) for name, texts in captions.items()
             if (image_dir / name).is_file()]
    found = tuple(f"Flickr_8k.{name}Images.txt" for name, names in lists.items() if names is not None)
    return CaptionSource(str(path), train, val, test, skipped, every, found)


# -- TensorFlow Datasets ------------------------------------------------------


def tfds_source(name: str, max_images: int = 0) -> CaptionSource:
    """MS-COCO captions (or another tfds set with `image` and `captions/text`) through tfds."""
    try:
        import tensorflow_datasets as tfds

        splits = tfds.load(name)
    except Exception as error:
        raise ValueError(f"--data tfds:{name}: could not load it ({type(error).__name__}: {str(error)[:200]}); "
                         "it needs the network the first time; pass a folder in the Flickr8k layout instead") from None

    def items(split: str) -> list[CaptionItem] | None:
        if split not in splits:
            return None
        dataset = splits[split].take(max_images) if max_images else splits[split]
        found = []
        for index, example in enumerate(dataset.as_numpy_iterator()):
            texts = example["captions"]["text"]
            found.append(CaptionItem(key=f"{split}-{index}", captions=[text.decode("utf-8") for text in texts],
                                     array=example["image"]))
        return found

    train, val = items("train"), items("val") or items("validation")
    if not train or not val:
        raise ValueError(f"--data tfds:{name}: expected train and val splits with images and captions")
    return CaptionSource(f"tfds:{name}", train, val, items("test"))


def load_source(source: str, max_images: int = 0) -> CaptionSource:
    if source == DEMO:
        loaded = demo_source()
    elif source.startswith("tfds:"):
        loaded = tfds_source(source.split(":", 1)[1], max_images)
    else:
        loaded = flickr8k_source(source)
    if max_images:
        loaded.train = loaded.train[:max_images]
        loaded.val = loaded.val[:max_images]
        loaded.test = loaded.test[:max_images] if loaded.test is not None else None
    return loaded


def caption_arrays(items: Sequence[CaptionItem], vocabulary: Vocabulary, max_length: int):
    """(image index, decoder inputs, targets) for every caption of every item."""
    index, ids = [], []
    for position, item in enumerate(items):
        for caption in item.captions:
            index.append(position)
            ids.append(vocabulary.encode(caption, max_length))
    ids = np.stack(ids) if ids else np.zeros((0, max_length + 1), np.int32)
    return np.asarray(index, np.int32), ids[:, :-1], ids[:, 1:]


MIRRORED_WORDS = (("left", "right"),)


def mirrored_ids(vocabulary: Vocabulary) -> np.ndarray:
    """id -> the id of the same word in a mirror image's caption ("left" <-> "right"; others unchanged)."""
    ids = np.arange(len(vocabulary), dtype=np.int32)
    for first, second in MIRRORED_WORDS:
        if first in vocabulary.index and second in vocabulary.index:
            ids[vocabulary.index[first]], ids[vocabulary.index[second]] = vocabulary.index[second], vocabulary.index[first]
    return ids


def make_dataset(inputs: np.ndarray, items, vocabulary: Vocabulary, max_length: int, batch_size: int,
                 *, shuffle: bool, seed: int | None = None, input_name: str = "features",
                 flipped: np.ndarray | None = None):
    """Batches of ({input_name: images or cached features, "tokens": ids}, targets), one per caption.

    `flipped`: the inputs of the mirrored images (same order); each caption then sees
    the image or its mirror image at random, a new draw every epoch, and with the mirror
    image "left" and "right" trade places in its words.
    """
    import tensorflow as tf

    image_index, tokens, targets = caption_arrays(items, vocabulary, max_length)
    if len(tokens) == 0:
        raise ValueError("no captions to train on")
    table = tf.constant(inputs if flipped is None else np.concatenate([inputs, flipped]))
    count = len(inputs)
    mirror_words = tf.constant(mirrored_ids(vocabulary))
    dataset = tf.data.Dataset.from_tensor_slices((image_index, tokens, targets))
    if shuffle:
        dataset = dataset.shuffle(len(tokens), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def pick(index, tokens, targets):
        if flipped is not None:
            mirror = tf.random.uniform(tf.shape(index), 0, 2, dtype=tf.int32)
            index = index + count * mirror
            swap = tf.cast(mirror, tf.bool)[:, None]
            tokens = tf.where(swap, tf.gather(mirror_words, tokens), tokens)
            targets = tf.where(swap, tf.gather(mirror_words, targets), targets)
        return {input_name: tf.cast(tf.gather(table, index), tf.float32), "tokens": tokens}, targets

    dataset = dataset.map(pick, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
