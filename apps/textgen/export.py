"""Export a textgen run for TF Serving and for TFLite.

Writes `<to>/textgen/<version>/`:
  saved_model.pb, variables/     signatures:
     serving_default(prime: string[batch], length: int32, temperature: float32)
     generate(prime, length, temperature, top_k: int32, top_p: float32, seed: int64)
     -> {"continuation": string[batch], "text": string[batch]}
  assets.extra/rnnkit_config.json, vocab.json
  textgen_step.tflite            one step: token int32[1] + states float32[1, units] -> logits + states
  textgen_step.json              the step model's inputs, outputs and vocabulary, for the mobile app

The whole generation loop (prime reading, sampling, text assembly) runs in
the serving graph, so a client sends a prime string and gets text back.
"""

from __future__ import annotations

import argparse
import sys

from rnnkit import cli

HELP = "Export a trained run as a TF Serving SavedModel and a verified builtin-only TFLite step model."

TFLITE_NAME = "textgen_step.tflite"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_export_arguments(parser)
    parser.add_argument("--verify-steps", type=int, default=200, help="steps over which the TFLite logits must match Keras (default: 200)")
    parser.add_argument("--atol", type=float, default=1e-4, help="largest allowed |TFLite - Keras| logit difference (default: 1e-4)")


def build_serving_archive(generator):
    """An ExportArchive whose endpoints run the whole sampling loop."""
    import keras
    import tensorflow as tf

    vocabulary = generator.vocabulary
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocabulary.chars, tf.string), tf.range(len(vocabulary), dtype=tf.int32)
        ),
        default_value=-1,
    )
    chars = tf.constant(vocabulary.chars, tf.string)
    start_id = vocabulary.start_id

    def generate(prime, length, temperature, top_k, top_p, seed):
        pieces = tf.strings.unicode_split(prime, "UTF-8")
        ids = tf.ragged.map_flat_values(table.lookup, pieces)
        ids = tf.ragged.boolean_mask(ids, ids >= 0)  # characters outside the vocabulary are skipped
        lengths = tf.maximum(tf.cast(ids.row_lengths(), tf.int32), 1)  # an empty prime starts from start_id
        width = tf.reduce_max(tf.concat([lengths, [1]], axis=0))
        dense = ids.to_tensor(default_value=start_id)
        dense = tf.pad(dense, [[0, 0], [0, width - tf.shape(dense)[1]]], constant_values=start_id)
        mask = tf.sequence_mask(lengths, width)
        last, states = generator._prime(dense, mask)
        new_ids, _ = generator._generate_chunk(last, states, length, temperature, top_k, top_p, seed, tf.constant(0, tf.int64))
        continuation = tf.strings.reduce_join(tf.gather(chars, new_ids), axis=1)
        return {"continuation": continuation, "text": prime + continuation}

    archive = keras.export.ExportArchive()
    archive.track(generator.step_model)
    archive.track(generator.prime_model)
    archive.track(table)
    prime_spec = tf.TensorSpec((None,), tf.string, name="prime")
    length_spec = tf.TensorSpec((), tf.int32, name="length")
    temperature_spec = tf.TensorSpec((), tf.float32, name="temperature")

    def serving_default(prime, length, temperature):
        seed = tf.random.uniform((), maxval=2**31 - 1, dtype=tf.int64)
        return generate(prime, length, temperature, tf.constant(0), tf.constant(1.0), seed)

    archive.add_endpoint("serving_default", serving_default, input_signature=[prime_spec, length_spec, temperature_spec])
    archive.add_endpoint(
        "generate",
        generate,
        input_signature=[prime_spec, length_spec, temperature_spec, tf.TensorSpec((), tf.int32, name="top_k"),
                         tf.TensorSpec((), tf.float32, name="top_p"), tf.TensorSpec((), tf.int64, name="seed")],
    )
    return archive


def convert_step_model(generator) -> bytes:
    """The one-step model at batch 1 as a builtin-only TFLite flatbuffer."""
    import tensorflow as tf

    from apps.textgen.model import state_names, state_units
    from rnnkit.export import tflite

    names = state_names(generator.model)
    signature = [tf.TensorSpec((1,), tf.int32, name="token")] + [
        tf.TensorSpec((1, units), tf.float32, name=name) for name, units in zip(names, state_units(generator.model), strict=True)
    ]

    def step(token, *states):
        logits, *new_states = generator.step_model([token, *states], training=False)
        return {"logits": logits, **{f"new_{name}": state for name, state in zip(names, new_states, strict=True)}}

    return tflite.convert_function(step, signature, track=[generator.step_model])


def verify_step_model(model_bytes, generator, steps: int = 200, atol: float = 1e-4, seed: int = 0):
    """Walk `steps` characters through TFLite and Keras, each carrying its own state.

    Both are fed the same character ids (drawn from the vocabulary), so any
    drift in the recurrent state shows up in the logits. Raises on a mismatch.
    """
    import numpy as np

    from apps.textgen.model import state_names, zero_states
    from rnnkit.export import tflite

    ops = tflite.check_builtin_only(model_bytes)
    runner = tflite.signature_runner(model_bytes, "serve")
    names = state_names(generator.model)
    keras_states = zero_states(generator.model)
    lite_states = [state.copy() for state in keras_states]
    tokens = np.random.default_rng(seed).integers(0, len(generator.vocabulary), size=steps).astype(np.int32)
    worst = 0.0
    for index, token in enumerate(tokens):
        token = np.asarray([token], np.int32)
        keras_out = generator.step_model([token, *keras_states], training=False)
        keras_logits = np.asarray(keras_out[0])
        keras_states = [np.asarray(state) for state in keras_out[1:]]
        lite_out = runner(token=token, **dict(zip(names, lite_states, strict=True)))
        lite_states = [lite_out[f"new_{name}"] for name in names]
        worst = max(worst, float(np.max(np.abs(lite_out["logits"] - keras_logits))))
        if worst > atol:
            raise tflite.TFLiteExportError(
                f"TFLite step model drifts from Keras: |logits diff| {worst:.3g} > {atol:g} at step {index + 1}")
    return tflite.Verification(cases=steps, max_abs_diff=worst, atol=atol, ops=ops)


def export(run_dir, to="saved_models", version=None, with_tflite=True, verify_steps=200, atol=1e-4) -> dict:
    import json

    from apps.textgen.model import Generator, load_run_model, state_names, state_units
    from rnnkit.config import config_to_dict
    from rnnkit.export import savedmodel

    model, vocabulary, config = load_run_model(run_dir)
    generator = Generator(model, vocabulary)
    written: dict[str, str] = {}
    with savedmodel.new_version(to, "textgen", version) as (scratch, final):
        build_serving_archive(generator).write_out(str(scratch), verbose=False)
        savedmodel.write_extra(scratch, "rnnkit_config.json", {"app": "textgen", "config": config_to_dict(config)})
        savedmodel.write_extra(scratch, "vocab.json", json.loads(vocabulary.to_json()))
        if with_tflite:
            step_bytes = convert_step_model(generator)
            check = verify_step_model(step_bytes, generator, steps=verify_steps, atol=atol)
            (scratch / TFLITE_NAME).write_bytes(step_bytes)
            names = state_names(model)
            (scratch / "textgen_step.json").write_text(json.dumps({
                "signature": "serve",
                "inputs": {"token": [1], **{name: [1, units] for name, units in zip(names, state_units(model), strict=True)}},
                "outputs": {"logits": [1, len(vocabulary)], **{f"new_{name}": [1, units] for name, units in zip(names, state_units(model), strict=True)}},
                "vocabulary": vocabulary.chars,
                "start_id": vocabulary.start_id,
                "verification": check.as_dict(),
            }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written["tflite_ops"] = ",".join(check.ops)
            written["tflite_max_abs_diff"] = f"{check.max_abs_diff:.2e} over {check.cases} steps"
    written["saved_model"] = str(final)
    if with_tflite:
        written["tflite"] = str(final / TFLITE_NAME)
    return written


def run(args: argparse.Namespace) -> int:
    written = export(args.model, args.to, args.version, with_tflite=args.tflite,
                     verify_steps=args.verify_steps, atol=args.atol)
    for key, value in written.items():
        print(f"{key}: {value}")
    print(f"try it:  saved_model_cli run --dir {written['saved_model']} --tag_set serve --signature_def serving_default "
          f"--input_exprs 'prime=[\"The \"];length=200;temperature=0.8'")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))


