"""keras.applications feature extractors: weights from none, a file or Keras' cache, and errors that name the flag.

Every network is built from random weights; weights files are written by the tests.
"""

import urllib.error

import h5py
import keras
import numpy as np
import pytest

from rnnkit.applications import (
    APPLICATIONS,
    MOBILENET_V2_ALPHAS,
    feature_extractor,
    identify_weights_file,
    imagenet_file_name,
    sha256_of,
    weights_source,
)

PIXELS = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")


def test_weights_none_a_file_and_clear_errors(tmp_path, monkeypatch):
    random = feature_extractor("mobilenet_v3_small", "none", (32, 32, 3))
    assert tuple(random.output.shape) == (None, 1, 1, 576)
    path = tmp_path / "small.weights.h5"
    random.save_weights(path)
    again = feature_extractor("mobilenet_v3_small", str(path), (32, 32, 3), flag="--backbone-weights")
    np.testing.assert_allclose(np.asarray(again(PIXELS)), np.asarray(random(PIXELS)), rtol=1e-5, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="--backbone-weights .*absent.h5: no such file"):
        feature_extractor("mobilenet_v3_small", str(tmp_path / "absent.h5"), (32, 32, 3), flag="--backbone-weights")
    with pytest.raises(ValueError, match="unknown network 'resnet9'"):
        feature_extractor("resnet9", "none", (32, 32, 3))
    not_hdf5 = tmp_path / "notes.h5"
    not_hdf5.write_text("not weights")
    with pytest.raises(ValueError, match="notes.h5: not a Keras weights file"):
        feature_extractor("mobilenet_v3_small", str(not_hdf5), (32, 32, 3))

    def offline(**kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(keras.applications, "EfficientNetB0", offline)
    with pytest.raises(ValueError, match="--w imagenet: could not get .*pass --w PATH.*--w none.*HINT"):
        feature_extractor("efficientnet_b0", "imagenet", (32, 32, 3), flag="--w", offline_hint=" HINT")


def test_mobilenet_v2_every_alpha_takes_raw_pixels():
    assert [name for name in APPLICATIONS if name.startswith("mobilenet_v2_")] == [
        "mobilenet_v2_0.35", "mobilenet_v2_0.5", "mobilenet_v2_0.75", "mobilenet_v2_1.0",
        "mobilenet_v2_1.3", "mobilenet_v2_1.4"]
    channels = {}
    for alpha in MOBILENET_V2_ALPHAS:
        keras.utils.set_random_seed(1)
        model = feature_extractor(f"mobilenet_v2_{alpha}", "none", (32, 32, 3))
        channels[alpha] = int(model.output.shape[-1])
        assert model.get_layer("block_16_project") is not None  # layers keep their names (for fine-tuning)
        if alpha == "0.5":
            # The preprocessing is inside: 0..255 in gives what the bare network gives on preprocess_input.
            keras.utils.set_random_seed(1)
            bare = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.5, input_shape=(32, 32, 3))
            bare.set_weights(model.get_weights())
            expected = bare(keras.applications.mobilenet_v2.preprocess_input(PIXELS.copy()))
            np.testing.assert_allclose(np.asarray(model(PIXELS)), np.asarray(expected), rtol=1e-5, atol=1e-5)
    # Keras keeps 1280 channels at the top for alpha <= 1 and widens it above.
    assert channels == {"0.35": 1280, "0.5": 1280, "0.75": 1280, "1.0": 1280, "1.3": 1664, "1.4": 1792}


def test_wrong_alpha_file_names_both_networks(tmp_path):
    path = tmp_path / "v2_035.weights.h5"
    feature_extractor("mobilenet_v2_0.35", "none", (32, 32, 3)).save_weights(path)
    assert identify_weights_file(path) == "mobilenet_v2_0.35"
    with pytest.raises(ValueError, match=r"--encoder-weights .*v2_035.weights.h5: this file holds weights of "
                                         r"mobilenet_v2_0\.35, but the network is mobilenet_v2_0\.5"):
        feature_extractor("mobilenet_v2_0.5", str(path), (32, 32, 3), flag="--encoder-weights")
    source = weights_source(str(path))
    assert source == {"weights": "file", "file": str(path.resolve()), "sha256": sha256_of(path)}
    assert len(source["sha256"]) == 64


def _save_legacy_h5(model, path):
    """A weights file in the format of the original Keras ImageNet downloads (layer_names / weight_names)."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(handle, model)


def test_imagenet_uses_a_file_in_keras_models_and_says_so_offline(tmp_path, monkeypatch):
    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    (tmp_path / "keras_home").mkdir()
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras_home"))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    with pytest.raises(ValueError, match=r"--encoder-weights imagenet: could not get .* of mobilenet_v2_0\.5 .*"
                                         r"keras_home/models/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0\.5_224"
                                         r"_no_top\.h5 before downloading.*--encoder-weights none"):
        feature_extractor("mobilenet_v2_0.5", "imagenet", (32, 32, 3), flag="--encoder-weights")

    # The same file put in ~/.keras/models (legacy .h5, as Keras downloads it) is found without a download.
    source = feature_extractor("mobilenet_v2_0.5", "none", (32, 32, 3))
    cached = tmp_path / "keras_home" / "models" / imagenet_file_name("mobilenet_v2_0.5", 32)
    _save_legacy_h5(source, cached)
    loaded = feature_extractor("mobilenet_v2_0.5", "imagenet", (32, 32, 3), flag="--encoder-weights")
    np.testing.assert_allclose(np.asarray(loaded(PIXELS)), np.asarray(source(PIXELS)), rtol=1e-5, atol=1e-5)
    assert weights_source("imagenet", "mobilenet_v2_0.5", 32) == {
        "weights": "imagenet", "file": str(cached), "sha256": sha256_of(cached)}
    # ... and the legacy file is checked as any other: it is not the 0.35 network's.
    with pytest.raises(ValueError, match=r"holds weights of mobilenet_v2_0\.5, but the network is mobilenet_v2_0\.35"):
        feature_extractor("mobilenet_v2_0.35", str(cached), (32, 32, 3))
    assert weights_source("none") == {"weights": "none"}
