"""The video config: every setting of a run, with defaults that work (offline, on the demo set)."""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.applications import APPLICATIONS

BACKBONES = ("small", *APPLICATIONS)
CELLS = ("gru", "lstm")


@dataclass
class VideoConfig:
    # frames
    num_frames: int = 16  # frames sampled uniformly from each clip; shorter clips are padded and masked
    image_size: int = 64  # frames are centre-cropped to a square and resized to image_size x image_size
    # per-frame CNN
    backbone: str = "small"  # small (trained from scratch) or a keras.applications network
    backbone_weights: str = "none"  # imagenet | PATH to a weights file | none (also --backbone-weights)
    train_backbone: bool = True  # False: the CNN is frozen and its per-frame features computed once and cached
    feature_grid: int = 0  # average the CNN's last map to grid x grid cells (1: global pooling; 0: 4 for small, else 1)
    small_filters: int = 16  # width of the first convolution of the small CNN (doubled twice)
    # sequence model
    frame_units: int = 128  # per-frame projection of the CNN features
    cell: str = "gru"
    units: int = 64  # RNN units per direction
    attention_units: int = 64
    dropout: float = 0.3
    # data
    split: int = 1  # which official split lists to use (trainlist0N.txt / testlist0N.txt)
    val_fraction: float = 0.15  # groups (_gNN_) held out of training for validation
    max_clips_per_class: int = 0  # use at most N clips of each class in each split (0: all); for quick runs
    augment: bool = True  # end to end: jitter each training clip's colours (the same over its frames)
    cache_mib: int = 1024  # keep a split's decoded clips in memory after the first epoch when they fit in this many MiB
    # optimisation
    epochs: int = 15
    batch_size: int = 16
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    schedule: str = "cosine"
    clipnorm: float = 1.0
    patience: int = 0  # early stopping after N epochs without a better val_accuracy (0: off)
    seed: int = 1337

    @property
    def grid(self) -> int:
        """The feature grid in use: feature_grid, or by default 4 for the small CNN (motion needs the layout)
        and 1 (global pooling, as keras-io does) for ImageNet networks, whose features are many."""
        if self.feature_grid:
            return self.feature_grid
        return 4 if self.backbone == "small" else 1

    def validate(self) -> None:
        for name, allowed in (("backbone", BACKBONES), ("cell", CELLS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        if self.feature_grid < 0:
            raise ValueError(f"feature_grid must be 0 (auto) or positive, not {self.feature_grid}")
        for name in ("num_frames", "small_filters", "frame_units", "units", "attention_units",
                     "batch_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32 pixels, not {self.image_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")
        if self.split not in (1, 2, 3):
            raise ValueError(f"split must be 1, 2 or 3 (UCF101's trainlist01..03), not {self.split}")
        if not 0.0 <= self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in [0, 0.5), not {self.val_fraction}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, not {self.learning_rate}")
        if not self.backbone_weights:
            raise ValueError("backbone_weights must be imagenet, none or a path to a weights file")
        if self.backbone == "small" and self.backbone_weights.lower() == "imagenet":
            raise ValueError("the small CNN has no ImageNet weights; use backbone_weights=none (or a PATH), "
                             "or a keras.applications backbone such as mobilenet_v3_small")
