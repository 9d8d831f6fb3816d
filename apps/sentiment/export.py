"""Export a sentiment run for TF Serving and for TFLite.

Writes `<to>/sentiment/<version>/`:
  saved_model.pb, variables/     signatures (raw review strings in; TextVectorization is inside):
      serving_default(text: string[batch]) -> probability float32[batch], label string[batch], label_id int32[batch]
      explain(text: string[batch])         -> the same + tokens string[batch, time], attention float32[batch, time]
  assets.extra/rnnkit_config.json, vocab.txt
  sentiment.tflite               ids int32[1, n] (any n >= 1) -> probability float32[1], attention float32[1, n]
  sentiment_vocab.txt            line i is token id i (0 padding, 1 [UNK]): the tokenizer stays in the app
  sentiment_tflite.json          tokenizer rules, max_length, verification against Keras, quantization report
  sentiment_float16.tflite, sentiment_int8.tflite, sentiment_dynamic.tflite   with --quantize

The TFLite model uses builtin ops only; it is checked against the Keras model
on reviews of many lengths before it is written, and each quantized variant's
accuracy is compared with the float model's on held-out reviews.
"""

from __future__ import annotations

import argparse
import sys

from rnnkit import cli

HELP = ("Export a trained run: a TF Serving SavedModel that takes raw review text, and a verified builtin-only "
        "TFLite model (optionally float16 / int8 / dynamic-range quantized, with the accuracy change reported).")

TFLITE_NAME = "sentiment.tflite"
VOCAB_NAME = "sentiment_vocab.txt"
META_NAME = "sentiment_tflite.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_export_arguments(parser)
    parser.add_argument("--quantize", default="", metavar="KINDS",
                        help="comma-separated extra TFLite variants: float16, int8, dynamic (default: none)")
    parser.add_argument("--data", default=None, metavar="SOURCE",
                        help="reviews for verification, int8 calibration and the quantization accuracy report "
                             "(default: the run's own data source, validation split)")
    parser.add_argument("--eval-reviews", type=int, default=500,
                        help="held-out reviews on which quantized accuracy is compared (default: 500)")
    parser.add_argument("--atol", type=float, default=1e-4,
                        help="largest allowed |TFLite - Keras| probability difference (default: 1e-4)")


def build_serving_archive(model, vocabulary: list[str], config):
    """An ExportArchive whose endpoints take raw review strings."""
    import keras
    import tensorflow as tf

    from apps.sentiment.data import CLASS_NAMES, make_vectorizer, standardize, truncate_ids
    from apps.sentiment.model import explaining_model

    vectorizer = make_vectorizer(config.vocab_size, vocabulary)
    vectorizer(tf.constant(["built before tracking"]))
    with_attention = config.pooling != "mean_max"
    explainer = explaining_model(model) if with_attention else None
    class_names = tf.constant(CLASS_NAMES)

    def ids_of(text):
        ids = tf.cast(truncate_ids(vectorizer(text), config.max_length, config.truncate), tf.int32).to_tensor(0)
        # Keep one (masked) step even when every review in the batch is empty.
        return tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])

    def labelled(probability):
        label_id = tf.cast(probability >= 0.5, tf.int32)
        return {"probability": probability, "label": tf.gather(class_names, label_id), "label_id": label_id}

    def serve(text):
        return labelled(tf.reshape(model(ids_of(text), training=False), [-1]))

    def explain(text):
        ids = ids_of(text)
        words = truncate_ids(tf.strings.split(standardize(text)), config.max_length, config.truncate).to_tensor("")
        words = tf.pad(words, [[0, 0], [0, tf.shape(ids)[1] - tf.shape(words)[1]]])
        probability, attention = explainer(ids, training=False)
        return {**labelled(probability), "tokens": words, "attention": attention}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(vectorizer)
    spec = [tf.TensorSpec((None,), tf.string, name="text")]
    archive.add_endpoint("serving_default", serve, input_signature=spec)
    if with_attention:
        archive.track(explainer)
        archive.add_endpoint("explain", explain, input_signature=spec)
    return archive


def tflite_reference(model, config):
    """The function TFLite is converted from: ids [1, n] -> probability [1] (+ attention [1, n])."""
    import tensorflow as tf

    from apps.sentiment.model import explaining_model

    if config.pooling == "mean_max":
        return lambda ids: {"probability": tf.reshape(model(ids, training=False), [-1])}, [model]
    explainer = explaining_model(model)

    def function(ids):
        probability, attention = explainer(ids, training=False)
        return {"probability": probability, "attention": attention}

    return function, [explainer]


def convert(model, config, quantization: str = "none", representative=None) -> bytes:
    import tensorflow as tf

    from rnnkit.export import tflite

    function, track = tflite_reference(model, config)
    spec = [tf.TensorSpec((1, None), tf.int32, name="ids")]
    return tflite.convert_function(function, spec, track=track, quantization=quantization,
                                   representative_dataset=representative)


def sample_ids(config, vocabulary, source, count: int, seed: int = 0, trained_on: str | None = None):
    """Id rows of real reviews when the source loads, else random ids of varied lengths.

    From the run's own training source (`trained_on`, default `source`) they are its held-out
    validation reviews; from another source, a random sample of all its reviews (the run's split
    means nothing there).
    """
    import numpy as np

    from apps.sentiment.data import ReviewSet, Tokenizer, load_reviews, read_source, same_source

    if source:
        try:
            if same_source(source, trained_on or source):
                held_out = load_reviews(source, config.val_fraction, config.split_seed, config.max_examples).val
            else:
                splits, _ = read_source(source)
                parts = list(splits.values())
                held_out = ReviewSet([t for part in parts for t in part.texts], np.concatenate([p.labels for p in parts]))
        except (ValueError, FileNotFoundError) as error:
            print(f"note: cannot read {source} ({error}); verifying on random ids instead", file=sys.stderr)
        else:
            tokenizer = Tokenizer(vocabulary, config.max_length, config.truncate)
            chosen = np.random.default_rng(seed).permutation(len(held_out))[:count]
            rows = [tokenizer(held_out.texts[i]) for i in chosen]
            return [row if len(row) else np.zeros(1, np.int32) for row in rows], held_out.labels[chosen], source
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([[1, 2, config.max_length], rng.integers(1, config.max_length + 1, max(0, count - 3))])
    rows = [rng.integers(1, len(vocabulary), size=int(n)).astype(np.int32) for n in lengths[:count]]
    return rows, None, None


def run_tflite(model_bytes, rows):
    import numpy as np

    from rnnkit.export import tflite

    runner = tflite.signature_runner(model_bytes, "serve")
    return np.asarray([float(runner(ids=row[None, :])["probability"][0]) for row in rows], np.float32)


def export(run_dir, to="saved_models", version=None, with_tflite=True, quantize=(), data=None, eval_reviews=500,
           atol=1e-4, verify_reviews=24) -> dict:
    import json

    import numpy as np

    from apps.sentiment.data import CLASS_NAMES, save_vocabulary
    from apps.sentiment.model import compiled_call, load_run, predict_probabilities
    from rnnkit.config import config_to_dict
    from rnnkit.export import savedmodel, tflite

    unknown = sorted(set(quantize) - {"float16", "int8", "dynamic"})
    if unknown:
        raise ValueError(f"--quantize {','.join(unknown)}: choose from float16, int8, dynamic")
    model, vocabulary, config, run_source = load_run(run_dir)
    source = data or run_source
    written: dict[str, str] = {}
    with savedmodel.new_version(to, "sentiment", version) as (scratch, final):
        build_serving_archive(model, vocabulary, config).write_out(str(scratch), verbose=False)
        savedmodel.write_extra(scratch, "rnnkit_config.json", {"app": "sentiment", "config": config_to_dict(config)})
        savedmodel.write_extra(scratch, "vocab.txt", "\n".join(vocabulary) + "\n")
        if with_tflite:
            float_bytes = convert(model, config)
            rows, labels, used = sample_ids(config, vocabulary, source, max(verify_reviews, eval_reviews if quantize else 0),
                                            trained_on=run_source)
            reference, _ = tflite_reference(model, config)
            keras_call = compiled_call(model)
            check = tflite.verify(
                float_bytes,
                lambda ids: {key: np.asarray(value) for key, value in reference(ids).items()},
                ({"ids": row[None, :]} for row in rows[:verify_reviews]),
                signature_key="serve",
                atol=atol,
            )
            (scratch / TFLITE_NAME).write_bytes(float_bytes)
            save_vocabulary(vocabulary, scratch / VOCAB_NAME)
            report = quantization_report(model, config, float_bytes, quantize, rows, labels, used, scratch,
                                         predict_probabilities, keras_call)
            meta = {
                "signature": "serve",
                "inputs": {"ids": "int32[1, n], n >= 1: token ids of one review; an empty review is [0]"},
                "outputs": {"probability": "float32[1]: P(positive)",
                            **({"attention": "float32[1, n]"} if config.pooling != "mean_max" else {})},
                "classes": list(CLASS_NAMES),
                "tokenizer": {
                    "vocabulary": VOCAB_NAME, "padding_id": 0, "unknown_id": 1,
                    "steps": ["lowercase", "replace <br /> (and <br>, <br/>) with a space",
                              "put spaces around ! and ?", "replace every run of characters other than letters, "
                              "digits, ' ! ? with a space", "drop apostrophes at the start or end of a word",
                              "split on whitespace"],
                    "max_length": config.max_length, "truncate": config.truncate,
                    "truncate_rule": "a longer review keeps its first max_length tokens (head), its last (tail), "
                                     "or its first max_length//4 and last max_length - max_length//4 (head_tail)",
                },
                "verification": check.as_dict(),
                "quantization": report,
            }
            (scratch / META_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            written["tflite_ops"] = ",".join(check.ops)
            written["tflite_max_abs_diff"] = f"{check.max_abs_diff:.2e} over {check.cases} reviews"
            for kind, row in report.items():
                if isinstance(row, dict) and "accuracy_change" in row:
                    written[f"tflite_{kind}"] = (f"{row['file']}: {row['size_bytes'] / 1e6:.2f} MB, accuracy "
                                                 f"{row['accuracy']:.4f} ({row['accuracy_change']:+.4f} vs float32)")
    written["saved_model"] = str(final)
    if with_tflite:
        written["tflite"] = str(final / TFLITE_NAME)
        written["vocabulary"] = str(final / VOCAB_NAME)
    return written


def quantization_report(model, config, float_bytes, kinds, rows, labels, source, folder, predict_probabilities,
                        keras_call):
    """Size, accuracy and drift of each TFLite variant on the same held-out reviews."""
    import numpy as np

    from rnnkit.export import tflite

    report = {"float32": {"file": TFLITE_NAME, "size_bytes": len(float_bytes)}}
    if not kinds:
        return report
    if labels is None:
        print("note: no labelled reviews to compare quantized accuracy on (demo ids only); reporting drift only",
              file=sys.stderr)

    def representative():
        for row in rows[: min(100, len(rows))]:
            yield {"ids": row[None, :]}

    keras_probabilities = predict_probabilities(model, rows)
    float_probabilities = run_tflite(float_bytes, rows)

    def summary(probabilities):
        row = {"max_abs_diff_vs_keras": float(np.max(np.abs(probabilities - keras_probabilities))),
               "reviews": len(rows), "data": source}
        if labels is not None:
            row["accuracy"] = float(np.mean((probabilities >= 0.5) == labels))
        return row

    report["float32"].update(summary(float_probabilities))
    if labels is not None:
        report["keras_accuracy"] = float(np.mean((keras_probabilities >= 0.5) == labels))
    for kind in kinds:
        content = convert(model, config, kind, representative if kind == "int8" else None)
        tflite.check_builtin_only(content)
        name = f"sentiment_{kind}.tflite"
        (folder / name).write_bytes(content)
        row = {"file": name, "size_bytes": len(content), **summary(run_tflite(content, rows))}
        if labels is not None:
            row["accuracy_change"] = row["accuracy"] - report["float32"]["accuracy"]
        report[kind] = row
    return report


def run(args: argparse.Namespace) -> int:
    kinds = tuple(kind.strip() for kind in args.quantize.split(",") if kind.strip())
    if kinds and not args.tflite:
        raise ValueError("--quantize makes TFLite variants; drop --no-tflite")
    written = export(args.model, args.to, args.version, with_tflite=args.tflite, quantize=kinds, data=args.data,
                     eval_reviews=args.eval_reviews, atol=args.atol)
    for key, value in written.items():
        print(f"{key}: {value}")
    print(f"try it:  saved_model_cli run --dir {written['saved_model']} --tag_set serve --signature_def serving_default "
          f"--input_exprs 'text=[\"A wonderful, moving film.\", \"Dull and far too long.\"]'")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
