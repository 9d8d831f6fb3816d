"""Train a video classifier: per-frame CNN, masked bidirectional GRU/LSTM over frames, attention pooling.

    python -m apps.video.train --data demo --out runs/video-demo
    python -m apps.video.train --data ../shared/data/ucf101_subset --out runs/ucf --set backbone=mobilenet_v2_0.5 \\
        --backbone-weights ../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5
    python -m apps.video.train --out runs/ucf --resume            # continue after an interruption
"""

from __future__ import annotations

import argparse
import sys

from apps.video.config import VideoConfig
from rnnkit import cli

HELP = ("Train a per-frame CNN + masked bidirectional RNN + attention pooling video classifier; "
        "validation loss and accuracy every epoch.")

CELL_NAMES = {"gru": "GRU", "lstm": "LSTM", "simple": "SimpleRNN"}
WEIGHTS_HELP = ("per-frame CNN weights: imagenet (keras.applications backbones; downloaded by Keras, fails offline), "
                "PATH to a Keras weights file of the same network, or none (random start). Default: the config's "
                "backbone_weights")


def add_backbone_weights_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone-weights", metavar="imagenet|PATH|none", default=None, help=WEIGHTS_HELP)


def apply_backbone_weights(args: argparse.Namespace) -> None:
    """--backbone-weights is a spelling of --set backbone_weights=..., so --resume checks it like any field."""
    if args.backbone_weights is not None:
        args.overrides = [*args.overrides, f"backbone_weights={args.backbone_weights}"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_train_arguments(parser, VideoConfig)
    add_backbone_weights_argument(parser)


def run(args: argparse.Namespace) -> int:
    import keras

    from apps.video.inputs import SkippedClips, prepare
    from apps.video.model import BACKBONE_FILE, CLASSES_FILE, build_model, compile_model
    from rnnkit.config import save_config
    from rnnkit.io import atomic_path, atomic_write_json, read_json
    from rnnkit.training import RunDir, fit, get_strategy, set_seed

    strategy = get_strategy(args.strategy)  # first: a multi-worker strategy must exist before other TF work
    apply_backbone_weights(args)
    config = cli.resolve_train_config(VideoConfig, args)
    run_dir = RunDir(args.out)
    run_dir.prepare(args.resume)
    set_seed(config.seed)

    classes_path = run_dir.path / CLASSES_FILE
    backbone_path = run_dir.path / BACKBONE_FILE
    resuming = args.resume and classes_path.is_file()
    backbone = None
    if resuming and not config.train_backbone and backbone_path.is_file():
        backbone = keras.saving.load_model(backbone_path, compile=False)
    prepared = prepare(config, args.data, backbone=backbone)
    if resuming and list(read_json(classes_path)) != prepared.classes:
        raise ValueError(f"--data {args.data}: its classes differ from those {args.out} was trained on; "
                         "resume on the same data or start a new --out")
    if run_dir.chief and not resuming:
        from rnnkit.applications import weights_source
        from rnnkit.sources import resolved_source

        atomic_write_json(classes_path, prepared.classes)
        weights = (weights_source(config.backbone_weights, config.backbone, config.image_size)
                   if config.backbone != "small" else {"weights": config.backbone_weights})
        save_config(config, run_dir.config_path, app="video", data=args.data, data_resolved=resolved_source(args.data),
                    backbone_weights_source=weights)
    if run_dir.chief and prepared.backbone is not None and not backbone_path.is_file():
        with atomic_path(backbone_path) as tmp:
            prepared.backbone.save(tmp)
    steps = prepared.steps_per_epoch(config)
    mode = "end to end" if config.train_backbone else "on cached features (backbone frozen)"
    if prepared.val_data is None:
        print(f"no validation (val_fraction=0): every training group trains for {config.epochs} epochs and the "
              "model with the lowest training loss (in practice the last epochs') is kept", flush=True)
    print(f"video: {prepared.train_count} training and {prepared.val_count} validation clips, "
          f"{len(prepared.classes)} classes, {steps} steps/epoch, {mode}; {config.backbone} CNN "
          f"({config.backbone_weights}) at {config.image_size}px x {config.num_frames} frames -> "
          f"bidirectional {CELL_NAMES[config.cell]}-{config.units} -> attention pooling", flush=True)

    result = fit(
        lambda: compile_model(build_model(config, len(prepared.classes), prepared.backbone), config, steps),
        prepared.train_data, prepared.val_data, run_dir,
        epochs=config.epochs, resume=args.resume, strategy=strategy, patience=config.patience or None,
        callbacks=[SkippedClips(prepared.report)],
    )
    if prepared.report.skipped:
        print(prepared.report.summary())
    if result.best is not None:
        best_row = next((row for row in result.history if row["epoch"] == result.best_epoch), {})
        accuracy = best_row.get("val_accuracy")
        shown = f", validation accuracy {accuracy:.4f}" if accuracy is not None else ""
        watched = "validation" if prepared.val_data is not None else "training"
        print(f"best {watched} loss {result.best:.4f} (epoch {result.best_epoch}){shown}; model: {run_dir.model_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
