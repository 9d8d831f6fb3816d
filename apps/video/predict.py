"""Classify video clips: the top 5 actions of each, from a run, an export, or the TFLite model.

    python -m apps.video.predict --model runs/video-demo clip1.avi clip2.mp4
    python -m apps.video.predict --model saved_models/video/1 clip.avi          # the SavedModel's serving_default
    python -m apps.video.predict --model saved_models/video/1/video.tflite clip.avi

A clip that cannot be decoded is reported on stderr with its name; the others
are still classified, and the exit status is then 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit import cli

HELP = "Top-5 actions of each INPUT clip (.avi, .mp4, ...); --model takes a run folder, an exported version or a .tflite file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_predict_arguments(parser, input_help="video clips (.avi, .mp4, ...)")
    parser.add_argument("--top", type=int, default=5, help="classes to show per clip (default: 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per clip instead of a table")


class _Predictor:
    """frames [1, T, S, S, 3] + lengths [1] -> probabilities [classes], whatever the model file is."""

    def __init__(self, model_path: Path):
        from rnnkit.io import read_json

        if not model_path.exists():
            raise FileNotFoundError(f"--model {model_path}: no such file or folder")
        if model_path.suffix == ".tflite":
            from apps.video.export import TFLITE_JSON
            from rnnkit.export import tflite

            meta_path = model_path.parent / TFLITE_JSON
            if not meta_path.is_file():
                raise FileNotFoundError(f"{meta_path}: missing; it is written next to the .tflite by `rnnkit video export`")
            meta = read_json(meta_path)
            self.classes = meta["classes"]
            self.num_frames, self.image_size = meta["inputs"]["frames"][1], meta["inputs"]["frames"][2]
            runner = tflite.signature_runner(model_path, meta["signature"])
            self.run = lambda frames, lengths: runner(frames=frames, lengths=lengths)["probabilities"][0]
        elif (model_path / "saved_model.pb").is_file():
            import tensorflow as tf

            from rnnkit.export.savedmodel import read_extra

            config = read_extra(model_path, "rnnkit_config.json")["config"]
            self.classes = read_extra(model_path, "classes.json")
            self.num_frames, self.image_size = config["num_frames"], config["image_size"]
            serve = tf.saved_model.load(str(model_path)).signatures["serving_default"]
            self.run = lambda frames, lengths: serve(frames=tf.constant(frames), lengths=tf.constant(lengths))[
                "probabilities"].numpy()[0]
        else:
            from apps.video.model import load_run

            classifier = load_run(model_path)
            self.classes = classifier.classes
            self.num_frames, self.image_size = classifier.config.num_frames, classifier.config.image_size
            self.run = lambda frames, lengths: classifier({"frames": frames, "lengths": lengths})["probabilities"][0]

    def __call__(self, path: Path):
        import numpy as np

        from rnnkit.data.video import fit_frames, pad_frames, read_frames

        kept, total = read_frames(path, self.num_frames)
        frames = fit_frames(pad_frames(kept, self.num_frames), self.image_size).numpy()[None].astype(np.float32)
        probabilities = self.run(frames, np.array([len(kept)], np.int32))
        return np.asarray(probabilities), len(kept), total


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from rnnkit.data.video import VideoDecodeError

    if not args.inputs:
        raise ValueError("give at least one video clip to classify")
    if args.top < 1:
        raise ValueError(f"--top must be at least 1, not {args.top}")
    predictor = _Predictor(Path(args.model))
    failed = 0
    for name in args.inputs:
        path = Path(name)
        try:
            probabilities, used, total = predictor(path)
        except (VideoDecodeError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        order = np.argsort(-probabilities)[: args.top]
        top = [(predictor.classes[index], float(probabilities[index])) for index in order]
        if args.json:
            print(json.dumps({"clip": name, "frames_used": used, "frames_in_clip": total,
                              "top": [{"class": label, "probability": score} for label, score in top]}))
            continue
        print(f"{name}  ({used} of {total} frames)")
        for label, score in top:
            print(f"  {score:7.4f}  {label}")
    return 2 if failed else 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
