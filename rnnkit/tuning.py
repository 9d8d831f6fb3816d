"""KerasTuner wiring shared by every app's `tune` command.

An app supplies two functions and its config dataclass:

    space(hp, base_config) -> config   # draws the varied fields from `hp`
    build_model(config) -> compiled keras.Model

and `search()` does the rest: the tuner of your choice (random, bayesian,
hyperband), a fresh Keras session per trial so memory does not grow,
`overwrite=False` so rerunning on the same folder resumes the search, and a
summary written next to the tuner's own files:

    TUNE_DIR/search/         KerasTuner's oracle and trial files
    TUNE_DIR/trials.json     every trial: id, status, score, config values
    TUNE_DIR/trials.csv      the same as a table
    TUNE_DIR/trial_scores.png
    TUNE_DIR/best_config.json   the best trial as a full app config (`--config` takes it)

Distributed tuning is KerasTuner's own: set KERASTUNER_TUNER_ID ("chief" on
the oracle process, "tuner0", "tuner1", ... on workers), KERASTUNER_ORACLE_IP
and KERASTUNER_ORACLE_PORT, and run the same command everywhere. Only the
chief writes the summary.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import keras_tuner

from rnnkit.config import config_to_dict, save_config
from rnnkit.io import atomic_write_json, atomic_write_text

TUNERS = ("random", "bayesian", "hyperband")


class ConfigHyperModel(keras_tuner.HyperModel):
    """Turns a trial's hyperparameters into an app config, then a model."""

    def __init__(self, base_config, space: Callable, build_model: Callable, **kwargs):
        super().__init__(**kwargs)
        self.base_config = base_config
        self.space = space
        self.build_model = build_model

    def config_for(self, hp: keras_tuner.HyperParameters):
        return self.space(hp, self.base_config)

    def build(self, hp):
        # Each trial starts from a clean graph; without this memory grows trial after trial.
        keras.backend.clear_session()
        return self.build_model(self.config_for(hp))


def make_tuner(
    kind: str,
    hypermodel: keras_tuner.HyperModel,
    *,
    objective: str,
    direction: str,
    directory: str | Path,
    max_trials: int,
    max_epochs: int,
    seed: int | None = None,
    project_name: str = "search",
    executions_per_trial: int = 1,
):
    goal = keras_tuner.Objective(objective, direction=direction)
    common = dict(
        hypermodel=hypermodel,
        objective=goal,
        seed=seed,
        directory=str(directory),
        project_name=project_name,
        overwrite=False,  # resume an interrupted search instead of starting over
        executions_per_trial=executions_per_trial,
        max_consecutive_failed_trials=3,
    )
    if kind == "random":
        return keras_tuner.RandomSearch(max_trials=max_trials, **common)
    if kind == "bayesian":
        return keras_tuner.BayesianOptimization(max_trials=max_trials, **common)
    if kind == "hyperband":
        return keras_tuner.Hyperband(max_epochs=max(2, max_epochs), factor=3, **common)
    raise ValueError(f"unknown tuner {kind!r}; choose one of {', '.join(TUNERS)}")


def is_tuning_worker() -> bool:
    """True on a worker of a distributed search (not the chief oracle)."""
    from keras_tuner.src.distribute import utils as dist_utils

    return dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()


@dataclass
class SearchResult:
    best_config: Any
    best_score: float | None
    trials: list[dict]
    tuner: Any
    out_dir: Path


def search(
    *,
    build_model: Callable[[Any], Any],
    space: Callable[[keras_tuner.HyperParameters, Any], Any],
    base_config,
    train_data,
    val_data,
    out_dir: str | Path,
    tuner: str = "random",
    max_trials: int = 10,
    epochs: int = 5,
    objective: str = "val_loss",
    direction: str = "min",
    seed: int | None = None,
    patience: int | None = 3,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    verbose: int | str | None = None,
    steps_per_epoch: int | None = None,
) -> SearchResult | None:
    """Run (or resume) a search and write its summary. Returns None on a distributed worker."""
    from rnnkit.training import default_verbosity

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hypermodel = ConfigHyperModel(base_config, space, build_model)
    engine = make_tuner(
        tuner,
        hypermodel,
        objective=objective,
        direction=direction,
        directory=out,
        max_trials=max_trials,
        max_epochs=epochs,
        seed=seed,
    )
    trial_callbacks = [keras.callbacks.TerminateOnNaN(), *callbacks]
    if patience:
        trial_callbacks.append(keras.callbacks.EarlyStopping(monitor=objective, mode=direction, patience=patience))
    fit_kwargs: dict[str, Any] = {}
    if steps_per_epoch:
        fit_kwargs["steps_per_epoch"] = steps_per_epoch
    x, y = train_data if isinstance(train_data, tuple) else (train_data, None)
    fit_kwargs["shuffle"] = y is not None  # datasets shuffle themselves
    engine.search(
        x,
        y,
        validation_data=val_data,
        epochs=epochs,
        callbacks=trial_callbacks,
        verbose=default_verbosity() if verbose is None else verbose,
        **fit_kwargs,
    )
    if is_tuning_worker():
        return None
    return write_summary(engine, hypermodel, out, objective, direction)


def _trial_rows(engine, hypermodel: ConfigHyperModel) -> list[dict]:
    rows = []
    for trial_id, trial in sorted(engine.oracle.trials.items()):
        config = hypermodel.config_for(trial.hyperparameters.copy())
        rows.append(
            {
                "trial_id": trial_id,
                "status": str(trial.status),
                "score": trial.score,
                "best_step": trial.best_step,
                "hyperparameters": dict(trial.hyperparameters.values),
                "config": config_to_dict(config),
            }
        )
    return rows


def write_summary(engine, hypermodel: ConfigHyperModel, out: Path, objective: str, direction: str) -> SearchResult:
    from rnnkit.plots import plot_trial_scores

    rows = _trial_rows(engine, hypermodel)
    atomic_write_json(out / "trials.json", {"objective": objective, "direction": direction, "trials": rows})

    hp_names: list[str] = []
    for row in rows:
        hp_names.extend(name for name in row["hyperparameters"] if name not in hp_names)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial_id", "status", "score", *hp_names])
    for row in rows:
        writer.writerow([row["trial_id"], row["status"], row["score"], *(row["hyperparameters"].get(name) for name in hp_names)])
    atomic_write_text(out / "trials.csv", buffer.getvalue())

    plot_trial_scores([row["score"] for row in rows], out / "trial_scores.png", objective, direction)

    scored = [row for row in rows if row["score"] is not None]
    if not scored:
        raise ValueError(f"{out}: no trial finished with a score; see the trial errors above")
    best_row = min(scored, key=lambda row: row["score"]) if direction == "min" else max(scored, key=lambda row: row["score"])
    best_config = hypermodel.config_for(engine.oracle.trials[best_row["trial_id"]].hyperparameters.copy())
    save_config(best_config, out / "best_config.json", objective=objective, score=best_row["score"],
                trial_id=best_row["trial_id"])
    print(f"best trial {best_row['trial_id']}: {objective} = {best_row['score']:.4f}")
    print(f"wrote {out / 'best_config.json'}, {out / 'trials.csv'}, {out / 'trial_scores.png'}")
    return SearchResult(best_config, best_row["score"], rows, engine, out)

