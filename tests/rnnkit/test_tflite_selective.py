"""rnnkit.export.tflite int8 options: float_tensors keeps named ops in float, per_channel=False scales per tensor."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnkit.export import tflite


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,), name="x")
    hidden = keras.layers.Dense(16, activation="relu", name="front")(inputs)
    return keras.Model(inputs, keras.layers.Dense(4, name="head")(hidden))


def convert(model, **kwargs):
    samples = np.random.default_rng(0).normal(size=(16, 1, 8)).astype(np.float32)
    return tflite.convert_function(lambda x: {"y": model(x)}, [tf.TensorSpec((1, 8), tf.float32, name="x")], track=[model],
                                   quantization="int8", representative_dataset=lambda: ({"x": s} for s in samples), **kwargs)


def tensors(model_bytes):
    return {detail["name"]: detail for detail in tflite.interpreter(model_bytes).get_tensor_details()}


def test_float_tensors_stay_float_and_per_tensor_scales(model):
    plain = tensors(convert(model))
    selective = tensors(convert(model, float_tensors=["front"], per_channel=False))
    front_outputs = [name for name in plain if "front" in name and plain[name]["dtype"] == np.int8]
    assert front_outputs  # by default the front layer is int8 ...
    assert any("front" in name and detail["dtype"] == np.float32 for name, detail in selective.items())  # ... here float
    head_weights = [detail for name, detail in selective.items() if "head" in name and detail["dtype"] == np.int8
                    and len(detail["shape"]) == 2]
    assert head_weights and all(len(d["quantization_parameters"]["scales"]) == 1 for d in head_weights)
    per_channel = [d for name, d in plain.items() if "head" in name and d["dtype"] == np.int8 and len(d["shape"]) == 2]
    assert any(len(d["quantization_parameters"]["scales"]) == 4 for d in per_channel)


def test_float_tensors_that_match_nothing_are_refused(model):
    with pytest.raises(tflite.TFLiteExportError, match="match no tensor"):
        convert(model, float_tensors=["no_such_layer"])
