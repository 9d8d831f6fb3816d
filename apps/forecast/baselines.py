"""The forecasts a model has to beat, computed on the same windows: last value, seasonal naive, linear.

    last_value       every step of the horizon repeats the last observed value
    seasonal_naive   step k repeats the value one period earlier (a day for hourly data)
    linear           one linear map from the window to the horizon, shared by every target
                     (channel-independent, DLinear's setting), on the window minus its last
                     value; fitted in closed form (ridge least squares) on the training
                     windows at training time and saved in the run folder

All of them work on standardised windows [n, seq_len, features] whose first `targets`
columns are the targets, and return [n, horizon, targets].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NAMES = ("last_value", "seasonal_naive", "linear")
LINEAR_FILE = "linear_baseline.npz"


def last_value(history: np.ndarray, targets: int, horizon: int) -> np.ndarray:
    return np.repeat(history[:, -1:, :targets], horizon, axis=1)


def seasonal_naive(history: np.ndarray, targets: int, horizon: int, period: int) -> np.ndarray:
    steps = history.shape[1]
    period = max(1, min(int(period), steps))
    index = steps - period + (np.arange(horizon) % period)
    return history[:, index, :targets]


def _rows(history: np.ndarray, targets: int) -> np.ndarray:
    """[n, steps, features] -> one row per (window, target): [n * targets, steps]."""
    return np.transpose(history[:, :, :targets], (0, 2, 1)).reshape(-1, history.shape[1])


class LinearBaseline:
    """Ridge least squares from the window (minus its last value) to the horizon, one map for every target."""

    def __init__(self, weights: np.ndarray):
        self.weights = np.asarray(weights, np.float64)  # [steps + 1, horizon]: the map and a bias row

    @classmethod
    def fit(cls, batches, ridge: float = 1e-3) -> LinearBaseline:
        """`batches` yields (history [n, steps, features], future [n, horizon, targets]) of training windows."""
        gram = cross = None
        for history, future in batches:
            targets = future.shape[2]
            x = _rows(history, targets).astype(np.float64)
            y = np.transpose(future, (0, 2, 1)).reshape(-1, future.shape[1]).astype(np.float64)
            last = x[:, -1:]
            design = np.concatenate([x - last, np.ones((len(x), 1))], axis=1)
            if gram is None:
                gram = np.zeros((design.shape[1], design.shape[1]))
                cross = np.zeros((design.shape[1], y.shape[1]))
            gram += design.T @ design
            cross += design.T @ (y - last)
        if gram is None:
            raise ValueError("the linear baseline needs at least one training window")
        penalty = ridge * np.trace(gram) / len(gram) * np.eye(len(gram))
        penalty[-1, -1] = 0.0  # the bias is not shrunk
        return cls(np.linalg.solve(gram + penalty, cross))

    def predict(self, history: np.ndarray, targets: int) -> np.ndarray:
        x = _rows(history, targets).astype(np.float64)
        steps = self.weights.shape[0] - 1
        if x.shape[1] != steps:
            raise ValueError(f"the linear baseline was fitted on windows of {steps} steps, not {x.shape[1]}")
        last = x[:, -1:]
        forecast = np.concatenate([x - last, np.ones((len(x), 1))], axis=1) @ self.weights + last
        horizon = self.weights.shape[1]
        return np.transpose(forecast.reshape(len(history), targets, horizon), (0, 2, 1)).astype(np.float32)

    def save(self, folder: str | Path) -> Path:
        from rnnkit.io import atomic_path

        path = Path(folder) / LINEAR_FILE
        with atomic_path(path) as tmp:
            np.savez(tmp, weights=self.weights)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> LinearBaseline:
        path = Path(folder) / LINEAR_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; the linear baseline is fitted by `train` and saved in the run folder")
        with np.load(path) as saved:
            return cls(saved["weights"])


def all_baselines(history: np.ndarray, targets: int, horizon: int, period: int,
                  linear: LinearBaseline | None) -> dict[str, np.ndarray]:
    forecasts = {"last_value": last_value(history, targets, horizon),
                 "seasonal_naive": seasonal_naive(history, targets, horizon, period)}
    if linear is not None:
        forecasts["linear"] = linear.predict(history, targets)
    return forecasts
