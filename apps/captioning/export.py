"""Export a captioning run for TF Serving and for TFLite.

Writes `<to>/captioning/<version>/`:
  saved_model.pb, variables/    signatures (the whole search runs in the graph):
     serving_default(images: string[batch])       encoded JPEG/PNG/GIF/BMP bytes
        -> caption: string[batch], error: string[batch]  (beam search with the run's beam_width)
     caption(images: string[batch], beam_width: int32, max_length: int32)
        -> caption, error, score: float32[batch], attention: float32[batch, max_length, positions]
     An input that is not an image gets an empty caption and an error naming the problem;
     the other images of the request are captioned as usual.
  assets.extra/rnnkit_config.json (with the encoder weights' source: imagenet, or the file and its
                                  sha256), vocab.json
  captioning_encoder.tflite       image float32[1, S, S, 3] (0..255) -> features, h (, c)
  captioning_decoder_step.tflite  token int32[1], features, h (, c) -> logits, attention, new_h (, new_c)
  captioning_mobile.json          the vocabulary, ids, shapes and the verification record
"""

from __future__ import annotations

import argparse
import sys

from rnnkit import cli

HELP = "Export a trained run as a TF Serving SavedModel (bytes in, caption out) and a verified TFLite encoder + decoder-step pair."

ENCODER_TFLITE = "captioning_encoder.tflite"
DECODER_TFLITE = "captioning_decoder_step.tflite"
MOBILE_JSON = "captioning_mobile.json"
NOT_AN_IMAGE = "not a JPEG, PNG, GIF or BMP image"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_export_arguments(parser)
    parser.add_argument("--atol", type=float, default=1e-4, help="largest allowed |TFLite - Keras| difference of decoder logits (default: 1e-4)")


def looks_like_image(data):
    """Per element of a string tensor: do the first bytes name a format decode_image reads?"""
    import tensorflow as tf

    def starts(prefix: bytes):
        return tf.equal(tf.strings.substr(data, 0, len(prefix)), prefix)

    return starts(b"\xff\xd8\xff") | starts(b"\x89PNG\r\n\x1a\n") | starts(b"GIF8") | starts(b"BM")


def build_serving_archive(captioner):
    import keras
    import tensorflow as tf

    from apps.captioning.data import END_ID, PAD_ID, START_ID, resize_image

    config = captioner.config
    size = config.image_size
    words = tf.constant(captioner.vocabulary.words)

    def decode(data):
        image = tf.io.decode_image(data, channels=3, expand_animations=False)
        return resize_image(image, size)

    def caption(images, beam_width, max_length):
        valid = looks_like_image(images)
        # A non-image gets a blank picture so the batch keeps its shape; its caption is dropped below.
        blank = tf.zeros([size, size, 3], tf.float32)
        pixels = tf.map_fn(lambda item: tf.cond(item[1], lambda: decode(item[0]), lambda: blank), (images, valid),
                           fn_output_signature=tf.TensorSpec([size, size, 3], tf.float32))
        out = captioner.search_beam(pixels, tf.maximum(beam_width, 1), tf.maximum(max_length, 1),
                                    tf.constant(config.length_alpha, tf.float32))
        best = out.tokens[:, 0]
        keep = (best != PAD_ID) & (best != START_ID) & (best != END_ID)
        text = tf.strings.reduce_join(tf.ragged.boolean_mask(tf.gather(words, best), keep), axis=1, separator=" ")
        return {
            "caption": tf.where(valid, text, ""),
            "error": tf.where(valid, "", NOT_AN_IMAGE),
            "score": out.scores[:, 0],
            "attention": out.aux[:, 0],
        }

    images_spec = tf.TensorSpec((None,), tf.string, name="images")
    archive = keras.export.ExportArchive()
    archive.track(captioner.image_encoder)
    archive.track(captioner.step_model)

    def serving_default(images):
        out = caption(images, tf.constant(config.beam_width), tf.constant(config.max_length))
        return {"caption": out["caption"], "error": out["error"]}

    archive.add_endpoint("serving_default", serving_default, input_signature=[images_spec])
    archive.add_endpoint("caption", caption, input_signature=[
        images_spec, tf.TensorSpec((), tf.int32, name="beam_width"), tf.TensorSpec((), tf.int32, name="max_length")])
    return archive


def convert_encoder(captioner) -> bytes:
    import tensorflow as tf

    from apps.captioning.model import state_names
    from rnnkit.export import tflite

    names = state_names(captioner.config)
    size = captioner.config.image_size

    def encode(image):
        projected, *states = captioner.image_encoder(image, training=False)
        return {"features": projected, **dict(zip(names, states, strict=True))}

    return tflite.convert_function(encode, [tf.TensorSpec((1, size, size, 3), tf.float32, name="image")],
                                   track=[captioner.image_encoder])


def convert_decoder_step(captioner) -> bytes:
    import tensorflow as tf

    from apps.captioning.model import state_names
    from rnnkit.export import tflite

    names = state_names(captioner.config)
    signature = [tf.TensorSpec((1,), tf.int32, name="token"),
                 tf.TensorSpec((1, captioner.positions, captioner.units), tf.float32, name="features")]
    signature += [tf.TensorSpec((1, captioner.units), tf.float32, name=name) for name in names]

    def step(token, features, *states):
        logits, weights, *new_states = captioner.step_model([token, features, *states], training=False)
        return {"logits": logits, "attention": weights,
                **{f"new_{name}": state for name, state in zip(names, new_states, strict=True)}}

    return tflite.convert_function(step, signature, track=[captioner.step_model])


def verify_pair(encoder_bytes, decoder_bytes, captioner, images, atol: float = 1e-4) -> dict:
    """Check the TFLite pair against Keras on `images` [n, S, S, 3]; raise on a mismatch.

    The encoders' outputs are compared directly. The decoders both start from the
    Keras features and each carries its own state along the Keras greedy caption
    (plus its end token), so drift in the recurrent state shows in the logits. Then
    the whole mobile loop (TFLite encoder + greedy TFLite steps) must give the
    same caption as Keras.
    """
    import numpy as np

    from apps.captioning import mobile
    from apps.captioning.data import END_ID, PAD_ID, START_ID
    from apps.captioning.model import state_names
    from rnnkit.export import tflite

    names = state_names(captioner.config)
    encoder_ops = tflite.check_builtin_only(encoder_bytes)
    decoder_ops = tflite.check_builtin_only(decoder_bytes)
    encode = tflite.signature_runner(encoder_bytes, "serve")
    step = tflite.signature_runner(decoder_bytes, "serve")
    worst_features, worst_logits, steps, captions = 0.0, 0.0, 0, []
    keras_tokens, _ = captioner.caption_arrays(images, beam_width=1)
    for image, tokens in zip(images, keras_tokens, strict=True):
        pixels = np.asarray(image, np.float32)[None]
        projected, *keras_states = [np.asarray(x) for x in captioner.image_encoder(pixels, training=False)]
        lite = encode(image=pixels)
        worst_features = max(worst_features, float(np.abs(lite["features"] - projected).max()))
        lite_states = [state.copy() for state in keras_states]
        token = START_ID
        for next_token in tokens:
            logits, _, *keras_states = captioner.step_model(
                [np.array([token], np.int32), projected, *keras_states], training=False)
            out = step(token=np.array([token], np.int32), features=projected, **dict(zip(names, lite_states, strict=True)))
            lite_states = [out[f"new_{name}"] for name in names]
            keras_states = [np.asarray(state) for state in keras_states]
            worst_logits = max(worst_logits, float(np.abs(out["logits"] - np.asarray(logits)).max()))
            steps += 1
            if int(next_token) in (END_ID, PAD_ID):
                break
            token = int(next_token)
        captions.append(mobile.greedy_caption(encode, step, pixels, names, captioner.vocabulary.words,
                                              captioner.config.max_length,
                                              no_repeat_ngram=captioner.config.no_repeat_ngram)[0])
    if worst_logits > atol:
        raise tflite.TFLiteExportError(f"TFLite decoder step drifts from Keras: |logits diff| {worst_logits:.3g} > {atol:g}")
    if worst_features > max(1e-3, atol):
        raise tflite.TFLiteExportError(f"TFLite encoder differs from Keras: |features diff| {worst_features:.3g}")
    expected = [captioner.vocabulary.decode(row) for row in keras_tokens]
    if captions != expected:
        raise tflite.TFLiteExportError(f"the TFLite mobile loop captions {captions} differ from Keras {expected}")
    return {"images": len(images), "decoder_steps": steps, "features_max_abs_diff": worst_features,
            "logits_max_abs_diff": worst_logits, "atol": atol, "captions_match": True,
            "encoder_ops": encoder_ops, "decoder_ops": decoder_ops}


def verification_images(captioner, count: int = 3):
    """A few pictures to check the TFLite pair on: rendered shapes (always available offline)."""
    import numpy as np

    from apps.captioning.data import demo_item, resize_image

    rng = np.random.default_rng(0)
    return np.stack([resize_image(demo_item(rng, index).array, captioner.config.image_size).numpy()
                     for index in range(count)])


def export(run_dir, to="saved_models", version=None, with_tflite=True, atol=1e-4) -> dict:
    import json

    from apps.captioning.data import END_ID, START_ID
    from apps.captioning.model import load_run, state_names
    from rnnkit.config import config_to_dict
    from rnnkit.export import savedmodel

    captioner = load_run(run_dir)
    config = captioner.config
    written: dict[str, str] = {}
    with savedmodel.new_version(to, "captioning", version) as (scratch, final):
        build_serving_archive(captioner).write_out(str(scratch), verbose=False)
        weights = captioner.saved.get("encoder_weights_source", {"weights": config.encoder_weights})
        savedmodel.write_extra(scratch, "rnnkit_config.json", {"app": "captioning", "config": config_to_dict(config),
                                                               "encoder_weights_source": weights})
        savedmodel.write_extra(scratch, "vocab.json", {"words": captioner.vocabulary.words})
        if with_tflite:
            encoder_bytes = convert_encoder(captioner)
            decoder_bytes = convert_decoder_step(captioner)
            check = verify_pair(encoder_bytes, decoder_bytes, captioner, verification_images(captioner), atol)
            (scratch / ENCODER_TFLITE).write_bytes(encoder_bytes)
            (scratch / DECODER_TFLITE).write_bytes(decoder_bytes)
            names = state_names(config)
            units, positions = captioner.units, captioner.positions
            meta = {
                "encoder": ENCODER_TFLITE, "decoder_step": DECODER_TFLITE, "signature": "serve",
                "image_size": config.image_size, "grid_shape": list(captioner.grid_shape),
                "encoder_inputs": {"image": [1, config.image_size, config.image_size, 3]},
                "encoder_outputs": {"features": [1, positions, units], **{name: [1, units] for name in names}},
                "decoder_inputs": {"token": [1], "features": [1, positions, units], **{name: [1, units] for name in names}},
                "decoder_outputs": {"logits": [1, len(captioner.vocabulary)], "attention": [1, positions],
                                    **{f"new_{name}": [1, units] for name in names}},
                "states": names, "start_id": START_ID, "end_id": END_ID, "max_length": config.max_length,
                "no_repeat_ngram": config.no_repeat_ngram,
                "encoder_network": config.encoder, "encoder_weights_source": weights,
                "vocabulary": captioner.vocabulary.words, "verification": check,
            }
            (scratch / MOBILE_JSON).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            written["tflite_ops"] = ",".join(sorted(set(check["encoder_ops"]) | set(check["decoder_ops"])))
            written["tflite_check"] = (f"features diff {check['features_max_abs_diff']:.1e}, logits diff "
                                       f"{check['logits_max_abs_diff']:.1e} over {check['decoder_steps']} steps, captions match")
    written["saved_model"] = str(final)
    if with_tflite:
        written["tflite_encoder"] = str(final / ENCODER_TFLITE)
        written["tflite_decoder_step"] = str(final / DECODER_TFLITE)
    return written


def run(args: argparse.Namespace) -> int:
    written = export(args.model, args.to, args.version, with_tflite=args.tflite, atol=args.atol)
    for key, value in written.items():
        print(f"{key}: {value}")
    print("try it:  python -c \"import numpy as np; np.save('photos.npy', np.array([open('photo.jpg', 'rb').read()], "
          "dtype=object))\"")
    print(f"         saved_model_cli run --dir {written['saved_model']} --tag_set serve --signature_def serving_default "
          "--inputs images=photos.npy")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
