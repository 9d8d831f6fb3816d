"""Length buckets against padding every batch to its longest review, and against the keras-io recipe.

    python -m bench.sentiment_batching --data ../shared/data/aclImdb_train.tar.gz --epochs 2

Ways of training on the same reviews, the same 80/20 split (by movie) and the same vocabulary:

  buckets        rnnkit: right-padded + masked, 8 length buckets from the length quantiles,
                 batch size scaled per bucket (about constant tokens per batch), the default
                 model trained as `train` does (adversarial pass included; LM pretraining,
                 which does not depend on the batching, left out)
  longest        the same model and data, random batches of 64 each padded to its longest review
  longest-uncut  the same, without the max_length cut (the pipeline people write first:
                 TextVectorization without a length and padded_batch), so the batches pad to
                 reviews of up to 2,500 tokens; left out when max_length already keeps every
                 review whole
  keras-io       keras-io bidirectional_lstm_imdb: the last 200 tokens of each review, left-padded,
                 no mask, 2x BiLSTM-64, batch 32

Each variant trains in one `fit` call with a TensorBoard callback, as `rnnkit sentiment train`
runs it, one variant after the other; a callback records each epoch's wall time and this
process's CPU time (run it on a quiet machine: the CPU times are the check). Epoch 1 also traces
the model, so the table averages the later epochs. The padded-token fraction is counted over one
pass of each training set.

Why the TensorBoard callback: without it, on TF 2.21 / Keras 3.15 on this 2-core CPU, the
bucketed model's epochs after the first ran on one core (80 s wall for 82 s of CPU, against 45 s
wall for the same CPU with it, and 48 s for the first epoch either way); the padded variants
were not affected. `--no-tensorboard` reproduces that.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

KERAS_IO_LENGTH = 200


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="demo", help="review source (default: demo; use the aclImdb archive for real numbers)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per variant (default: 2, as keras-io)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="sentiment config overrides for the rnnkit variants (e.g. max_examples=4000)")
    parser.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                        help="train without the TensorBoard callback (see above)")
    parser.add_argument("--variants", default="buckets,longest,longest-uncut,keras-io", help="which variants to run")
    return parser.parse_args(argv)


def keras_io_model(vocab_size: int):
    import keras

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(vocab_size, 128)(inputs)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64))(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def keras_io_arrays(ids, labels):
    """keras.utils.pad_sequences defaults: keep the last 200 tokens, pad in front."""
    import keras
    import numpy as np

    return keras.utils.pad_sequences(ids.to_list(), maxlen=KERAS_IO_LENGTH), np.asarray(labels, np.float32)


def main(argv=None) -> int:
    args = parse_args(argv)
    import dataclasses

    import keras
    import numpy as np
    import tensorflow as tf

    from apps.sentiment.config import SentimentConfig
    from apps.sentiment.data import (
        adapt_vectorizer,
        bucket_plan,
        encode,
        load_reviews,
        make_dataset,
    )
    from apps.sentiment.data import steps_per_epoch as count_steps
    from apps.sentiment.model import build_model, compile_model, training_model, training_pairs
    from bench.common import machine, peak_rss_mib, print_table, save_result
    from rnnkit.config import load_config
    from rnnkit.data.bucketing import measure_padding

    config = load_config(SentimentConfig, overrides=args.overrides)
    config = dataclasses.replace(config, epochs=args.epochs, patience=0)
    keras.utils.set_random_seed(config.seed)
    reviews = load_reviews(args.data, config.val_fraction, config.split_seed, config.max_examples)
    print(reviews.describe(), flush=True)
    vectorizer = adapt_vectorizer(reviews.train.texts, config.vocab_size)
    vocab_size = len(vectorizer.get_vocabulary())
    train_ids, train_lengths = encode(vectorizer, reviews.train.texts, config.max_length, config.truncate)
    val_ids, _ = encode(vectorizer, reviews.val.texts, config.max_length, config.truncate)
    plan = bucket_plan(train_lengths, config)
    print(plan.describe(), flush=True)

    variants = {}
    names = [item.strip() for item in args.variants.split(",") if item.strip()]
    if "longest-uncut" in names and int(train_lengths.max()) <= config.max_length:
        print(f"longest-uncut left out: no training review is longer than max_length={config.max_length}, "
              "so it is the same as longest", flush=True)
        names.remove("longest-uncut")
    for name in names:
        if name in ("buckets", "longest", "longest-uncut"):
            variant_config = dataclasses.replace(config, batching=name.split("-")[0])
            variant_train, variant_val = train_ids, val_ids
            if name == "longest-uncut":
                variant_config = dataclasses.replace(variant_config, max_length=10**9)
                variant_train, _ = encode(vectorizer, reviews.train.texts, 10**9, "head")
                variant_val, _ = encode(vectorizer, reviews.val.texts, 10**9, "head")
            train = make_dataset(variant_train, reviews.train.labels, variant_config, plan=plan, shuffle=True)
            val = make_dataset(variant_val, reviews.val.labels, variant_config, plan=plan)
            steps = count_steps(variant_train.row_lengths().numpy(), variant_config, plan)
            classifier = build_model(variant_config, vocab_size, training_pairs(variant_config, variant_train, vocab_size))
            model = compile_model(training_model(variant_config, classifier), variant_config, steps)
            fit_args = {"x": train, "validation_data": val}
        elif name == "keras-io":
            # keras-io tokenizes without a length cap, then keeps the last 200 tokens.
            full_train, _ = encode(vectorizer, reviews.train.texts, 10**9, "head")
            full_val, _ = encode(vectorizer, reviews.val.texts, 10**9, "head")
            x_train, y_train = keras_io_arrays(full_train, reviews.train.labels)
            x_val, y_val = keras_io_arrays(full_val, reviews.val.labels)
            train = tf.data.Dataset.from_tensor_slices((x_train, y_train)).batch(32)
            model = keras_io_model(vocab_size)
            fit_args = {"x": x_train, "y": y_train, "batch_size": 32, "validation_data": (x_val, y_val)}
        else:
            raise SystemExit(f"unknown variant {name!r}")
        padding = measure_padding(train.as_numpy_iterator())
        if name == "keras-io":  # left padding: count the zeros in front instead
            real = int(np.count_nonzero(x_train))
            padding.real, padding.padded = real, int(x_train.size - real)
        variants[name] = {"model": model, "fit": fit_args, "padding": padding, "epochs": []}
        print(f"{name}: padded-token fraction {padding.fraction:.1%} over {padding.batches} batches", flush=True)

    class EpochClock(keras.callbacks.Callback):
        """Wall and CPU seconds of each epoch (validation included), printed as it ends."""

        def __init__(self, name, rows):
            super().__init__()
            self.name, self.rows = name, rows

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1, "seconds": time.perf_counter() - self.started[0],
                   "cpu_seconds": time.process_time() - self.started[1], "val_accuracy": float(logs["val_accuracy"])}
            self.rows.append(row)
            print(f"{self.name} epoch {epoch + 1}: {row['seconds']:.0f} s wall, {row['cpu_seconds']:.0f} s CPU, "
                  f"val_accuracy {row['val_accuracy']:.4f}", flush=True)

    logs = tempfile.mkdtemp(prefix="bench-sentiment-logs-")
    for name, variant in variants.items():
        callbacks = [EpochClock(name, variant["epochs"])]
        if args.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=os.path.join(logs, name), write_graph=False))
        variant["model"].fit(**variant["fit"], epochs=args.epochs, verbose=0, callbacks=callbacks,
                             shuffle=name == "keras-io")  # the datasets shuffle themselves
    shutil.rmtree(logs, ignore_errors=True)

    reference = variants.get("longest")
    rows = []
    for name, variant in variants.items():
        epochs = variant["epochs"]
        steady = epochs[1:] or epochs  # the first epoch also traces the model
        seconds = float(np.mean([row["seconds"] for row in steady]))
        cpu = float(np.mean([row["cpu_seconds"] for row in steady]))
        row = {"variant": name, "pad_fraction": f"{variant['padding'].fraction:.3f}",
               "epoch_s": f"{seconds:.0f}", "epoch_cpu_s": f"{cpu:.0f}",
               "val_acc": f"{epochs[-1]['val_accuracy']:.4f}", "best_val_acc": f"{max(r['val_accuracy'] for r in epochs):.4f}"}
        if reference is not None:
            reference_steady = reference["epochs"][1:] or reference["epochs"]
            row["speedup_vs_longest"] = f"{np.mean([r['seconds'] for r in reference_steady]) / seconds:.2f}x"
            row["cpu_speedup_vs_longest"] = f"{np.mean([r['cpu_seconds'] for r in reference_steady]) / cpu:.2f}x"
        rows.append(row)
    print(f"\n{machine()}; data {args.data}; {len(reviews.train)} training / {len(reviews.val)} validation reviews; "
          f"{args.epochs} epochs each (epoch times exclude the first, tracing epoch when there are more)")
    print_table(rows, ["variant", "pad_fraction", "epoch_s", "epoch_cpu_s", "speedup_vs_longest",
                       "cpu_speedup_vs_longest", "val_acc", "best_val_acc"])
    print(f"peak memory {peak_rss_mib():.0f} MiB")
    save_result("sentiment_batching", {
        "command": "python -m bench.sentiment_batching " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(), "plan": plan.as_dict(), "rows": rows,
        "epochs": {name: variant["epochs"] for name, variant in variants.items()},
        "padding": {name: variant["padding"].as_dict() for name, variant in variants.items()},
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
