"""Generate text from a trained textgen run, streaming to stdout.

    python -m apps.textgen.generate --model runs/textgen --prime "ROMEO:" --length 500 \
        --temperature 0.8 --top-k 20 --seed 7
"""

from __future__ import annotations

import argparse
import sys

from rnnkit import cli

HELP = "Sample text one character per RNN step (the state is carried; no window is re-run)."


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--length", type=int, default=500, help="characters to generate (default: 500)")
    parser.add_argument("--temperature", type=float, default=0.8, help="softmax temperature; 0 means greedy (default: 0.8)")
    parser.add_argument("--top-k", type=int, default=0, help="sample among the k most likely characters (0: off)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling: smallest set with this probability (1: off)")
    parser.add_argument("--seed", type=int, default=None, help="the same seed gives the same text (default: random)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN_DIR", help="a run folder made by `train`")
    parser.add_argument("--prime", default="", help="text to start from (characters outside the vocabulary are skipped)")
    add_sampling_arguments(parser)
    parser.add_argument("--chunk", type=int, default=16,
                        help="characters per compiled sampling call (1: one call per character); "
                             "the text is the same for any value (default: 16)")


def run(args: argparse.Namespace) -> int:
    from apps.textgen.model import Generator, load_run_model

    model, vocabulary, _ = load_run_model(args.model)
    generator = Generator(model, vocabulary)
    _, unknown = vocabulary.encode(args.prime)
    if unknown:
        print(f"note: skipped {len(unknown)} prime character(s) not in the vocabulary: {''.join(sorted(set(unknown)))!r}",
              file=sys.stderr)
    sys.stdout.write(args.prime)
    for piece in generator.stream(args.prime, args.length, temperature=args.temperature, top_k=args.top_k,
                                  top_p=args.top_p, seed=args.seed, chunk=max(1, args.chunk)):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
