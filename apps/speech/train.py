"""Train a speech command recogniser.

    python -m apps.speech.train --data demo --out runs/speech-demo --epochs 5
    python -m apps.speech.train --data ../shared/data/spoken_digits --out runs/digits
    python -m apps.speech.train --data ../shared/data/spoken_digits --out runs/digits-theo --set test_speakers=theo
    python -m apps.speech.train --out runs/digits --resume          # continue after an interruption
"""

from __future__ import annotations

import argparse
import sys

from apps.speech.config import SpeechConfig
from rnnkit import cli

HELP = "Train the speech model (causal conv + unidirectional RNN by default) on WAV clips; validation accuracy every epoch."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_train_arguments(parser, SpeechConfig)


def describe_model(config: SpeechConfig) -> str:
    cell = {"gru": "GRU", "lstm": "LSTM", "simple": "SimpleRNN"}[config.cell]
    if config.model == "attention":
        return f"{config.conv_blocks} conv blocks, Bi{cell}-{config.units}, attention pooling"
    layers = f"{config.rnn_layers}x " if config.rnn_layers > 1 else ""
    return f"{config.conv_blocks} causal conv blocks, {layers}{cell}-{config.units} (unidirectional, streamable), normalize={config.normalize}"


def steps_per_epoch(clips: int, batch_size: int) -> int:
    """Batches per epoch as make_dataset cuts them (the last one may be short)."""
    return max(1, -(-clips // batch_size))


def prepare_data(source_name: str, config: SpeechConfig, verbose: bool = True):
    """The source (usable clips only), training and validation datasets, steps per epoch and the scan."""
    from apps.speech.data import load_source, make_dataset, scan_source, training_noise

    source = load_source(source_name, config)
    report = scan_source(source, config, splits=("train", "val"), verbose=verbose)
    for split in ("train", "val"):
        if not source.has(split):
            raise ValueError(f"--data {source_name}: no usable {split} clips ({source.split_note}); "
                             "give more files or change val_fraction")
    noise, noise_note = training_noise(source, config)
    if verbose:
        print(noise_note)
    train_data = make_dataset(source, "train", config, training=True, noise=noise)
    val_data = make_dataset(source, "val", config, training=False)
    return source, train_data, val_data, steps_per_epoch(source.size("train"), config.batch_size), report


def run(args: argparse.Namespace) -> int:
    import warnings

    from apps.speech.model import build_model, compile_model
    from rnnkit.config import save_config
    from rnnkit.io import atomic_write_json, read_json
    from rnnkit.sources import resolved_source
    from rnnkit.training import RunDir, fit, get_strategy, set_seed

    strategy = get_strategy(args.strategy)  # first: a multi-worker strategy must exist before other TF work
    # Skipping unusable files leaves the datasets' length unknown until the first epoch ends; that is expected.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    config = cli.resolve_train_config(SpeechConfig, args)
    run_dir = RunDir(args.out)
    run_dir.prepare(args.resume)
    set_seed(config.seed)
    labels_path = run_dir.path / "labels.json"
    saved = read_json(run_dir.config_path) if args.resume and run_dir.config_path.is_file() else {}
    data = saved.get("data", args.data) if args.resume else args.data
    source, train_data, val_data, steps, report = prepare_data(data, config)
    if args.resume and labels_path.is_file() and read_json(labels_path)["labels"] != source.labels:
        raise ValueError(f"--resume: the classes of {data} differ from the run's labels.json; start a new --out")
    if run_dir.chief:
        atomic_write_json(labels_path, {"labels": source.labels})
        atomic_write_json(run_dir.path / "skipped.json", [{"path": path, "reason": reason} for path, reason in report.skipped])
        save_config(config, run_dir.config_path, app="speech", data=data, data_resolved=resolved_source(data))
    print(f"speech: {len(source.labels)} classes, {source.size('train')} training and {source.size('val')} validation clips, "
          f"{steps} steps/epoch; {describe_model(config)}")
    result = fit(
        lambda: compile_model(build_model(config, len(source.labels)), config, steps),
        train_data,
        val_data,
        run_dir,
        epochs=config.epochs,
        resume=args.resume,
        strategy=strategy,
        patience=config.patience or None,
    )
    if result.best is not None:
        accuracy = next((row.get("val_accuracy") for row in result.history if row["epoch"] == result.best_epoch), None)
        shown = f", validation accuracy {accuracy:.4f}" if accuracy is not None else ""
        print(f"best validation loss {result.best:.4f}{shown} (epoch {result.best_epoch}); model: {run_dir.model_path}")
        print(f"next:  rnnkit speech evaluate --model {run_dir.path} --data {data}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
