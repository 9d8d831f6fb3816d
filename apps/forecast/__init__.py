"""Multivariate time-series forecasting: SegRNN / GRU / LSTM / SimpleRNN with RevIN, quantile heads and baselines."""

from rnnkit.cli import App

APP = App(
    name="forecast",
    help="time-series forecasting (SegRNN or a GRU/LSTM/SimpleRNN, RevIN, quantile intervals, baselines in the same run)",
    commands={
        "train": "apps.forecast.train",
        "evaluate": "apps.forecast.evaluate",
        "tune": "apps.forecast.tune",
        "export": "apps.forecast.export",
        "predict": "apps.forecast.predict",
    },
)
