import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from rnnkit.export import savedmodel, tflite  # noqa: E402


def test_versions_count_up_and_are_written_atomically(tmp_path):
    for expected in (1, 2):
        with savedmodel.new_version(tmp_path, "app") as (scratch, final):
            (scratch / "saved_model.pb").write_bytes(b"x")
        assert final == tmp_path / "app" / str(expected)
    with pytest.raises(FileExistsError, match="--version"):
        with savedmodel.new_version(tmp_path, "app", 2):
            pass
    with pytest.raises(RuntimeError):
        with savedmodel.new_version(tmp_path, "app") as (scratch, _):
            raise RuntimeError("conversion failed")
    assert savedmodel.existing_versions(tmp_path / "app") == [1, 2]
    assert sorted(p.name for p in (tmp_path / "app").iterdir()) == ["1", "2"]


def gru_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((7, 3)), keras.layers.GRU(5, unroll=True), keras.layers.Dense(2)])


def test_converted_model_is_builtin_only_and_matches_keras():
    model = gru_model()
    spec = tf.TensorSpec((1, 7, 3), tf.float32, name="frames")
    content = tflite.convert_function(lambda frames: {"scores": model(frames)}, [spec], track=[model])
    cases = [{"frames": np.random.default_rng(i).normal(size=(1, 7, 3)).astype("float32")} for i in range(5)]
    check = tflite.verify(content, lambda frames: {"scores": model(frames)}, cases, signature_key="serve", atol=1e-5)
    assert check.cases == 5 and check.max_abs_diff < 1e-5
    assert not any(op.startswith("Flex") for op in check.ops) and "FULLY_CONNECTED" in check.ops


def test_a_mismatch_fails_loudly():
    model = gru_model()
    spec = tf.TensorSpec((1, 7, 3), tf.float32, name="frames")
    content = tflite.convert_function(lambda frames: {"scores": model(frames)}, [spec], track=[model])
    case = {"frames": np.ones((1, 7, 3), np.float32)}
    with pytest.raises(tflite.TFLiteExportError, match="differs from Keras"):
        tflite.verify(content, lambda frames: {"scores": model(frames) + 0.01}, [case], signature_key="serve")


def test_a_model_that_needs_flex_ops_is_refused():
    def needs_tf_ops(text):
        return {"lengths": tf.strings.length(text)}

    with pytest.raises(tflite.TFLiteExportError, match="builtin ops only"):
        tflite.convert_function(needs_tf_ops, [tf.TensorSpec((2,), tf.string, name="text")])


def test_quantized_conversions_stay_builtin():
    model = gru_model()
    spec = tf.TensorSpec((1, 7, 3), tf.float32, name="frames")

    def samples():
        for i in range(8):
            yield {"frames": np.random.default_rng(i).normal(size=(1, 7, 3)).astype("float32")}

    for mode in ("float16", "dynamic", "int8"):
        content = tflite.convert_function(lambda frames: {"scores": model(frames)}, [spec], track=[model],
                                          quantization=mode, representative_dataset=samples)
        out = tflite.signature_runner(content, "serve")(frames=np.ones((1, 7, 3), np.float32))["scores"]
        assert out.shape == (1, 2) and np.all(np.isfinite(out))
