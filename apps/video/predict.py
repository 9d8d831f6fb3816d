"""Classify video clips: the top 5 actions of each and the attention over its frames, from a run, an export or TFLite.

    python -m apps.video.predict --model runs/video-demo clip1.avi clip2.mp4
    python -m apps.video.predict --model runs/ucf --film-strips strips/ clip.mp4   # + strips/clip.png
    python -m apps.video.predict --model saved_models/video/1 clip.avi          # the SavedModel's serving_default
    python -m apps.video.predict --model saved_models/video/1/video.tflite clip.avi

Any video file OpenCV reads works, at any size, frame rate or length: the
frames are sampled uniformly over the whole clip (`windows` samplings, the
probabilities averaged, as evaluate does), centre-cropped and resized. A clip
that cannot be decoded is named on stderr with the reason; the others are
still classified, and the exit status is then 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit import cli

HELP = ("Top-5 actions and attention over frames of each INPUT clip (.avi, .mp4, ...); --model takes a run folder, "
        "an exported version or a .tflite file.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_predict_arguments(parser, input_help="video clips (.avi, .mp4, ...)")
    parser.add_argument("--top", type=int, default=5, help="classes to show per clip (default: 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per clip instead of a table")
    parser.add_argument("--film-strips", metavar="DIR", default=None,
                        help="write DIR/<clip>.png per clip: its frames with the attention each got, and the top 3")
    parser.add_argument("--windows", type=int, default=None,
                        help="uniform samplings per clip to average (default: the model's windows setting)")


class _Predictor:
    """frames [n, T, S, S, 3] + lengths [n] -> (probabilities [n, classes], attention [n, T]), whatever the model is."""

    def __init__(self, model_path: Path):
        from rnnkit.io import read_json

        if not model_path.exists():
            raise FileNotFoundError(f"--model {model_path}: no such file or folder")
        if model_path.suffix == ".tflite":
            import numpy as np

            from apps.video.export import TFLITE_JSON
            from rnnkit.export import tflite

            meta_path = model_path.parent / TFLITE_JSON
            if not meta_path.is_file():
                raise FileNotFoundError(f"{meta_path}: missing; it is written next to the .tflite by `rnnkit video export`")
            meta = read_json(meta_path)
            self.classes = meta["classes"]
            self.num_frames, self.image_size = meta["inputs"]["frames"][1], meta["inputs"]["frames"][2]
            self.windows = int(meta.get("windows", 1))
            runner = tflite.signature_runner(model_path, meta["signature"])

            def run(frames, lengths):  # batch 1: one window at a time
                outs = [runner(frames=frames[i: i + 1], lengths=lengths[i: i + 1]) for i in range(len(frames))]
                return (np.concatenate([out["probabilities"] for out in outs]),
                        np.concatenate([out["attention"] for out in outs]))

            self.run = run
        elif (model_path / "saved_model.pb").is_file():
            import tensorflow as tf

            from rnnkit.export.savedmodel import read_extra

            config = read_extra(model_path, "rnnkit_config.json")["config"]
            self.classes = read_extra(model_path, "classes.json")
            self.num_frames, self.image_size = config["num_frames"], config["image_size"]
            self.windows = int(config.get("windows", 1)) if config.get("test_windows", True) else 1
            serve = tf.saved_model.load(str(model_path)).signatures["serving_default"]

            def run(frames, lengths):
                out = serve(frames=tf.constant(frames), lengths=tf.constant(lengths))
                return out["probabilities"].numpy(), out["attention"].numpy()

            self.run = run
        else:
            from apps.video.model import load_run

            classifier = load_run(model_path)
            self.classes = classifier.classes
            config = classifier.config
            self.num_frames, self.image_size = config.num_frames, config.image_size
            self.windows = config.windows if config.test_windows else 1

            def run(frames, lengths):
                out = classifier({"frames": frames, "lengths": lengths})
                return out["probabilities"], out["attention"]

            self.run = run

    def __call__(self, path: Path, windows: int | None = None):
        """(probabilities averaged over the windows, attention of the first window, its frames, frames used, in clip)."""
        import numpy as np

        from rnnkit.data.video import fit_frames, pad_frames, read_windows

        windows = windows or self.windows
        kept, total = read_windows(path, self.num_frames, windows)
        length = kept.shape[1]
        padded = np.stack([pad_frames(window, self.num_frames) for window in kept])
        frames = fit_frames(padded, self.image_size).numpy().astype(np.float32)
        probabilities, attention = self.run(frames, np.full((windows,), length, np.int32))
        return np.asarray(probabilities).mean(axis=0), np.asarray(attention)[0], frames[0, :length], length, total


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from rnnkit.data.video import VideoDecodeError

    if not args.inputs:
        raise ValueError("give at least one video clip to classify")
    if args.top < 1:
        raise ValueError(f"--top must be at least 1, not {args.top}")
    if args.windows is not None and args.windows < 1:
        raise ValueError(f"--windows must be at least 1, not {args.windows}")
    predictor = _Predictor(Path(args.model))
    failed = 0
    for name in args.inputs:
        path = Path(name)
        try:
            probabilities, attention, frames, used, total = predictor(path, args.windows)
        except (VideoDecodeError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        except Exception as error:  # OpenCV's cv2.error on a damaged stream, ...: this file only
            print(f"error: {path}: {type(error).__name__}: {error}", file=sys.stderr)
            failed += 1
            continue
        order = np.argsort(-probabilities)[: args.top]
        top = [(predictor.classes[index], float(probabilities[index])) for index in order]
        strip = None
        if args.film_strips:
            from apps.video.plots import plot_frame_attention

            strip = plot_frame_attention(frames, attention[:used], Path(args.film_strips) / f"{path.stem}.png",
                                         title=f"{path.name}", probabilities=top[:3])
        if args.json:
            row = {"clip": name, "frames_used": used, "frames_in_clip": total,
                   "top": [{"class": label, "probability": score} for label, score in top],
                   "attention": [round(float(weight), 5) for weight in attention[:used]]}
            if strip is not None:
                row["film_strip"] = str(strip)
            print(json.dumps(row))
            continue
        print(f"{name}  ({used} of {total} frames)")
        for label, score in top:
            print(f"  {score:7.4f}  {label}")
        peak = int(np.argmax(attention[:used]))
        print(f"  attention peaks at frame {peak + 1} of {used} ({float(attention[peak]):.2f})"
              + (f"; film strip: {strip}" if strip is not None else ""))
    return 2 if failed else 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
