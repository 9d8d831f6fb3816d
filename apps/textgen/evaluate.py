"""Score a textgen run: loss in nats/char, bits/char and perplexity.

    python -m apps.textgen.evaluate --model runs/textgen --data FILE.txt --split val --json
"""

from __future__ import annotations

import argparse
import sys

from rnnkit import cli

HELP = "Cross-entropy of a trained model on a text source (test split if it has one, else all of it)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_evaluate_arguments(parser)
    parser.add_argument("--split", choices=("auto", "val", "all"), default="auto",
                        help="auto: the test split when the source has one, else all text; val: the held-out last part")


def run(args: argparse.Namespace) -> int:
    import math
    from pathlib import Path

    import keras

    from apps.textgen.data import load_text, make_dataset
    from apps.textgen.model import bits_per_char, load_run_model

    model, vocabulary, config = load_run_model(args.model)
    source = load_text(args.data, config.val_fraction)
    if args.split == "val":
        text, split, how = source.val, "validation", f"--split val: the last {config.val_fraction:.0%} of the text"
    elif args.split == "auto" and source.test:
        text, split, how = source.test, "test", "--split auto and the source has a test split of its own"
    else:
        text, split = source.all_text(), "all"
        how = ("--split all" if args.split == "all"
               else "--split auto and the source has no test split of its own, so all of it is scored")
    ids, unknown = vocabulary.encode(text)
    cli.announce_split(split, how, len(ids), "characters")
    data = make_dataset(ids, config.seq_len, config.batch_size, shuffle=False)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=[bits_per_char])
    loss = float(model.evaluate(data, verbose=0, return_dict=True)["loss"])
    metrics = {
        "data": args.data,
        "split": split,
        "characters": int(len(ids)),
        "unknown_characters": len(unknown),
        "loss_nats_per_char": loss,
        "bits_per_char": loss / math.log(2),
        "perplexity": math.exp(loss),
    }
    cli.report_metrics(metrics, args.out or Path(args.model) / "eval", args.json, title=f"textgen on {args.data} ({split})")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
