"""Train an image captioner: CNN encoder, attention GRU/LSTM decoder, teacher forcing.

    python -m apps.captioning.train --data demo --out runs/captions-demo
    python -m apps.captioning.train --data ../shared/data/flickr8k_subset --out runs/flickr --encoder-weights imagenet
    python -m apps.captioning.train --data ../shared/data/flickr8k_subset --out runs/flickr \
        --set encoder=mobilenet_v2_0.5 --encoder-weights mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5
    python -m apps.captioning.train --out runs/flickr --resume          # continue after an interruption
"""

from __future__ import annotations

import argparse
import sys

from apps.captioning.config import CaptioningConfig
from rnnkit import cli

HELP = "Train a CNN-encoder + attention-RNN-decoder captioner; validation loss every epoch, BLEU on the validation images at the end."

WEIGHTS_HELP = ("encoder weights: imagenet (downloaded by Keras, or the file Keras keeps in ~/.keras/models), PATH to "
                "a Keras weights file of the same network (checked; its sha256 goes into the run's config), none "
                "(random start), or auto (the default: imagenet for photos, none for --data demo)")


def add_encoder_weights_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoder-weights", metavar="imagenet|PATH|none", default=None, help=WEIGHTS_HELP)


def apply_encoder_weights(args: argparse.Namespace) -> None:
    """--encoder-weights is a spelling of --set encoder_weights=..., so --resume checks it like any field."""
    if args.encoder_weights is not None:
        args.overrides = [*args.overrides, f"encoder_weights={args.encoder_weights}"]


def encoder_training(config: CaptioningConfig) -> str:
    if config.train_encoder:
        return "trained"
    if config.fine_tune_blocks:
        return f"frozen but its last {config.fine_tune_blocks} blocks trained, head features cached"
    return "frozen, features cached"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_train_arguments(parser, CaptioningConfig)
    add_encoder_weights_argument(parser)
    parser.add_argument("--samples", type=int, default=5,
                        help="after training, score greedy BLEU on the validation images and show N of their captions "
                             "(default: 5; 0 skips it)")


def run(args: argparse.Namespace) -> int:
    import keras

    from apps.captioning.data import Vocabulary
    from apps.captioning.inputs import prepare
    from apps.captioning.metrics import BASELINES_FILE, corpus_bleu, save_baselines
    from apps.captioning.model import ENCODER_FILE, TAIL_FILE, Captioner, build_model, compile_model
    from rnnkit.applications import weights_source
    from rnnkit.config import save_config
    from rnnkit.io import atomic_path
    from rnnkit.training import RunDir, fit, get_strategy, set_seed

    strategy = get_strategy(args.strategy)  # first: a multi-worker strategy must exist before other TF work
    apply_encoder_weights(args)
    config = cli.resolve_train_config(CaptioningConfig, args).resolved(args.data)
    run_dir = RunDir(args.out)
    state = run_dir.prepare(args.resume)
    set_seed(config.seed)

    vocab_path = run_dir.path / "vocab.json"
    encoder_path = run_dir.path / ENCODER_FILE
    resuming = args.resume and vocab_path.is_file()
    vocabulary = Vocabulary.load(vocab_path) if resuming else None
    tail_path = run_dir.path / TAIL_FILE
    encoder = tail = None
    if resuming and not config.train_encoder and encoder_path.is_file():
        encoder = keras.saving.load_model(encoder_path, compile=False)
        if config.fine_tune_blocks and tail_path.is_file():
            tail = keras.saving.load_model(tail_path, compile=False)
    with strategy.scope():
        prepared = prepare(config, args.data, vocabulary=vocabulary, encoder=encoder, tail=tail,
                           cache_dir=run_dir.path / "cache")
    vocabulary = prepared.vocabulary
    if not resuming and run_dir.chief:
        vocabulary.save(vocab_path)
        source = weights_source(config.encoder_weights, config.encoder, config.image_size)
        save_config(config, run_dir.config_path, app="captioning", data=args.data, skipped=prepared.skipped,
                    encoder_weights_source=source)
    if run_dir.chief and not config.train_encoder:
        for path, part in ((encoder_path, prepared.encoder), (tail_path, prepared.tail)):
            if part is not None and not path.is_file():
                with atomic_path(path) as tmp:
                    part.save(tmp)
    train_data, val_data = prepared.datasets(config)
    steps = prepared.steps_per_epoch(config)
    captions = sum(len(item.captions) for item in prepared.train_items)
    print(f"captioning: {len(prepared.train_items)} training images ({captions} captions), "
          f"{len(prepared.val_items)} validation images, vocabulary {len(vocabulary)}, grid {prepared.grid_shape}, "
          f"{steps} steps/epoch; {config.encoder} ({config.encoder_weights}, {encoder_training(config)}) + "
          f"{config.cell.upper()}-{config.units} with {config.attention} attention")
    if state is None and args.resume:
        print("(no completed epoch to resume from; starting the run in place)")

    result = fit(
        lambda: compile_model(build_model(config, len(vocabulary), prepared.grid_shape, encoder=prepared.encoder,
                                          tail=prepared.tail), config, steps),
        train_data, val_data, run_dir,
        epochs=config.epochs, resume=args.resume, strategy=strategy, patience=config.patience or None,
    )
    if result.best is None or not run_dir.chief:
        return 0
    from apps.captioning.data import load_images
    from apps.captioning.model import load_run

    captioner: Captioner = load_run(run_dir.path)
    # What evaluate's baselines need from training, so that it can score a source without training images.
    if prepared.input_name == "features" and not config.fine_tune_blocks:
        train_features = prepared.train_inputs.mean(axis=(1, 2))  # what captioner.pooled_features computes
    else:
        train_features = captioner.pooled_features(load_images(prepared.train_items, config.image_size)[0])
    save_baselines(run_dir.path / BASELINES_FILE, prepared.train_items, train_features)
    if args.samples <= 0:
        return 0
    print(f"best validation loss {result.best:.4f} (epoch {result.best_epoch}); model: {run_dir.model_path}")
    images = prepared.val_inputs if prepared.input_name == "images" else None
    if images is None:
        images, _, _ = load_images(prepared.val_items, config.image_size)
    predicted = captioner.captions(images, beam_width=1)
    scores = corpus_bleu([item.captions for item in prepared.val_items], predicted)
    print("validation BLEU (greedy): " + ", ".join(f"{key} {value:.4f}" for key, value in scores.items()))
    for item, caption in list(zip(prepared.val_items, predicted, strict=True))[: args.samples]:
        print(f"  {item.key}: {caption!r}   (reference: {item.captions[0]!r})")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
