import csv
import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from rnnkit.training import RunDir, fit, make_optimizer  # noqa: E402


def data(seed=0, n=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 3)).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("float32")
    return x, y


def build(learning_rate=1e-2):
    def make():
        model = keras.Sequential([keras.Input((6, 3)), keras.layers.GRU(4), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(make_optimizer("adam", learning_rate, clipnorm=1.0), "binary_crossentropy", metrics=["accuracy"])
        return model
    return make


def test_fit_writes_the_run_folder(tmp_path):
    x, y = data()
    result = fit(build(), (x, y), (x[:16], y[:16]), tmp_path / "run", epochs=3, verbose=0)
    run = RunDir(tmp_path / "run")
    state = run.read_state()
    assert state["epoch"] == 3 and [row["epoch"] for row in state["history"]] == [1, 2, 3]
    assert run.model_path.is_file() and run.curves_path.is_file() and run.logs_dir.is_dir()
    assert sorted(path.name for path in run.checkpoints_dir.iterdir()) == ["epoch-0002.keras", "epoch-0003.keras"]
    with open(run.history_path) as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    best = min(row["val_loss"] for row in state["history"])
    assert math.isclose(state["best"], best) and result.best == pytest.approx(best)
    assert state["optimizer_iterations"] == 3 * 2  # 64 samples / batch 32


def test_resume_continues_weights_optimizer_and_history(tmp_path):
    x, y = data()
    fit(build(), (x, y), (x, y), tmp_path / "run", epochs=2, verbose=0)
    saved = keras.saving.load_model(RunDir(tmp_path / "run").last_checkpoint())
    result = fit(build(), (x, y), (x, y), tmp_path / "run", epochs=4, resume=True, verbose=0)
    assert result.initial_epoch == 2
    state = RunDir(tmp_path / "run").read_state()
    assert [row["epoch"] for row in state["history"]] == [1, 2, 3, 4]
    assert state["optimizer_iterations"] == 4 * 2, "the optimizer step continues, it does not restart"
    assert not all(np.array_equal(a, b) for a, b in zip(saved.get_weights(), result.model.get_weights(), strict=True))


def test_existing_run_needs_resume(tmp_path):
    x, y = data()
    fit(build(), (x, y), (x, y), tmp_path / "run", epochs=1, verbose=0)
    with pytest.raises(FileExistsError, match="--resume"):
        fit(build(), (x, y), (x, y), tmp_path / "run", epochs=2, verbose=0)


def test_resume_when_already_done_trains_nothing(tmp_path, capsys):
    x, y = data()
    fit(build(), (x, y), (x, y), tmp_path / "run", epochs=2, verbose=0)
    result = fit(build(), (x, y), (x, y), tmp_path / "run", epochs=2, resume=True, verbose=0)
    assert result.initial_epoch == 2 and "already trained 2 epochs" in capsys.readouterr().out


def test_early_stopping_patience_counts_from_the_best_epoch(tmp_path):
    x, y = data()
    # A zero learning rate never improves after epoch 1, so patience 2 stops at epoch 3.
    result = fit(build(0.0), (x, y), (x, y), tmp_path / "run", epochs=10, patience=2, verbose=0)
    assert result.stopped_early and len(result.history) == 3 and result.best_epoch == 1


def test_non_finite_epochs_are_not_saved(tmp_path):
    x, y = data()
    y_bad = y.copy()
    x_bad = x.copy()
    x_bad[0, 0, 0] = np.nan
    fit(build(), (x_bad, y_bad), (x, y), tmp_path / "run", epochs=3, verbose=0)
    assert RunDir(tmp_path / "run").read_state() is None, "a NaN epoch must not become the checkpoint to resume from"


def test_cosine_schedule_needs_total_steps():
    with pytest.raises(ValueError, match="total_steps"):
        make_optimizer("adam", 1e-3, schedule="cosine")
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("adagrad", 1e-3)


def test_multi_worker_input_is_sharded_by_example_so_workers_run_the_same_steps(tmp_path):
    import tensorflow as tf
    from tensorflow.python.distribute import (
        input_ops,  # what MultiWorkerMirroredStrategy applies per worker
    )

    from rnnkit.training import shard_by_example

    # Three record files of 5, 5 and 13 examples: by file, two workers would get 18 and 5 of them.
    paths = []
    for index, size in enumerate((5, 5, 13)):
        path = str(tmp_path / f"part-{index}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for value in range(size):
                writer.write(str(value).encode())
        paths.append(path)
    files = tf.data.Dataset.from_tensor_slices(paths).interleave(tf.data.TFRecordDataset, cycle_length=1)

    def steps_per_worker(dataset):
        return [sum(1 for _ in input_ops.auto_shard_dataset(dataset.batch(4), 2, index, 2)) for index in range(2)]

    by_file = steps_per_worker(files)
    assert by_file[0] != by_file[1], by_file  # the trap: a worker with fewer steps leaves its peer waiting
    by_example = steps_per_worker(shard_by_example(files))
    assert by_example[0] == by_example[1] == math.ceil(23 / 4 / 2), by_example


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop", "sgd"])
def test_an_embedding_row_seen_many_times_steps_as_with_the_dense_gradient(name, tmp_path):
    """Token 1 fills most of the batch: its gradient arrives as 60 rows of one tf.IndexedSlices."""
    import tensorflow as tf

    ids = np.array([[1] * 30, [1] * 29 + [2]], np.int32)
    targets = np.ones((2, 30, 3), np.float32)

    def trained(sparse: bool):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((30,), dtype="int32"), keras.layers.Embedding(4, 3)])
        optimizer = make_optimizer(name, 0.05, clipnorm=1.0)
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = keras.ops.mean((model(ids) - targets) ** 2)
            (gradient,) = tape.gradient(loss, model.trainable_variables)
            assert isinstance(gradient, tf.IndexedSlices)
            optimizer.apply_gradients([(gradient if sparse else tf.convert_to_tensor(gradient),
                                        model.trainable_variables[0])])
        return model, np.asarray(model.trainable_variables[0])

    model, sparse_steps = trained(sparse=True)
    _, dense_steps = trained(sparse=False)
    np.testing.assert_allclose(sparse_steps, dense_steps, rtol=1e-5, atol=1e-6)
    # Through Keras' own train step too, and the class survives a .keras round trip (a resumed run keeps summing).
    model.compile(optimizer=make_optimizer(name, 0.05), loss="mse")
    model.fit(ids, targets, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    assert type(keras.saving.load_model(tmp_path / "model.keras").optimizer) is type(model.optimizer)


def build_averaged(ema=0.5):
    def make():
        model = keras.Sequential([keras.Input((6, 3)), keras.layers.GRU(4), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(make_optimizer("adam", 5e-2, ema=ema), "binary_crossentropy")
        return model
    return make


def test_weight_averaging_validates_and_saves_the_averaged_weights(tmp_path):
    x, y = data()
    keras.utils.set_random_seed(0)
    fit(build_averaged(), (x, y), (x[:32], y[:32]), tmp_path / "run", epochs=3, verbose=0)
    run = RunDir(tmp_path / "run")
    logged = [row["val_loss"] for row in run.read_state()["history"]]
    second = run.checkpoints_dir / "epoch-0002.keras"  # not the last epoch, after which Keras finalizes the averages
    saved = keras.saving.load_model(second)
    assert saved.evaluate(x[:32], y[:32], verbose=0) == pytest.approx(logged[1], abs=1e-5), \
        "the epoch's validation loss is that of the weights its checkpoint holds"
    raw = keras.saving.load_model(second)
    for weight, average in zip(raw.trainable_variables, raw.optimizer._model_variables_moving_average, strict=True):
        weight.assign(average)  # between epochs the optimizer's slots hold the raw weights
    assert raw.evaluate(x[:32], y[:32], verbose=0) != pytest.approx(logged[1], abs=1e-4)


def test_a_resumed_averaged_run_trains_on_from_the_raw_weights(tmp_path):
    import tensorflow as tf

    x, y = data()
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)  # one fixed order, so the two runs see the same steps
    keras.utils.set_random_seed(0)
    fit(build_averaged(), batches, batches, tmp_path / "straight", epochs=3, verbose=0)

    class Interrupt(keras.callbacks.Callback):  # a run killed after its second epoch was saved
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    keras.utils.set_random_seed(0)
    with pytest.raises(KeyboardInterrupt):
        fit(build_averaged(), batches, batches, tmp_path / "resumed", epochs=3, verbose=0, callbacks=[Interrupt()])
    fit(build_averaged(), batches, batches, tmp_path / "resumed", epochs=3, resume=True, verbose=0)
    first, second = (keras.saving.load_model(RunDir(tmp_path / name).last_checkpoint()) for name in ("straight", "resumed"))
    assert first.optimizer.iterations.numpy() == second.optimizer.iterations.numpy() == 12
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, err_msg="a resumed run must go on from the raw weights, not the averages")


def test_weight_averaging_momentum_is_checked():
    with pytest.raises(ValueError, match="ema must be in"):
        make_optimizer("adam", 1e-3, ema=1.0)
