"""The captioning config: every setting of a run, with defaults that work."""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.applications import APPLICATIONS as ENCODERS

CELLS = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong_general", "luong_dot")


@dataclass
class CaptioningConfig:
    # encoder
    encoder: str = "mobilenet_v3_small"
    encoder_weights: str = "imagenet"  # imagenet | PATH to a weights file | none (also --encoder-weights)
    image_size: int = 224  # images are resized to image_size x image_size
    train_encoder: bool = False  # False: encoder frozen, its features computed once and cached
    # decoder
    cell: str = "gru"
    units: int = 256
    embedding_dim: int = 128
    attention: str = "bahdanau"
    attention_units: int = 128  # bahdanau's hidden size
    dropout: float = 0.3
    # text
    max_length: int = 20  # decoder steps: words + the end token; longer captions are cut
    min_count: int = 2  # words seen fewer times in training captions become [UNK]
    max_vocab: int = 5000
    max_images: int = 0  # use only the first N images of each split (0: all); for quick runs
    # search
    beam_width: int = 3
    length_alpha: float = 0.7  # length penalty ((5 + length) / 6) ** alpha in beam search
    no_repeat_ngram: int = 3  # never repeat a word n-gram within a caption (0: off)
    # optimisation
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    clipnorm: float = 5.0
    patience: int = 4  # early stopping after N epochs without a better val_loss (0: off)
    seed: int = 1337

    def validate(self) -> None:
        for name, allowed in (("encoder", ENCODERS), ("cell", CELLS), ("attention", ATTENTIONS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        for name in ("units", "embedding_dim", "attention_units", "max_length", "batch_size", "epochs",
                     "beam_width", "max_vocab", "min_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32 pixels, not {self.image_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, not {self.learning_rate}")
        if self.no_repeat_ngram < 0 or self.no_repeat_ngram == 1:
            raise ValueError(f"no_repeat_ngram must be 0 (off) or at least 2, not {self.no_repeat_ngram}")
        if not self.encoder_weights:
            raise ValueError("encoder_weights must be imagenet, none or a path to a weights file")
