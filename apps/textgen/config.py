"""The textgen config: every setting of a run, with defaults that work."""

from __future__ import annotations

from dataclasses import dataclass

CELLS = ("lstm", "gru", "simple")  # simple: the Elman keras.layers.SimpleRNN
EMBEDDING_INITS = ("uniform", "normal")


@dataclass
class TextGenConfig:
    # model
    cell: str = "gru"
    num_layers: int = 2
    units: int = 512
    embedding_dim: int = 64
    embedding_init: str = "normal"  # normal: N(0, 1), inputs at the scale the RNN's kernel expects; uniform: Keras' U(-0.05, 0.05)
    dropout: float = 0.25
    # data
    seq_len: int = 128
    batch_size: int = 64
    max_chars: int = 0  # use only the first N characters of the source (0: all); for quick runs
    val_fraction: float = 0.1  # the last part of the text is validation
    # optimisation
    epochs: int = 20
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"  # cosine decay over `epochs`, or constant
    final_lr_fraction: float = 0.05  # where the cosine schedule ends, as a fraction of learning_rate
    warmup_steps: int = 0
    clipnorm: float = 1.0
    patience: int = 0  # early stopping after N epochs without improvement (0: off)
    seed: int = 1337

    def validate(self) -> None:
        for name, options in {"cell": CELLS, "embedding_init": EMBEDDING_INITS}.items():
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {', '.join(options)}, not {getattr(self, name)!r}")
        for name in ("num_layers", "units", "embedding_dim", "seq_len", "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5), not {self.val_fraction}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, not {self.learning_rate}")
