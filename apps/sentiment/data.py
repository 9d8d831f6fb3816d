"""Movie reviews for the sentiment app: aclImdb folders and archives, tfds, a generated demo set.

SOURCE is one of
  demo                 reviews generated here (2,000 train + 500 test), so everything runs offline;
  DIR                  the aclImdb layout as `keras.utils.text_dataset_from_directory` reads it:
                       `[aclImdb/]{train,test}/{neg,pos}/*.txt`, or one split's `{neg,pos}/*.txt`
                       (other folders, such as `unsup`, are ignored);
  FILE.tar.gz          the same layout inside an archive (aclImdb_v1.tar.gz), read without extracting;
  tfds:imdb_reviews    TensorFlow Datasets (needs the network the first time).

Files that are not UTF-8, or are empty or whitespace only, are skipped and
counted (never a crash halfway through an epoch). The validation split is
carved from the training split (stratified by label, seeded) BY MOVIE when
the source lists each review's movie (`train/urls_pos.txt` and
`urls_neg.txt`: line N is the IMDB page of review id N, as in the original
download), so every review of a movie is on one side: the official test
split is about other movies, and a split by review puts titles and names on
both sides and overstates accuracy by about 3 points. Without the lists the
split is by review, and `Reviews.describe()` says which. The test split,
when the source has one, is only ever read by `evaluate`.

Text becomes token ids in two ways that agree with each other: inside
TensorFlow (`standardize` + `TextVectorization`, used for training and in
the serving graph) and in plain Python (`Tokenizer`, what a mobile app next
to the TFLite model does with the exported vocabulary).
"""

from __future__ import annotations

import dataclasses
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEMO = "demo"
CLASS_NAMES = ("negative", "positive")
CLASS_FOLDERS = {"neg": 0, "pos": 1}
SPLITS = ("train", "test")
PAD, UNKNOWN = "", "[UNK]"  # ids 0 and 1 of every vocabulary


# -- reading reviews --------------------------------------------------------


@dataclass
class ReviewSet:
    texts: list[str]
    labels: np.ndarray  # int32, 1 = positive
    movies: list[str] | None = None  # the movie each review is about (IMDB title id), when the source says

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index) -> ReviewSet:
        movies = None if self.movies is None else [self.movies[i] for i in index]
        return ReviewSet([self.texts[i] for i in index], self.labels[index], movies)

    def movie_count(self) -> int:
        return len(set(self.movies)) if self.movies is not None else 0

    def counts(self) -> str:
        positive = int(self.labels.sum())
        return f"{len(self)} ({positive} positive, {len(self) - positive} negative)"


@dataclass
class Skipped:
    """Files left out, by reason, so a run can say what it did not read."""

    not_utf8: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.not_utf8) + len(self.empty)

    def summary(self, show: int = 3) -> str:
        if not self.count:
            return "no files skipped"
        parts = []
        for reason, names in (("not UTF-8", self.not_utf8), ("empty or whitespace only", self.empty)):
            if names:
                shown = ", ".join(names[:show]) + (f", ... ({len(names) - show} more)" if len(names) > show else "")
                parts.append(f"{len(names)} {reason} ({shown})")
        return f"skipped {self.count} file(s): " + "; ".join(parts)

    def as_dict(self) -> dict:
        return {"not_utf8": len(self.not_utf8), "empty": len(self.empty), "files": self.not_utf8 + self.empty}


@dataclass
class Reviews:
    source: str
    train: ReviewSet
    val: ReviewSet
    test: ReviewSet | None
    skipped: Skipped
    split_by: str = "review"  # how validation was carved: "movie" (urls lists) or "review"

    def describe(self) -> str:
        test = f", test {self.test.counts()}" if self.test is not None else ", no test split"
        return (f"{self.source}: train {self.train.counts()}, validation {self.val.counts()}{test}; "
                f"{self.split_description()}; {self.skipped.summary()}")

    def split_description(self) -> str:
        if self.split_by == "movie":
            return (f"validation carved by movie ({self.val.movie_count()} movies held out, none of the "
                    f"{self.train.movie_count()} training movies; from train/urls_pos.txt and urls_neg.txt)")
        return ("validation carved by review (the source lists no movies: no train/urls_pos.txt and urls_neg.txt), "
                "so reviews of one movie can be on both sides")


def _member_split_and_label(name: str) -> tuple[str, int] | None:
    """`.../[train|test/]{neg,pos}/x.txt` -> (split, label); anything else -> None."""
    parts = name.replace("\\", "/").split("/")
    if len(parts) < 2 or not parts[-1].endswith(".txt") or parts[-2] not in CLASS_FOLDERS:
        return None
    split = parts[-3] if len(parts) >= 3 and parts[-3] in SPLITS else "train"
    return split, CLASS_FOLDERS[parts[-2]]


def _decode(raw: bytes, name: str, skipped: Skipped) -> str | None:
    try:
        text = raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        skipped.not_utf8.append(name)
        return None
    if not text.strip():
        skipped.empty.append(name)
        return None
    return text


_URLS = re.compile(r"(?:^|/)(?:(train|test)/)?urls_(neg|pos)\.txt$")
_REVIEW_ID = re.compile(r"^(\d+)_\d+\.txt$")
_TITLE = re.compile(r"/title/(tt\d+)")


def _urls_split_and_label(name: str) -> tuple[str, int] | None:
    """`.../[train|test/]urls_{neg,pos}.txt` -> (split, label); anything else -> None."""
    found = _URLS.search(name.replace("\\", "/"))
    if found is None:
        return None
    return found.group(1) or "train", CLASS_FOLDERS[found.group(2)]


def _wanted(name: str) -> bool:
    return _member_split_and_label(name) is not None or _urls_split_and_label(name) is not None


def parse_movie_list(raw: bytes, name: str) -> list[str]:
    """Line N of an aclImdb urls file -> the movie of review id N (its IMDB title id, else the line)."""
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{name}: not UTF-8; it should list one IMDB movie URL per review id "
                         "(remove it to carve validation by review instead)") from None
    movies = []
    for line in lines:
        title = _TITLE.search(line)
        movies.append(title.group(1) if title else line.strip())
    return movies


def _folder_members(path: Path) -> Iterator[tuple[str, bytes]]:
    for file in sorted(path.rglob("*.txt")):
        yield file.relative_to(path).as_posix(), file.read_bytes()


def _archive_members(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if member.isfile() and _wanted(member.name):
                    handle = archive.extractfile(member)
                    if handle is not None:
                        yield member.name, handle.read()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(f"--data {path}: not a readable .tar.gz archive ({error})") from None


def read_review_files(path: str | Path) -> tuple[dict[str, ReviewSet], Skipped]:
    """Reviews by split from an aclImdb-style folder or archive."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--data {path}: no such folder or file")
    members = _folder_members(path) if path.is_dir() else _archive_members(path)
    found: dict[str, list[tuple[str, str, int]]] = {split: [] for split in SPLITS}
    movie_lists: dict[tuple[str, int], list[str]] = {}
    skipped = Skipped()
    for name, raw in members:
        listed = _urls_split_and_label(name)
        if listed is not None:
            movie_lists[listed] = parse_movie_list(raw, f"--data {path}: {name}")
            continue
        where = _member_split_and_label(name)
        if where is None:
            continue
        text = _decode(raw, name, skipped)
        if text is not None:
            found[where[0]].append((name, text, where[1]))
    splits = {}
    for split, rows in found.items():
        if rows:
            rows.sort()
            splits[split] = ReviewSet([text for _, text, _ in rows], np.asarray([label for *_, label in rows], np.int32),
                                      _movies_of(rows, split, movie_lists))
    if "train" not in splits:
        layout = "[aclImdb/]train/{neg,pos}/*.txt (or {neg,pos}/*.txt)"
        raise ValueError(f"--data {path}: no readable reviews in the layout {layout}; {skipped.summary()}")
    return splits, skipped


def _movies_of(rows, split: str, movie_lists) -> list[str] | None:
    """The movie of each review (name `<id>_<rating>.txt`), when both urls lists of the split exist.

    A review whose id is past the end of its list, or not a number, is its own movie, so it still
    lands on one side only.
    """
    lists = [movie_lists.get((split, label)) for label in (0, 1)]
    if any(movies is None for movies in lists):
        return None
    movies = []
    for name, _, label in rows:
        review_id = _REVIEW_ID.match(name.replace("\\", "/").rsplit("/", 1)[-1])
        index = int(review_id.group(1)) if review_id else -1
        listed = lists[label]
        movies.append(listed[index] if 0 <= index < len(listed) and listed[index] else f"unlisted:{name}")
    return movies


def read_tfds(name: str) -> tuple[dict[str, ReviewSet], Skipped]:
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:  # pragma: no cover - it is a dependency
        raise ValueError("tfds sources need tensorflow-datasets installed") from error
    try:
        loaded = tfds.load(name, split=list(SPLITS), as_supervised=True)
    except Exception as error:
        raise ValueError(
            f"--data tfds:{name}: could not load it ({type(error).__name__}: {str(error)[:200]}); it needs the network "
            "the first time; pass an aclImdb folder or aclImdb_v1.tar.gz instead"
        ) from None
    splits, skipped = {}, Skipped()
    for split, dataset in zip(SPLITS, loaded, strict=True):
        texts, labels = [], []
        for index, (raw, label) in enumerate(dataset.as_numpy_iterator()):
            text = _decode(raw, f"tfds:{name}/{split}[{index}]", skipped)
            if text is not None:
                texts.append(text)
                labels.append(int(label))
        splits[split] = ReviewSet(texts, np.asarray(labels, np.int32))
    return splits, skipped


# The demo set: reviews whose label follows from the balance of polar words, at
# lengths from a handful of words to several hundred (so bucketing matters).
_POSITIVE = ("great", "excellent", "wonderful", "loved", "brilliant", "superb", "moving", "charming", "funny", "beautiful")
_NEGATIVE = ("awful", "boring", "terrible", "waste", "dull", "bad", "worst", "poor", "annoying", "predictable")
_FILLER = (
    "the film movie story plot actor actress director scene scenes script cast camera music score ending "
    "character characters dialogue a an and of to in it was is this that with for as but on by at from "
    "his her their they he she we i you one two first last time year old new young family war love city "
    "night day house world life man woman friend father mother son daughter watch watched saw see seen "
    "minutes hour sequel remake version effects action drama comedy horror thriller western romance role"
).split()


def demo_reviews(count: int, seed: int) -> ReviewSet:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(count):
        label = int(rng.integers(0, 2))
        length = int(np.clip(rng.lognormal(3.6, 0.7), 4, 400))
        words = list(rng.choice(_FILLER, size=length))
        own, other = (_POSITIVE, _NEGATIVE) if label else (_NEGATIVE, _POSITIVE)
        polar = max(1, length // 15)
        for _ in range(polar):
            words[int(rng.integers(0, length))] = str(rng.choice(own))
        for _ in range(polar // 3):
            words[int(rng.integers(0, length))] = str(rng.choice(other))
        sentences, start = [], 0
        while start < length:
            stop = start + int(rng.integers(5, 16))
            sentence = " ".join(words[start:stop])
            sentences.append(sentence[:1].upper() + sentence[1:] + str(rng.choice([".", ".", "!", "?"])))
            start = stop
        texts.append(("<br /><br />" if rng.random() < 0.2 else " ").join(sentences))
        labels.append(label)
    return ReviewSet(texts, np.asarray(labels, np.int32))


def split_reviews(reviews: ReviewSet, fraction: float, seed: int) -> tuple[ReviewSet, ReviewSet]:
    """(rest, held out): `fraction` of each class held out at random, reproducibly."""
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for label in (0, 1):
        members = np.flatnonzero(reviews.labels == label)
        held.extend(rng.permutation(members)[: int(round(len(members) * fraction))].tolist())
    mask = np.zeros(len(reviews), bool)
    mask[held] = True
    return reviews.subset(np.flatnonzero(~mask)), reviews.subset(np.flatnonzero(mask))


def read_source(source: str) -> tuple[dict[str, ReviewSet], Skipped]:
    """Every review of SOURCE by split (`train`, and `test` when it has one), uncarved."""
    if source == DEMO:
        return {"train": demo_reviews(2000, seed=0), "test": demo_reviews(500, seed=1)}, Skipped()
    if source.startswith("tfds:"):
        return read_tfds(source.split(":", 1)[1])
    return read_review_files(source)


def resolved_source(source: str) -> str:
    """SOURCE with a path made absolute (what a run saves, so `evaluate` can tell its own source from another)."""
    if source == DEMO or source.startswith("tfds:"):
        return source
    return str(Path(source).expanduser().resolve())


def same_source(first: str | None, second: str | None) -> bool:
    """Whether two --data values name the same source (paths compared once resolved)."""
    if not first or not second:
        return False
    return first == second or resolved_source(first) == resolved_source(second)


def split_by_movie(reviews: ReviewSet, fraction: float, seed: int) -> tuple[ReviewSet, ReviewSet]:
    """(rest, held out): whole movies held out, in random order, until `fraction` of each class is reached.

    A movie is taken only while it fits in both classes' quotas, so the held-out part stays
    stratified (to within a movie's few reviews) and no movie has reviews on both sides.
    """
    if reviews.movies is None:
        raise ValueError("split_by_movie needs the movie of every review")
    names, movie_of = np.unique(np.asarray(reviews.movies, dtype=object), return_inverse=True)
    positives = np.bincount(movie_of, weights=reviews.labels, minlength=len(names)).astype(np.int64)
    negatives = np.bincount(movie_of, minlength=len(names)) - positives
    wanted = np.asarray([round(int((reviews.labels == 0).sum()) * fraction),
                         round(int((reviews.labels == 1).sum()) * fraction)])
    taken = np.zeros(2, np.int64)
    held_movies = np.zeros(len(names), bool)
    for movie in np.random.default_rng(seed).permutation(len(names)):
        counts = np.asarray([negatives[movie], positives[movie]])
        if (taken + counts <= wanted).all():
            held_movies[movie] = True
            taken += counts
            if (taken == wanted).all():
                break
    mask = held_movies[movie_of]
    return reviews.subset(np.flatnonzero(~mask)), reviews.subset(np.flatnonzero(mask))


def load_reviews(source: str, val_fraction: float = 0.2, seed: int = 1337, max_examples: int = 0) -> Reviews:
    """Read SOURCE and carve the validation split from its training split (by movie when it lists movies)."""
    splits, skipped = read_source(source)
    train = splits["train"]
    if max_examples and max_examples < len(train):
        _, train = split_reviews(train, max_examples / len(train), seed + 1)
    if len(train) < 4 or len(np.unique(train.labels)) < 2:
        raise ValueError(f"--data {source}: need reviews of both classes to train on, found {train.counts()}")
    if train.movies is not None:
        train, val = split_by_movie(train, val_fraction, seed)
        split_by = "movie"
    else:
        train, val = split_reviews(train, val_fraction, seed)
        split_by = "review"
    return Reviews(source, train, val, splits.get("test"), skipped, split_by)


# -- text to token ids --------------------------------------------------------

_BREAK = r"<br\s*/?>"
_EXCLAIM = r"([!?])"
_APOSTROPHE_EDGES = r"(^|\s)'+|'+(\s|$)"


def standardize(texts):
    """Lowercase, `<br />` to a space, `!` and `?` as words of their own, other punctuation dropped.

    Invalid UTF-8 (a client may send anything) becomes U+FFFD first and is
    then dropped like punctuation. Apostrophes inside words stay (don't).
    """
    import tensorflow as tf

    texts = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
    texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, _BREAK, " ")
    texts = tf.strings.regex_replace(texts, _EXCLAIM, r" \1 ")
    texts = tf.strings.regex_replace(texts, r"[^\pL\pN'!?]+", " ")
    return tf.strings.regex_replace(texts, _APOSTROPHE_EDGES, " ")


def python_words(text: str) -> list[str]:
    """The words `standardize` + whitespace split give, in plain Python (for apps without TensorFlow)."""
    text = text.lower()
    text = re.sub(_BREAK, " ", text)
    text = re.sub(_EXCLAIM, r" \1 ", text)
    text = re.sub(r"[^\w'!?]+|_", " ", text)  # \w is letters, digits and "_"; the underscore goes too
    text = re.sub(_APOSTROPHE_EDGES, " ", text)
    return text.split()


def kept_positions(length: int, max_length: int, truncate: str) -> tuple[int, int]:
    """(head, tail): a review of `length` tokens keeps its first `head` and last `tail` tokens."""
    if length <= max_length:
        return length, 0
    if truncate == "head":
        return max_length, 0
    if truncate == "tail":
        return 0, max_length
    head = max_length // 4
    return head, max_length - head


def truncate_ids(ids, max_length: int, truncate: str):
    """Cut each row of a ragged id tensor to `max_length` tokens (see `kept_positions`)."""
    import tensorflow as tf

    lengths = ids.row_lengths()
    positions = tf.ragged.range(lengths)
    over = tf.expand_dims(lengths > max_length, 1)
    limit = tf.constant(max_length, lengths.dtype)
    if truncate == "head":
        keep = positions < limit
    elif truncate == "tail":
        keep = positions >= tf.expand_dims(lengths, 1) - limit
    else:
        head = tf.constant(max_length // 4, lengths.dtype)
        tail_start = tf.expand_dims(lengths, 1) - (limit - head)
        keep = tf.logical_or(tf.logical_not(over), tf.logical_or(positions < head, positions >= tail_start))
    return tf.ragged.boolean_mask(ids, keep)


def make_vectorizer(vocab_size: int, vocabulary: list[str] | None = None):
    """TextVectorization with `standardize`, whitespace split and ragged int ids (0 = padding, 1 = [UNK])."""
    import keras

    vectorizer = keras.layers.TextVectorization(
        max_tokens=vocab_size + 2, standardize=standardize, split="whitespace", output_mode="int", ragged=True,
        name="vectorizer",
    )
    if vocabulary is not None:
        vectorizer.set_vocabulary([token for token in vocabulary if token not in (PAD, UNKNOWN)])
    return vectorizer


def adapt_vectorizer(texts: list[str], vocab_size: int):
    import tensorflow as tf

    vectorizer = make_vectorizer(vocab_size)
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(512))
    return vectorizer


def encode(vectorizer, texts: list[str], max_length: int, truncate: str, chunk: int = 2048):
    """Token ids of `texts` as a ragged tensor, each row cut to `max_length`. Returns (ids, full lengths)."""
    import tensorflow as tf

    pieces, lengths = [], []
    for start in range(0, len(texts), chunk):
        ids = vectorizer(tf.constant(texts[start: start + chunk]))
        lengths.append(ids.row_lengths().numpy())
        pieces.append(truncate_ids(ids, max_length, truncate))
    if not pieces:
        return tf.ragged.constant([], dtype=tf.int64, ragged_rank=1), np.zeros(0, np.int64)
    return tf.concat(pieces, axis=0), np.concatenate(lengths)


def save_vocabulary(vocabulary: list[str], path: str | Path) -> Path:
    """One token per line; line i is token id i (line 0 is padding, line 1 is [UNK])."""
    from rnnkit.io import atomic_write_text

    return atomic_write_text(path, "\n".join(vocabulary) + "\n")


def load_vocabulary(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing vocabulary; is this a sentiment run folder or export?")
    tokens = path.read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens = tokens[:-1]
    if tokens[:2] != [PAD, UNKNOWN]:
        raise ValueError(f"{path}: a sentiment vocabulary starts with an empty line (padding) and [UNK]")
    return tokens


class Tokenizer:
    """Plain-Python text -> ids, equal to the TensorFlow path; for the TFLite model."""

    def __init__(self, vocabulary: list[str], max_length: int, truncate: str):
        self.vocabulary = vocabulary
        self.index = {token: i for i, token in enumerate(vocabulary) if i > 0}
        self.max_length = max_length
        self.truncate = truncate

    def words(self, text: str) -> list[str]:
        head, tail = kept_positions(len(words := python_words(text)), self.max_length, self.truncate)
        return words[:head] + (words[len(words) - tail:] if tail else [])

    def __call__(self, text: str) -> np.ndarray:
        return np.asarray([self.index.get(word, 1) for word in self.words(text)], np.int32)


# -- tf.data --------------------------------------------------------------------


def bucket_plan(lengths, config):
    from rnnkit.data.bucketing import BucketPlan

    lengths = np.maximum(np.minimum(lengths, config.max_length), 1)
    # The plan ends at the longest review read, not at max_length, so a cap far above every review costs nothing.
    return BucketPlan.from_lengths(
        lengths, num_buckets=config.num_buckets, batch_size=config.batch_size,
        max_length=min(config.max_length, int(lengths.max())), scale_batch=config.scale_batch,
        reference_length=min(config.max_length, config.batch_length), min_batch_size=config.batch_size, seed=config.seed,
    )


def steps_per_epoch(lengths, config, plan) -> int:
    """Batches in one pass; exact for every batching (a bucket's last batch may be short)."""
    count = len(lengths)
    if config.batching != "buckets":
        return max(1, -(-count // config.batch_size))
    buckets = np.bincount([plan.bucket_of(max(1, int(n))) for n in np.minimum(lengths, config.max_length)],
                          minlength=len(plan.batch_sizes))
    return max(1, int(sum(-(-int(n) // size) for n, size in zip(buckets, plan.batch_sizes, strict=True))))


def _at_least_one_step(ids, label):
    import tensorflow as tf

    return tf.pad(ids, [[0, tf.maximum(0, 1 - tf.size(ids))]]), label


def make_dataset(ids, labels, config, *, plan=None, shuffle: bool = False, batching: str | None = None):
    """(ids [batch, time] int32 right-padded with 0, label [batch] float32) batches.

    batching: `buckets` (the plan's length buckets), `longest` (random
    batches padded to their longest review) or `fixed` (padded to max_length).
    An empty review is given one padding token, so it still has a time step
    (fully masked), and reviews are never dropped.
    """
    import tensorflow as tf

    from rnnkit.data.bucketing import bucket_by_length, dense_elements

    batching = batching or config.batching
    dataset = tf.data.Dataset.from_tensor_slices((tf.cast(ids, tf.int32), tf.constant(np.asarray(labels, np.float32))))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=config.seed, reshuffle_each_iteration=True)
    dataset = dense_elements(dataset).map(_at_least_one_step, num_parallel_calls=tf.data.AUTOTUNE)
    if batching == "buckets":
        if plan is None:
            raise ValueError("batching='buckets' needs a bucket plan")
        dataset = bucket_by_length(dataset, plan)
    elif batching == "longest":
        dataset = dataset.padded_batch(config.batch_size)
    elif batching == "fixed":
        dataset = dataset.padded_batch(config.batch_size, padded_shapes=([config.max_length], []))
    else:
        raise ValueError(f"unknown batching {batching!r}")
    # The batch count is known exactly; saying so gives Keras a progress total from the first epoch.
    steps = steps_per_epoch(ids.row_lengths().numpy(), dataclasses.replace(config, batching=batching), plan)
    return dataset.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)


def words_of(texts: list[str], max_length: int, truncate: str) -> list[list[str]]:
    """The words each review is read as (after standardizing and cutting), aligned with its token ids."""
    import tensorflow as tf

    words = truncate_ids(tf.strings.split(standardize(tf.constant(texts))), max_length, truncate)
    return [[word.decode("utf-8") for word in row] for row in words.to_list()]
