"""NBSVM (Wang & Manning 2012) on the sentiment app's own split: the classical peer of the RNN.

    python -m bench.sentiment_nbsvm --data ../shared/data/aclImdb_train.tar.gz

Word uni+bigrams, binarized; each feature scaled by its naive-Bayes log-count ratio
r = log((p / |p|_1) / (q / |q|_1)) with p, q the smoothed (alpha = 1) feature counts of the positive
and negative training reviews; an L2-regularized squared-hinge linear SVM (liblinear, C = 1) on the
scaled features; then the paper's interpolation w' = (1 - beta) * mean|w| + beta * w with beta = 0.25.
The paper reports 0.9122 on the IMDB test set with all 25,000 training reviews (uni+bigrams).

With `--with-run RUN`, a trained sentiment run is scored on the same validation reviews and the two
are averaged (each model's logit divided by its own spread over the validation reviews, no labels
used: Mesnil et al. 2014 ensembled an RNN language model with NBSVM the same way). Given several
times (`--with-run A --with-run B`, e.g. two seeds of the default), the runs are also averaged with
each other the same way, and that average with NBSVM.

With `--bag-features`, NBSVM is also fitted on the features the model's n-gram bag sees (the app's
vocabulary ids and their word pairs: every pair, the pairs of at least 2 or 3 training reviews, or
every pair hashed into 1,000,003 / 4,000,037 rows as `ngrams=hashed` does): what the bag's choice of
pair rows costs a linear model, measured without training a network.

The reviews, the by-movie validation split and the tokens (`apps.sentiment.data.python_words`, the
same words the RNN reads) are the app's, so the two are scored on exactly the same reviews.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class NBSVM:
    """Binarized n-gram counts -> naive-Bayes log-count ratios -> interpolated linear SVM."""

    def __init__(self, ngram_range=(1, 2), alpha: float = 1.0, C: float = 1.0, beta: float = 0.25,
                 max_iter: int = 10_000):
        self.ngram_range, self.alpha, self.C, self.beta, self.max_iter = ngram_range, alpha, C, beta, max_iter

    def _features(self, texts, fit: bool = False):
        if fit:
            from sklearn.feature_extraction.text import CountVectorizer

            from apps.sentiment.data import python_words

            self.vectorizer = CountVectorizer(tokenizer=python_words, lowercase=False, token_pattern=None,
                                              ngram_range=self.ngram_range, binary=True, dtype="float32")
            return self.vectorizer.fit_transform(texts)
        return self.vectorizer.transform(texts)

    def fit(self, texts, labels):
        return self.fit_counts(self._features(texts, fit=True), labels)

    def fit_counts(self, counts, labels):
        """Fit on a [reviews, features] sparse matrix of binarized counts."""
        import numpy as np
        from sklearn.svm import LinearSVC

        labels = np.asarray(labels)
        p = self.alpha + np.asarray(counts[labels == 1].sum(axis=0)).ravel()
        q = self.alpha + np.asarray(counts[labels == 0].sum(axis=0)).ravel()
        self.ratio = (np.log(p / p.sum()) - np.log(q / q.sum())).astype(np.float32)
        svm = LinearSVC(C=self.C, loss="squared_hinge", penalty="l2", dual=True, max_iter=self.max_iter)
        svm.fit(counts.multiply(self.ratio).tocsr(), labels)
        weights = svm.coef_.ravel()
        self.weights = (1 - self.beta) * np.abs(weights).mean() + self.beta * weights
        self.bias = float(svm.intercept_[0])
        return self

    def decision_function(self, texts):
        return self.decision_counts(self._features(texts))

    def decision_counts(self, counts):
        return counts.multiply(self.ratio).tocsr() @ self.weights + self.bias

    @property
    def feature_count(self) -> int:
        return len(self.ratio)


def evaluate_nbsvm(reviews, **options) -> dict:
    """Fit on reviews.train, score reviews.val; accuracy, ROC AUC and seconds."""
    import numpy as np

    from apps.sentiment.evaluate import roc_auc

    started = time.perf_counter()
    model = NBSVM(**options).fit(reviews.train.texts, reviews.train.labels)
    fitted = time.perf_counter() - started
    scores = model.decision_function(reviews.val.texts)
    return {"accuracy": float(np.mean((scores > 0) == reviews.val.labels)), "roc_auc": roc_auc(reviews.val.labels, scores),
            "features": model.feature_count, "fit_seconds": round(fitted, 1),
            "seconds": round(time.perf_counter() - started, 1), "scores": scores}


def bag_feature_rows(reviews) -> list[dict]:
    """NBSVM on the n-gram bag's features: vocabulary ids plus exact, pruned or hashed id pairs."""
    import numpy as np
    import scipy.sparse as sparse

    from apps.sentiment.config import SentimentConfig
    from apps.sentiment.data import adapt_vectorizer, encode
    from apps.sentiment.evaluate import roc_auc
    from rnnkit.layers import frequent_pairs
    from rnnkit.layers.ngram_bag import neighbour_pairs

    config = SentimentConfig()
    vectorizer = adapt_vectorizer(reviews.train.texts, config.vocab_size)
    vocab = len(vectorizer.get_vocabulary())
    train_ids, _ = encode(vectorizer, reviews.train.texts, config.max_length, config.truncate)
    val_ids, _ = encode(vectorizer, reviews.val.texts, config.max_length, config.truncate)

    def matrix(ids, pair_column, columns):
        """[reviews, words + pair columns] of 1s: each id, and each pair that `pair_column` gives a column."""
        words, texts = ids.flat_values.numpy(), ids.value_rowids().numpy()
        pair_texts, keys = neighbour_pairs(ids, vocab)
        column, known = pair_column(keys)
        rows = np.concatenate([texts, pair_texts[known]])
        cols = np.concatenate([words, vocab + column[known]])
        return sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(int(ids.nrows()), vocab + columns))

    def exact(min_reviews):
        kept = frequent_pairs(train_ids, vocab, min_reviews)

        def column(keys):
            position = np.minimum(np.searchsorted(kept, keys), len(kept) - 1)
            return position, kept[position] == keys
        return column, len(kept)

    def hashed(buckets):
        return (lambda keys: (keys % buckets, np.ones(len(keys), bool))), buckets

    rows = []
    for name, (column, columns) in (("every pair", exact(1)), ("pairs of >= 2 reviews (ngrams=pairs)", exact(2)),
                                    ("pairs of >= 3 reviews", exact(3)), ("hashed, 1,000,003 rows", hashed(1_000_003)),
                                    ("hashed, 4,000,037 rows", hashed(4_000_037))):
        started = time.perf_counter()
        train, val = matrix(train_ids, column, columns), matrix(val_ids, column, columns)
        used = np.unique(train.indices)  # columns no training review has carry nothing
        model = NBSVM().fit_counts(train[:, used], reviews.train.labels)
        scores = model.decision_counts(val[:, used])
        rows.append({"model": f"NBSVM on the bag's features: {vocab} ids + {name}",
                     "val_accuracy": f"{np.mean((scores > 0) == np.asarray(reviews.val.labels)):.4f}",
                     "val_auc": f"{roc_auc(reviews.val.labels, scores):.4f}", "features": len(used),
                     "seconds": round(time.perf_counter() - started, 1)})
        print(rows[-1], flush=True)
    return rows


def ensemble_rows(run_dirs, reviews, nbsvm_scores, val_fraction: float, seed: int) -> list[dict]:
    """Each run alone, the runs averaged (with several) and averaged with NBSVM (logits scaled to unit spread), on reviews.val."""
    import numpy as np

    from apps.sentiment.config import SentimentConfig
    from apps.sentiment.evaluate import roc_auc
    from apps.sentiment.predict import predict_with_run
    from rnnkit.config import read_saved_config
    from rnnkit.training import RunDir

    labels = np.asarray(reviews.val.labels)
    scaled = []
    rows = []

    def row(name, scores):
        rows.append({"model": name, "val_accuracy": f"{np.mean((scores > 0) == labels):.4f}",
                     "val_auc": f"{roc_auc(labels, scores):.4f}", "features": "", "seconds": ""})
        print(rows[-1], flush=True)

    for run_dir in run_dirs:
        config = read_saved_config(SentimentConfig, RunDir(Path(run_dir)).config_path)
        if (config.val_fraction, config.split_seed, config.max_examples) != (val_fraction, seed, 0):
            raise SystemExit(f"--with-run {run_dir}: trained with val_fraction {config.val_fraction}, split_seed "
                             f"{config.split_seed}, max_examples {config.max_examples}; NBSVM splits with --val-fraction "
                             f"{val_fraction} --seed {seed} and every review, and both must score the same validation reviews")
        predictions = predict_with_run(Path(run_dir), reviews.val.texts, explain=False)  # what `predict` gives a user
        probabilities = np.clip([item.probability for item in predictions], 1e-7, 1 - 1e-7)
        logits = np.log(probabilities) - np.log1p(-probabilities)
        scaled.append(logits / logits.std())
        row("the run alone" if len(run_dirs) == 1 else f"the run {run_dir} alone", logits)
    runs = np.mean(scaled, axis=0)
    if len(run_dirs) > 1:
        row(f"the {len(run_dirs)} runs, averaged", runs)
    row("the run + NBSVM-bi, averaged" if len(run_dirs) == 1 else f"the {len(run_dirs)} runs + NBSVM-bi, averaged",
        runs / runs.std() + nbsvm_scores / nbsvm_scores.std())
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="demo", help="review source (default: demo)")
    parser.add_argument("--seed", type=int, default=1337, help="split seed (default: the app's split_seed, 1337)")
    parser.add_argument("--val-fraction", type=float, default=0.2)
    parser.add_argument("--with-run", action="append", default=[],
                        help="also score this sentiment run folder and its average with NBSVM-bi (repeat for several "
                             "runs: they are also averaged with each other)")
    parser.add_argument("--bag-features", action="store_true",
                        help="also fit NBSVM on the n-gram bag's features (ids; exact, pruned or hashed pairs)")
    args = parser.parse_args(argv)

    from apps.sentiment.data import load_reviews
    from bench.common import machine, print_table, save_result

    reviews = load_reviews(args.data, args.val_fraction, args.seed)
    print(reviews.describe(), flush=True)
    rows = []
    for name, ngrams in (("NBSVM-uni", (1, 1)), ("NBSVM-bi (uni+bigrams)", (1, 2))):
        result = evaluate_nbsvm(reviews, ngram_range=ngrams)
        rows.append({"model": name, "val_accuracy": f"{result['accuracy']:.4f}", "val_auc": f"{result['roc_auc']:.4f}",
                     "features": result["features"], "seconds": result["seconds"]})
        print(rows[-1], flush=True)
    if args.bag_features:
        rows += bag_feature_rows(reviews)
    if args.with_run:
        rows += ensemble_rows(args.with_run, reviews, result["scores"], args.val_fraction, args.seed)
    print(f"\n{machine()}; data {args.data}; {len(reviews.train)} training / {len(reviews.val)} validation reviews "
          f"({reviews.split_by} split)")
    print_table(rows, ["model", "val_accuracy", "val_auc", "features", "seconds"])
    save_result("sentiment_nbsvm", {"command": "python -m bench.sentiment_nbsvm " + " ".join(sys.argv[1:] if argv is None else argv),
                                    "machine": machine(), "split": reviews.split_description(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
