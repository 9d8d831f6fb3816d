"""Training runs that can be interrupted and resumed without losing an epoch.

A run folder (RUN_DIR) holds:

    config.json            the app config the run was started with
    state.json             the commit point: completed epochs, best score, history
    checkpoints/epoch-NNNN.keras   full model + optimizer state after an epoch (last two kept)
    model.keras            the best model so far by the monitored metric
    history.csv            one row per completed epoch
    learning_curves.png    the same, plotted
    logs/                  TensorBoard event files

`fit()` writes every file atomically and writes state.json last, so a run
killed at any moment resumes (`resume=True`) from the last epoch whose
checkpoint is complete: the model, the optimizer step and the best score
all continue, and no epoch is lost or counted twice.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from rnnkit.io import atomic_path, atomic_write_json, atomic_write_text, read_json

STRATEGIES = ("default", "mirrored", "multiworker")


# -- reproducibility and distribution ---------------------------------------


def set_seed(seed: int | None, deterministic: bool = False) -> None:
    """Seed Python, NumPy and the backend; optionally make TF ops deterministic."""
    if seed is None:
        return
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def get_strategy(name: str | None = "default"):
    """The tf.distribute strategy for `--strategy`.

    `multiworker` reads the cluster and this process's role from TF_CONFIG;
    the global batch (the config's batch_size) is split across all replicas
    by `fit()` itself. Set RNNKIT_COLLECTIVE_TIMEOUT (seconds) so that workers
    give up instead of waiting forever when a peer dies. Create the strategy
    before any other TensorFlow work in the process.
    """
    import tensorflow as tf

    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--strategy multiworker needs TF_CONFIG describing the cluster, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
            )
        # Without a timeout, the surviving workers wait forever for a dead one; with it
        # they fail, and the cluster manager restarts them from their backups.
        timeout = float(os.environ.get("RNNKIT_COLLECTIVE_TIMEOUT", "0")) or None
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        return _reduce_nests_and_scalars(tf.distribute.MultiWorkerMirroredStrategy(communication_options=options))
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def is_chief() -> bool:
    """True unless TF_CONFIG names this process as a non-chief worker."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    config = json.loads(raw)
    task = config.get("task", {})
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in config.get("cluster", {})
    return task_type == "worker" and index == 0 and not has_chief


def _reduce_nests_and_scalars(strategy):
    """Let Keras 3's fit() run under MultiWorkerMirroredStrategy.

    Keras (3.x up to at least 3.15, keras-team/keras#20585) calls
    `strategy.reduce` in two places, and TensorFlow's multi-worker reduce
    handles neither as Keras calls it:

    - Before the first epoch it peeks at one distributed batch of inputs and
      targets and reduces that nest with MEAN, only to learn the shapes for a
      symbolic build. The batch is data: its rows and (with length buckets)
      its padded length differ between workers and between steps, so
      all-reducing it is wrong and crashes with a collective shape mismatch.
      Here a nest is never sent to a collective: this worker's own values
      come back, which is all a symbolic build needs.
    - Every step it reduces each metric result on its own with axis=0, which
      fails on a scalar. A rank-0 value is reduced across replicas only.

    So what reaches a collective is only a single metric result: a scalar or
    a fixed-shape metric state, never something shaped by the current batch.
    With RNNKIT_TRACE_REDUCE=1 every call is printed (`rnnkit-reduce: ...`),
    which the distributed tests read to check exactly that. Remove this when
    Keras reduces its logs itself.
    """
    original = strategy.reduce
    trace = os.environ.get("RNNKIT_TRACE_REDUCE") == "1"

    def local_values(value):
        import tensorflow as tf

        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def reduce(reduce_op, value, axis=None):
        if isinstance(value, (tuple, list, dict)):
            import tensorflow as tf

            if trace:
                print("rnnkit-reduce: nest kept local", flush=True)
            return tf.nest.map_structure(local_values, value)
        local = strategy.experimental_local_results(value)[0] if hasattr(value, "values") else value
        shape = getattr(local, "shape", None)
        if axis is not None and shape is not None and shape.rank == 0:
            axis = None
        if trace:
            print(f"rnnkit-reduce: collective {reduce_op} shape={list(shape) if shape is not None else None} "
                  f"axis={axis}", flush=True)
        return original(reduce_op, value, axis)

    strategy.reduce = reduce
    return strategy


def _final_barrier(strategy) -> None:
    """One last all-reduce so no worker exits while a peer still pulls its last gradients.

    In a ring all-reduce a worker can finish before its peer has received
    everything from it; if it then exits, the peer fails with "Socket closed"
    and a cluster manager restarts it into a cluster that is gone. Reaching
    this barrier proves every peer finished training (it sent its part only
    after its last step), so an error here is only a peer that left first.
    """
    import tensorflow as tf

    try:
        strategy.reduce("SUM", strategy.run(lambda: tf.constant(1.0)), axis=None)
    except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError, tf.errors.CancelledError):
        print("note: a peer worker left before the final barrier; training had finished on all workers")


def shard_by_example(dataset):
    """`dataset` with tf.data's DATA auto-shard policy, for a multi-worker run.

    Every worker then reads the whole input and keeps its own part of each
    global batch, so all workers run the same number of steps whatever the
    source. (The AUTO policy shards by file when the input comes from files,
    tfds sets among them: workers then hold different numbers of examples and
    the one with fewer steps leaves its peers waiting in an all-reduce.)
    Anything that is not a tf.data.Dataset is returned as it is.
    """
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        return dataset
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def in_multi_worker_mode(strategy) -> bool:
    extended = getattr(strategy, "extended", None)
    check = getattr(extended, "_in_multi_worker_mode", None)
    return bool(check()) if callable(check) else False


def summed_sparse_gradients(gradients):
    """Gradients with every `tf.IndexedSlices` (an embedding's: one row per token, repeats kept)
    summed into a dense tensor first.

    Keras 3's TensorFlow optimizers apply their element-wise ops to an IndexedSlices row by
    row and only then add the rows of a repeated id together. For Adam's second moment that is
    the sum of the squares instead of the square of the sum: an id seen n times in a batch with
    a steady gradient gets a step about sqrt(n) times too big (the word "the", thousands of
    times a batch, runs away while rare words do not), and `clipnorm` measures the unsummed rows
    too. Summing first gives the update of the dense gradient, which is what the algorithm
    means; Adam builds dense updates of the whole table anyway, so it costs little.
    """
    import tensorflow as tf

    return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in gradients]


class _SumsSparseGradients:
    def apply(self, grads, trainable_variables=None):
        return super().apply(summed_sparse_gradients(grads), trainable_variables)


@keras.saving.register_keras_serializable(package="rnnkit")
class Adam(_SumsSparseGradients, keras.optimizers.Adam):
    """`keras.optimizers.Adam` with embedding gradients summed per row first (`summed_sparse_gradients`)."""


@keras.saving.register_keras_serializable(package="rnnkit")
class AdamW(_SumsSparseGradients, keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with embedding gradients summed per row first."""


@keras.saving.register_keras_serializable(package="rnnkit")
class RMSprop(_SumsSparseGradients, keras.optimizers.RMSprop):
    """`keras.optimizers.RMSprop` with embedding gradients summed per row first."""


@keras.saving.register_keras_serializable(package="rnnkit")
class SGD(_SumsSparseGradients, keras.optimizers.SGD):
    """`keras.optimizers.SGD` with embedding gradients summed per row first (for `clipnorm`)."""


def make_optimizer(
    name: str = "adam",
    learning_rate: float = 1e-3,
    *,
    clipnorm: float | None = 1.0,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    total_steps: int | None = None,
    warmup_steps: int = 0,
    final_lr_fraction: float = 0.0,
    ema: float = 0.0,
):
    """An optimizer with gradient clipping, an optional cosine schedule and optional weight averaging.

    It is Keras' optimizer of that name with embedding gradients summed per row before the
    update (see `summed_sparse_gradients`: Keras 3 otherwise over-steps frequent tokens).

    The schedule is a function of the optimizer's step counter, which is saved
    in every checkpoint, so a resumed run continues the schedule where it was.

    `ema` > 0 keeps Keras' exponential moving average of the weights (Polyak averaging,
    `use_ema=True` with this momentum, e.g. 0.99: about the last 100 steps); `fit` then
    validates and saves the averaged weights (keras.callbacks.SwapEMAWeights).
    """
    if not 0.0 <= ema < 1.0:
        raise ValueError(f"ema must be in [0, 1) (0: off; e.g. 0.99), not {ema}")
    rate: Any = learning_rate
    if schedule == "cosine":
        if not total_steps:
            raise ValueError("schedule='cosine' needs total_steps (epochs x steps per epoch)")
        decay_steps = max(1, int(total_steps) - int(warmup_steps))
        if warmup_steps:
            rate = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=learning_rate * 0.01,
                decay_steps=decay_steps,
                alpha=final_lr_fraction,
                warmup_target=learning_rate,
                warmup_steps=int(warmup_steps),
            )
        else:
            rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps, alpha=final_lr_fraction)
    elif schedule != "constant":
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; use constant or cosine")
    clip: dict[str, Any] = {"clipnorm": clipnorm} if clipnorm else {}
    if ema:
        clip.update(use_ema=True, ema_momentum=float(ema))
    name = name.lower()
    if name == "adam":
        if weight_decay:
            return AdamW(rate, weight_decay=weight_decay, **clip)
        return Adam(rate, **clip)
    if name == "adamw":
        return AdamW(rate, weight_decay=weight_decay or 0.01, **clip)
    if name == "rmsprop":
        return RMSprop(rate, **clip)
    if name == "sgd":
        return SGD(rate, momentum=0.9, **clip)
    raise ValueError(f"unknown optimizer {name!r}; use adam, adamw, rmsprop or sgd")


def optimizer_from_config(config, steps_per_epoch: int):
    """`make_optimizer` from an app config's usual fields (optimizer, learning_rate, clipnorm,
    weight_decay, schedule, epochs, warmup_steps, final_lr_fraction, ema); missing fields take the defaults."""
    return make_optimizer(
        getattr(config, "optimizer", "adam"),
        config.learning_rate,
        clipnorm=getattr(config, "clipnorm", 1.0),
        weight_decay=getattr(config, "weight_decay", 0.0),
        schedule=getattr(config, "schedule", "constant"),
        total_steps=config.epochs * max(1, int(steps_per_epoch)),
        warmup_steps=getattr(config, "warmup_steps", 0),
        final_lr_fraction=getattr(config, "final_lr_fraction", 0.0),
        ema=getattr(config, "ema", 0.0),
    )


# -- the run folder ---------------------------------------------------------


class RunDir:
    """Paths and saved state of one training run."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.json")
    state_path = property(lambda self: self.path / "state.json")
    model_path = property(lambda self: self.path / "model.keras")
    checkpoints_dir = property(lambda self: self.path / "checkpoints")
    history_path = property(lambda self: self.path / "history.csv")
    curves_path = property(lambda self: self.path / "learning_curves.png")
    logs_dir = property(lambda self: self.path / "logs")

    def read_state(self) -> dict | None:
        if not self.state_path.is_file():
            return None
        return read_json(self.state_path)

    def last_checkpoint(self) -> Path | None:
        state = self.read_state()
        if not state or not state.get("checkpoint"):
            return None
        return self.path / state["checkpoint"]

    def trained_model_path(self) -> Path:
        """The model to evaluate or export: the best one, else the last checkpoint."""
        if self.model_path.is_file():
            return self.model_path
        last = self.last_checkpoint()
        if last is not None and last.is_file():
            return last
        raise FileNotFoundError(f"{self.path}: no trained model (model.keras) yet; run `train --out {self.path}` first")

    def prepare(self, resume: bool) -> dict | None:
        """Check the folder fits the request; return the saved state when resuming.

        `resume=True` on a folder with nothing to resume starts a new run
        there, so a cluster job can always be launched with --resume. On a
        non-chief worker of a multi-worker run this touches nothing, but it
        still reads the chief's state when resuming: early stopping counts the
        epochs since the best one from it, and a worker that did not know the
        best epoch from before a restart would train on after the chief had
        stopped, waiting for it forever.
        """
        if not is_chief():
            return self.read_state() if resume else None
        state = self.read_state()
        if resume:
            if state is None:
                print(f"--resume: nothing to resume in {self.path} yet; starting a new run there")
            self.path.mkdir(parents=True, exist_ok=True)
            return state
        if state is not None or self.model_path.exists():
            raise FileExistsError(
                f"{self.path} already holds a training run; pass --resume to continue it, "
                "or choose another --out"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        return None

    @property
    def chief(self) -> bool:
        """Whether this process writes the run folder (False on non-chief workers)."""
        return is_chief()


def _finite(logs: dict[str, float]) -> bool:
    return all(math.isfinite(value) for value in logs.values())


def write_history_csv(history: list[dict[str, float]], path: str | os.PathLike) -> None:
    keys: list[str] = []
    for row in history:
        keys.extend(key for key in row if key not in keys)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(path, buffer.getvalue())


class RunCheckpoint(keras.callbacks.Callback):
    """Saves a resumable checkpoint every epoch and keeps the best model.

    Also does early stopping (`patience` epochs without improvement of the
    monitored metric) from the saved history, so patience survives a resume.
    On a non-chief worker of a multi-worker run everything is written to a
    scratch folder and thrown away: saving must run on every worker, but only
    the chief's files count.
    """

    def __init__(
        self,
        run_dir: RunDir,
        monitor: str = "val_loss",
        mode: str = "min",
        state: dict | None = None,
        patience: int | None = None,
        keep: int = 2,
        plot: bool = True,
        chief: bool = True,
    ):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        self.run_dir = run_dir if chief else RunDir(tempfile.mkdtemp(prefix="rnnkit-worker-"))
        self.chief = chief
        self.monitor, self.mode = monitor, mode
        self.patience, self.keep, self.plot = patience, keep, plot
        state = state or {}
        self.history: list[dict[str, float]] = list(state.get("history", []))
        self.best: float | None = state.get("best")
        self.best_epoch: int = int(state.get("best_epoch", 0))
        self.stopped_early = False
        self._epoch_started = time.perf_counter()

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = {key: float(value) for key, value in (logs or {}).items()}
        seconds = time.perf_counter() - self._epoch_started
        if not _finite(logs):
            print(f"\nepoch {epoch + 1}: non-finite metrics {logs}; not saving this epoch "
                  "(lower the learning rate or the clipnorm and resume)", file=sys.stderr)
            self.model.stop_training = True
            return
        completed = epoch + 1
        row = {"epoch": completed, **logs, "seconds": round(seconds, 3)}
        learning_rate = self._current_learning_rate()
        if learning_rate is not None:
            row["learning_rate"] = learning_rate
        self.history = [item for item in self.history if item["epoch"] < completed] + [row]

        directory = self.run_dir
        directory.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        checkpoint = directory.checkpoints_dir / f"epoch-{completed:04d}.keras"
        with atomic_path(checkpoint) as tmp:
            self.model.save(tmp)

        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(f"monitored metric {self.monitor!r} is not in the epoch logs ({', '.join(logs)})")
        if self._improved(value):
            self.best, self.best_epoch = value, completed
            with atomic_path(directory.model_path) as tmp:
                shutil.copyfile(checkpoint, tmp)

        state = {
            "epoch": completed,
            "checkpoint": str(checkpoint.relative_to(directory.path)),
            "monitor": self.monitor,
            "mode": self.mode,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "optimizer_iterations": int(self.model.optimizer.iterations.numpy()) if self.model.optimizer else None,
            "history": self.history,
        }
        atomic_write_json(directory.state_path, state)  # the commit point of this epoch

        self._prune_checkpoints(keep_name=checkpoint.name)
        write_history_csv(self.history, directory.history_path)
        if self.plot:
            from rnnkit.plots import plot_learning_curves

            plot_learning_curves(self.history, directory.curves_path, title=directory.path.name)

        if self.patience is not None and completed - self.best_epoch >= self.patience:
            print(f"\nearly stopping: {self.monitor} has not improved for {self.patience} epochs "
                  f"(best {self.best:.4f} at epoch {self.best_epoch})")
            self.stopped_early = True
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if not self.chief:
            shutil.rmtree(self.run_dir.path, ignore_errors=True)

    def _current_learning_rate(self) -> float | None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return None
        try:
            return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        except (TypeError, ValueError, AttributeError):
            return None

    def _prune_checkpoints(self, keep_name: str) -> None:
        checkpoints = sorted(self.run_dir.checkpoints_dir.glob("epoch-*.keras"))
        for old in checkpoints[: -self.keep]:
            if old.name != keep_name:
                old.unlink(missing_ok=True)


class AveragedWeightsInCheckpoints(keras.callbacks.SwapEMAWeights):
    """Keras' SwapEMAWeights(swap_on_epoch=True), knowing that a resumed checkpoint holds the averaged weights.

    An epoch's checkpoint is saved with the averages swapped into the model, so a run resumed
    from it must swap the raw weights back in before it trains on.
    """

    def __init__(self, resumed: bool = False):
        super().__init__(swap_on_epoch=True)
        self._ema_weights_in_model = resumed


class ClusterBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore for a multi-worker run: one backup, written by the chief.

    Keras 3's callback has every worker write its own backup; a worker killed
    between its peers' saves then comes back one epoch behind them and the
    cluster trains out of step. Here only the chief writes, every worker
    restores from that same backup (so RUN_DIR must be on storage all workers
    share, as TF_CONFIG clusters usually have), and all restart at one epoch.
    The backup is kept after training so a later, longer run can continue it.
    """

    def __init__(self, backup_dir: str):
        super().__init__(backup_dir=backup_dir, save_freq="epoch", delete_checkpoint=False)

    def _save_model(self):
        if is_chief():
            super()._save_model()

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.model._initial_epoch:
            print(f"restored the cluster backup after epoch {self.model._initial_epoch}")


@dataclass
class TrainResult:
    model: Any
    history: list[dict[str, float]]
    run_dir: RunDir
    initial_epoch: int
    best: float | None = None
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def default_verbosity() -> int:
    """Keras progress bars on a terminal, one line per epoch in logs and CI."""
    return 1 if sys.stdout.isatty() else 2


def fit(
    build_model: Callable[[], Any],
    train_data,
    val_data,
    run_dir: str | os.PathLike | RunDir,
    *,
    epochs: int,
    resume: bool = False,
    strategy=None,
    monitor: str = "val_loss",
    mode: str = "min",
    patience: int | None = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    tensorboard: bool = True,
    verbose: int | str | None = None,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
) -> TrainResult:
    """Train `build_model()` (a compiled model) with checkpoints, resume and early stopping.

    With `resume=True` the model, including its optimizer state, is loaded
    from the run's last checkpoint instead of being built, and training
    continues at the next epoch. Custom layers must be registered (imported)
    before resuming, as for any `.keras` load. Without `val_data` a `val_...`
    monitor watches the same metric on the training data (`val_loss` -> `loss`).
    """
    import tensorflow as tf

    if val_data is None and monitor.startswith("val_"):
        monitor = monitor[len("val_"):]

    run = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    state = run.prepare(resume)
    strategy = strategy or tf.distribute.get_strategy()
    chief = is_chief()
    multi_worker = in_multi_worker_mode(strategy)
    with strategy.scope():
        if state and not multi_worker:
            checkpoint = run.last_checkpoint()
            if checkpoint is None or not checkpoint.is_file():
                raise FileNotFoundError(f"{run.path}: state.json names checkpoint {checkpoint}, which is missing")
            print(f"resuming {run.path} after epoch {state['epoch']} from {checkpoint.name} "
                  f"(best {state.get('monitor')} {state.get('best')})")
            model = keras.saving.load_model(checkpoint, compile=True)
        else:
            # Workers of a cluster all build the model; BackupAndRestore below then puts
            # every one of them back at the same epoch with the same weights.
            model = build_model()
    initial_epoch = int(state["epoch"]) if state and not multi_worker else 0
    if state and initial_epoch >= epochs:
        print(f"{run.path} has already trained {initial_epoch} epochs (asked for {epochs}); "
              "pass a larger --epochs to train further")
        return TrainResult(model, list(state.get("history", [])), run, initial_epoch,
                           state.get("best"), int(state.get("best_epoch", 0)))

    checkpointer = RunCheckpoint(run, monitor=monitor, mode=mode, state=state, patience=patience, chief=chief)
    all_callbacks: list[keras.callbacks.Callback] = [keras.callbacks.TerminateOnNaN(), checkpointer]
    if getattr(model.optimizer, "use_ema", False):
        # Before the checkpointer: each epoch is validated, saved and kept as best with the
        # averaged weights in the model (the raw ones wait in the optimizer's slots).
        all_callbacks.insert(1, AveragedWeightsInCheckpoints(resumed=bool(state) and not multi_worker))
    if multi_worker:
        # After the run's own checkpoint, so a worker killed between the two redoes an
        # epoch rather than skipping one.
        all_callbacks.append(ClusterBackupAndRestore(backup_dir=str(run.path / "backup")))
    if tensorboard and chief:
        all_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.logs_dir), write_graph=False))
    all_callbacks.extend(callbacks)
    started = time.perf_counter()
    # A dataset (or generator) carries its own targets; arrays come as an (x, y) tuple.
    x, y = train_data if isinstance(train_data, tuple) else (train_data, None)
    if multi_worker:
        x, val_data = shard_by_example(x), shard_by_example(val_data)
    model.fit(
        x,
        y,
        validation_data=val_data,
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=all_callbacks,
        verbose=default_verbosity() if verbose is None else verbose,
        steps_per_epoch=steps_per_epoch,
        validation_steps=validation_steps,
        shuffle=y is not None,  # datasets shuffle themselves
    )
    if multi_worker:
        _final_barrier(strategy)
    return TrainResult(
        model=model,
        history=checkpointer.history,
        run_dir=run,
        initial_epoch=initial_epoch,
        best=checkpointer.best,
        best_epoch=checkpointer.best_epoch,
        stopped_early=checkpointer.stopped_early,
        seconds=time.perf_counter() - started,
    )
