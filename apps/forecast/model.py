"""The forecast model, its loss, and loading a run.

    history [batch, seq_len, features]          standardised with the training part's statistics
      -> RevIN (each window by its last value / mean / mean and std)
      -> segrnn:  SegmentRNN: channel-independent GRU over segments of seg_len steps, parallel
                  decoding from position + channel embeddings (covariates summarised into the targets)
         rnn:     Dense -> (GRU | LSTM | SimpleRNN) x num_layers over the steps -> Dense to every step
         seq2seq: the same encoder, then one decoder step per forecast step with attention
      (+ linear_skip: a linear map of each target's window added to every output)
      -> ForecastHead: point forecast + monotone quantiles
      -> RevIN reversed: back to the (standardised) level of the window
    outputs {"forecast": [batch, horizon, targets], "quantiles": [batch, horizon, targets, Q]}

The model works in standardised units, the numbers papers report; the serving export
(export.py) wraps it with the scaling so a client sends and gets raw units.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import ops

from apps.forecast.config import ForecastConfig
from apps.forecast.layers import RNN_CLASSES, AttentionDecoder, ChannelLinear, ForecastHead
from rnnkit.layers import RevIN, SegmentRNN
from rnnkit.training import optimizer_from_config


@keras.saving.register_keras_serializable(package="forecast")
class PinballLoss(keras.losses.Loss):
    """The quantile (pinball) loss, averaged over the quantiles: max(q * e, (q - 1) * e), e = truth - forecast.

    Minimising it makes each output the q-th quantile of the forecast distribution, which is
    what turns a pair of them (0.1 and 0.9) into an 80% prediction interval.
    """

    def __init__(self, quantiles=(0.1, 0.5, 0.9), name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantiles = [float(q) for q in quantiles]

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        if len(y_true.shape) == len(y_pred.shape) - 1:
            y_true = ops.expand_dims(y_true, -1)
        levels = ops.convert_to_tensor(self.quantiles, dtype=y_pred.dtype)
        error = y_true - y_pred
        return ops.mean(ops.maximum(levels * error, (levels - 1.0) * error), axis=-1)

    def get_config(self):
        return {**super().get_config(), "quantiles": self.quantiles}


def build_model(config: ForecastConfig, num_features: int, num_targets: int, input_steps: int | None = None) -> keras.Model:
    """The model for windows of `num_features` columns whose first `num_targets` are forecast.

    `input_steps` > seq_len makes a model that takes longer windows and reads only their last
    seq_len steps (the tuner feeds every trial the same windows while it varies the lookback).
    """
    steps = input_steps or config.seq_len
    outputs = 1 + len(config.quantiles)
    history = keras.Input((steps, num_features), name="history")
    x = history
    if steps > config.seq_len:
        x = keras.layers.Cropping1D((steps - config.seq_len, 0), name="lookback")(x)
    revin = RevIN(mode=config.revin, affine=config.revin_affine, name="revin") if config.revin != "none" else None
    stats = None
    if revin is not None:
        x, stats = revin(x)
    if config.model == "segrnn":
        raw = SegmentRNN(config.horizon, config.seg_len, config.units, cell=config.cell, dropout=config.dropout,
                         targets=num_targets, outputs=outputs, name="segment_rnn")(x)
    elif config.model == "rnn":
        x = keras.layers.Dense(config.units, name="input_projection")(x)
        rnn_class = RNN_CLASSES[config.cell]
        for index in range(config.num_layers):
            x = rnn_class(config.units, return_sequences=index < config.num_layers - 1, name=f"{config.cell}_{index}")(x)
        x = keras.layers.Dropout(config.dropout, name="dropout")(x)
        raw = keras.layers.Dense(config.horizon * num_targets * outputs, name="projection")(x)
        raw = keras.layers.Reshape((config.horizon, num_targets, outputs), name="steps")(raw)
    else:
        raw = AttentionDecoder(config.horizon, config.units, num_targets, outputs, cell=config.cell,
                               attention=config.attention, num_layers=config.num_layers, dropout=config.dropout,
                               name="attention_decoder")(x)
    skip = ChannelLinear(config.horizon, num_targets, name="linear_skip")(x) if config.linear_skip else None
    head = ForecastHead(len(config.quantiles), name="head")(raw, skip=skip)
    forecast, quantiles = (head if config.quantiles else (head, None))
    if revin is not None:
        forecast = revin(forecast, stats=stats, reverse=True)
        if quantiles is not None:
            quantiles = revin(quantiles, stats=stats, reverse=True)
    named = {"forecast": keras.layers.Identity(name="forecast")(forecast)}
    if quantiles is not None:
        named["quantiles"] = keras.layers.Identity(name="quantiles")(quantiles)
    return keras.Model(history, named, name=f"forecast_{config.model}")


def point_loss(name: str):
    return {"mae": keras.losses.MeanAbsoluteError(name="mae"), "mse": keras.losses.MeanSquaredError(name="mse"),
            "huber": keras.losses.Huber(delta=1.0, name="huber")}[name]


def compile_model(model: keras.Model, config: ForecastConfig, steps_per_epoch: int) -> keras.Model:
    losses = {"forecast": point_loss(config.loss)}
    weights = {"forecast": 1.0}
    if config.quantiles:
        losses["quantiles"] = PinballLoss(config.quantiles)
        weights["quantiles"] = config.quantile_weight
    model.compile(
        optimizer=optimizer_from_config(config, steps_per_epoch),
        loss=losses,
        loss_weights=weights,
        metrics={"forecast": [keras.metrics.MeanSquaredError(name="mse"), keras.metrics.MeanAbsoluteError(name="mae")]},
    )
    return model


def monitor_name(config: ForecastConfig) -> str:
    return "val_loss" if config.monitor == "loss" else f"val_forecast_{config.monitor}"


def load_run(run_dir):
    """(model, config, schema) of a forecast run folder; the schema holds columns, scaling and the data source."""
    from apps.forecast.data import read_schema
    from rnnkit.config import read_saved_config
    from rnnkit.training import RunDir

    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"--model {run_dir}: no such run folder")
    run = RunDir(path)
    config = read_saved_config(ForecastConfig, run.config_path)
    schema = read_schema(path)
    model = keras.saving.load_model(run.trained_model_path(), compile=False)
    return model, config, schema


def predict_windows(model, history, batch_size: int = 512):
    """(forecast [n, horizon, targets], quantiles [n, horizon, targets, Q] or None) for standardised windows."""
    import numpy as np
    import tensorflow as tf

    runner = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    forecasts, quantiles = [], []
    for start in range(0, len(history), batch_size):
        out = runner(tf.constant(history[start: start + batch_size]))
        forecasts.append(np.asarray(out["forecast"]))
        if "quantiles" in out:
            quantiles.append(np.asarray(out["quantiles"]))
    if not forecasts:
        return np.zeros((0,) + tuple(model.outputs[0].shape[1:]), np.float32), None
    return np.concatenate(forecasts), (np.concatenate(quantiles) if quantiles else None)
