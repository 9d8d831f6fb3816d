"""TFLite float and int8 against the Keras model: latency per 1-second clip, model size, accuracy.

    python -m bench.speech_tflite --model runs/digits

All engines score the same test clips (the run's data, test split) one clip at
a time (batch 1), on one thread each, with their timing rounds interleaved so
that load from other processes hits them alike:

  keras                   the trained model, its call compiled with tf.function
  tflite float            speech.tflite as `export` writes it (RNNs rolled: a WHILE loop)
  tflite float/unrolled   the same network unrolled (the graph int8 is made from)
  tflite int8             speech_int8.tflite: int8 weights and activations after the spectrogram
                          (front end float), per-channel weight scales
  tflite int8/per-tensor  the same with one scale per weight tensor (`export --per-tensor`)
  tflite dynamic          dynamic-range quantization: int8 weights, float activations, rolled

The TFLite models run in the LiteRT interpreter as an app gets it (XNNPACK
delegate on). Without --model a small model is trained on the demo set first.
"""

from __future__ import annotations

import argparse
import os
import time

from bench.common import machine, one_thread, peak_rss_mib, print_table, run_or_demo, save_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="speech run folder (default: train a small one on the demo set)")
    parser.add_argument("--data", help="clips to score (default: the run's data); its test split, else all")
    parser.add_argument("--calibration-clips", type=int, default=100, help="training clips that calibrate int8 (default: 100)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (default: 5)")
    parser.add_argument("--calls", type=int, default=40, help="clips timed per engine and round (default: 40)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np
    import tensorflow as tf

    one_thread()
    from ai_edge_litert.interpreter import Interpreter

    from apps.speech.data import load_source, make_dataset, scan_source
    from apps.speech.export import check_clips, convert_tflite
    from apps.speech.model import load_run
    from rnnkit.io import read_json
    from rnnkit.training import RunDir

    run_dir = run_or_demo("speech", args.model, "--epochs", "8")
    model, labels, config = load_run(run_dir)
    data = args.data or read_json(RunDir(run_dir).config_path)["data"]

    source = load_source(data, config)
    split = "test" if source.has("test") else "all"
    scan_source(source, config, splits=("train", "val", "test") if split == "all" else (split,), verbose=False)
    pairs = list(make_dataset(source, split, config, training=False, cache=False).unbatch().as_numpy_iterator())
    clips = np.stack([pair[0] for pair in pairs])
    truth = np.asarray([pair[1] for pair in pairs])
    _, calibration, _ = check_clips(data, config, labels, 0, args.calibration_clips)
    print(f"{len(clips)} {split} clips of {data}; int8 calibrated on {len(calibration)} training clips")

    models = {
        "tflite float": convert_tflite(model, config),
        "tflite float/unrolled": convert_tflite(model, config, unroll=True),
        "tflite int8": convert_tflite(model, config, "int8", representative=calibration),
        "tflite int8/per-tensor": convert_tflite(model, config, "int8", representative=calibration, per_channel=False),
        "tflite dynamic": convert_tflite(model, config, "dynamic"),
    }
    compiled = tf.function(lambda waveform: model(waveform, training=False),
                           input_signature=[tf.TensorSpec((1, config.clip_samples), tf.float32)])

    def keras_engine(clip):
        return compiled(clip[None]).numpy()[0]

    engines = {"keras": keras_engine}
    for name, model_bytes in models.items():
        runner = Interpreter(model_content=model_bytes, num_threads=1).get_signature_runner("serve")
        engines[name] = lambda clip, runner=runner: runner(waveform=clip[None])["probabilities"][0]

    probabilities = {name: np.stack([engine(clip) for clip in clips]) for name, engine in engines.items()}
    timings = {name: [] for name in engines}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            started = time.perf_counter()
            for index in range(args.calls):
                engine(clips[index % len(clips)])
            timings[name].append((time.perf_counter() - started) / args.calls)

    keras_path = RunDir(run_dir).trained_model_path()
    sizes = {"keras": keras_path.stat().st_size, **{name: len(model_bytes) for name, model_bytes in models.items()}}
    reference = probabilities["keras"]
    keras_ms = float(np.median(timings["keras"]) * 1000)
    rows = []
    for name in engines:
        accuracy = float((probabilities[name].argmax(1) == truth).mean())
        latency = float(np.median(timings[name]) * 1000)
        rows.append({
            "engine": name,
            "ms/clip": f"{latency:.2f}",
            "vs keras": f"{keras_ms / latency:.2f}x",
            "size KiB": f"{sizes[name] / 1024:.0f}",
            "accuracy": f"{accuracy:.4f}",
            "change": f"{accuracy - float((reference.argmax(1) == truth).mean()):+.4f}",
            "agree": f"{float((probabilities[name].argmax(1) == reference.argmax(1)).mean()):.4f}",
            "max |dp|": f"{float(np.abs(probabilities[name] - reference).max()):.1e}",
        })
    print(f"\nmachine: {machine()}; batch 1, one thread, median of {args.rounds} interleaved rounds of {args.calls} clips "
          f"({config.clip_seconds:g} s at {config.sample_rate} Hz); size of keras = its .keras file")
    print_table(rows, ["engine", "ms/clip", "vs keras", "size KiB", "accuracy", "change", "agree", "max |dp|"])
    print(f"peak memory {peak_rss_mib():.0f} MiB")
    path = save_result("speech_tflite", {"model": str(run_dir), "data": data, "split": split, "clips": len(clips),
                                         "machine": machine(), "rows": rows,
                                         "timings_ms": {name: [t * 1000 for t in values] for name, values in timings.items()}})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
