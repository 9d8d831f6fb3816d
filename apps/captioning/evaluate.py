"""Score a captioning run: corpus BLEU-1..4 against every reference, next to two baselines.

    python -m apps.captioning.evaluate --model runs/flickr --data ../shared/data/flickr8k_subset --split dev --json

Baselines, computed in the same run on the same images:
  most_frequent   the most frequent training caption, given to every image
  nearest         the consensus caption of the training image nearest in the encoder's
                  feature space (cosine of the grid averaged over positions; an image
                  is never its own neighbour)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rnnkit import cli

HELP = "Caption a split with greedy or beam search and report corpus BLEU-1..4 against two baselines."
SPLITS = ("auto", "train", "dev", "val", "test", "all")


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--beam-width", type=int, default=None, help="1 = greedy (default: the config's beam_width)")
    parser.add_argument("--max-length", type=int, default=None, help="most words per caption, with the end token (default: the config's max_length)")
    parser.add_argument("--alpha", type=float, default=None, help="beam-search length penalty exponent (default: the config's length_alpha)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_evaluate_arguments(parser)
    parser.add_argument("--split", choices=SPLITS, default="auto",
                        help="auto: the test split when the source has one, else all images; dev and val are the same")
    add_search_arguments(parser)
    parser.add_argument("--no-baselines", dest="baselines", action="store_false", help="skip the two baselines")
    parser.add_argument("--plots", type=int, default=4, help="attention plots to write for the first N images (default: 4)")


def evaluate(captioner, data: str, split: str = "auto", beam_width=None, max_length=None, alpha=None,
             baselines: bool = True, out_dir: Path | None = None, plots: int = 0) -> dict:
    from apps.captioning.data import load_images, load_source
    from apps.captioning.metrics import (
        corpus_bleu,
        most_frequent_caption,
        nearest_neighbour_captions,
    )
    from rnnkit.io import atomic_write_json

    config = captioner.config
    source = load_source(data)
    if split == "auto":
        split = "test" if source.test else "all"
    items = source.split(split)
    if not items:
        raise ValueError(f"--data {data}: the {split} split has no images")
    images, kept, failed = load_images(items, config.image_size, progress=f"{split} images")
    if not kept:
        raise ValueError(f"--data {data}: none of the {len(items)} {split} images could be read")
    beam_width = config.beam_width if beam_width is None else beam_width
    captioner.captions(images[:1], beam_width=beam_width, max_length=max_length, alpha=alpha)  # trace once, untimed
    started = time.perf_counter()
    tokens, attention = captioner.caption_arrays(images, beam_width=beam_width, max_length=max_length, alpha=alpha)
    seconds = time.perf_counter() - started
    predicted = [captioner.vocabulary.decode(row) for row in tokens]
    references = [item.captions for item in kept]
    metrics = {"data": data, "split": "dev" if split == "val" else split, "images": len(kept),
               "skipped_images": len(failed) + sum(source.skipped.values()), "beam_width": beam_width,
               **corpus_bleu(references, predicted),
               "distinct_captions": len(set(predicted)),
               "seconds_per_image": seconds / len(kept)}
    if baselines:
        frequent = most_frequent_caption(source.train)
        for key, value in corpus_bleu(references, [frequent] * len(kept)).items():
            metrics[f"most_frequent_{key}"] = value
        train_images, train_items, _ = load_images(source.train, config.image_size, progress="train images")
        train_features = captioner.pooled_features(train_images)
        query_features = captioner.pooled_features(images)
        nearest = nearest_neighbour_captions(train_features, train_items, query_features,
                                             exclude=[item.key for item in kept])
        for key, value in corpus_bleu(references, nearest).items():
            metrics[f"nearest_{key}"] = value
        metrics["most_frequent_caption"] = frequent
    if out_dir is not None:
        rows = [{"image": item.key, "caption": caption, "references": item.captions}
                for item, caption in zip(kept, predicted, strict=True)]
        atomic_write_json(Path(out_dir) / "captions.json", rows)
        if plots:
            from rnnkit.plots import plot_attention_map

            for index in range(min(plots, len(kept))):
                words = predicted[index].split() + ["<end>"]
                plot_attention_map(images[index], words, attention[index], captioner.grid_shape,
                                   Path(out_dir) / "attention" / f"{Path(kept[index].key).stem}.png",
                                   title=predicted[index])
    return metrics


def run(args: argparse.Namespace) -> int:
    from apps.captioning.model import load_run

    captioner = load_run(args.model)
    out = Path(args.out) if args.out else Path(args.model) / "eval"
    metrics = evaluate(captioner, args.data, args.split, args.beam_width, args.max_length, args.alpha,
                       args.baselines, out, args.plots)
    cli.report_metrics(metrics, out, args.json, title=f"captioning on {args.data} ({metrics['split']}, beam {metrics['beam_width']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
