"""Train a character-level language model.

    python -m apps.textgen.train --data demo --out runs/textgen --epochs 5
    python -m apps.textgen.train --data ../shared/data/tinyshakespeare/input.txt --out runs/shakespeare
    python -m apps.textgen.train --out runs/shakespeare --resume        # continue after an interruption
"""

from __future__ import annotations

import argparse
import sys

from apps.textgen.config import TextGenConfig
from rnnkit import cli

HELP = "Train a stacked LSTM/GRU character model; validation loss in nats/char and bits/char every epoch."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_train_arguments(parser, TextGenConfig)
    parser.add_argument("--sample-length", type=int, default=200, help="characters of text to sample after training (0: none)")


def run(args: argparse.Namespace) -> int:
    import math

    from apps.textgen.data import Vocabulary, load_text, make_dataset
    from apps.textgen.model import Generator, build_model, compile_model
    from rnnkit.config import save_config
    from rnnkit.training import RunDir, fit, get_strategy, set_seed

    strategy = get_strategy(args.strategy)  # first: a multi-worker strategy must exist before other TF work
    config = cli.resolve_train_config(TextGenConfig, args)
    run_dir = RunDir(args.out)
    run_dir.prepare(args.resume)
    set_seed(config.seed)

    source = load_text(args.data, config.val_fraction, config.max_chars)
    vocab_path = run_dir.path / "vocab.json"
    if args.resume and vocab_path.is_file():
        vocabulary = Vocabulary.load(vocab_path)
    else:
        vocabulary = Vocabulary.from_text(source.train + source.val)
        if run_dir.chief:
            vocabulary.save(vocab_path)
            save_config(config, run_dir.config_path, app="textgen", data=args.data)
    train_ids, unknown = vocabulary.encode(source.train)
    val_ids, val_unknown = vocabulary.encode(source.val)
    if unknown or val_unknown:
        print(f"note: {len(unknown) + len(val_unknown)} characters not in the run's vocabulary were skipped")
    train_data = make_dataset(train_ids, config.seq_len, config.batch_size, shuffle=True, seed=config.seed)
    val_data = make_dataset(val_ids, config.seq_len, config.batch_size, shuffle=False)
    steps_per_epoch = max(1, ((len(train_ids) - 1 - config.seq_len) // config.seq_len) // config.batch_size)
    print(f"textgen: {len(source.train):,} training and {len(source.val):,} validation characters, "
          f"vocabulary {len(vocabulary)}, {steps_per_epoch} steps/epoch; "
          f"{config.num_layers}x{config.cell.upper()}-{config.units}, dropout {config.dropout}")

    result = fit(
        lambda: compile_model(build_model(config, len(vocabulary)), config, steps_per_epoch),
        train_data,
        val_data,
        run_dir,
        epochs=config.epochs,
        resume=args.resume,
        strategy=strategy,
        patience=config.patience or None,
    )
    if result.best is not None:
        print(f"best validation loss {result.best:.4f} nats/char = {result.best / math.log(2):.4f} bits/char "
              f"(epoch {result.best_epoch}); model: {run_dir.model_path}")
    if args.sample_length > 0 and result.best is not None and run_dir.chief:
        import keras

        best = keras.saving.load_model(run_dir.model_path, compile=False)
        generator = Generator(best, vocabulary)
        prime = source.val[:40]
        print(f"\n--- sample (temperature 0.8, prime {prime!r}) ---")
        sys.stdout.write(prime)
        for piece in generator.stream(prime, args.sample_length, temperature=0.8, seed=config.seed, chunk=50):
            sys.stdout.write(piece)
            sys.stdout.flush()
        print("\n---")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
