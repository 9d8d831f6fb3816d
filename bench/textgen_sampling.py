"""Stateful sampling against re-running a window for every new character.

    python -m bench.textgen_sampling --model runs/shakespeare --chars 2000 --window 100

Both methods use the same trained model and the same sampling code; only the
way the model is run differs:

  window/predict   keras-io's char-LSTM loop: model.predict on the last WINDOW characters
                   for every new one
  window/compiled  the same loop with the model call compiled (a fairer baseline)
  stateful/1       rnnkit: one RNN step per character, state carried, one compiled call per character
  stateful/16      the same, 16 steps per compiled call (what `textgen generate` streams by default)
  stateful/64      the same, 64 steps per compiled call (what `Generator.generate()` uses)

Without --model a small model is trained on the built-in corpus first.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.common import machine, peak_rss_mib, print_table, run_or_demo, save_result, timer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="textgen run folder (default: train a small one on the demo corpus)")
    parser.add_argument("--chars", type=int, default=1000, help="characters to generate per method (default: 1000)")
    parser.add_argument("--window", type=int, default=100, help="window length of the baseline (default: 100)")
    parser.add_argument("--predict-chars", type=int, default=200, help="characters for the slow model.predict baseline (default: 200)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np
    import tensorflow as tf

    from apps.textgen.model import Generator, load_run_model
    from rnnkit.sampling import sample_next

    run_dir = run_or_demo("textgen", args.model, "--epochs", "1", "--sample-length", "0",
                     "--set", "num_layers=1", "--set", "units=256", "--set", "max_chars=200000")
    model, vocabulary, config = load_run_model(run_dir)
    generator = Generator(model, vocabulary)
    prime = "The " * (args.window // 4 + 1)
    prime_ids, _ = vocabulary.encode(prime)
    seed, temperature = 7, 0.8

    @tf.function(input_signature=[tf.TensorSpec((1, None), tf.int32), tf.TensorSpec((), tf.int64)])
    def window_step(window, step):
        logits = model(window, training=False)[:, -1, :]
        return sample_next(logits, temperature, 0, 1.0, tf.stack([tf.constant(seed, tf.int64), step]))

    def run_window(count, compiled):
        window = list(prime_ids[-args.window:])
        out = []
        for step in range(count):
            batch = np.asarray([window[-args.window:]], np.int32)
            if compiled:
                token = int(window_step(batch, tf.constant(step, tf.int64))[0])
            else:
                logits = model.predict(batch, verbose=0)[:, -1, :]
                token = int(sample_next(logits, temperature, 0, 1.0, (seed, step))[0])
            window.append(token)
            out.append(token)
        return out

    def run_stateful(count, chunk):
        return "".join(generator.stream(prime, count, temperature=temperature, seed=seed, chunk=chunk))

    # Warm up every path once so tracing is not timed.
    run_window(2, compiled=True)
    run_window(2, compiled=False)
    run_stateful(2, 1)
    run_stateful(20, 16)
    run_stateful(70, 64)

    rows = []
    for name, count, call in (
        ("window/predict", args.predict_chars, lambda n: run_window(n, compiled=False)),
        ("window/compiled", args.chars, lambda n: run_window(n, compiled=True)),
        ("stateful/1", args.chars, lambda n: run_stateful(n, 1)),
        ("stateful/16", args.chars, lambda n: run_stateful(n, 16)),
        ("stateful/64", args.chars, lambda n: run_stateful(n, 64)),
    ):
        with timer() as clock:
            call(count)
        rows.append({"method": name, "chars": count, "seconds": round(clock["seconds"], 3),
                     "chars_per_s": round(count / clock["seconds"], 1)})
    speed = {row["method"]: row["chars_per_s"] for row in rows}
    for row in rows:
        row["x_vs_window_compiled"] = round(row["chars_per_s"] / speed["window/compiled"], 1)
        row["x_vs_window_predict"] = round(row["chars_per_s"] / speed["window/predict"], 1)

    print(f"machine: {machine()}")
    print(f"model: {run_dir} ({config.num_layers}x{config.cell.upper()}-{config.units}, vocabulary {len(vocabulary)}), "
          f"window {args.window}, temperature {temperature}")
    print_table(rows, ["method", "chars", "seconds", "chars_per_s", "x_vs_window_compiled", "x_vs_window_predict"])
    for name in ("stateful/1", "stateful/16", "stateful/64"):
        print(f"{name} is {speed[name] / speed['window/compiled']:.1f}x the compiled window and "
              f"{speed[name] / speed['window/predict']:.1f}x keras-io's model.predict window")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")
    save_result("textgen_sampling", {"machine": machine(), "model": str(run_dir), "window": args.window, "rows": rows,
                                     "peak_rss_mib": peak_rss_mib()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
