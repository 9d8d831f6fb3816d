"""Video input pipeline and training-step benchmark, measured side by side in one run.

    python -m bench.video_pipeline                 # the demo set (450 clips), default model
    python -m bench.video_pipeline --data PATH     # a folder in the UCF101 layout

1. Decoding: clips/s and frames/s of rnnkit.data.video.clip_dataset (OpenCV decode,
   uniform sampling, crop + resize) with one, two and AUTOTUNE decoding threads.
   "decoded" frames are every frame of the clips (a codec cannot skip frames);
   "sampled" are the num_frames kept per clip.
2. Training: milliseconds per step of the end-to-end model (frames -> CNN -> RNN)
   against the head alone on precomputed per-frame features, same batch, same
   weights otherwise; plus the one-off cost of computing the features.
"""

from __future__ import annotations

import argparse
import time

from bench.common import machine, print_table, save_result


def decode_rates(clips, config, parallel, repeats: int = 1) -> dict:
    import tensorflow as tf

    from rnnkit.data.video import DecodeReport, clip_dataset

    report = DecodeReport()
    dataset = clip_dataset([clip.path for clip in clips], [clip.label for clip in clips], num_frames=config.num_frames,
                           image_size=config.image_size, report=report,
                           parallel=parallel).batch(config.batch_size).prefetch(tf.data.AUTOTUNE)
    started = time.perf_counter()
    for _ in range(repeats):
        for _batch in dataset:
            pass
    seconds = time.perf_counter() - started
    return {"clips_per_s": report.decoded / seconds, "decoded_frames_per_s": report.frames_in_clips / seconds,
            "sampled_frames_per_s": report.frames / seconds, "seconds": seconds, "clips": report.decoded,
            "skipped": report.skipped}


def step_ms(model, inputs, labels, steps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        model.train_on_batch(inputs, labels)
    started = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(inputs, labels)
    return 1000 * (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="demo")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per model (default: 20)")
    parser.add_argument("--large-clips", type=int, default=24,
                        help="also decode N generated UCF101-sized clips (320x240, 175 frames, MJPEG .avi; 0: skip)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="video config overrides, as for `rnnkit video train`")
    args = parser.parse_args()

    import dataclasses

    import numpy as np
    import tensorflow as tf

    from apps.video.config import VideoConfig
    from apps.video.data import load_source
    from apps.video.inputs import compute_features
    from apps.video.model import build_backbone, build_model, compile_model
    from rnnkit.config import load_config
    from rnnkit.data.video import DecodeReport, clip_dataset
    from rnnkit.layers import FrameWise

    config = load_config(VideoConfig, overrides=args.overrides)
    source = load_source(args.data, val_fraction=config.val_fraction, seed=config.seed)
    clips = source.split("all")
    print(f"{machine()}\n{args.data}: {len(clips)} clips; {config.num_frames} frames of "
          f"{config.image_size}px, batch {config.batch_size}, backbone {config.backbone}\n")

    # Each setting runs twice, interleaved, and keeps its faster pass: other processes on the
    # machine slow whichever pass they happen to meet, and the faster pass is the closer to the truth.
    settings = (("1 thread", 1), ("2 threads", 2), ("AUTOTUNE", tf.data.AUTOTUNE))
    passes: dict[str, list[dict]] = {label: [] for label, _ in settings}
    for _ in range(2):
        for label, parallel in settings:
            passes[label].append(decode_rates(clips, config, parallel))
    decoding = []
    for label, _ in settings:
        best = max(passes[label], key=lambda rates: rates["decoded_frames_per_s"])
        decoding.append({"decoding": label, **{key: round(value, 1) if isinstance(value, float) else value
                                                for key, value in best.items()}})
    print_table(decoding, ["decoding", "clips_per_s", "decoded_frames_per_s", "sampled_frames_per_s", "seconds", "clips"])
    speedup = decoding[2]["decoded_frames_per_s"] / decoding[0]["decoded_frames_per_s"]
    print(f"AUTOTUNE / 1 thread: {speedup:.2f}x\n")

    large = []
    if args.large_clips:
        import tempfile
        from pathlib import Path

        from apps.video.data import Clip, render_clip
        from rnnkit.data.video import write_video

        rng = np.random.default_rng(0)
        with tempfile.TemporaryDirectory(prefix="video-bench-") as folder:
            big = []
            for index in range(args.large_clips):
                look = {"background": tuple(rng.uniform(0, 110, 3)), "colour": tuple(rng.uniform(150, 255, 3))}
                frames = render_clip(rng, "MoveRight", look, 175, width=320, height=240)
                big.append(Clip(write_video(Path(folder) / f"clip{index:03d}.avi", frames, fps=25), 0, str(index)))
            for label, parallel in settings:
                best = max((decode_rates(big, config, parallel) for _ in range(2)),
                           key=lambda rates: rates["decoded_frames_per_s"])
                large.append({"decoding": label, **{key: round(value, 1) if isinstance(value, float) else value
                                                     for key, value in best.items()}})
        print(f"{args.large_clips} UCF101-sized clips (320x240, 175 frames, MJPEG):")
        print_table(large, ["decoding", "clips_per_s", "decoded_frames_per_s", "sampled_frames_per_s", "seconds", "clips"])
        print(f"AUTOTUNE / 1 thread: {large[2]['decoded_frames_per_s'] / large[0]['decoded_frames_per_s']:.2f}x\n")

    # One batch of real frames, and the same clips' features from the same backbone.
    batch_clips = clips[: config.batch_size]
    frames_data = clip_dataset([clip.path for clip in batch_clips], [clip.label for clip in batch_clips],
                               num_frames=config.num_frames, image_size=config.image_size, report=DecodeReport())
    inputs, labels = next(iter(frames_data.batch(config.batch_size)))
    frames = {"frames": tf.cast(inputs["frames"], tf.float32), "lengths": inputs["lengths"]}
    num_classes = len(source.classes)
    end_to_end = compile_model(build_model(config, num_classes), config, 100)
    backbone = build_backbone(config)
    features_config = dataclasses.replace(config, train_backbone=False)
    head = compile_model(build_model(features_config, num_classes, backbone), features_config, 100)

    features, lengths, _ = compute_features(backbone, tf.data.Dataset.from_tensors((frames, labels)))
    per_frame = tf.function(FrameWise(backbone))
    per_frame(frames["frames"])  # trace once, untimed
    started = time.perf_counter()
    repeats = 5
    for _ in range(repeats):
        per_frame(frames["frames"])
    feature_ms = 1000 * (time.perf_counter() - started) / repeats
    feature_inputs = {"features": features, "lengths": lengths}

    # Alternate the two so that contention from other processes hits both alike.
    end_ms, head_ms = [], []
    for _ in range(3):
        end_ms.append(step_ms(end_to_end, frames, labels, max(1, args.steps // 3)))
        head_ms.append(step_ms(head, feature_inputs, labels, max(1, args.steps // 3)))
    training = [
        {"model": "end to end (frames -> CNN -> RNN)", "ms_per_step": round(float(np.median(end_ms)), 1),
         "params": end_to_end.count_params()},
        {"model": "head on precomputed features", "ms_per_step": round(float(np.median(head_ms)), 1),
         "params": head.count_params()},
    ]
    print_table(training, ["model", "ms_per_step", "params"])
    ratio = training[0]["ms_per_step"] / training[1]["ms_per_step"]
    print(f"end to end / precomputed features: {ratio:.1f}x per step; computing the features of one batch "
          f"(once per clip, then cached) costs {feature_ms:.0f} ms")
    path = save_result("video_pipeline", {
        "machine": machine(), "data": args.data, "clips": len(clips), "config": dataclasses.asdict(config),
        "decoding": decoding, "decode_speedup": speedup, "large_clip_decoding": large, "training": training, "step_ratio": ratio,
        "feature_ms_per_batch": feature_ms,
    })
    print(f"saved {path}")


if __name__ == "__main__":
    main()
