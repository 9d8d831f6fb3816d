"""TFLite against the Keras model: latency of one forecast (batch 1) and the largest difference.

    python -m bench.forecast_tflite --model runs/bench-forecast/L96-H96

Both engines forecast the same test windows of the run's own data, one window at a time, in raw
units (the scaling is inside both), on one thread each, their timing rounds interleaved so that
load from other processes hits them alike:

  keras    the trained model with the scaling, compiled with tf.function (input [1, seq_len, features])
  tflite   forecast.tflite as `export` writes it (builtin ops; the GRU is a WHILE loop), in the
           LiteRT interpreter as an app gets it (XNNPACK delegate on)

Without --model a small model is trained on the demo series first.
"""

from __future__ import annotations

import argparse
import os
import time

from bench.common import machine, one_thread, print_table, run_or_demo, save_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="forecast run folder (default: train a small one on the demo series)")
    parser.add_argument("--windows", type=int, default=64, help="test windows compared and timed (default: 64)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (default: 5)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np
    import tensorflow as tf

    one_thread()
    from ai_edge_litert.interpreter import Interpreter

    from apps.forecast.data import load_series
    from apps.forecast.export import convert_tflite, raw_units_function
    from apps.forecast.model import load_run
    from rnnkit.export.tflite import op_types
    from rnnkit.training import RunDir

    run_dir = run_or_demo("forecast", args.model, "--epochs", "3")
    model, config, schema = load_run(run_dir)
    series = load_series(schema["source"], config, schema=schema)
    starts = series.window_starts("test", config)
    chosen = starts[np.unique(np.linspace(0, len(starts) - 1, num=min(args.windows, len(starts))).round().astype(int))]
    windows = np.stack([series.values[s: s + config.seq_len] for s in chosen]).astype(np.float32)
    print(f"{len(windows)} test windows of {series.name}: {config.seq_len} steps x {windows.shape[2]} columns in, "
          f"{config.horizon} x {len(schema['targets'])} out")

    function = raw_units_function(model, config, schema)
    compiled = tf.function(function, input_signature=[tf.TensorSpec((1, config.seq_len, windows.shape[2]), tf.float32)])
    content = convert_tflite(model, config, schema)
    runner = Interpreter(model_content=content, num_threads=1).get_signature_runner("serve")
    engines = {
        "keras": lambda window: {key: value.numpy() for key, value in compiled(window[None]).items()},
        "tflite": lambda window: runner(history=window[None]),
    }
    outputs = {name: [engine(window) for window in windows] for name, engine in engines.items()}
    scale = np.asarray(schema["std"], np.float64)[: len(schema["targets"])]
    worst = max(float(np.max(np.abs(a["forecast"] - b["forecast"]) / scale))
                for a, b in zip(outputs["keras"], outputs["tflite"], strict=True))
    timings = {name: [] for name in engines}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            started = time.perf_counter()
            for window in windows:
                engine(window)
            timings[name].append((time.perf_counter() - started) / len(windows))
    keras_ms = float(np.median(timings["keras"]) * 1000)
    sizes = {"keras": RunDir(run_dir).trained_model_path().stat().st_size, "tflite": len(content)}
    rows = []
    for name in engines:
        latency = float(np.median(timings[name]) * 1000)
        rows.append({"engine": name, "ms/forecast": f"{latency:.2f}", "vs keras": f"{keras_ms / latency:.2f}x",
                     "size KiB": f"{sizes[name] / 1024:.0f}"})
    print(f"\nmachine: {machine()}; batch 1, one thread, median of {args.rounds} interleaved rounds of {len(windows)} "
          "windows; size of keras = its .keras file (with optimizer state)")
    print_table(rows, list(rows[0]))
    print(f"largest |TFLite - Keras| forecast difference: {worst:.2e} target std; TFLite ops: {', '.join(op_types(content))}")
    path = save_result("forecast_tflite", {"model": str(run_dir), "windows": len(windows), "machine": machine(),
                                           "rows": rows, "max_abs_diff_std": worst,
                                           "timings_ms": {name: [t * 1000 for t in values] for name, values in timings.items()}})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
