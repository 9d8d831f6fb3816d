"""KerasTuner search over the video model's sequence part: cell, units, projection, dropout, learning rate.

    python -m apps.video.tune --data demo --out runs/video-tune --trials 8 --epochs 6
    python -m apps.video.train --data demo --out runs/video-best --config runs/video-tune/best_config.json

With a frozen backbone (--set train_backbone=false, and the default for a
keras.applications backbone) every clip goes through the CNN once, its features
are cached per clip (apps.video.inputs.FeatureCache), and each trial trains the
head only: the quick way to search. End to end, every trial trains the CNN too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from apps.video.config import VAL_FRACTION, VideoConfig
from apps.video.train import add_backbone_weights_argument, apply_backbone_weights
from rnnkit import cli

HELP = "Search RNN cell and size, frame projection, dropout and learning rate with KerasTuner (resumable); objective val_accuracy."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_tune_arguments(parser, VideoConfig, units="32,64,128")
    add_backbone_weights_argument(parser)


def space_for(units: list[int]):
    def space(hp, base: VideoConfig) -> VideoConfig:
        return dataclasses.replace(
            base,
            cell=hp.Choice("cell", ["gru", "lstm", "simple"]),
            units=hp.Choice("units", units),
            frame_units=hp.Choice("frame_units", [64, 128, 256]),
            dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
            learning_rate=hp.Float("learning_rate", 5e-4, 5e-3, sampling="log"),
        )

    return space


def run(args: argparse.Namespace) -> int:
    from apps.video.inputs import prepare
    from apps.video.model import build_model, compile_model
    from rnnkit.training import set_seed

    apply_backbone_weights(args)
    base, seed = cli.resolve_tune_config(VideoConfig, args)
    set_seed(seed)
    units = cli.tune_units(args)
    if not base.val_fraction:
        import dataclasses

        # trials are compared on validation: the frozen-features default trains without it (val_fraction 0)
        print(f"tune: trials are scored on validation groups, so {VAL_FRACTION:.0%} of the groups are held out "
              f"(val_fraction={VAL_FRACTION:g})")
        base = dataclasses.replace(base, val_fraction=VAL_FRACTION)
    prepared = prepare(base, args.data)
    steps = prepared.steps_per_epoch(base)
    cli.run_search(
        "video", args, base, seed,
        build_model=lambda config: compile_model(build_model(config, len(prepared.classes), prepared.backbone),
                                                 config, steps),
        space=space_for(units), train_data=prepared.train_data, val_data=prepared.val_data,
        objective="val_accuracy", direction="max",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
