"""One forecast window of a forecast run, through the app's own `predict.forecast_window`.

The window's history comes from the series the run was trained on (its config.json names it),
read with the run's columns by the app's `history_from_source`. The model always reads its
`seq_len` steps; a shorter "lookback" hides the older steps (they repeat the oldest step kept),
which shows how much of the history the forecast leans on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from rnnkit.lab.models import ModelRef, app_module


@dataclass
class Window:
    target: str
    history: np.ndarray  # [seq_len] of the first target, as the model saw it
    future: np.ndarray  # [<= horizon] what happened
    predicted: np.ndarray  # [horizon]
    low: np.ndarray | None
    high: np.ndarray | None
    levels: tuple[float, float] | None
    end: int  # the row of the last history step
    steps: int
    lookback: int
    seq_len: int

    @property
    def title(self) -> str:
        return (f"{self.target}: history up to row {self.end} of {self.steps}, lookback {self.lookback} of "
                f"{self.seq_len} steps")

    def table(self, rows: int = 12) -> list[list]:
        out = []
        for step in range(min(rows, len(self.predicted))):
            out.append([step + 1, round(float(self.predicted[step]), 4),
                        None if self.low is None else round(float(self.low[step]), 4),
                        None if self.high is None else round(float(self.high[step]), 4),
                        round(float(self.future[step]), 4) if step < len(self.future) else None])
        return out

    def summary(self) -> str:
        parts = [f"forecast of {len(self.predicted)} steps of {self.target}"]
        if len(self.future):
            error = float(np.mean(np.abs(self.predicted[: len(self.future)] - self.future)))
            parts.append(f"mean absolute error on this window {error:.4g}")
        if self.low is not None and len(self.future):
            inside = np.mean((self.future >= self.low[: len(self.future)]) & (self.future <= self.high[: len(self.future)]))
            parts.append(f"{inside:.0%} of what happened falls inside the {self.levels[0]:g}-{self.levels[1]:g} interval")
        return "; ".join(parts)


def forecast_window(ref: ModelRef, start: float = 0.8, lookback: int = 0) -> Window:
    if not 0.0 <= start <= 1.0:
        raise ValueError(f"start must be a fraction in [0, 1], not {start}")
    if ref.kind != "run":
        raise ValueError(f"{ref.path}: the forecast tab needs a run folder (its config.json names the series to "
                         "draw windows from); pass the run the export was made from")
    predict = app_module("forecast", "predict")
    forecaster = predict.load_forecaster(str(ref.path))
    source = json.loads((ref.path / "config.json").read_text(encoding="utf-8")).get("data")
    if not source:
        raise ValueError(f"{ref.path}/config.json does not name the series it was trained on")
    _, _, series = predict.history_from_source(forecaster, source, None)
    seq_len, horizon = forecaster.seq_len, forecaster.horizon
    last_possible = series.steps - 1 - horizon
    if last_possible < seq_len - 1:
        raise ValueError(f"{source}: {series.steps} steps are too few for a lookback of {seq_len} and a horizon of {horizon}")
    end = int(round(seq_len - 1 + start * (last_possible - (seq_len - 1))))
    values = np.asarray(series.values, np.float32)
    history = values[end + 1 - seq_len: end + 1].copy()
    lookback = seq_len if lookback <= 0 or lookback >= seq_len else int(lookback)
    if lookback < seq_len:
        history[: seq_len - lookback] = history[seq_len - lookback]
    out = predict.forecast_window(forecaster, history)
    quantiles, levels = out.get("quantiles"), list(out.get("levels") or [])
    low = high = interval = None
    if quantiles is not None and len(levels) >= 2:
        low, high, interval = quantiles[:, 0, 0], quantiles[:, 0, -1], (levels[0], levels[-1])
    return Window(str(out["targets"][0]), history[:, 0], values[end + 1: end + 1 + horizon, 0],
                  np.asarray(out["forecast"])[:, 0], low, high, interval, end, series.steps, lookback, seq_len)
