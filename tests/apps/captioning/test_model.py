"""The step model against the training model, encoder weights, BLEU and the baselines."""

import dataclasses
import urllib.error

import keras
import numpy as np
import pytest

from apps.captioning.config import CaptioningConfig
from apps.captioning.data import CaptionItem, Vocabulary
from apps.captioning.metrics import (
    consensus_caption,
    corpus_bleu,
    most_frequent_caption,
    nearest_neighbour_captions,
)
from apps.captioning.model import Captioner, build_encoder, build_model

TINY = CaptioningConfig(encoder_weights="none", image_size=64, units=12, embedding_dim=6, attention_units=5,
                        max_length=6, dropout=0.0)


@pytest.fixture(scope="module")
def encoder():
    return build_encoder(TINY)


@pytest.mark.parametrize("cell,attention", [("gru", "bahdanau"), ("lstm", "luong_dot"), ("lstm", "luong_general"),
                                            ("simple", "bahdanau")])
def test_step_by_step_decoding_reproduces_the_teacher_forced_model(cell, attention, encoder):
    """The one-step model carrying its state must give the training model's logits at every position."""
    config = dataclasses.replace(TINY, cell=cell, attention=attention)
    vocabulary = Vocabulary(["", "[UNK]", "<start>", "<end>", *"abcdefg"])
    model = build_model(config, len(vocabulary), tuple(encoder.output.shape[1:]))
    captioner = Captioner(encoder, model, vocabulary, config)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    tokens = np.array([[2, 5, 6, 7, 8, 9], [2, 4, 4, 10, 3, 0]], np.int32)
    grid = np.asarray(encoder(images))
    expected = np.asarray(model({"features": grid, "tokens": tokens}))
    projected, *states = captioner.image_encoder(images)
    for position in range(tokens.shape[1]):
        logits, weights, *states = captioner.step_model([tokens[:, position], projected, *states])
        np.testing.assert_allclose(np.asarray(logits), expected[:, position], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(weights).sum(axis=1), 1.0, rtol=1e-5)
    if cell == "gru":
        # The compiled search returns one attention row per word over the grid.
        tokens, attention_maps = captioner.caption_arrays(images, beam_width=3)
        assert tokens.shape == (2, config.max_length) and attention_maps.shape == (2, config.max_length, 4)
        np.testing.assert_allclose(attention_maps[:, 0].sum(axis=1), 1.0, rtol=1e-5)


def test_encoder_weights_from_a_file_and_clear_errors(tmp_path, monkeypatch, encoder):
    path = tmp_path / "encoder.weights.h5"
    encoder.save_weights(path)
    same = build_encoder(dataclasses.replace(TINY, encoder_weights=str(path)))
    images = np.random.default_rng(1).uniform(0, 255, (1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(same(images)), np.asarray(encoder(images)), rtol=1e-5, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="--encoder-weights .*missing.h5: no such file"):
        build_encoder(dataclasses.replace(TINY, encoder_weights=str(tmp_path / "missing.h5")))

    def offline(**kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(keras.applications, "MobileNetV2", offline)
    with pytest.raises(ValueError, match="could not get the ImageNet weights.*--encoder-weights PATH.*none"):
        build_encoder(dataclasses.replace(TINY, encoder_weights="imagenet"))


def test_bleu_and_the_baselines():
    references = [["a dog runs on grass", "a brown dog running"], ["two people on a beach"]]
    assert corpus_bleu(references, ["a dog runs on grass", "two people on a beach"])["bleu_4"] == pytest.approx(1.0)
    partial = corpus_bleu(references, ["a dog runs", "people on the beach"])
    assert 0 < partial["bleu_2"] < partial["bleu_1"] < 1
    train = [CaptionItem("x", ["A dog .", "a cat"]), CaptionItem("y", ["a dog", "a bird flies"]), CaptionItem("z", ["a bird flies"])]
    assert most_frequent_caption(train) == "a dog"
    assert consensus_caption(["a red car", "a red car on a road", "blue sky"]) in {"a red car", "a red car on a road"}
    features = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    captions = nearest_neighbour_captions(features, train, np.array([[0.9, 0.1], [0.1, 0.9]]))
    assert captions == [consensus_caption(train[0].captions), consensus_caption(train[1].captions)]
    # An evaluated training image is never its own neighbour.
    own = nearest_neighbour_captions(features, train, features[:1], exclude=["x"])
    assert own == ["a bird flies"]


def test_batch_norm_calibration_lets_a_random_encoder_tell_images_apart():
    from apps.captioning.data import demo_source, load_images
    from apps.captioning.model import calibrate_batch_norm

    encoder = build_encoder(TINY)
    images, _, _ = load_images(demo_source(train=40, val=1, test=1).train, 64)
    images = images.astype("float32")
    weights = [w.copy() for w in encoder.get_weights()]

    def spread():
        pooled = np.asarray(encoder(images)).mean(axis=(1, 2))
        return float(pooled.std(axis=0).mean())

    before = spread()
    calibrate_batch_norm(encoder, images, batch_size=16)
    after = spread()
    assert after > 100 * before and after > 1e-3
    changed = [not np.array_equal(a, b) for a, b in zip(weights, encoder.get_weights(), strict=True)]
    names = [w.path for w in encoder.weights]
    assert all("moving" in name for name, moved in zip(names, changed, strict=True) if moved)  # statistics only
