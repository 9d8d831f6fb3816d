"""Export a speech run for TF Serving and for TFLite.

Writes `<to>/speech/<version>/`:
  saved_model.pb, variables/      signatures (decoding, resampling and the spectrogram run in the graph):
     serving_default(wav: string[batch])          WAV file bytes, any rate / channels / length
        -> label: string[batch], probabilities: float32[batch, classes],
           top_labels: string[batch, 3], top_probabilities: float32[batch, 3],
           trace: float32[batch, steps] (model=stream: the probability of the clip's word after each
           20 ms step) or attention: float32[batch, frames] (model=attention), error: string[batch],
           sample_rate: int32[batch] (of the file), duration: float32[batch] (seconds in the file)
        A file that cannot be used gets label "", zero probabilities and an error naming the
        problem; the other files of the request are classified as usual.
     waveform(waveform: float32[batch, samples])  mono samples in [-1, 1] at the model's rate
        -> label, probabilities, top_labels, top_probabilities, trace | attention
        (a longer waveform is cut to its loudest clip_seconds, a shorter one padded with silence)
  assets.extra/rnnkit_config.json, labels.json
  speech.tflite          waveform float32[1, clip_samples] -> probabilities float32[1, classes]; builtin ops,
                         checked against Keras on real clips (|difference| <= --atol)
  speech_int8.tflite     the same with int8 weights and activations after the spectrogram (post-training
                         quantization calibrated on training clips; the log-mel front end stays float);
                         its accuracy next to Keras' is measured on the same clips
  speech_stream.tflite   (model=stream) one packet at a time: packet float32[1, 320] (20 ms at 16 kHz) and the
                         states (audio, [pcen], conv_0, conv_1, rnn_0_h[, rnn_0_c]) -> probabilities float32[1, classes]
                         and new_<state> for each; builtin ops only, no WHILE. Checked: clips fed packet by packet
                         from the initial states end with the 1-s model's probabilities (|difference| <= --atol)
  speech_tflite.json     labels, input/output shapes, op lists, sizes, the verification and int8 accuracy, and under
                         "stream" the packet size, the state names, shapes and initial values
"""

from __future__ import annotations

import argparse
import sys

from rnnkit import cli

HELP = "Export a trained run as a TF Serving SavedModel (WAV bytes or waveforms in) and verified float, int8 and streaming TFLite models."

TFLITE_NAME, INT8_NAME, TFLITE_JSON = "speech.tflite", "speech_int8.tflite", "speech_tflite.json"
STREAM_NAME = "speech_stream.tflite"
TOP_K = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_export_arguments(parser)
    parser.add_argument("--data", default=None, metavar="SOURCE",
                        help="clips to check the TFLite models on and calibrate int8 with (default: the run's training data)")
    parser.add_argument("--check-clips", type=int, default=200, help="validation clips the TFLite models are checked on (default: 200)")
    parser.add_argument("--calibration-clips", type=int, default=100, help="training clips that calibrate int8 (default: 100)")
    parser.add_argument("--no-int8", dest="int8", action="store_false", help="skip the int8 model")
    parser.add_argument("--per-tensor", dest="per_channel", action="store_false",
                        help="int8 weights with one scale per tensor: a smaller file, slower with XNNPACK (default: per channel)")
    parser.add_argument("--atol", type=float, default=1e-4, help="largest allowed |TFLite - Keras| probability difference (default: 1e-4)")


def build_serving_archive(model, labels: list[str], config):
    import keras
    import tensorflow as tf

    from apps.speech.model import inspector, over_time_name
    from rnnkit.data import audio

    inspect, keras_model = inspector(model)
    over_time = over_time_name(model)
    names = tf.constant(labels)
    k = min(TOP_K, len(labels))
    clip_samples = config.clip_samples

    def classify(waveforms):
        probabilities, weights, _ = inspect(waveforms)
        top = tf.math.top_k(probabilities, k=k)
        return {
            "label": tf.gather(names, top.indices[:, 0]),
            "probabilities": probabilities,
            "top_labels": tf.gather(names, top.indices),
            "top_probabilities": top.values,
            over_time: weights,
        }

    def from_wav(wav):
        clips = tf.map_fn(
            lambda contents: audio.decode_clip(contents, config.sample_rate, clip_samples, config.crop),
            wav,
            fn_output_signature={"waveform": tf.TensorSpec([clip_samples], tf.float32), "error": tf.string,
                                 "sample_rate": tf.int32, "channels": tf.int32, "duration": tf.float32},
        )
        out = classify(clips["waveform"])
        ok = tf.equal(clips["error"], "")
        rows = tf.reshape(ok, [-1, 1])
        return {
            "label": tf.where(ok, out["label"], ""),
            "probabilities": tf.where(rows, out["probabilities"], 0.0),
            "top_labels": tf.where(rows, out["top_labels"], ""),
            "top_probabilities": tf.where(rows, out["top_probabilities"], 0.0),
            over_time: tf.where(rows, out[over_time], 0.0),
            "error": clips["error"],
            "sample_rate": clips["sample_rate"],
            "duration": clips["duration"],
        }

    def from_waveform(waveform):
        waveforms = tf.map_fn(
            lambda row: audio.prepare_waveform(row, clip_samples, config.crop, config.sample_rate),
            waveform, fn_output_signature=tf.TensorSpec([clip_samples], tf.float32),
        )
        return classify(waveforms)

    archive = keras.export.ExportArchive()
    archive.track(keras_model)
    archive.add_endpoint("serving_default", from_wav, input_signature=[tf.TensorSpec((None,), tf.string, name="wav")])
    archive.add_endpoint("waveform", from_waveform, input_signature=[tf.TensorSpec((None, None), tf.float32, name="waveform")])
    return archive


def convert_tflite(model, config, quantization: str = "none", representative=None, unroll: bool | None = None,
                   per_channel: bool = True) -> bytes:
    """The model at batch 1 as a builtin-only TFLite flatbuffer.

    The RNNs stay rolled (a WHILE loop: the smallest float file) unless
    `unroll`; int8 always unrolls them, because calibrating a WHILE loop
    crashes the converter (see model.unrolled_copy). int8 keeps the log-mel
    front end in float: an int8 waveform has a -48 dB noise floor and the
    spectrogram falls apart (accuracy drops to chance). Per-channel weight
    scales (the default) run fastest with XNNPACK but are repeated at every
    unrolled step; `per_channel=False` makes a smaller, slower file.
    """
    import tensorflow as tf

    from apps.speech.model import unrolled_copy
    from rnnkit.export import tflite

    kwargs = {}
    if unroll or quantization == "int8":
        model = unrolled_copy(model)
    if quantization == "int8":
        kwargs = {"representative_dataset": lambda: ({"waveform": clip[None]} for clip in representative),
                  "float_tensors": ["log_mel"], "per_channel": per_channel}

    def serve(waveform):
        return {"probabilities": model(waveform, training=False)}

    return tflite.convert_function(serve, [tf.TensorSpec((1, config.clip_samples), tf.float32, name="waveform")],
                                   track=[model], quantization=quantization, **kwargs)


def convert_stream_tflite(model) -> bytes:
    """stream_step at batch 1 as a builtin-only TFLite flatbuffer (signature "serve")."""
    import tensorflow as tf

    from apps.speech.model import packet_samples, stream_state_shapes, stream_step
    from rnnkit.export import tflite

    shapes = stream_state_shapes(model)
    names = list(shapes)
    specs = [tf.TensorSpec((1, packet_samples(model)), tf.float32, name="packet")]
    specs += [tf.TensorSpec(shape, tf.float32, name=name) for name, shape in shapes.items()]

    def serve(packet, *states):
        return stream_step(model, packet, dict(zip(names, states, strict=True)))

    return tflite.convert_function(serve, specs, track=[model])


def stream_record(model) -> dict:
    """What a streaming client needs besides the labels: packet size, states and their starting values."""
    from apps.speech.model import initial_stream_states, packet_samples

    initial = initial_stream_states(model)
    return {"file": STREAM_NAME, "signature": "serve", "packet_samples": packet_samples(model),
            "states": {name: list(value.shape) for name, value in initial.items()},
            "initial": {name: float(value.flat[0]) for name, value in initial.items()}}


def run_stream(step, record: dict, waveform, streams: int = 1, reset_packets: int = 0):
    """Feed a 1-D waveform packet by packet (the tail padded with silence) -> probabilities [packets, classes].

    `step(packet=..., **states)` is a TFLite signature runner or anything that
    answers like one (probabilities and new_<state> for each state).

    `streams` = 1 runs one stream from the initial states, never reset. With
    `streams` = K > 1 and `reset_packets` = P (a clip's length in packets), K
    copies run side by side, copy j reset to the initial states every P packets
    at offsets j * P / K, and each answer is the copy that has heard the most
    since its reset (between (K - 1) / K and 1 clip length): the model was
    trained on clips that each start from the initial states, not on minutes of
    audio. It costs K steps a packet; K = P would be the sliding window exactly.
    """
    import numpy as np

    if streams < 1:
        raise ValueError(f"streams must be at least 1, not {streams}")
    if streams > 1 and not streams <= reset_packets:
        raise ValueError(f"{streams} staggered streams need reset_packets >= streams, not {reset_packets}")
    size = record["packet_samples"]
    waveform = np.asarray(waveform, np.float32)
    packets = -(-waveform.size // size)
    waveform = np.pad(waveform, (0, packets * size - waveform.size))

    def initial():
        return {name: np.full(shape, record["initial"][name], np.float32) for name, shape in record["states"].items()}

    period = reset_packets if streams > 1 else packets + 1  # one stream: never reset
    offsets = [j * period // streams for j in range(streams)]
    copies = [initial() for _ in offsets]
    out = []
    for index in range(packets):
        packet = waveform[None, index * size:(index + 1) * size]
        answers = []
        for j, offset in enumerate(offsets):
            if index < offset:
                continue  # copy j starts at its offset
            since = (index - offset) % period
            if since == 0:
                copies[j] = initial()
            result = step(packet=packet, **copies[j])
            copies[j] = {name: np.asarray(result[f"new_{name}"]) for name in copies[j]}
            answers.append((since, np.asarray(result["probabilities"])[0]))
        out.append(max(answers, key=lambda item: item[0])[1])  # the copy that has heard the most
    return np.stack(out) if out else np.zeros((0, 0), np.float32)


def tflite_probabilities(model_bytes, waveforms):
    """Run each waveform through a TFLite model: probabilities [n, classes]."""
    import numpy as np

    from rnnkit.export import tflite

    runner = tflite.signature_runner(model_bytes, "serve")
    return np.concatenate([runner(waveform=np.asarray(clip, np.float32)[None])["probabilities"] for clip in waveforms])


def check_clips(data: str, config, labels, count: int, calibration: int):
    """(waveforms, labels) of up to `count` validation clips and up to `calibration` training clips."""
    import numpy as np

    from apps.speech.data import load_source, make_dataset, scan_source

    source = load_source(data, config)
    if source.labels != list(labels):
        raise ValueError(f"--data {data}: its classes differ from the run's; pass --data with the run's classes")
    split = "val" if source.has("val") else "test"
    scan_source(source, config, splits=(split, "train"), verbose=False)

    def take(split_name, limit):
        if limit <= 0 or not source.has(split_name):
            return np.zeros((0, config.clip_samples), np.float32), np.zeros((0,), np.int32)
        dataset = make_dataset(source, split_name, config, training=False, cache=False).unbatch().take(limit)
        pairs = list(dataset.as_numpy_iterator())
        return np.stack([pair[0] for pair in pairs]), np.asarray([pair[1] for pair in pairs])

    checks = take(split, count)
    calibrate, _ = take("train", calibration)
    return checks, calibrate, split


def export(run_dir, to="saved_models", version=None, with_tflite=True, with_int8=True, data=None,
           check_count=200, calibration_count=100, atol=1e-4, per_channel=True, stream_check_count=20) -> dict:
    import numpy as np

    from apps.speech.model import load_run, streamable
    from rnnkit.config import config_to_dict
    from rnnkit.export import savedmodel, tflite
    from rnnkit.io import atomic_write_json, read_json
    from rnnkit.training import RunDir

    model, labels, config = load_run(run_dir)
    written: dict[str, str] = {}
    if with_tflite:
        data = data or read_json(RunDir(run_dir).config_path).get("data")
        if not data:
            raise ValueError("--data: the run does not record its data source; pass --data SOURCE")
        (waveforms, truth), calibrate, split = check_clips(data, config, labels, check_count, calibration_count if with_int8 else 0)
        if not len(waveforms):
            raise ValueError(f"--data {data}: no clips to check the TFLite model on")
    with savedmodel.new_version(to, "speech", version) as (scratch, final):
        build_serving_archive(model, labels, config).write_out(str(scratch), verbose=False)
        savedmodel.write_extra(scratch, "rnnkit_config.json", {"app": "speech", "config": config_to_dict(config)})
        savedmodel.write_extra(scratch, "labels.json", {"labels": labels})
        if with_tflite:
            keras_probabilities = np.asarray(model.predict(waveforms, batch_size=64, verbose=0))
            keras_accuracy = float((keras_probabilities.argmax(1) == truth).mean())
            float_bytes = convert_tflite(model, config)
            ops = tflite.check_builtin_only(float_bytes)
            float_probabilities = tflite_probabilities(float_bytes, waveforms)
            worst = float(np.abs(float_probabilities - keras_probabilities).max())
            if worst > atol:
                raise tflite.TFLiteExportError(f"TFLite differs from Keras by {worst:.3g} (> {atol:g}) over {len(waveforms)} clips")
            (scratch / TFLITE_NAME).write_bytes(float_bytes)
            record = {
                "signature": "serve",
                "inputs": {"waveform": [1, config.clip_samples]},
                "outputs": {"probabilities": [1, len(labels)]},
                "sample_rate": config.sample_rate,
                "clip_seconds": config.clip_seconds,
                "labels": labels,
                "checked_on": {"data": data, "split": split, "clips": int(len(waveforms))},
                "keras": {"accuracy": keras_accuracy},
                "float": {"file": TFLITE_NAME, "bytes": len(float_bytes), "ops": ops, "max_abs_diff": worst,
                          "atol": atol, "accuracy": float((float_probabilities.argmax(1) == truth).mean())},
            }
            written["tflite"] = str(final / TFLITE_NAME)
            written["tflite_check"] = f"|TFLite - Keras| <= {worst:.2e} over {len(waveforms)} {split} clips; ops: {', '.join(ops)}"
            if with_int8:
                if not len(calibrate):
                    raise ValueError(f"--data {data}: no training clips to calibrate int8 with; pass --no-int8")
                int8_bytes = convert_tflite(model, config, "int8", representative=calibrate, per_channel=per_channel)
                int8_ops = tflite.check_builtin_only(int8_bytes)
                int8_probabilities = tflite_probabilities(int8_bytes, waveforms)
                int8_accuracy = float((int8_probabilities.argmax(1) == truth).mean())
                (scratch / INT8_NAME).write_bytes(int8_bytes)
                record["int8"] = {
                    "file": INT8_NAME, "bytes": len(int8_bytes), "ops": int8_ops,
                    "calibration_clips": int(len(calibrate)), "per_channel": per_channel, "accuracy": int8_accuracy,
                    "accuracy_change": int8_accuracy - keras_accuracy,
                    "agreement_with_keras": float((int8_probabilities.argmax(1) == keras_probabilities.argmax(1)).mean()),
                    "max_abs_diff": float(np.abs(int8_probabilities - keras_probabilities).max()),
                }
                written["tflite_int8"] = str(final / INT8_NAME)
                written["int8"] = (f"accuracy {int8_accuracy:.4f} vs Keras {keras_accuracy:.4f} "
                                   f"({int8_accuracy - keras_accuracy:+.4f}) on {len(waveforms)} {split} clips; "
                                   f"{len(int8_bytes) / 1024:.0f} KiB vs float {len(float_bytes) / 1024:.0f} KiB")
            reason = streamable(model)
            if reason:
                record["stream"] = {"skipped": reason}
                written["stream"] = f"skipped: {reason}"
            else:
                stream_bytes = convert_stream_tflite(model)
                stream_ops = tflite.check_builtin_only(stream_bytes)
                stream = stream_record(model)
                runner = tflite.signature_runner(stream_bytes, "serve")
                stream_checks = waveforms[:stream_check_count]
                ends = np.stack([run_stream(runner, stream, clip)[-1] for clip in stream_checks])
                stream_worst = float(np.abs(ends - keras_probabilities[: len(stream_checks)]).max())
                if stream_worst > atol:
                    raise tflite.TFLiteExportError(
                        f"streaming TFLite differs from the 1-s Keras model by {stream_worst:.3g} (> {atol:g}) at the end "
                        f"of {len(stream_checks)} clips fed packet by packet")
                (scratch / STREAM_NAME).write_bytes(stream_bytes)
                record["stream"] = {**stream, "bytes": len(stream_bytes), "ops": stream_ops, "max_abs_diff": stream_worst,
                                    "atol": atol, "checked_clips": int(len(stream_checks))}
                written["tflite_stream"] = str(final / STREAM_NAME)
                written["stream_check"] = (f"packet by packet ({stream['packet_samples']} samples) the stream ends within "
                                           f"{stream_worst:.2e} of the 1-s model on {len(stream_checks)} {split} clips; "
                                           f"ops: {', '.join(stream_ops)}")
            atomic_write_json(scratch / TFLITE_JSON, record)
    written = {"saved_model": str(final), **written}
    return written


def run(args: argparse.Namespace) -> int:
    written = export(args.model, args.to, args.version, with_tflite=args.tflite, with_int8=args.int8, data=args.data,
                     check_count=args.check_clips, calibration_count=args.calibration_clips, atol=args.atol,
                     per_channel=args.per_channel)
    for key, value in written.items():
        print(f"{key}: {value}")
    print("try it:  python -c \"import numpy as np; np.save('clips.npy', np.array([open('clip.wav', 'rb').read()], dtype=object))\"")
    print(f"         saved_model_cli run --dir {written['saved_model']} --tag_set serve --signature_def serving_default "
          "--inputs wav=clips.npy")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
