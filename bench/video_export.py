"""A video run exported: SavedModel and TFLite sizes, batch-1 latency against Keras, and the GIF signature on real clips.

    flock /tmp/rnnkit-heavy.lock .venv/bin/python -m bench.video_export --model runs/ucf \\
        --clips ../shared/data/ucf101_subset/UCF-101/Biking/*.mp4

`rnnkit video export` is run on the run folder (it verifies the builtin-only
TFLite model against Keras before writing it). Then every engine classifies the
same decoded clip, one window at a time (batch 1), on the same threads, timing
rounds interleaved so that load from other processes hits them alike:

  keras        the run's Classifier (backbone + head), its call compiled with tf.function
  savedmodel   serving_default of the export, loaded with tf.saved_model.load
  tflite       video.tflite in the LiteRT interpreter (XNNPACK delegate on, as an app gets it)

`classify_gif` is fed the given clips re-encoded as animated GIFs (at most 100
frames each, so the GIFs stay small) and compared with predict on the same GIF frames.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def folder_mib(path: Path) -> float:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file()) / 2**20


def gif_bytes(frames) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a video run folder")
    parser.add_argument("--clips", nargs="+", required=True, help="video files: the first is timed, all go through GIF")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (default: 5)")
    parser.add_argument("--calls", type=int, default=5, help="calls per engine and round (default: 5)")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from apps.video.export import export
    from apps.video.model import load_run
    from bench.common import machine, print_table, save_result
    from rnnkit.data.video import fit_frames, pad_frames, read_frames, sample_frames
    from rnnkit.export import tflite

    classifier = load_run(args.model)
    config = classifier.config
    out = Path(tempfile.mkdtemp(prefix="video-export-"))
    started = time.perf_counter()
    written = export(args.model, out)
    export_seconds = time.perf_counter() - started
    version = Path(written["saved_model"])
    sizes = {"savedmodel_mib": round(folder_mib(version) - Path(written["tflite"]).stat().st_size / 2**20, 2),
             "tflite_mib": round(Path(written["tflite"]).stat().st_size / 2**20, 2)}
    print(f"{machine()}\nexported {args.model} in {export_seconds:.0f} s: {written['saved_model']}\n"
          f"TFLite ops: {written['tflite_ops']}\nTFLite vs Keras: {written['tflite_max_abs_diff']}\nsizes: {sizes}\n")

    kept, total = read_frames(args.clips[0], config.num_frames)
    frames = fit_frames(pad_frames(kept, config.num_frames), config.image_size).numpy()[None].astype(np.float32)
    lengths = np.array([len(kept)], np.int32)
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    runner = tflite.signature_runner(written["tflite"], "serve")
    engines = {
        "keras": lambda: classifier({"frames": frames, "lengths": lengths})["probabilities"],
        "savedmodel": lambda: serve(frames=tf.constant(frames), lengths=tf.constant(lengths))["probabilities"].numpy(),
        "tflite": lambda: runner(frames=frames, lengths=lengths)["probabilities"],
    }
    outputs = {name: np.asarray(engine()) for name, engine in engines.items()}  # warm up (and trace) untimed
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            started = time.perf_counter()
            for _ in range(args.calls):
                engine()
            times[name].append(1000 * (time.perf_counter() - started) / args.calls)
    rows = [{"engine": name, "ms_per_window_median": round(float(np.median(values)), 1),
             "ms_best_round": round(float(np.min(values)), 1),
             "max_abs_diff_vs_keras": f"{np.abs(outputs[name] - outputs['keras']).max():.1e}"}
            for name, values in times.items()]
    print(f"batch 1: one window of {config.num_frames} frames at {config.image_size}px "
          f"({Path(args.clips[0]).name}, {total} frames), {args.rounds} rounds x {args.calls} calls")
    print_table(rows, ["engine", "ms_per_window_median", "ms_best_round", "max_abs_diff_vs_keras"])
    ratio = rows[2]["ms_per_window_median"] / rows[0]["ms_per_window_median"]
    print(f"tflite / keras: {ratio:.2f}x\n")

    # classify_gif on real clips: decoded, sampled and resized inside the graph.
    serve_gif = tf.saved_model.load(str(version)).signatures["classify_gif"]
    agree, largest = 0, 0.0
    for path in args.clips:
        clip, _ = read_frames(path, 100)  # at most 100 frames, uniformly over the clip
        encoded = gif_bytes(clip)
        result = serve_gif(video=tf.constant([encoded]))
        video = tf.io.decode_gif(encoded)
        windows = config.windows if config.test_windows else 1
        sampled = [sample_frames(video, config.num_frames, window, windows) for window in range(windows)]
        reference = classifier.predict(np.stack([fit_frames(frames, config.image_size).numpy() for frames, _ in sampled]),
                                       [int(length) for _, length in sampled])["probabilities"].mean(axis=0)
        largest = max(largest, float(np.abs(result["probabilities"].numpy()[0] - reference).max()))
        agree += int(result["probabilities"].numpy()[0].argmax() == reference.argmax())
        print(f"{Path(path).name}: GIF {len(encoded) / 2**20:.1f} MiB -> "
              f"{result['top_classes'].numpy()[0, 0].decode()} ({float(result['top_scores'].numpy()[0, 0]):.3f})")
    print(f"classify_gif agrees with the Classifier on {agree}/{len(args.clips)} clips (max |diff| {largest:.1e})")
    path = save_result("video_export", {"machine": machine(), "model": args.model, "written": written, "sizes": sizes,
                                        "latency": rows, "tflite_over_keras": ratio, "gif_agree": agree,
                                        "gif_clips": len(args.clips), "gif_max_abs_diff": largest,
                                        "export_seconds": export_seconds})
    print(f"saved {path}")


if __name__ == "__main__":
    main()
