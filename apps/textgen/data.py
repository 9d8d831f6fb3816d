"""Text sources for textgen: the built-in corpus, any UTF-8 file, tfds.

SOURCE is one of
  demo           a corpus built from the docstrings of Python's standard
                 library, so there is always text to train on offline;
  PATH           a UTF-8 text file, or a folder whose *.txt files are joined;
  tfds:NAME      a TensorFlow Datasets text set such as tfds:tiny_shakespeare
                 (needs the network the first time).
The last `val_fraction` of the text (10% by default) is the validation part.
"""

from __future__ import annotations

import ast
import json
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEMO = "demo"

# Standard-library modules whose docstrings make the built-in corpus. Modules
# missing from a given Python build are skipped.
_CORPUS_MODULES = (
    "argparse", "collections/__init__", "textwrap", "json/__init__", "csv", "datetime", "decimal",
    "fractions", "functools", "logging/__init__", "pathlib", "random", "statistics", "string",
    "subprocess", "tarfile", "threading", "typing", "unittest/case", "urllib/parse", "heapq",
    "bisect", "calendar", "dataclasses", "difflib", "email/message", "enum", "fnmatch", "glob",
    "gzip", "http/client", "inspect", "locale", "mailbox", "os", "pickle", "pprint", "queue",
    "re/__init__", "shutil", "socket", "tempfile", "tokenize", "traceback", "uuid", "warnings",
    "weakref", "asyncio/events", "asyncio/tasks", "configparser", "contextlib", "copy", "doctest",
    "ftplib", "imaplib", "optparse", "platform", "smtplib", "ssl", "sched", "selectors", "shlex",
    "socketserver", "trace", "wave", "ast", "abc", "base64", "codecs", "cmd", "numbers",
    "operator", "pdb", "pydoc", "timeit", "types", "secrets", "hashlib", "hmac", "io", "ipaddress",
    "mimetypes", "pstats", "profile", "reprlib", "runpy", "sysconfig", "webbrowser", "xmlrpc/client",
)


@dataclass
class TextSource:
    name: str
    train: str
    val: str
    test: str | None = None

    def all_text(self) -> str:
        return self.train + self.val + (self.test or "")


def builtin_corpus() -> str:
    """Docstrings of standard-library modules, classes and functions (about 800 kB of English)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts = []
    for module in _CORPUS_MODULES:
        path = stdlib / f"{module}.py"
        if not path.is_file():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 40:
                    parts.append(doc)
    if not parts:
        raise FileNotFoundError(f"no standard-library sources under {stdlib} to build the demo corpus from; pass --data FILE.txt")
    return "\n\n".join(parts) + "\n"


def read_text_file(path: str | Path) -> str:
    """Read UTF-8 text, with errors that name the file and say what is wrong."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--data {path}: no such file or folder")
    if path.is_dir():
        files = sorted(path.rglob("*.txt"))
        if not files:
            raise ValueError(f"--data {path}: the folder has no .txt files")
        return "\n\n".join(read_text_file(file) for file in files)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"--data {path}: not UTF-8 text (byte {error.start} is {raw[error.start:error.start + 1]!r}); "
            "convert it first, e.g. `iconv -f latin1 -t utf-8`"
        ) from None
    if not text.strip():
        raise ValueError(f"--data {path}: the file is empty; give a text file with some content")
    return text.lstrip("\ufeff")


def _load_tfds(name: str) -> dict[str, str]:
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:  # pragma: no cover - it is a dependency
        raise ValueError("tfds sources need tensorflow-datasets installed") from error
    try:
        splits = tfds.load(name)
    except Exception as error:
        raise ValueError(f"--data tfds:{name}: could not load it ({type(error).__name__}: {error}); "
                         "it needs the network the first time; pass a text file instead") from None
    texts = {}
    for split, dataset in splits.items():
        pieces = [example["text"].decode("utf-8") for example in dataset.as_numpy_iterator()]
        texts[split] = "".join(pieces)
    return texts


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    cut = int(len(text) * (1.0 - val_fraction))
    return text[:cut], text[cut:]


def load_text(source: str, val_fraction: float = 0.1, max_chars: int = 0) -> TextSource:
    """Load SOURCE and split off the last `val_fraction` as validation."""
    if source.startswith("tfds:"):
        name = source.split(":", 1)[1]
        texts = _load_tfds(name)
        train = texts.get("train", "")
        if max_chars:
            train = train[:max_chars]
        if "validation" in texts:
            return TextSource(source, train, texts["validation"], texts.get("test"))
        train, val = split_text(train, val_fraction)
        return TextSource(source, train, val, texts.get("test"))
    text = builtin_corpus() if source == DEMO else read_text_file(source)
    if max_chars:
        text = text[:max_chars]
    train, val = split_text(text, val_fraction)
    if len(val) < 2:
        raise ValueError(f"--data {source}: {len(text)} characters is too little text to hold out validation")
    return TextSource(source, train, val, None)


class Vocabulary:
    """Characters <-> ids. Unknown characters are skipped (and counted), never fatal."""

    def __init__(self, chars: list[str]):
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be unique")
        self.chars = list(chars)
        self.index = {char: i for i, char in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def start_id(self) -> int:
        """Where generation starts when the prime has no known character."""
        return self.index.get("\n", 0)

    def encode(self, text: str) -> tuple[np.ndarray, list[str]]:
        """Ids of the known characters, and the unknown characters that were dropped."""
        ids, unknown = [], []
        for char in text:
            found = self.index.get(char)
            if found is None:
                unknown.append(char)
            else:
                ids.append(found)
        return np.asarray(ids, dtype=np.int32), unknown

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))

    def to_json(self) -> str:
        return json.dumps({"chars": self.chars}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        return cls(json.loads(text)["chars"])

    def save(self, path: str | Path) -> None:
        from rnnkit.io import atomic_write_text

        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing vocabulary; is this a textgen run folder?")
        return cls.from_json(path.read_text(encoding="utf-8"))


def make_dataset(ids: np.ndarray, seq_len: int, batch_size: int, *, shuffle: bool, seed: int | None = None):
    """(input, target) windows of `seq_len` characters, target shifted by one.

    For training (`shuffle=True`) the windows start at a random offset each
    epoch, so the model sees every character at different positions of its
    window; the number of windows per epoch stays the same.
    """
    import tensorflow as tf

    ids = np.asarray(ids, dtype=np.int32)
    windows = (len(ids) - 1 - (seq_len if shuffle else 0)) // seq_len
    if windows < 1:
        raise ValueError(f"{len(ids)} characters is shorter than one window of seq_len={seq_len}; lower seq_len or give more text")
    span = windows * seq_len
    text = tf.constant(ids)

    def cut(offset):
        inputs = tf.reshape(text[offset: offset + span], [windows, seq_len])
        targets = tf.reshape(text[offset + 1: offset + 1 + span], [windows, seq_len])
        return tf.data.Dataset.from_tensor_slices((inputs, targets))

    if shuffle:
        generator = tf.random.Generator.from_seed(seed if seed is not None else 0)
        offsets = tf.data.Dataset.from_tensors(0).map(lambda _: generator.uniform([], 0, seq_len, dtype=tf.int32))
        dataset = offsets.flat_map(cut).apply(tf.data.experimental.assert_cardinality(windows))
        dataset = dataset.shuffle(windows, seed=seed, reshuffle_each_iteration=True)
        drop = windows >= batch_size
    else:
        dataset = cut(0)
        drop = False
    return dataset.batch(batch_size, drop_remainder=drop).prefetch(tf.data.AUTOTUNE)
