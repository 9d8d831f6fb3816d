"""Corpus BLEU-1..4 (NLTK's implementation) and the two baselines a captioner must beat."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence

import numpy as np

from apps.captioning.data import CaptionItem, standardize

BLEU_WEIGHTS = [(1.0,), (0.5, 0.5), (1 / 3, 1 / 3, 1 / 3), (0.25, 0.25, 0.25, 0.25)]


def corpus_bleu(references: Sequence[Sequence[str]], hypotheses: Sequence[str]) -> dict[str, float]:
    """BLEU-1..4 of `hypotheses` against every reference caption of the same image.

    Captions are compared as standardized words (lower case, no punctuation),
    with NLTK's corpus_bleu (Papineni et al.'s corpus-level BLEU, no smoothing),
    the usual way captioning papers report it.
    """
    from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(hypotheses)} captions for {len(references)} images")
    if not hypotheses:
        return {f"bleu_{n}": 0.0 for n in range(1, 5)}
    refs = [[standardize(caption) for caption in captions] for captions in references]
    hyps = [standardize(caption) for caption in hypotheses]
    with warnings.catch_warnings():
        # NLTK warns when an n-gram order has no match at all; the score is then 0, which we report.
        warnings.simplefilter("ignore", UserWarning)
        scores = nltk_corpus_bleu(refs, hyps, weights=BLEU_WEIGHTS)
    return {f"bleu_{n}": float(score) for n, score in enumerate(scores, 1)}


def most_frequent_caption(train: Sequence[CaptionItem]) -> str:
    """The training caption given most often (after standardization); ties go to the shorter one."""
    counts = Counter(" ".join(standardize(caption)) for item in train for caption in item.captions)
    return min(counts, key=lambda caption: (-counts[caption], len(caption), caption))


def consensus_caption(captions: Sequence[str]) -> str:
    """Of one image's captions, the one that agrees best (BLEU) with the others."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    if len(captions) == 1:
        return captions[0]
    smooth = SmoothingFunction().method1
    words = [standardize(caption) for caption in captions]
    scores = [sentence_bleu([other for j, other in enumerate(words) if j != i], hyp, smoothing_function=smooth)
              for i, hyp in enumerate(words)]
    return captions[int(np.argmax(scores))]


def nearest_neighbour_captions(train_features: np.ndarray, train: Sequence[CaptionItem], query_features: np.ndarray,
                               exclude: Sequence[str] | None = None) -> list[str]:
    """For each query image, the consensus caption of the most similar training image (cosine).

    `exclude` names each query's own image key, so an image evaluated on a split that
    contains training images is never its own neighbour.
    """
    def unit(x):
        x = np.asarray(x, np.float64)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    similarity = unit(query_features) @ unit(train_features).T
    if exclude is not None:
        position = {item.key: index for index, item in enumerate(train)}
        for row, key in enumerate(exclude):
            if key in position:
                similarity[row, position[key]] = -np.inf
    nearest = np.argmax(similarity, axis=1)
    cache: dict[int, str] = {}
    return [cache.setdefault(int(i), consensus_caption(train[int(i)].captions)) for i in nearest]


BASELINES_FILE = "baselines.npz"


def save_baselines(path, train: Sequence[CaptionItem], features: np.ndarray) -> None:
    """What the baselines need from training, saved in the run folder at training time.

    The most frequent training caption, and per training image its name, its
    consensus caption and its pooled encoder features, so `evaluate` can score a
    source that holds no training images (a test-only folder) with both baselines.
    """
    from rnnkit.io import atomic_path

    if len(train) != len(features):
        raise ValueError(f"{len(features)} feature rows for {len(train)} training images")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, keys=np.asarray([item.key for item in train]),
                     consensus=np.asarray([consensus_caption(item.captions) for item in train]),
                     features=np.asarray(features, np.float32),
                     most_frequent=np.asarray(most_frequent_caption(train)))


def load_baselines(path) -> tuple[str, list[CaptionItem], np.ndarray]:
    """(most frequent caption, training images each with its consensus caption, their features)."""
    with np.load(path) as stored:
        items = [CaptionItem(str(key), [str(caption)]) for key, caption in zip(stored["keys"], stored["consensus"],
                                                                                 strict=True)]
        return str(stored["most_frequent"]), items, stored["features"]
