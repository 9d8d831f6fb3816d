"""keras.applications feature extractors: weights from none or a file, and errors that name the flag."""

import urllib.error

import keras
import numpy as np
import pytest

from rnnkit.applications import feature_extractor


def test_weights_none_a_file_and_clear_errors(tmp_path, monkeypatch):
    random = feature_extractor("mobilenet_v3_small", "none", (32, 32, 3))
    assert tuple(random.output.shape) == (None, 1, 1, 576)
    path = tmp_path / "small.weights.h5"
    random.save_weights(path)
    again = feature_extractor("mobilenet_v3_small", str(path), (32, 32, 3), flag="--backbone-weights")
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(again(images)), np.asarray(random(images)), rtol=1e-5, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="--backbone-weights .*absent.h5: no such file"):
        feature_extractor("mobilenet_v3_small", str(tmp_path / "absent.h5"), (32, 32, 3), flag="--backbone-weights")
    with pytest.raises(ValueError, match="unknown network 'resnet9'"):
        feature_extractor("resnet9", "none", (32, 32, 3))

    def offline(**kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(keras.applications, "EfficientNetB0", offline)
    with pytest.raises(ValueError, match="--w imagenet: could not get .*pass --w PATH.*--w none.*HINT"):
        feature_extractor("efficientnet_b0", "imagenet", (32, 32, 3), flag="--w", offline_hint=" HINT")
