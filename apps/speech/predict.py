"""Say which words WAV files hold: the top 3 with their probabilities.

    python -m apps.speech.predict --model runs/digits clip.wav other.wav       # a run folder (Keras)
    python -m apps.speech.predict --model saved_models/speech/1 clip.wav       # the SavedModel (decoding in the graph)
    python -m apps.speech.predict --model saved_models/speech/1/speech_int8.tflite clip.wav   # TFLite

Any WAV rate, channel count and length is accepted (a longer file is scored on
its loudest `clip_seconds`, which the output says). A file that cannot be used
is reported on stderr with the reason; the others are still scored, and the
exit status is 2 when any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rnnkit import cli

HELP = "Top words with probabilities for each WAV file; --model takes a run folder, an export folder or a .tflite file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_predict_arguments(parser, input_help="WAV files")
    parser.add_argument("--top-k", type=int, default=3, help="words to show per file (default: 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file instead of text")


class _KerasScorer:
    def __init__(self, run_dir):
        from apps.speech.model import load_run
        from rnnkit.data.audio import ClipDecoder

        self.model, self.labels, config = load_run(run_dir)
        self.decoder = ClipDecoder(config.sample_rate, config.clip_samples, config.crop)
        self.clip_seconds = config.clip_seconds

    def __call__(self, path: Path):
        import numpy as np

        waveform, info = self.decoder.file(path)
        return np.asarray(self.model(waveform[None], training=False))[0], info


class _TFLiteScorer:
    def __init__(self, tflite_path: Path):
        from apps.speech.export import TFLITE_JSON
        from rnnkit.data.audio import ClipDecoder
        from rnnkit.export import tflite
        from rnnkit.io import read_json

        meta_path = tflite_path.parent / TFLITE_JSON
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path}: missing; a speech .tflite model needs the {TFLITE_JSON} written beside it by export")
        meta = read_json(meta_path)
        if tflite_path.name == meta.get("stream", {}).get("file"):
            raise ValueError(f"{tflite_path} is the streaming model (one packet at a time): use `rnnkit speech stream --model "
                             f"{tflite_path} RECORDING.wav`, or predict with {tflite_path.parent / meta.get('float', {}).get('file', 'speech.tflite')}")
        self.labels = meta["labels"]
        self.clip_seconds = meta["clip_seconds"]
        samples = meta["inputs"]["waveform"][1]
        self.decoder = ClipDecoder(meta["sample_rate"], samples)
        self.runner = tflite.signature_runner(tflite_path, meta["signature"])

    def __call__(self, path: Path):
        import numpy as np

        waveform, info = self.decoder.file(path)
        return self.runner(waveform=np.asarray(waveform, np.float32)[None])["probabilities"][0], info


def _served(model_dir: Path, paths: list[Path]):
    """Score readable files with the SavedModel's serving_default signature (WAV bytes in)."""
    import tensorflow as tf

    from rnnkit.export.savedmodel import read_extra

    labels = read_extra(model_dir, "labels.json")["labels"]
    clip_seconds = read_extra(model_dir, "rnnkit_config.json")["config"]["clip_seconds"]
    signature = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    results = {}
    readable = [path for path in paths if path.is_file()]
    for path in paths:
        if not path.is_file():
            results[path] = ValueError(f"{path}: no such file")
    if readable:
        out = signature(wav=tf.constant([path.read_bytes() for path in readable]))
        for index, path in enumerate(readable):
            error = out["error"][index].numpy().decode("utf-8")
            if error:
                results[path] = ValueError(f"{path}: {error}")
            else:
                info = {"sample_rate": int(out["sample_rate"][index]), "duration": float(out["duration"][index])}
                results[path] = (out["probabilities"][index].numpy(), info)
    return labels, clip_seconds, results


def run(args: argparse.Namespace) -> int:
    import numpy as np

    model_path = Path(args.model)
    if not model_path.exists():
        raise FileNotFoundError(f"--model {model_path}: no such file or folder")
    if not args.inputs:
        raise ValueError("give one or more WAV files to classify")
    if args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, not {args.top_k}")
    paths = [Path(name) for name in args.inputs]
    if (model_path / "saved_model.pb").is_file():
        labels, clip_seconds, results = _served(model_path, paths)
    else:
        scorer = _TFLiteScorer(model_path) if model_path.suffix == ".tflite" else _KerasScorer(model_path)
        labels, clip_seconds, results = scorer.labels, scorer.clip_seconds, {}
        for path in paths:
            try:
                results[path] = scorer(path)
            except (ValueError, FileNotFoundError) as error:
                results[path] = error
    failed = 0
    for path in paths:
        result = results[path]
        if isinstance(result, Exception):
            failed += 1
            print(f"error: {result}", file=sys.stderr)
            if args.json:
                print(json.dumps({"file": str(path), "error": str(result)}))
            continue
        probabilities, info = result
        order = np.argsort(-probabilities)[: args.top_k]
        top = [(labels[index], float(probabilities[index])) for index in order]
        note = ""
        if info["duration"] > clip_seconds + 0.01:
            note = f"  ({info['duration']:.1f} s file: scored its loudest {clip_seconds:g} s)"
        if args.json:
            print(json.dumps({"file": str(path), "top": [{"label": label, "probability": p} for label, p in top],
                              "sample_rate": info["sample_rate"], "duration": info["duration"]}))
        else:
            print(f"{path}: " + "  ".join(f"{label} {p:.3f}" for label, p in top) + note)
    return 2 if failed else 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
