"""FrameWise: one call of the wrapped layer over batch x time, mask passed on, .keras round trip."""

import textwrap

import keras
import numpy as np
import pytest

from rnnkit.layers import FrameWise, MaskFromLengths


def small_cnn():
    return keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.GlobalAveragePooling2D()], name="cnn")


def test_matches_the_layer_applied_to_each_step():
    cnn = small_cnn()
    frames = np.random.default_rng(0).random((3, 5, 12, 12, 3)).astype("float32")
    out = np.asarray(FrameWise(cnn)(frames))
    assert out.shape == (3, 5, 4)
    for step in range(5):
        np.testing.assert_allclose(out[:, step], np.asarray(cnn(frames[:, step])), atol=1e-6)


def test_passes_the_mask_on_and_round_trips_through_keras_files(tmp_path):
    frames = keras.Input((5, 12, 12, 3))
    lengths = keras.Input((), dtype="int32")
    features = FrameWise(small_cnn(), name="frame_wise")(frames)
    masked = MaskFromLengths()([features, lengths])
    pooled = keras.layers.GRU(3)(masked)
    model = keras.Model([frames, lengths], pooled)
    data = np.random.default_rng(1).random((2, 5, 12, 12, 3)).astype("float32")
    short = np.array([2, 5], np.int32)
    noisy = data.copy()
    noisy[0, 2:] = 99.0  # frames past the length change nothing
    np.testing.assert_allclose(model.predict([data, short], verbose=0), model.predict([noisy, short], verbose=0), atol=1e-6)
    path = tmp_path / "frame_wise.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(restored.predict([data, short], verbose=0), model.predict([data, short], verbose=0), atol=1e-6)
    assert isinstance(restored.get_layer("frame_wise"), FrameWise)


def test_rejects_inputs_without_a_time_axis_and_non_layers():
    with pytest.raises(ValueError, match="Keras layer"):
        FrameWise("conv")
    with pytest.raises(ValueError, match=r"\[batch, time, ...\]"):
        FrameWise(keras.layers.Dense(2))(np.zeros((2, 3), "float32"))


def test_the_docstring_example_runs():
    from rnnkit.layers import BidirectionalRNN

    example = FrameWise.__doc__.split("```python", 1)[1].split("```", 1)[0]
    namespace = {"keras": keras, "FrameWise": FrameWise, "MaskFromLengths": MaskFromLengths,
                 "BidirectionalRNN": BidirectionalRNN}
    exec(textwrap.dedent(example), namespace)  # our own docstring
    assert tuple(namespace["features"].shape) == (None, 16, 16) and tuple(namespace["x"].shape) == (None, 16, 64)
