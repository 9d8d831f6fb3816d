"""The captioning config: every setting of a run, with defaults that work."""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.applications import APPLICATIONS as ENCODERS

CELLS = ("gru", "lstm", "simple")  # simple: the Elman SimpleRNN
ATTENTIONS = ("bahdanau", "luong_general", "luong_dot")


@dataclass
class CaptioningConfig:
    # encoder
    encoder: str = "mobilenet_v2_0.5"  # measured with ImageNet weights (BENCHMARKS.md); any of rnnkit.applications
    # auto: imagenet for real photos, none for the demo's rendered shapes (which need no ImageNet features,
    # so the demo runs offline); imagenet | PATH to a weights file | none (also --encoder-weights)
    encoder_weights: str = "auto"
    image_size: int = 224  # images are resized to image_size x image_size
    train_encoder: bool = False  # False: encoder frozen, its features computed once and cached
    # with a frozen encoder: train its last N blocks with the decoder, on cached features of the blocks
    # before them (0: none)
    fine_tune_blocks: int = 0
    # decoder
    cell: str = "gru"
    units: int = 256
    embedding_dim: int = 128
    attention: str = "bahdanau"
    attention_units: int = 128  # bahdanau's hidden size
    dropout: float = 0.5  # 753 photos overfit at 0.3 (BENCHMARKS.md)
    # text
    max_length: int = 20  # decoder steps: words + the end token; longer captions are cut
    min_count: int = 3  # words seen fewer times in training captions become [UNK]
    max_vocab: int = 5000
    # each training caption sees its image or the mirror image at random (with "left" and "right" swapped
    # in its words); the features of both are cached
    flip_images: bool = True
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
            raise ValueError("encoder_weights must be auto, imagenet, none or a path to a weights file")
        if self.fine_tune_blocks < 0:
            raise ValueError(f"fine_tune_blocks must be 0 (off) or positive, not {self.fine_tune_blocks}")
        if self.fine_tune_blocks and self.train_encoder:
            raise ValueError("fine_tune_blocks trains the last blocks on cached features; with train_encoder=true the "
                             "whole encoder is trained already: set one of them")

    def resolved(self, data: str) -> CaptioningConfig:
        """The config with encoder_weights=auto made concrete for the source `data`."""
        from dataclasses import replace

        from apps.captioning.data import DEMO

        if self.encoder_weights.lower() != "auto":
            return self
        return replace(self, encoder_weights="none" if data == DEMO else "imagenet")
