"""Spot keywords in a recording of any length, 20 ms at a time, as a phone would.

    rnnkit speech stream --model saved_models/speech/1 recording.wav
    rnnkit speech stream --model saved_models/speech/1/speech_stream.tflite recording.wav --json
    rnnkit speech stream --model runs/sc12 recording.wav          # a run folder: the same step in Keras

The recording (any WAV the app reads: any rate, channels and length) is
decoded, mixed to mono and resampled to the model's rate exactly as training
clips are, then fed one packet (20 ms) at a time to the streaming model
together with its states; each answer is a posterior over the words. Those go
through `RecognizeCommands`, TensorFlow's recognize_commands logic: the
posteriors are averaged over the last `--window-ms`, and a word is detected
when its average passes `--threshold`, differs from the last word detected,
and at least `--suppression-ms` have passed since (a _silence_ in between
clears the last word). Each detected keyword is printed with its time; with
`--json`, one JSON object per detection and a summary object on the last line.
`_unknown_` and `_silence_` are never reported as keywords.

The model was trained on one-second clips that each start from the initial
states; a single stream's state runs on for the whole recording. `--streams K`
runs K copies, each reset every second at offsets of 1/K s, and takes each
answer from the copy that has heard the most (between (K-1)/K and 1 s): K
steps a packet instead of one, still far fewer than re-running the 1-s model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from pathlib import Path

import numpy as np

from rnnkit import cli

HELP = "Detect keywords in a WAV recording of any length with the streaming model, packet by packet (posterior smoothing, threshold, refractory period)."

DEFAULTS = {"window_ms": 500, "threshold": 0.7, "suppression_ms": 1000, "minimum_count": 3}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="EXPORT_OR_TFLITE",
                        help="an export folder (uses its speech_stream.tflite), a speech_stream.tflite file, or a run folder")
    parser.add_argument("recording", metavar="WAV", help="the recording: any WAV rate, channel count and length")
    parser.add_argument("--json", action="store_true", help="one JSON object per detection, then a summary object on the last line")
    parser.add_argument("--window-ms", type=int, default=None, help=f"posterior averaging window (default: {DEFAULTS['window_ms']})")
    parser.add_argument("--threshold", type=float, default=None, help=f"averaged posterior a word must pass (default: {DEFAULTS['threshold']})")
    parser.add_argument("--suppression-ms", type=int, default=None,
                        help=f"refractory period after a detection (default: {DEFAULTS['suppression_ms']})")
    # BENCHMARKS.md: 4 staggered streams detect as well as re-running the 1-s model, at 1/7.6 of its cost
    parser.add_argument("--streams", type=int, default=4,
                        help="copies of the stream run side by side, each reset every clip length at staggered offsets; "
                             "each answer comes from the copy that has heard the most (1: one stream, never reset; "
                             "default: %(default)s)")
    parser.add_argument("--minimum-count", type=int, default=None,
                        help=f"posteriors the window must hold before anything is detected (default: {DEFAULTS['minimum_count']})")


class RecognizeCommands:
    """TensorFlow's recognize_commands (tensorflow/examples/speech_commands) in numpy.

    `process(posteriors, time_ms)` -> (label, score, is_new_command): the
    label with the highest posterior averaged over the last `window_ms`;
    `is_new_command` when that average passes `threshold`, the label differs
    from the previous detection and `suppression_ms` have passed since it
    (no wait after `_silence_`). Until the window holds `minimum_count`
    results spanning a quarter of `window_ms`, nothing is detected.
    """

    def __init__(self, labels, window_ms=500, threshold=0.7, suppression_ms=1000, minimum_count=3, silence="_silence_"):
        if window_ms <= 0 or suppression_ms < 0 or minimum_count < 1 or not 0.0 <= threshold <= 1.0:
            raise ValueError("need --window-ms > 0, --suppression-ms >= 0, --minimum-count >= 1 and --threshold in [0, 1]")
        self.labels, self.window_ms, self.threshold = list(labels), window_ms, threshold
        self.suppression_ms, self.minimum_count, self.silence = suppression_ms, minimum_count, silence
        self.results: deque = deque()
        self.previous_label, self.previous_time = silence, -np.inf

    def process(self, posteriors, time_ms: float):
        posteriors = np.asarray(posteriors, np.float64)
        if posteriors.shape != (len(self.labels),):
            raise ValueError(f"posteriors of shape {posteriors.shape}, expected ({len(self.labels)},)")
        if self.results and time_ms < self.results[-1][0]:
            raise ValueError(f"time {time_ms} ms is before the previous result's {self.results[-1][0]} ms")
        self.results.append((time_ms, posteriors))
        while self.results[0][0] < time_ms - self.window_ms:
            self.results.popleft()
        if len(self.results) < self.minimum_count or time_ms - self.results[0][0] < self.window_ms / 4:
            return self.previous_label, 0.0, False
        average = np.mean([item[1] for item in self.results], axis=0)
        top = int(np.argmax(average))
        label, score = self.labels[top], float(average[top])
        since = np.inf if self.previous_label == self.silence or self.previous_time == -np.inf else time_ms - self.previous_time
        if score > self.threshold and label != self.previous_label and since > self.suppression_ms:
            self.previous_label, self.previous_time = label, time_ms
            return label, score, True
        return label, score, False


def detect(posteriors, labels, packet_ms: float, **settings) -> list[dict]:
    """Keyword detections from per-packet posteriors [packets, classes]: [{"time": s, "label", "score"}]."""
    recognizer = RecognizeCommands(labels, **settings)
    found = []
    for index, row in enumerate(posteriors):
        time_ms = (index + 1) * packet_ms
        label, score, new = recognizer.process(row, time_ms)
        if new and not label.startswith("_"):
            found.append({"time": round(time_ms / 1000.0, 3), "label": label, "score": round(score, 4)})
    return found


def read_recording(path: Path, sample_rate: int) -> tuple[np.ndarray, dict]:
    """The whole recording as mono float32 at `sample_rate` (resampled as training clips are); ValueError naming the file."""
    import tensorflow as tf

    from rnnkit.data import audio

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    contents = tf.constant(path.read_bytes())
    info = audio.parse_wav(contents)
    error = info["error"].numpy().decode("utf-8")
    if error:
        raise ValueError(f"{path}: {error}")
    samples = audio.resample(audio.to_mono(audio.decode_wav(contents, info)), info["sample_rate"], sample_rate)
    return samples.numpy().astype(np.float32), {"sample_rate": int(info["sample_rate"]), "channels": int(info["channels"]),
                                                "seconds": float(info["frames"]) / float(info["sample_rate"])}


class StreamModel:
    """A streaming model however it was given: labels, rate, packet size, the states and `step`."""

    def __init__(self, model_path: Path):
        from apps.speech.export import STREAM_NAME, TFLITE_JSON
        from rnnkit.io import read_json

        if not model_path.exists():
            raise FileNotFoundError(f"--model {model_path}: no such file or folder")
        if (model_path / "saved_model.pb").is_file():
            model_path = model_path / STREAM_NAME
            if not model_path.is_file():
                raise FileNotFoundError(f"{model_path}: missing; export a model=stream run to get it")
        if model_path.is_file():
            if model_path.suffix != ".tflite":
                raise ValueError(f"--model {model_path}: expected an export folder, a .tflite file or a run folder")
            meta_path = model_path.parent / TFLITE_JSON
            if not meta_path.is_file():
                raise FileNotFoundError(f"{meta_path}: missing; the streaming model needs the {TFLITE_JSON} export writes beside it")
            meta = read_json(meta_path)
            if "packet_samples" not in meta.get("stream", {}):
                raise ValueError(f"{meta_path}: no streaming model recorded ({meta.get('stream', {}).get('skipped', 'older export')})")
            if model_path.name != meta["stream"]["file"]:
                raise ValueError(f"--model {model_path}: not the streaming model; use {model_path.parent / meta['stream']['file']}")
            from rnnkit.export import tflite

            self.labels, self.sample_rate, self.record = meta["labels"], meta["sample_rate"], meta["stream"]
            self.clip_seconds = meta["clip_seconds"]
            self.step = tflite.signature_runner(model_path, self.record["signature"])
            self.engine = f"TFLite {model_path}"
            return
        import tensorflow as tf

        from apps.speech.export import stream_record
        from apps.speech.model import load_run, stream_step, streamable

        model, self.labels, config = load_run(model_path)
        reason = streamable(model)
        if reason:
            raise ValueError(f"--model {model_path}: this run cannot stream: {reason}")
        self.sample_rate, self.clip_seconds, self.record = config.sample_rate, config.clip_seconds, stream_record(model)
        names = list(self.record["states"])
        compiled = tf.function(lambda packet, states: stream_step(model, packet, states))

        def step(packet, **states):
            return {key: value.numpy() for key, value in compiled(tf.constant(packet), {name: tf.constant(states[name]) for name in names}).items()}

        self.step = step
        self.engine = f"Keras {model_path}"

    @property
    def packet_ms(self) -> float:
        return 1000.0 * self.record["packet_samples"] / self.sample_rate


def run(args: argparse.Namespace) -> int:
    from apps.speech.export import run_stream

    stream = StreamModel(Path(args.model))
    settings = {key: getattr(args, key) if getattr(args, key) is not None else value for key, value in DEFAULTS.items()}
    RecognizeCommands(stream.labels, **settings)  # refuse bad settings before decoding anything
    samples, info = read_recording(Path(args.recording), stream.sample_rate)
    note = ""
    minimum = int(round(stream.clip_seconds * stream.sample_rate))
    if samples.size < minimum:
        note = f"{info['seconds']:.2f} s recording: padded with silence to {stream.clip_seconds:g} s"
        samples = np.pad(samples, (0, minimum - samples.size))
    streams = args.streams
    clip_packets = int(round(stream.clip_seconds * stream.sample_rate)) // stream.record["packet_samples"]
    if not 1 <= streams <= clip_packets:
        raise ValueError(f"--streams must be between 1 and {clip_packets} (the packets of one clip), not {streams}")
    posteriors = run_stream(stream.step, stream.record, samples, streams=streams, reset_packets=clip_packets)
    found = detect(posteriors, stream.labels, stream.packet_ms, **settings)
    summary = {"file": args.recording, "seconds": round(info["seconds"], 3), "sample_rate": info["sample_rate"],
               "packets": int(len(posteriors)), "packet_ms": stream.packet_ms, "streams": streams, "detections": len(found),
               **settings}
    if args.json:
        for item in found:
            print(json.dumps(item))
        print(json.dumps(summary))
        return 0
    print(f"{args.recording}: {info['seconds']:.2f} s at {info['sample_rate'] / 1000:g} kHz, {len(posteriors)} packets of "
          f"{stream.packet_ms:g} ms through {stream.engine}" + (f", {streams} staggered streams" if streams > 1 else "")
          + (f" ({note})" if note else ""))
    for item in found:
        print(f"{item['time']:9.2f} s  {item['label']}  ({item['score']:.2f})")
    print(f"{len(found)} keyword{'s' if len(found) != 1 else ''} detected (window {settings['window_ms']} ms, threshold "
          f"{settings['threshold']:g}, suppression {settings['suppression_ms']} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
