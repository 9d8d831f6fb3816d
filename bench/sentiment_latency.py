"""Batch-1 latency of the sentiment TFLite model against calling the Keras model.

    python -m bench.sentiment_latency --model runs/imdb --data ../shared/data/aclImdb_train.tar.gz --reviews 200

One review at a time, real reviews of the validation part (their own lengths, no padding); after a
warm-up pass, each review is run by every method in turn:

  keras/eager      model(ids): the plain Keras call (what a notebook user writes)
  keras/compiled   the same call inside a tf.function with a [1, None] signature (traced once)
  tflite           the builtin-only sentiment.tflite in the LiteRT interpreter (resized per review)
  tflite/<kind>    quantized variants (--quantize float16,int8,dynamic)

Without --model, a small model is trained on the demo set first.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from bench.common import machine, print_table, run_or_demo, save_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="sentiment run folder (default: train a small one on the demo set)")
    parser.add_argument("--data", default=None, help="review source (default: the run's own)")
    parser.add_argument("--reviews", type=int, default=200, help="reviews to time (default: 200)")
    parser.add_argument("--quantize", default="", help="also time these TFLite variants: float16,int8,dynamic")
    return parser.parse_args(argv)


def timed_in_turn(methods: dict, rows) -> dict[str, list[float]]:
    """Per review, every method in turn, so a change in the machine's load hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    for row in rows:
        for name, method in methods.items():
            started = time.perf_counter()
            method(row)
            times[name].append((time.perf_counter() - started) * 1000.0)
    return times


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np
    import tensorflow as tf

    from apps.sentiment.export import convert, sample_ids
    from apps.sentiment.model import load_run
    from rnnkit.export import tflite

    run_dir = run_or_demo("sentiment", args.model, "--epochs", "1")
    model, vocabulary, config, source = load_run(run_dir)
    rows, _, used = sample_ids(config, vocabulary, args.data or source, args.reviews, seed=1)
    lengths = np.array([len(row) for row in rows])
    batches = [row[None, :] for row in rows]

    compiled = tf.function(lambda ids: model(ids, training=False),
                           input_signature=[tf.TensorSpec((1, None), tf.int32)])
    methods = {"keras/eager": lambda ids: np.asarray(model(ids, training=False)),
               "keras/compiled": lambda ids: compiled(ids).numpy()}
    kinds = ["none"] + [kind.strip() for kind in args.quantize.split(",") if kind.strip()]
    sizes = {}
    for kind in kinds:
        content = convert(model, config, kind, (lambda: ({"ids": b} for b in batches[:100])) if kind == "int8" else None)
        runner = tflite.signature_runner(content, "serve")
        name = "tflite" if kind == "none" else f"tflite/{kind}"
        methods[name] = lambda ids, runner=runner: runner(ids=ids)["probability"]
        sizes[name] = len(content)

    timed_in_turn(methods, batches)  # warm-up: traces, allocations, caches
    results = {name: np.asarray(times) for name, times in timed_in_turn(methods, batches).items()}
    reference = float(np.median(results["keras/eager"]))
    table = []
    for name, times in results.items():
        table.append({"method": name, "median_ms": f"{np.median(times):.2f}", "p90_ms": f"{np.percentile(times, 90):.2f}",
                      "speedup_vs_keras_call": f"{reference / np.median(times):.1f}x",
                      "size_MB": f"{sizes[name] / 1e6:.2f}" if name in sizes else ""})
    print(f"\n{machine()}; {len(rows)} reviews from {used or 'random ids'} "
          f"(tokens: median {np.median(lengths):.0f}, max {lengths.max()}); batch 1, one thread of work per call")
    print_table(table, ["method", "median_ms", "p90_ms", "speedup_vs_keras_call", "size_MB"])
    save_result("sentiment_latency", {
        "command": "python -m bench.sentiment_latency " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(), "reviews": len(rows), "median_tokens": float(np.median(lengths)), "rows": table,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
