"""Forecast scores: MSE and MAE on standardised values (the benchmark's numbers), MAE in the original
units, error by horizon step, and the empirical coverage of the prediction interval."""

from __future__ import annotations

import numpy as np


def interval_levels(quantiles) -> tuple[float, float] | None:
    """The outermost pair of quantiles (0.1 and 0.9 -> the 80% interval), or None."""
    levels = sorted(float(q) for q in quantiles)
    if len(levels) < 2:
        return None
    return levels[0], levels[-1]


def score(forecast: np.ndarray, truth: np.ndarray, scale: np.ndarray, targets: list[str],
          quantiles: np.ndarray | None = None, levels=()) -> dict:
    """Scores of standardised forecasts [n, horizon, targets] against the truth; `scale` is each target's std."""
    error = forecast.astype(np.float64) - truth.astype(np.float64)
    absolute = np.abs(error)
    scale = np.asarray(scale, np.float64)[: len(targets)]
    result = {
        "mse": float(np.mean(error**2)),
        "mae": float(np.mean(absolute)),
        "mae_original": {name: float(np.mean(absolute[:, :, index]) * scale[index]) for index, name in enumerate(targets)},
        "rmse_original": {name: float(np.sqrt(np.mean(error[:, :, index] ** 2)) * scale[index])
                          for index, name in enumerate(targets)},
    }
    pair = interval_levels(levels)
    if quantiles is not None and pair is not None:
        low, high = quantiles[..., 0], quantiles[..., -1]
        inside = (truth >= low) & (truth <= high)
        result["interval"] = {"levels": list(pair), "nominal_coverage": round(pair[1] - pair[0], 6),
                              "coverage": float(np.mean(inside)),
                              "mean_width_original": {name: float(np.mean(high[:, :, index] - low[:, :, index]) * scale[index])
                                                      for index, name in enumerate(targets)}}
        level_array = np.asarray(levels, np.float64)
        residual = truth[..., None].astype(np.float64) - quantiles.astype(np.float64)
        result["pinball"] = float(np.mean(np.maximum(level_array * residual, (level_array - 1) * residual)))
    return result


def by_step(forecast: np.ndarray, truth: np.ndarray) -> dict[str, list[float]]:
    error = forecast.astype(np.float64) - truth.astype(np.float64)
    return {"mse": np.mean(error**2, axis=(0, 2)).tolist(), "mae": np.mean(np.abs(error), axis=(0, 2)).tolist()}


def comparison_lines(model: dict, baselines: dict[str, dict], label: str = "model") -> list[str]:
    """A small table of MSE / MAE for the model and each baseline, and whether the model beats them."""
    rows = [(label, model)] + list(baselines.items())
    lines = [f"  {'':<16} {'mse':>8} {'mae':>8}"]
    for name, row in rows:
        lines.append(f"  {name:<16} {row['mse']:8.4f} {row['mae']:8.4f}")
    beaten = [name for name, row in baselines.items() if row["mse"] <= model["mse"]]
    if beaten:
        lines.append(f"  note: the {label} does NOT beat {', '.join(beaten)} on MSE here")
    else:
        lines.append(f"  the {label} beats every baseline on MSE")
    return lines
