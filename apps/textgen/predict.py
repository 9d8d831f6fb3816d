"""Generate continuations of one or more primes with a run, an export, or the TFLite model.

    python -m apps.textgen.predict --model runs/textgen "ROMEO:" "JULIET:"
    python -m apps.textgen.predict --model saved_models/textgen/1 "ROMEO:"           # the SavedModel's generate signature
    python -m apps.textgen.predict --model saved_models/textgen/1/textgen_step.tflite "ROMEO:"   # the mobile loop
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from apps.textgen.generate import add_sampling_arguments
from rnnkit import cli

HELP = "Continue each INPUT prime; --model takes a run folder, an exported version folder or a .tflite file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_predict_arguments(parser, input_help="prime texts (default: one empty prime)")
    add_sampling_arguments(parser)
    parser.set_defaults(length=200)


def run(args: argparse.Namespace) -> int:
    model_path = Path(args.model)
    primes = args.inputs or [""]
    if not model_path.exists():
        raise FileNotFoundError(f"--model {model_path}: no such file or folder")
    if model_path.suffix == ".tflite":
        from apps.textgen import mobile

        if args.top_p < 1.0:
            print("note: the TFLite loop samples with temperature and top-k; --top-p is ignored", file=sys.stderr)
        texts = [prime + mobile.generate(model_path, prime, args.length, args.temperature, args.top_k, args.seed)
                 for prime in primes]
    elif (model_path / "saved_model.pb").is_file():
        import os

        import tensorflow as tf

        loaded = tf.saved_model.load(str(model_path))
        seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
        out = loaded.signatures["generate"](
            prime=tf.constant(primes), length=tf.constant(args.length), temperature=tf.constant(args.temperature),
            top_k=tf.constant(args.top_k), top_p=tf.constant(args.top_p), seed=tf.constant(seed, tf.int64),
        )
        texts = [text.decode("utf-8") for text in out["text"].numpy()]
    else:
        from apps.textgen.model import Generator, load_run_model

        model, vocabulary, _ = load_run_model(model_path)
        generator = Generator(model, vocabulary)
        texts = [prime + generator.generate(prime, args.length, temperature=args.temperature, top_k=args.top_k,
                                            top_p=args.top_p, seed=args.seed) for prime in primes]
    for index, text in enumerate(texts):
        if len(texts) > 1:
            print(f"--- {index + 1} ---")
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
