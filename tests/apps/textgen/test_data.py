import numpy as np
import pytest

from apps.textgen.data import Vocabulary, builtin_corpus, load_text, make_dataset, read_text_file


def test_builtin_corpus_is_there_offline():
    text = builtin_corpus()
    assert len(text) > 200_000 and "Return" in text


def test_last_tenth_is_validation(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("".join(chr(ord("a") + i % 26) for i in range(1000)), encoding="utf-8")
    source = load_text(str(path))
    assert len(source.train) == 900 and source.train + source.val == path.read_text()


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"", "empty"),
    (b"  \n\t ", "empty"),
    (b"caf\xe9 au lait", "not UTF-8 text \\(byte 3"),
])
def test_bad_files_get_clear_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((ValueError, FileNotFoundError), match=f"corpus.txt: .*{message}"):
        read_text_file(path)


def test_a_folder_of_text_files_is_joined(tmp_path):
    (tmp_path / "b.txt").write_text("second")
    (tmp_path / "a.txt").write_text("first")
    assert read_text_file(tmp_path) == "first\n\nsecond"


def test_unknown_characters_are_skipped_and_reported():
    vocabulary = Vocabulary.from_text("abc\n")
    ids, unknown = vocabulary.encode("abzc€")
    assert vocabulary.decode(ids) == "abc" and unknown == ["z", "€"]
    assert Vocabulary.from_json(vocabulary.to_json()).chars == vocabulary.chars
    assert vocabulary.start_id == vocabulary.index["\n"]


def test_windows_are_shifted_by_one_and_offsets_change_each_epoch():
    ids = np.arange(1000, dtype=np.int32)
    dataset = make_dataset(ids, seq_len=10, batch_size=4, shuffle=True, seed=1)
    starts = []
    for _ in range(3):
        batches = list(dataset)
        assert len(batches) == len(list(dataset)), "same number of batches every epoch"
        x, y = batches[0]
        assert np.array_equal(y.numpy(), x.numpy() + 1)
        starts.append(sorted(int(row[0]) % 10 for x, _ in batches for row in x.numpy())[0])
    assert len(set(starts)) > 1 or starts[0] != 0, "training windows should start at random offsets"
    val = list(make_dataset(ids, seq_len=10, batch_size=4, shuffle=False))
    assert int(val[0][0].numpy()[0, 0]) == 0
