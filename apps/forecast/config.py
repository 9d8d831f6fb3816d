"""The forecast config: every setting of a run, with defaults that work.

The defaults are SegRNN's recipe for the long-horizon benchmark (segments of
48 steps, a GRU of 512, dropout 0.5, the window normalised by its last
value, L1 training loss, Adam at 1e-3 decaying, batches of 256, up to 30
epochs with early stopping on validation), and they are what every series
gets unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

MODELS = ("segrnn", "rnn", "seq2seq")
CELLS = ("gru", "lstm", "simple")  # simple: the Elman keras.layers.SimpleRNN
REVIN_MODES = ("last", "mean", "std", "none")
LOSSES = ("mae", "mse", "huber")
SPLITS = ("auto", "ett", "ratio")
ATTENTIONS = ("bahdanau", "luong")
MONITORS = ("mse", "mae", "loss")


@dataclass
class ForecastConfig:
    # data
    seq_len: int = 96  # lookback: steps of history the model reads
    horizon: int = 96  # steps it forecasts
    targets: str = ""  # comma-separated columns to forecast (default: every numeric column that is not a covariate)
    covariates: str = ""  # comma-separated inputs that are read but not forecast ("rest": every other column)
    time_column: str = ""  # default: date / datetime / timestamp / time, or year,month,day[,hour[,minute]] columns
    calendar: bool = False  # add hour-of-day, day-of-week and month (sin/cos) as inputs
    split: str = "auto"  # auto: ETT months for ETTh*/ETTm* files, else ratio (train_fraction / val_fraction / rest)
    train_fraction: float = 0.7
    val_fraction: float = 0.1  # the test split is the rest (0.2), the last part in time
    max_gap: int = 6  # missing steps in a row filled by linear interpolation; windows over longer gaps are dropped
    # model
    model: str = "segrnn"  # segrnn: GRU over segments, parallel decoding; rnn: over steps, dense head; seq2seq: attention decoder, one step at a time
    cell: str = "gru"
    units: int = 512
    seg_len: int = 48  # segrnn: steps per segment
    num_layers: int = 1  # rnn / seq2seq encoder layers
    attention: str = "bahdanau"  # seq2seq: bahdanau or luong attention over the encoder's steps
    dropout: float = 0.5
    linear_skip: bool = False  # add a linear forecast of each target's window (DLinear's model) to the network's
    revin: str = "last"  # per-window normalisation: last value, mean, mean and std (RevIN), or none
    revin_affine: bool = False
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)  # empty: point forecast only
    quantile_weight: float = 1.0  # weight of the pinball loss beside the point loss
    # optimisation
    loss: str = "mae"  # of the point forecast: mae (SegRNN's), mse or huber
    monitor: str = "mse"  # validation metric for early stopping and the best model (of the point forecast)
    epochs: int = 30
    batch_size: int = 256
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    final_lr_fraction: float = 0.0
    warmup_steps: int = 0
    weight_decay: float = 0.0
    clipnorm: float = 0.0  # 0: no clipping
    ema: float = 0.0  # > 0: validate, keep and export the moving average of the weights with this momentum (0: off)
    patience: int = 10  # early stopping after N epochs without a better validation metric (0: off)
    shuffle: bool = True
    seed: int = 2021

    def target_names(self) -> list[str]:
        return _names(self.targets)

    def covariate_names(self) -> list[str]:
        return _names(self.covariates)

    def validate(self) -> None:
        choices = {"model": MODELS, "cell": CELLS, "revin": REVIN_MODES, "loss": LOSSES, "split": SPLITS,
                   "attention": ATTENTIONS, "monitor": MONITORS}
        for name, options in choices.items():
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {', '.join(options)}, not {getattr(self, name)!r}")
        for name in ("seq_len", "horizon", "units", "seg_len", "num_layers", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.model == "segrnn" and self.units % 2:
            raise ValueError(f"units must be even for model=segrnn (half position, half channel embedding), not {self.units}")
        if self.max_gap < 0:
            raise ValueError(f"max_gap must be 0 (no filling) or more, not {self.max_gap}")
        if not (0.0 < self.train_fraction < 1.0 and 0.0 < self.val_fraction < 1.0
                and self.train_fraction + self.val_fraction < 1.0):
            raise ValueError(f"need 0 < train_fraction ({self.train_fraction}), 0 < val_fraction ({self.val_fraction}) "
                             "and train_fraction + val_fraction < 1 (the rest is the test split)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if any(not 0.0 < q < 1.0 for q in self.quantiles) or list(self.quantiles) != sorted(set(self.quantiles)):
            raise ValueError(f"quantiles must be increasing, distinct and in (0, 1), e.g. 0.1,0.5,0.9; not {self.quantiles}")
        if self.quantile_weight < 0:
            raise ValueError(f"quantile_weight must be 0 or more, not {self.quantile_weight}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, not {self.learning_rate}")
        if self.patience < 0:
            raise ValueError(f"patience must be 0 (off) or more, not {self.patience}")
        overlap = sorted(set(self.target_names()) & set(self.covariate_names()))
        if overlap:
            raise ValueError(f"{', '.join(overlap)}: a column is either a target or a covariate, not both")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]
