"""Tiny aclImdb fixtures written by the tests, and one tiny run + export shared by the session."""

from __future__ import annotations

import contextlib
import io
import tarfile

import pytest

from rnnkit.cli import main as rnnkit_main

TINY = ["--set", "vocab_size=400", "--set", "max_length=60", "--set", "cell=gru", "--set", "units=8",
        "--set", "embedding_dim=8", "--set", "attention_units=8", "--set", "batch_size=16",
        "--set", "learning_rate=0.02", "--set", "num_buckets=4", "--set", "embedding_dropout=0", "--set", "dropout=0",
        # Plain training steps: the two-worker test compares a cluster with one process step by step, and an
        # adversarial pass perturbs each replica by its own half batch's gradient (tested on its own); drop-path
        # leaves a whole branch out of a review's logit, so one process and two workers, which draw their random
        # masks differently, differ by far more than float sums (the n-gram branch itself stays on). With 10x the
        # default learning rate, ngram_rate=5 keeps the bag's table at its default pace (0.1, not 1.0 a step).
        "--set", "adversarial=0", "--set", "pretrain_epochs=0", "--set", "drop_path=0", "--set", "ngram_rate=5"]
NOT_UTF8 = "aclImdb/train/pos/9000_8.txt"
EMPTY = ("aclImdb/train/neg/9001_2.txt", "aclImdb/train/neg/9002_1.txt")


REVIEWS_PER_MOVIE = 6


def movie_of(index: int) -> str:
    """The fixture's movie of review id `index` (in either class folder): six ids a movie, both classes mixed."""
    return f"tt{index // REVIEWS_PER_MOVIE:07d}"


def write_acl_imdb(root, train=320, test=80, movies=True):
    """An aclImdb-layout folder: train/test x pos/neg reviews, an ignored unsup folder and three bad files.

    With `movies`, `train/urls_{pos,neg}.txt` list the movie of every review id as the real
    download does (line N: the IMDB page of review id N).
    """
    from apps.sentiment.data import demo_reviews

    for split, count, seed in (("train", train, 5), ("test", test, 6)):
        reviews = demo_reviews(count, seed)
        for index, (text, label) in enumerate(zip(reviews.texts, reviews.labels, strict=True)):
            folder = root / "aclImdb" / split / ("pos" if label else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            rating = 7 + index % 4 if label else 1 + index % 4
            (folder / f"{index}_{rating}.txt").write_text(text, encoding="utf-8")
        if movies:
            urls = "".join(f"http://www.imdb.com/title/{movie_of(index)}/usercomments\n" for index in range(count + 10))
            for name in ("urls_pos.txt", "urls_neg.txt"):
                (root / "aclImdb" / split / name).write_text(urls, encoding="utf-8")
    unsup = root / "aclImdb" / "train" / "unsup"
    unsup.mkdir(parents=True, exist_ok=True)
    (unsup / "0_0.txt").write_text("An unlabelled review that must not be read.", encoding="utf-8")
    (root / NOT_UTF8).write_bytes("A na\u00efve but lovely film".encode("latin-1"))
    (root / EMPTY[0]).write_bytes(b"")
    (root / EMPTY[1]).write_text(" \n\t  \n", encoding="utf-8")
    (root / "aclImdb" / "README").write_text("tiny fixture", encoding="utf-8")
    return root / "aclImdb"


def write_archive(folder, path):
    with tarfile.open(path, "w:gz") as archive:
        archive.add(folder, arcname="aclImdb")
    return path


@pytest.fixture(scope="session")
def acl_folder(session_tmp):
    return write_acl_imdb(session_tmp / "acl")


@pytest.fixture(scope="session")
def acl_folder_without_movies(session_tmp):
    return write_acl_imdb(session_tmp / "acl-no-urls", movies=False)


@pytest.fixture(scope="session")
def acl_archive(acl_folder, session_tmp):
    return write_archive(acl_folder, session_tmp / "aclImdb_tiny.tar.gz")


def run_cli(args: list[str]) -> tuple[int, str]:
    """`rnnkit ...` in this process, with its stdout captured."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = rnnkit_main(args)
    return code, buffer.getvalue()


@pytest.fixture(scope="session")
def tiny_run(acl_archive, session_tmp):
    """A BiGRU-8 run on the tiny aclImdb archive, trained once per session; (run folder, train output)."""
    out = session_tmp / "sentiment-run"
    code, output = run_cli(["sentiment", "train", "--data", str(acl_archive), "--out", str(out), "--epochs", "3", *TINY])
    assert code == 0, output
    return out, output


@pytest.fixture(scope="session")
def tiny_export(tiny_run, session_tmp):
    from apps.sentiment.export import export

    return export(tiny_run[0], session_tmp / "saved_models", quantize=("float16", "int8"), eval_reviews=40)
