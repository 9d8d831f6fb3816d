"""Export a video run for TF Serving and for TFLite.

Writes `<to>/video/<version>/`:
  saved_model.pb, variables/   signatures:
     serving_default(frames: float32[batch, T, S, S, 3] (0..255, RGB), lengths: int32[batch])
        -> probabilities float32[batch, classes], attention float32[batch, T],
           top_classes string[batch, 5], top_scores float32[batch, 5]
        T (num_frames) and S (image_size) are the run's; frames beyond a clip's length are ignored.
     classify_gif(video: string[batch])    encoded animated GIFs, decoded, sampled (the run's `windows`
        uniform samplings, probabilities averaged) and resized in the graph
        -> the same outputs and error: string[batch] (a non-GIF gets an error and no class)
  assets.extra/rnnkit_config.json, classes.json
  video.tflite      batch 1: frames float32[1, T, S, S, 3], lengths int32[1] -> probabilities, attention
  video_tflite.json the classes, shapes and the verification record

Why GIF and not AVI/MP4 bytes: a serving graph can only use TensorFlow ops, and
TensorFlow's only video decoder is tf.io.decode_gif; AVI and MP4 need a codec
library (OpenCV / FFmpeg), which lives outside the graph. Clients of
serving_default decode with OpenCV (rnnkit.data.video.read_clip) and send frames.
"""

from __future__ import annotations

import argparse
import sys

from rnnkit import cli

HELP = "Export a trained run as a TF Serving SavedModel (frames + lengths, or GIF bytes) and a verified builtin-only TFLite model."

TFLITE_NAME = "video.tflite"
TFLITE_JSON = "video_tflite.json"
NOT_A_GIF = "not an animated GIF (classify_gif takes GIF bytes; decode AVI/MP4 on the client and use serving_default)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_export_arguments(parser)
    parser.add_argument("--atol", type=float, default=1e-4, help="largest allowed |TFLite - Keras| probability difference (default: 1e-4)")


def build_serving_archive(classifier):
    import keras
    import tensorflow as tf

    from rnnkit.data.video import fit_frames, sample_frames

    config = classifier.config
    frames_count, size = config.num_frames, config.image_size
    names = tf.constant(classifier.classes)
    top = min(5, len(classifier.classes))

    def classify(frames, lengths):
        out = classifier.model({"frames": frames, "lengths": lengths}, training=False)
        scores, indices = tf.math.top_k(out["probabilities"], k=top)
        return {"probabilities": out["probabilities"], "attention": out["attention"],
                "top_classes": tf.gather(names, indices), "top_scores": scores}

    windows = config.windows if config.test_windows else 1

    def decode_gif(data):
        video = tf.io.decode_gif(data)
        sampled = [sample_frames(video, frames_count, window, windows) for window in range(windows)]
        return fit_frames(tf.stack([frames for frames, _ in sampled]), size), sampled[0][1]

    def classify_gif(video):
        valid = tf.strings.substr(video, 0, 4) == "GIF8"
        blank = (tf.zeros([windows, frames_count, size, size, 3], tf.float32), tf.constant(0, tf.int32))
        frames, lengths = tf.map_fn(
            lambda item: tf.cond(item[1], lambda: decode_gif(item[0]), lambda: blank), (video, valid),
            fn_output_signature=(tf.TensorSpec([windows, frames_count, size, size, 3], tf.float32),
                                 tf.TensorSpec([], tf.int32)))
        # Every window of every GIF in one batch; the probabilities are averaged over each GIF's windows.
        out = classifier.model({"frames": tf.reshape(frames, [-1, frames_count, size, size, 3]),
                                "lengths": tf.repeat(lengths, windows)}, training=False)
        probabilities = tf.reduce_mean(tf.reshape(out["probabilities"], [-1, windows, len(classifier.classes)]), axis=1)
        scores, indices = tf.math.top_k(probabilities, k=top)
        return {"probabilities": probabilities,
                "attention": tf.reshape(out["attention"], [-1, windows, frames_count])[:, 0],
                "top_classes": tf.where(valid[:, None], tf.gather(names, indices), ""), "top_scores": scores,
                "error": tf.where(valid, "", NOT_A_GIF)}

    archive = keras.export.ExportArchive()
    archive.track(classifier.model)
    archive.add_endpoint("serving_default", classify, input_signature=[
        tf.TensorSpec((None, frames_count, size, size, 3), tf.float32, name="frames"),
        tf.TensorSpec((None,), tf.int32, name="lengths")])
    archive.add_endpoint("classify_gif", classify_gif, input_signature=[tf.TensorSpec((None,), tf.string, name="video")])
    return archive


def convert_tflite(classifier) -> bytes:
    """Batch 1, RNNs unrolled over the fixed frame count: a flat graph of builtin ops."""
    import tensorflow as tf

    from rnnkit.export import tflite

    config = classifier.config
    unrolled = classifier.unrolled()

    def classify(frames, lengths):
        out = unrolled.model({"frames": frames, "lengths": lengths}, training=False)
        return {"probabilities": out["probabilities"], "attention": out["attention"]}

    signature = [tf.TensorSpec((1, config.num_frames, config.image_size, config.image_size, 3), tf.float32, name="frames"),
                 tf.TensorSpec((1,), tf.int32, name="lengths")]
    return tflite.convert_function(classify, signature, track=[unrolled.model])


def verification_cases(classifier, count: int = 4):
    """Rendered demo clips (always available offline) at full, short and one-frame lengths."""
    import numpy as np

    from apps.video.data import DEMO_CLASSES, render_clip
    from rnnkit.data.video import fit_frames, pad_frames, sample_indices

    config = classifier.config
    rng = np.random.default_rng(0)
    look = {"background": (40.0, 30.0, 60.0), "colour": (230.0, 200.0, 90.0)}
    cases = []
    for index, length in enumerate([config.num_frames + 7, max(1, config.num_frames // 2), 1, config.num_frames][:count]):
        clip = render_clip(rng, DEMO_CLASSES[index % len(DEMO_CLASSES)], look, max(length, 1))
        kept = clip[sample_indices(len(clip), config.num_frames)]
        frames = fit_frames(pad_frames(kept, config.num_frames), config.image_size).numpy()
        cases.append({"frames": frames[None].astype(np.float32), "lengths": np.array([len(kept)], np.int32)})
    return cases


def export(run_dir, to="saved_models", version=None, with_tflite=True, atol=1e-4) -> dict:
    import json

    from apps.video.model import load_run
    from rnnkit.config import config_to_dict
    from rnnkit.export import savedmodel, tflite

    classifier = load_run(run_dir)
    config = classifier.config
    written: dict[str, str] = {}
    with savedmodel.new_version(to, "video", version) as (scratch, final):
        build_serving_archive(classifier).write_out(str(scratch), verbose=False)
        savedmodel.write_extra(scratch, "rnnkit_config.json", {"app": "video", "config": config_to_dict(config)})
        savedmodel.write_extra(scratch, "classes.json", classifier.classes)
        if with_tflite:
            model_bytes = convert_tflite(classifier)

            def reference(frames, lengths):
                return classifier({"frames": frames, "lengths": lengths})

            check = tflite.verify(model_bytes, reference, verification_cases(classifier), signature_key="serve", atol=atol)
            (scratch / TFLITE_NAME).write_bytes(model_bytes)
            shape = [1, config.num_frames, config.image_size, config.image_size, 3]
            meta = {"signature": "serve", "inputs": {"frames": shape, "lengths": [1]},
                    "windows": config.windows if config.test_windows else 1,
                    "outputs": {"probabilities": [1, len(classifier.classes)], "attention": [1, config.num_frames]},
                    "frames": "RGB float32 0..255, centre-cropped and resized; right-padded with zeros past lengths",
                    "classes": classifier.classes, "verification": check.as_dict()}
            (scratch / TFLITE_JSON).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            written["tflite_ops"] = ",".join(check.ops)
            written["tflite_max_abs_diff"] = f"{check.max_abs_diff:.2e} over {check.cases} clips"
    written["saved_model"] = str(final)
    if with_tflite:
        written["tflite"] = str(final / TFLITE_NAME)
    return written


def run(args: argparse.Namespace) -> int:
    written = export(args.model, args.to, args.version, with_tflite=args.tflite, atol=args.atol)
    for key, value in written.items():
        print(f"{key}: {value}")
    from rnnkit.export.savedmodel import read_extra

    config = read_extra(written["saved_model"], "rnnkit_config.json")["config"]
    frames, size = config["num_frames"], config["image_size"]
    print(f"try it:  saved_model_cli run --dir {written['saved_model']} --tag_set serve --signature_def serving_default "
          f"--input_exprs 'frames=np.zeros((1,{frames},{size},{size},3),np.float32);lengths=[{frames}]'")
    print("  (classify_gif takes GIF bytes: np.save('gifs.npy', np.array([gif_bytes], dtype=object)), then "
          "--signature_def classify_gif --inputs video=gifs.npy)")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
