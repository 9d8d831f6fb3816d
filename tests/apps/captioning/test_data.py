"""Caption text, the demo set, the Flickr8k layout and image decoding."""

import tarfile

import numpy as np
import pytest

from apps.captioning.data import (
    COLOURS,
    END_ID,
    PAD_ID,
    START_ID,
    UNK_ID,
    Vocabulary,
    decode_image,
    demo_source,
    flickr8k_source,
    load_images,
    load_source,
    standardize,
)
from tests.apps.captioning.conftest import encode


def test_standardize_and_vocabulary_round_trip(tmp_path):
    assert standardize("A dog's ball, in the GRASS .") == ["a", "dog's", "ball", "in", "the", "grass"]
    vocabulary = Vocabulary.from_captions(["a dog runs", "a dog sits", "a cat"], min_count=2)
    assert vocabulary.words[:4] == ["", "[UNK]", "<start>", "<end>"] and set(vocabulary.words[4:]) == {"a", "dog"}
    ids = vocabulary.encode("A dog flies", max_length=6)
    assert ids.tolist() == [START_ID, vocabulary.index["a"], vocabulary.index["dog"], UNK_ID, END_ID, PAD_ID, PAD_ID]
    assert vocabulary.decode(ids) == "a dog [UNK]"
    cut = vocabulary.encode("a dog a dog a dog a dog", max_length=4)
    assert len(cut) == 5 and END_ID not in cut.tolist()  # too long: cut, no end token
    vocabulary.save(tmp_path / "vocab.json")
    assert Vocabulary.load(tmp_path / "vocab.json").words == vocabulary.words


def test_demo_captions_say_what_was_drawn():
    source = demo_source(train=30, val=5, test=5)
    assert len(source.train) == 30 and len(source.test) == 5
    for item in source.train:
        words = set(" ".join(item.captions).split())
        drawn = {name for name, rgb in COLOURS.items() if np.any(np.all(item.array == rgb, axis=-1))}
        assert drawn and drawn == words & set(COLOURS), (item.captions, drawn)


def write_flickr(root, names, dev=True, broken=()):
    images = root / "Flicker8k_Dataset"
    images.mkdir(parents=True)
    picture = np.zeros((20, 30, 3), np.uint8)
    lines = []
    for name in names:
        if name not in broken:
            (images / name).write_bytes(encode(picture, "JPEG"))
        for n in range(2):
            lines.append(f"{name}#{n}\tA black picture number {n} .")
    lines.append("this line has no tab")
    (root / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    (root / "Flickr_8k.trainImages.txt").write_text("\n".join(names[:-2]) + "\n")
    if dev:
        (root / "Flickr_8k.devImages.txt").write_text("\n".join(names[-2:]) + "\n")


def test_flickr8k_layout_skips_and_counts_what_is_missing(tmp_path):
    names = [f"img{i}.jpg" for i in range(8)]
    write_flickr(tmp_path, names, broken=("img1.jpg",))
    (tmp_path / "Flicker8k_Dataset" / "img2.jpg").write_bytes(b"\xff\xd8\xff truncated nonsense")
    source = flickr8k_source(tmp_path)
    assert [item.key for item in source.val] == ["img6.jpg", "img7.jpg"] and source.test is None
    assert len(source.train) == 5 and source.skipped["listed images missing from the image folder"] == 1
    assert source.skipped["unreadable caption lines"] == 1
    assert source.train[0].captions == ["A black picture number 0 .", "A black picture number 1 ."]
    images, kept, failed = load_images(source.train, 32)
    assert images.shape == (4, 32, 32, 3) and [key for key, _ in failed] == ["img2.jpg"]
    assert "img2.jpg" in failed[0][1] and len(kept) == 4


def test_flickr8k_tar_gz_and_a_missing_dev_list(tmp_path):
    root = tmp_path / "Flickr8k"
    write_flickr(root, [f"p{i}.jpg" for i in range(12)], dev=False)
    archive = tmp_path / "flickr.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="Flickr8k")
    source = load_source(str(archive))
    assert len(source.train) == 9 and len(source.val) == 1  # 10 listed; the last 10% held out
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="--data .*broken.tar.gz: cannot read the archive"):
        load_source(str(broken))


def test_missing_layout_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="Flickr8k.token.txt"):
        flickr8k_source(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        flickr8k_source(tmp_path / "absent")


def test_decode_image_handles_grayscale_alpha_and_refuses_non_images(monkeypatch):
    picture = np.random.default_rng(0).integers(0, 255, (10, 12, 3)).astype(np.uint8)
    assert decode_image(encode(picture[..., 0], "PNG"), "g.png").shape == (10, 12, 3)
    rgba = decode_image(encode(np.dstack([picture, np.zeros((10, 12), np.uint8)]), "PNG"), "a.png")
    assert rgba.shape == (10, 12, 3) and np.array_equal(rgba, picture)
    with pytest.raises(ValueError, match="notes.txt: not a JPEG, PNG"):
        decode_image(b"plain text", "notes.txt")
    with pytest.raises(ValueError, match="empty"):
        decode_image(b"", "empty.png")
    monkeypatch.setattr("apps.captioning.data.MAX_PIXELS", 100)
    with pytest.raises(ValueError, match="big.png: 12x10 pixels is more than"):
        decode_image(encode(picture, "PNG"), "big.png")


def test_tfds_coco_captions_are_read_and_an_offline_failure_is_explained(monkeypatch):
    """tfds itself needs the network; its output format is stood in for here."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    def fake_split(count):
        images = np.zeros((count, 8, 8, 3), np.uint8)
        texts = tf.constant([[b"A cat on a mat", b"a cat"]] * count)
        return tf.data.Dataset.from_tensor_slices({"image": images, "captions": {"text": texts}})

    monkeypatch.setattr(tfds, "load", lambda name: {"train": fake_split(5), "val": fake_split(2), "test": fake_split(1)})
    source = load_source("tfds:coco_captions", max_images=3)
    assert (len(source.train), len(source.val), len(source.test)) == (3, 2, 1)
    assert source.train[0].captions == ["A cat on a mat", "a cat"] and source.train[0].read().shape == (8, 8, 3)

    def offline(name):
        raise ConnectionError("no network")

    monkeypatch.setattr(tfds, "load", offline)
    with pytest.raises(ValueError, match="tfds:coco_captions: could not load it.*Flickr8k layout"):
        load_source("tfds:coco_captions")


def test_flipped_inputs_are_drawn_at_random_for_each_caption():
    from apps.captioning.data import CaptionItem, make_dataset

    vocabulary = Vocabulary.from_captions(["a dog left of a cat", "a cat right of a dog"])
    left, right = vocabulary.index["left"], vocabulary.index["right"]
    items = [CaptionItem(f"x{i}", ["a dog left of a cat", "a cat right of a dog", "a dog"]) for i in range(4)]
    inputs, mirrored = np.zeros((4, 2, 2, 1), np.float32), np.ones((4, 2, 2, 1), np.float32)
    seen = set()
    for _ in range(3):  # a new draw every epoch
        for batch, targets in make_dataset(inputs, items, vocabulary, 8, 4, shuffle=True, seed=0, flipped=mirrored):
            assert batch["tokens"].shape[0] == 4  # one row per caption, as without flipping
            for features, tokens, target in zip(batch["features"].numpy(), batch["tokens"].numpy(), targets.numpy(),
                                                strict=True):
                seen.add(float(features.mean()))
                words = set(tokens.tolist()) | set(target.tolist())
                if features.mean() == 1.0 and words & {left, right}:  # the mirror image: left and right swapped
                    words_of_caption = vocabulary.decode(tokens)
                    assert words_of_caption in ("a dog right of a cat", "a cat left of a dog"), words_of_caption
                    assert (target == left).sum() + (target == right).sum() == 1
    assert seen == {0.0, 1.0}
