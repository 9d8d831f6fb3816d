"""The video model: masking end to end, attention over frames, cached features = the same model."""

import dataclasses

import numpy as np
import pytest

from apps.video.config import VideoConfig
from apps.video.model import Classifier, build_backbone, build_head, build_model, grid_pooling
from rnnkit.config import load_config

CONFIG = VideoConfig(num_frames=5, image_size=32, small_filters=4, frame_units=8, units=6, attention_units=6,
                     feature_grid=2, dropout=0.0)


def frames_and_lengths(seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (3, 5, 32, 32, 3)).astype("float32"), np.array([5, 2, 1], np.int32)


def test_frames_past_a_clip_s_length_change_nothing_and_get_no_attention():
    classifier = Classifier(build_backbone(CONFIG), build_head(CONFIG, 2 * 2 * 16, 4), ["a", "b", "c", "d"], CONFIG)
    frames, lengths = frames_and_lengths()
    noisy = frames.copy()
    noisy[1, 2:] = 255.0
    noisy[2, 1:] = 0.0
    clean, changed = classifier.predict(frames, lengths), classifier.predict(noisy, lengths)
    np.testing.assert_allclose(clean["probabilities"], changed["probabilities"], atol=1e-6)
    attention = clean["attention"]
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    assert not attention[1, 2:].any() and not attention[2, 1:].any() and attention[2, 0] == pytest.approx(1.0)


def test_the_features_model_and_the_end_to_end_model_are_one_model():
    backbone = build_backbone(CONFIG)
    features_config = dataclasses.replace(CONFIG, train_backbone=False)
    head_model = build_model(features_config, 4, backbone)  # what trains on cached features
    classifier = Classifier(backbone, head_model.get_layer("head"), list("abcd"), features_config)
    frames, lengths = frames_and_lengths(1)
    features = np.stack([np.asarray(backbone(clip)) for clip in frames])
    direct = head_model.predict({"features": features, "lengths": lengths}, verbose=0)
    np.testing.assert_allclose(classifier.predict(frames, lengths)["probabilities"], direct, atol=1e-5)
    end_to_end = build_model(CONFIG, 4)
    assert {"frames", "lengths"} == {tensor.name for tensor in end_to_end.inputs}


def test_grid_pooling_keeps_where_things_are():
    import keras

    assert grid_pooling((8, 8), 4).pool_size == (2, 2)
    assert grid_pooling((5, 5), 4).strides == (1, 1) and grid_pooling((5, 5), 4).pool_size == (2, 2)
    assert grid_pooling((2, 2), 4).pool_size == (1, 1)  # never more cells than the map has
    left = np.zeros((1, 8, 8, 1), "float32")
    left[0, :, 0] = 1.0
    right = left[:, :, ::-1].copy()
    pooled = [np.asarray(grid_pooling((8, 8), 2)(keras.ops.convert_to_tensor(x))).ravel() for x in (left, right)]
    assert not np.allclose(*pooled)  # a global average could not tell these apart


def test_config_errors_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="small CNN has no ImageNet weights"):
        load_config(VideoConfig, overrides=["backbone_weights=imagenet"])
    with pytest.raises(ValueError, match="cell must be one of gru, lstm"):
        load_config(VideoConfig, overrides=["cell=rnn"])
    config = dataclasses.replace(CONFIG, backbone="mobilenet_v3_small", backbone_weights=str(tmp_path / "w.h5"))
    with pytest.raises(FileNotFoundError, match="w.h5: no such file"):
        build_backbone(config)
    assert VideoConfig().grid == 4 and VideoConfig(backbone="mobilenet_v3_small").grid == 1


def test_colour_jitter_changes_a_clip_once_for_all_its_frames_and_keeps_padding_black():
    import tensorflow as tf

    from apps.video.inputs import colour_jitter

    frames = np.full((4, 8, 8, 3), 100, np.uint8)
    augment = colour_jitter(1)
    first, _ = augment({"frames": tf.constant(frames), "lengths": tf.constant(3)}, 0)
    second, _ = augment({"frames": tf.constant(frames), "lengths": tf.constant(3)}, 0)
    first, second = first["frames"].numpy(), second["frames"].numpy()
    np.testing.assert_allclose(first[0], first[2])  # one gain and shift per clip
    assert not first[3].any()  # the padded frame stays black
    assert not np.allclose(first[0], 100.0) and not np.allclose(first[0], second[0])  # and a new one per clip


def test_settings_follow_the_backbone_unless_given():
    small, pretrained = VideoConfig(), VideoConfig(backbone="mobilenet_v2_0.5", backbone_weights="weights.h5")
    assert (small.image_size, small.train_backbone, small.windows, small.flip, small.grid) == (64, True, 1, False, 4)
    assert (pretrained.image_size, pretrained.train_backbone, pretrained.windows, pretrained.flip, pretrained.grid) == \
        (224, False, 4, True, 1)
    assert pretrained.views == 8
    assert (small.feature_dropout, pretrained.feature_dropout) == (0.0, 0.5)
    assert VideoConfig(backbone="mobilenet_v2_0.5", feature_dropout=0.0).feature_dropout == 0.0
    assert (small.val_fraction, pretrained.val_fraction) == (0.15, 0.0)  # frozen features: every group trains
    assert VideoConfig(backbone="mobilenet_v2_0.5", val_fraction=0.2).val_fraction == 0.2
    given = load_config(VideoConfig, overrides=["backbone=mobilenet_v2_0.35", "image_size=160", "windows=2",
                                                "train_backbone=true", "fine_tune_blocks=2"])
    assert (given.image_size, given.windows, given.train_backbone, given.flip) == (160, 2, True, False)
    with pytest.raises(ValueError, match="fine_tune_blocks applies"):
        load_config(VideoConfig, overrides=["fine_tune_blocks=2"])
    with pytest.raises(ValueError, match="cell must be one of gru, lstm, simple"):
        load_config(VideoConfig, overrides=["cell=elman"])


def test_fine_tuning_trains_only_the_last_blocks_with_batch_norm_frozen():
    import keras

    config = VideoConfig(backbone="mobilenet_v2_0.35", image_size=32, train_backbone=True, fine_tune_blocks=2, num_frames=3,
                         frame_units=8, units=4, attention_units=4)
    backbone = build_backbone(config)
    trainable = {weight.path.split("/")[-2] for weight in backbone.trainable_weights}
    assert trainable and all(name.startswith(("block_15", "block_16", "Conv_1")) for name in trainable)
    assert {"block_15_expand", "block_16_project", "Conv_1"} <= trainable
    assert not any(isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
                   for layer in backbone.get_layer(index=1).layers)
    model = build_model(config, 3, backbone)
    frames = np.random.default_rng(0).uniform(0, 255, (2, config.num_frames, 32, 32, 3)).astype("float32")
    before = [np.array(weight) for weight in backbone.non_trainable_weights]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.train_on_batch({"frames": frames, "lengths": np.array([3, 1], np.int32)}, np.array([0, 2]))
    after = [np.array(weight) for weight in backbone.non_trainable_weights]
    assert all(np.array_equal(old, new) for old, new in zip(before, after, strict=True))  # frozen part and BN statistics kept


def test_a_training_epoch_on_cached_features_takes_every_view_of_every_clip_once():
    from apps.video.inputs import feature_batches, training_steps

    config = dataclasses.replace(CONFIG, backbone="mobilenet_v2_0.5", train_backbone=False, windows=2, flip=True,
                                 batch_size=4)
    assert config.views == 4
    clips, views = 3, config.views
    # features[i, v] is filled with 10 * i + v, so every example says which clip and view it is
    features = (10 * np.arange(clips)[:, None] + np.arange(views)[None, :]).astype("float32")
    features = np.broadcast_to(features[:, :, None, None], (clips, views, 5, 2)).copy()
    lengths, labels = np.array([5, 3, 1], np.int32), np.array([0, 1, 2])
    seen = [(batch["features"][:, 0, 0].numpy(), batch["lengths"].numpy(), y.numpy())
            for batch, y in feature_batches(features, lengths, labels, config, training=True)]
    codes = np.concatenate([code for code, _, _ in seen])
    assert sorted(codes.tolist()) == sorted((10 * np.arange(clips)[:, None] + np.arange(views)).ravel().tolist())
    for code, length, label in seen:  # each view keeps its clip's length and label
        np.testing.assert_array_equal(lengths[(code // 10).astype(int)], length)
        np.testing.assert_array_equal(labels[(code // 10).astype(int)], label)
    assert len(seen) == training_steps(clips, config) == 3  # 12 examples in batches of 4
    one_view = dataclasses.replace(config, every_view=False)
    drawn = np.concatenate([batch["features"][:, 0, 0].numpy() for batch, _ in feature_batches(features, lengths, labels, one_view, training=True)])
    assert sorted((drawn // 10).astype(int).tolist()) == [0, 1, 2]  # one view of each clip
    end_to_end = dataclasses.replace(config, train_backbone=True)  # frames, not cached views
    assert training_steps(clips, one_view) == 1 and training_steps(clips, end_to_end) == 1
