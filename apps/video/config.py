"""The video config: every setting of a run, with defaults that work (offline, on the demo set)."""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.applications import APPLICATIONS

BACKBONES = ("small", *APPLICATIONS)
CELLS = ("gru", "lstm", "simple")  # simple: the Elman SimpleRNN


VAL_FRACTION = 0.15  # groups held out for validation where the config holds any out (see val_fraction)


@dataclass
class VideoConfig:
    """A video run's settings. Those marked "follows the backbone" are 0/None by default and are filled in
    (`__post_init__`) from the backbone: the small CNN trains end to end on 64 px frames; a keras.applications
    network (ImageNet weights) is frozen at 224 px, its per-frame features cached with several windows and
    mirrored views. So `--set backbone=mobilenet_v2_0.5 --backbone-weights FILE` alone is the pretrained recipe."""

    # frames
    num_frames: int = 16  # frames sampled uniformly over the whole clip; shorter clips are padded and masked
    image_size: int = 0  # frames centre-cropped to a square and resized to this (0: follows the backbone: 64 / 224)
    windows: int = 0  # uniform samplings per clip, each spanning the whole clip at another offset (0: follows: 1 / 4)
    flip: bool | None = None  # frozen features: mirrored frames cached as more training views (None: follows: on
    #                          for a keras.applications network, off for small)
    test_windows: bool = True  # evaluate/predict average the predictions over all `windows` samplings
    # per-frame CNN
    backbone: str = "small"  # small (trained from scratch) or a keras.applications network (rnnkit.applications)
    backbone_weights: str = "none"  # imagenet | PATH to a weights file | none (also --backbone-weights)
    train_backbone: bool | None = None  # false: frozen, features cached once per clip and sampling (None: follows:
    #                                     true for small, false for a keras.applications network)
    fine_tune_blocks: int = 0  # train_backbone=true on a keras.applications network: train only its last N blocks
    feature_grid: int = 0  # average the CNN's last map to grid x grid cells (0: follows: 4 for small, else 1)
    small_filters: int = 16  # width of the first convolution of the small CNN (doubled twice)
    # sequence model
    frame_units: int = 128  # per-frame projection of the CNN features
    cell: str = "gru"  # gru | lstm | simple
    units: int = 64  # RNN units per direction
    attention_units: int = 64
    dropout: float = 0.3
    feature_dropout: float | None = None  # dropout on the CNN features, before the projection (None: follows:
    #                                      0.5 on frozen keras.applications features, 0 for the small CNN)
    # data
    split: int = 1  # which official split lists to use (trainlist0N.txt / testlist0N.txt / *_test_splitN.txt)
    val_fraction: float | None = None  # groups (_gNN_) held out for validation (None: follows: 0.15; 0 on frozen
    # pretrained features, where 3-5 clips a class cannot spare a third for validation: every group trains for
    # `epochs` and the last epoch is kept; BENCHMARKS.md: 0.703 -> 0.759 top-1 on the UCF101 group folds)
    max_clips_per_class: int = 0  # use at most N clips of each class in each split (0: all); for quick runs
    augment: bool = True  # end to end: jitter each training clip's colours (the same over its frames)
    every_view: bool = True  # cached features: a training epoch takes every view of every clip (false: one random view a clip)
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

    def __post_init__(self):
        pretrained = self.backbone != "small"
        if not self.image_size:
            self.image_size = 224 if pretrained else 64
        if self.train_backbone is None:
            self.train_backbone = not pretrained
        if not self.windows:
            self.windows = 1 if self.train_backbone else 4
        if self.flip is None:  # not for the small CNN: the demo's MoveLeft mirrored is MoveRight
            self.flip = pretrained and not self.train_backbone
        if self.feature_dropout is None:  # BENCHMARKS.md: 0.667 -> 0.703 top-1 on the UCF101 group folds
            self.feature_dropout = 0.5 if pretrained and not self.train_backbone else 0.0
        if self.val_fraction is None:
            self.val_fraction = 0.0 if pretrained and not self.train_backbone else VAL_FRACTION

    @property
    def grid(self) -> int:
        """The feature grid in use: feature_grid, or by default 4 for the small CNN (motion needs the layout)
        and 1 (global pooling, as keras-io does) for ImageNet networks, whose features are many."""
        if self.feature_grid:
            return self.feature_grid
        return 4 if self.backbone == "small" else 1

    @property
    def views(self) -> int:
        """Cached feature views per clip of a frozen backbone: each window, and each mirrored when `flip`."""
        return self.windows * (2 if self.flip else 1)

    def validate(self) -> None:
        for name, allowed in (("backbone", BACKBONES), ("cell", CELLS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        if self.feature_grid < 0:
            raise ValueError(f"feature_grid must be 0 (auto) or positive, not {self.feature_grid}")
        for name in ("num_frames", "small_filters", "frame_units", "units", "attention_units",
                     "batch_size", "epochs", "windows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32 pixels, not {self.image_size}")
        for name in ("dropout", "feature_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if self.fine_tune_blocks < 0:
            raise ValueError(f"fine_tune_blocks must be 0 (all) or positive, not {self.fine_tune_blocks}")
        if self.fine_tune_blocks and (self.backbone == "small" or not self.train_backbone):
            raise ValueError("fine_tune_blocks applies to a keras.applications backbone with train_backbone=true")
        if self.split not in (1, 2, 3):
            raise ValueError(f"split must be 1, 2 or 3 (UCF101's trainlist01..03, HMDB51's split1..3), not {self.split}")
        if not 0.0 <= self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in [0, 0.5), not {self.val_fraction}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, not {self.learning_rate}")
        if not self.backbone_weights:
            raise ValueError("backbone_weights must be imagenet, none or a path to a weights file")
        if self.backbone == "small" and self.backbone_weights.lower() == "imagenet":
            raise ValueError("the small CNN has no ImageNet weights; use backbone_weights=none (or a PATH), "
                             "or a keras.applications backbone such as mobilenet_v2_0.5")
