"""What raises the sentiment model, each change on its own and combined, on the by-movie validation split.

    python -m bench.sentiment_ablation --data ../shared/data/aclImdb_train.tar.gz --epochs 2

Every variant trains with `rnnkit.training.fit` (as `rnnkit sentiment train` does) for the same
`--epochs` (the cosine schedule spans them), on the same 20,000 training reviews, scored on the
same 5,000 validation reviews of other movies (all reviews of a movie on one side), with the
same vocabulary. The changes, from the settings before issue 17 (`--base`):

  whole reviews      max_length 3000 (every IMDB training review whole) instead of 400 tokens
  LM pretraining     `pretrain_epochs` of forward + backward language modelling on the training
                     reviews (sampled softmax), then fine-tuning; its time is counted
  adversarial        FGM on the embedding table, epsilon as given (a second pass per step)
  pooling            attention + masked mean + masked max instead of attention + masked max
  n-gram branch      NgramBag (words and hashed word pairs) added to the logit, the two joined by
                     DropPath (`--drop-path`; 0 trains them only through their sum)
  combined           the changes together; `--seeds` more runs of the combination with other
                     seeds give the spread between seeds and the accuracy of their averaged
                     probabilities (an ensemble of the seeds)

NBSVM (bench.sentiment_nbsvm) runs first on the same split as the classical reference.
These are cheaper runs than the default `train` (fewer epochs), so compare rows with each other.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The sentiment defaults before issue 17, which the variants change one at a time.
BASE = {"max_length": 400, "pooling": "attention_max", "adversarial": 0.0, "pretrain_epochs": 0, "ngrams": "off"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="demo")
    parser.add_argument("--epochs", type=int, default=2, help="fine-tuning epochs of every variant (default: 2)")
    parser.add_argument("--whole-length", type=int, default=3000, help="max_length of the whole-review variants")
    parser.add_argument("--adversarial", type=float, default=1.0, help="epsilon of the adversarial variants")
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--ngrams", default="pairs", help="ngrams of the n-gram branch variants (pairs or hashed)")
    parser.add_argument("--ngram-buckets", type=int, default=1_000_003, help="ngram_buckets of the hashed n-gram variants")
    parser.add_argument("--ngram-rate", type=float, default=50.0, help="ngram_rate of the n-gram branch variant")
    parser.add_argument("--drop-path", type=float, default=0.5, help="drop_path of the n-gram branch variants")
    parser.add_argument("--seeds", type=int, default=2, help="extra seeds of the combination (default: 2)")
    parser.add_argument("--variants", default="", help="comma-separated subset of the variant names")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="sentiment config overrides for every variant (e.g. max_examples=2000 for a pilot)")
    parser.add_argument("--no-nbsvm", dest="nbsvm", action="store_false")
    return parser.parse_args(argv)


def variants(args) -> dict[str, dict]:
    whole = {"max_length": args.whole_length}
    adversarial = {"adversarial": args.adversarial}
    pretraining = {"pretrain_epochs": args.pretrain_epochs}
    pooling = {"pooling": "attention_mean_max"}
    ngrams = {"ngrams": args.ngrams, "ngram_buckets": args.ngram_buckets, "ngram_rate": args.ngram_rate, "drop_path": args.drop_path}
    table = {
        "base (cut at 400, attention+max)": {},
        "whole reviews": whole,
        "LM pretraining": pretraining,
        f"adversarial (eps {args.adversarial:g})": adversarial,
        "attention+mean+max pooling": pooling,
        "n-gram branch": ngrams,
        "combined: all four": {**whole, **pretraining, **adversarial, **pooling},
        "combined without LM pretraining": {**whole, **adversarial, **pooling},
        "combined + n-gram branch (no LM pretraining)": {**whole, **adversarial, **pooling, **ngrams},
    }
    for seed in range(1, args.seeds + 1):
        table[f"combined without LM pretraining, seed +{seed}"] = {**whole, **adversarial, **pooling, "seed_offset": seed}
    if args.variants:
        wanted = [name.strip() for name in args.variants.split(",")]
        table = {name: value for name, value in table.items() if any(name.startswith(w) for w in wanted)}
    return table


def main(argv=None) -> int:
    args = parse_args(argv)
    import keras
    import numpy as np

    from apps.sentiment.config import SentimentConfig
    from apps.sentiment.data import (
        adapt_vectorizer,
        bucket_plan,
        encode,
        load_reviews,
        make_dataset,
        steps_per_epoch,
    )
    from apps.sentiment.evaluate import roc_auc
    from apps.sentiment.model import (
        build_model,
        classifier_of,
        compile_model,
        predict_probabilities,
        training_model,
        training_pairs,
    )
    from apps.sentiment.pretrain import apply_pretrained, pretrain
    from bench.common import machine, peak_rss_mib, print_table, save_result
    from rnnkit.config import load_config
    from rnnkit.training import fit

    base = dataclasses.replace(load_config(SentimentConfig, overrides=args.overrides), **BASE,
                               epochs=args.epochs, patience=0)
    reviews = load_reviews(args.data, base.val_fraction, base.split_seed, base.max_examples)
    print(reviews.describe(), flush=True)
    rows, probabilities = [], {}
    if args.nbsvm:
        from bench.sentiment_nbsvm import evaluate_nbsvm

        result = evaluate_nbsvm(reviews, ngram_range=(1, 2))
        rows.append({"variant": "NBSVM uni+bigrams (scikit-learn)", "val_accuracy": f"{result['accuracy']:.4f}",
                     "val_auc": f"{result['roc_auc']:.4f}", "train_s": f"{result['fit_seconds']:.0f}"})
        print(rows[-1], flush=True)
    vectorizer = adapt_vectorizer(reviews.train.texts, base.vocab_size)
    vocab_size = len(vectorizer.get_vocabulary())
    encoded: dict[int, tuple] = {}
    scratch = tempfile.mkdtemp(prefix="bench-sentiment-ablation-")
    for index, (name, change) in enumerate(variants(args).items()):
        change = dict(change)
        seed = base.seed + change.pop("seed_offset", 0)
        config = dataclasses.replace(base, **change, seed=seed)
        if config.max_length not in encoded:
            train_ids, train_lengths = encode(vectorizer, reviews.train.texts, config.max_length, config.truncate)
            val_ids, _ = encode(vectorizer, reviews.val.texts, config.max_length, config.truncate)
            encoded[config.max_length] = (train_ids, train_lengths, val_ids)
        train_ids, train_lengths, val_ids = encoded[config.max_length]
        plan = bucket_plan(train_lengths, config)
        keras.utils.set_random_seed(seed)
        started = time.perf_counter()
        pretrained, pretrain_seconds = None, 0.0
        if config.pretrain_epochs:
            pretrained, report = pretrain(train_ids, vocab_size, config, plan)
            pretrain_seconds = report["seconds"]
        steps = steps_per_epoch(train_lengths, config, plan)

        pair_keys = training_pairs(config, train_ids, vocab_size)

        def build(config=config, pretrained=pretrained, steps=steps, pair_keys=pair_keys):
            classifier = build_model(config, vocab_size, pair_keys)
            if pretrained is not None:
                apply_pretrained(classifier, pretrained)
            return compile_model(training_model(config, classifier), config, steps)

        print(f"\n== {name}: {change or 'no change'}, seed {seed}; {plan.describe()}", flush=True)
        result = fit(build, make_dataset(train_ids, reviews.train.labels, config, plan=plan, shuffle=True),
                     make_dataset(val_ids, reviews.val.labels, config, plan=plan),
                     os.path.join(scratch, f"variant{index}"), epochs=config.epochs, monitor="val_accuracy", mode="max",
                     verbose=2)
        seconds = time.perf_counter() - started
        scores = predict_probabilities(classifier_of(result.model), val_ids)
        probabilities[name] = scores
        history = result.history
        rows.append({"variant": name, "val_accuracy": f"{np.mean((scores >= 0.5) == reviews.val.labels):.4f}",
                     "val_auc": f"{roc_auc(reviews.val.labels, scores):.4f}",
                     "best_epoch_acc": f"{max(row['val_accuracy'] for row in history):.4f}",
                     "train_s": f"{seconds:.0f}", "pretrain_s": f"{pretrain_seconds:.0f}" if pretrain_seconds else "",
                     "epoch_s": "/".join(f"{row['seconds']:.0f}" for row in history)})
        print(rows[-1], flush=True)
        keras.backend.clear_session()

    seeded = [name for name in probabilities if name.startswith("combined without LM pretraining")]
    if len(seeded) > 1:
        labels = reviews.val.labels
        accuracies = [float(np.mean((probabilities[name] >= 0.5) == labels)) for name in seeded]
        mean = np.mean([probabilities[name] for name in seeded], axis=0)
        rows.append({"variant": f"combined without LM pretraining: {len(seeded)} seeds, mean (std) of their accuracies",
                     "val_accuracy": f"{np.mean(accuracies):.4f} ({np.std(accuracies):.4f})"})
        rows.append({"variant": f"combined without LM pretraining: {len(seeded)} seeds' probabilities averaged",
                     "val_accuracy": f"{np.mean((mean >= 0.5) == labels):.4f}", "val_auc": f"{roc_auc(labels, mean):.4f}"})
    print(f"\n{machine()}; data {args.data}; {len(reviews.train)} training / {len(reviews.val)} validation reviews; "
          f"{reviews.split_description()}; {args.epochs} epochs per variant")
    columns = ["variant", "val_accuracy", "val_auc", "best_epoch_acc", "train_s", "pretrain_s", "epoch_s"]
    print_table(rows, columns)
    print(f"peak memory {peak_rss_mib():.0f} MiB")
    save_result("sentiment_ablation", {
        "command": "python -m bench.sentiment_ablation " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(), "split": reviews.split_description(), "rows": rows,
        "base": dataclasses.asdict(base),
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
