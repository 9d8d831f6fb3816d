"""Reading reviews (folders, archives, bad files), tokenizing in TF and in plain Python, batching."""

import numpy as np
import pytest

from apps.sentiment import data
from apps.sentiment.config import SentimentConfig
from tests.apps.sentiment.conftest import EMPTY, NOT_UTF8

TRICKY = [
    "A <br />great<br/>film<BR>!",
    "I don't think 'Casablanca' is DULL... Wow!!!",
    "Caf\u00e9 na\u00efve \u00fcber-cool 10/10, 3.5 stars; under_score",
    "tabs\tand\nnewlines   and -- dashes",
    "''quoted'' words' ends 'start",
    "",
    "   ",
    "!?",
]


def test_folder_and_archive_give_the_same_reviews_and_count_bad_files(acl_folder, acl_archive):
    from_folder, skipped_folder = data.read_review_files(acl_folder.parent)
    from_archive, skipped_archive = data.read_review_files(acl_archive)
    assert set(from_folder) == {"train", "test"}
    assert len(from_folder["train"]) == 320 and len(from_folder["test"]) == 80  # unsup and README not read
    for split in ("train", "test"):
        assert from_folder[split].texts == from_archive[split].texts
        assert from_folder[split].labels.tolist() == from_archive[split].labels.tolist()
    assert skipped_archive.not_utf8 == [NOT_UTF8]
    assert sorted(skipped_archive.empty) == sorted(EMPTY)
    assert skipped_folder.not_utf8 == [NOT_UTF8] and skipped_folder.count == 3
    assert "1 not UTF-8 (" in skipped_archive.summary() and "2 empty or whitespace only" in skipped_archive.summary()


def test_one_split_folder_and_its_parent_layouts(acl_folder):
    splits, _ = data.read_review_files(acl_folder / "train")
    assert list(splits) == ["train"] and len(splits["train"]) == 320
    with pytest.raises(ValueError, match=r"no readable reviews in the layout"):
        data.read_review_files(acl_folder / "train" / "unsup")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        data.read_review_files(acl_folder / "missing")


def test_a_broken_archive_names_itself(tmp_path):
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"\x1f\x8b\x08 not really gzip")
    with pytest.raises(ValueError, match=r"broken.tar.gz: not a readable .tar.gz"):
        data.read_review_files(broken)


def test_validation_is_carved_by_movie_stratified_and_reproducible(acl_archive, acl_folder):
    from tests.apps.sentiment.conftest import movie_of

    first = data.load_reviews(str(acl_archive), 0.25, seed=3)
    assert first.split_by == "movie" and "validation carved by movie" in first.describe()
    assert first.val.texts == data.load_reviews(str(acl_folder), 0.25, seed=3).val.texts  # folder = archive
    assert first.val.texts == data.load_reviews(str(acl_archive), 0.25, seed=3).val.texts
    assert first.val.texts != data.load_reviews(str(acl_archive), 0.25, seed=4).val.texts
    train_movies, val_movies = set(first.train.movies), set(first.val.movies)
    assert train_movies and val_movies and not train_movies & val_movies  # no movie on both sides
    # The movies come from the urls lists: line N of urls_{pos,neg}.txt is review id N's page.
    by_text = dict(zip(first.val.texts, first.val.movies, strict=True))
    folder = acl_folder / "train"
    for path in sorted((folder / "pos").glob("*.txt"))[:40] + sorted((folder / "neg").glob("*.txt"))[:40]:
        text = path.read_text(encoding="utf-8", errors="replace")
        if text in by_text:
            assert by_text[text] == movie_of(int(path.name.split("_")[0]))
    # Stratified to within one movie's reviews, never above either class's quota.
    wanted = [round(int((first.train.labels == c).sum() + (first.val.labels == c).sum()) * 0.25) for c in (0, 1)]
    held = [int((first.val.labels == c).sum()) for c in (0, 1)]
    assert all(w - 6 <= h <= w for h, w in zip(held, wanted, strict=True)), (held, wanted)
    assert not set(first.val.texts) & set(first.train.texts) and len(first.test) == 80


def test_without_movie_lists_validation_is_carved_by_review_and_says_so(acl_folder_without_movies):
    reviews = data.load_reviews(str(acl_folder_without_movies), 0.25, seed=3)
    assert reviews.split_by == "review" and reviews.train.movies is None
    assert "validation carved by review (the source lists no movies" in reviews.describe()


def test_an_unreadable_movie_list_names_itself(acl_folder, tmp_path):
    import shutil

    copy = tmp_path / "aclImdb"
    shutil.copytree(acl_folder, copy)
    (copy / "train" / "urls_neg.txt").write_bytes(b"http://www.imdb.com/title/tt\xff\xfe\n")
    with pytest.raises(ValueError, match=r"train/urls_neg.txt: not UTF-8"):
        data.load_reviews(str(copy))


def test_validation_by_review_is_stratified_and_reproducible(acl_folder_without_movies):
    acl_archive = acl_folder_without_movies
    first = data.load_reviews(str(acl_archive), 0.25, seed=3)
    again = data.load_reviews(str(acl_archive), 0.25, seed=3)
    other = data.load_reviews(str(acl_archive), 0.25, seed=4)
    assert first.val.texts == again.val.texts and first.val.texts != other.val.texts
    assert not set(first.val.texts) & set(first.train.texts)
    assert len(first.val) == 80 and abs(int(first.val.labels.sum()) - 40) <= 1
    assert len(first.test) == 80 and not set(first.test.texts) & set(first.val.texts + first.train.texts)
    assert first.skipped.count == 3
    smaller = data.load_reviews(str(acl_archive), 0.25, seed=3, max_examples=100)
    assert len(smaller.train) + len(smaller.val) == 100


def test_tfds_offline_gives_a_clear_error(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(ValueError, match=r"tfds:imdb_reviews: could not load it .*network the first time"):
        data.load_reviews("tfds:imdb_reviews")


def test_tensorflow_and_python_tokenizers_agree():
    tf_words = data.words_of(TRICKY, 1000, "head")
    assert tf_words == [data.python_words(text) for text in TRICKY]
    assert tf_words[0] == ["a", "great", "film", "!"]  # <br /> in every spelling is a space
    assert tf_words[1] == ["i", "don't", "think", "casablanca", "is", "dull", "wow", "!", "!", "!"]
    assert tf_words[2][:3] == ["caf\u00e9", "na\u00efve", "\u00fcber"] and "under" in tf_words[2] and "score" in tf_words[2]
    assert tf_words[5] == [] and tf_words[6] == [] and tf_words[7] == ["!", "?"]


def test_invalid_utf8_sent_to_the_graph_is_dropped_not_an_error():
    import tensorflow as tf

    words = data.standardize(tf.constant([b"good \xff\xfe film"])).numpy()[0].decode("utf-8").split()
    assert words == ["good", "film"]


@pytest.mark.parametrize("truncate", ["head", "tail", "head_tail"])
def test_a_100000_word_review_is_cut_to_max_length(truncate):
    words = [f"w{i % 50}" for i in range(100_000)]
    review = " ".join(words)
    vocabulary = [data.PAD, data.UNKNOWN] + [f"w{i}" for i in range(50)]
    vectorizer = data.make_vectorizer(60, vocabulary)
    ids, lengths = data.encode(vectorizer, [review, "w1 w2"], max_length=40, truncate=truncate)
    assert lengths.tolist() == [100_000, 2]
    assert ids.row_lengths().numpy().tolist() == [40, 2]
    head, tail = data.kept_positions(100_000, 40, truncate)
    expected = words[:head] + (words[-tail:] if tail else [])
    assert [vocabulary[i] for i in ids[0].numpy()] == expected
    tokenizer = data.Tokenizer(vocabulary, 40, truncate)
    assert tokenizer(review).tolist() == ids[0].numpy().tolist()
    assert data.words_of([review], 40, truncate)[0] == expected


def test_vocabulary_file_round_trip_and_refuses_a_foreign_file(tmp_path):
    vocabulary = [data.PAD, data.UNKNOWN, "the", "film", "don't"]
    data.save_vocabulary(vocabulary, tmp_path / "vocab.txt")
    assert data.load_vocabulary(tmp_path / "vocab.txt") == vocabulary
    (tmp_path / "other.txt").write_text("the\nfilm\n", encoding="utf-8")
    with pytest.raises(ValueError, match="other.txt: a sentiment vocabulary starts"):
        data.load_vocabulary(tmp_path / "other.txt")


@pytest.mark.parametrize("batching", ["buckets", "longest", "fixed"])
def test_every_review_is_batched_once_and_empty_ones_keep_a_step(batching):
    import tensorflow as tf

    config = SentimentConfig(batch_size=4, num_buckets=3, max_length=12, batching=batching)
    rows = [list(range(1, n + 1)) for n in [0, 1, 3, 5, 8, 12, 12, 2, 7, 4, 9, 0]]
    ids = tf.ragged.constant(rows, dtype=tf.int64)
    labels = np.arange(len(rows)) % 2
    lengths = np.asarray([len(row) for row in rows])
    plan = data.bucket_plan(lengths, config)
    dataset = data.make_dataset(ids, labels, config, plan=plan, shuffle=True)
    seen = []
    for batch, _ in dataset.as_numpy_iterator():
        assert batch.shape[1] >= 1
        if batching == "fixed":
            assert batch.shape[1] == 12
        seen.extend(sorted(int((row != 0).sum()) for row in batch))
    assert sorted(seen) == sorted(lengths.tolist())
    assert int(dataset.cardinality()) == data.steps_per_epoch(lengths, config, plan)


def test_demo_set_has_both_classes_varied_lengths_and_line_breaks():
    reviews = data.demo_reviews(300, seed=0)
    lengths = [len(data.python_words(text)) for text in reviews.texts]
    assert 0.35 < reviews.labels.mean() < 0.65
    assert min(lengths) < 20 and max(lengths) > 150
    assert any("<br />" in text for text in reviews.texts)
