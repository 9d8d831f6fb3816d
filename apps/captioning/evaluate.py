"""Score a captioning run: corpus BLEU-1..4 against every reference, next to two baselines.

    python -m apps.captioning.evaluate --model runs/flickr --data ../shared/data/flickr8k_subset --split dev --json

--split auto (the default) scores the source's own test split (Flickr_8k.testImages.txt)
when it has one, and otherwise every image; the first line says which split, why and how
many images.

Baselines, computed in the same run on the same images:
  most_frequent   the most frequent training caption, given to every image
  nearest         the consensus caption of the training image nearest in the encoder's
                  feature space (cosine of the grid averaged over positions; an image
                  is never its own neighbour)
What they need from training (the training captions and the training images' pooled
features) is saved in the run folder by `train` (baselines.npz), so a folder holding only
test photos is scored with both.

Written to OUT (default RUN_DIR/eval): metrics.json, captions.json, caption_grid.png
(photos with generated and reference captions) and attention/<image>.png (the attention
over the photo for every word of its caption).
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
    parser.add_argument("--grid", type=int, default=16,
                        help="photos in OUT/caption_grid.png with their generated and reference captions (default: 16)")


def choose_split(source, data: str, split: str, trained_on: str | None) -> tuple[str, str]:
    """(split to score, how it was chosen), following the suite's rule for `--split auto`.

    auto is the source's own test split (Flickr_8k.testImages.txt, the demo's test
    set) when it defines one, else every image. A dev split carved from the training
    list (a source without Flickr_8k.devImages.txt) exists only for the source the run
    was trained on.
    """
    if split == "auto":
        if source.test is not None:
            how = ("auto: the demo's own test set" if data == "demo"
                   else "auto: the source's Flickr_8k.testImages.txt (its test split)")
            return "test", how
        return "all", "auto: the source defines no test split (no Flickr_8k.testImages.txt), so every image"
    if split in ("dev", "val") and "Flickr_8k.devImages.txt" not in source.lists and data != "demo" \
            and not same_source(data, trained_on):
        raise ValueError(f"--split {split}: {data} has no Flickr_8k.devImages.txt, and the dev split carved from a "
                         f"training list belongs to the run's own source ({trained_on}); use --split auto, test or all")
    return split, f"--split {split}"


def same_source(data: str, other: str | None) -> bool:
    if other is None:
        return False
    if data == other:
        return True
    try:
        return Path(data).resolve() == Path(other).resolve()
    except OSError:
        return False


def baseline_inputs(captioner, source):
    """(most frequent caption, training items with one caption each, their pooled features) from the run folder.

    Saved by `train`; a run made before that falls back to the source's training
    images (None when it has none: then there are no baselines).
    """
    from apps.captioning.data import load_images
    from apps.captioning.metrics import BASELINES_FILE, load_baselines, most_frequent_caption

    saved = Path(captioner.run_dir) / BASELINES_FILE if captioner.run_dir else None
    if saved is not None and saved.is_file():
        return load_baselines(saved)
    if not source.train:
        return None
    train_images, train_items, _ = load_images(source.train, captioner.config.image_size, progress="train images")
    return most_frequent_caption(train_items), train_items, captioner.pooled_features(train_images)


def evaluate(captioner, data: str, split: str = "auto", beam_width=None, max_length=None, alpha=None,
             baselines: bool = True, out_dir: Path | None = None, plots: int = 0, grid: int = 16) -> dict:
    from apps.captioning.data import load_images, load_source
    from apps.captioning.metrics import corpus_bleu, nearest_neighbour_captions

    config = captioner.config
    source = load_source(data)
    split, how = choose_split(source, data, split, captioner.saved.get("data"))
    items = source.split(split)
    if not items:
        raise ValueError(f"--data {data}: the {split} split has no images")
    images, kept, failed = load_images(items, config.image_size, progress=f"{split} images")
    if not kept:
        raise ValueError(f"--data {data}: none of the {len(items)} {split} images could be read")
    print(f"evaluate: scoring the {split} split of {data}, {len(kept)} images"
          + (f" ({len(failed)} unreadable skipped)" if failed else "") + f"; chosen by {how}", flush=True)
    beam_width = config.beam_width if beam_width is None else beam_width
    captioner.captions(images[:1], beam_width=beam_width, max_length=max_length, alpha=alpha)  # trace once, untimed
    started = time.perf_counter()
    tokens, attention = captioner.caption_arrays(images, beam_width=beam_width, max_length=max_length, alpha=alpha)
    seconds = time.perf_counter() - started
    predicted = [captioner.vocabulary.decode(row) for row in tokens]
    references = [item.captions for item in kept]
    metrics = {"data": data, "split": "dev" if split == "val" else split, "split_chosen_by": how, "images": len(kept),
               "skipped_images": len(failed) + sum(source.skipped.values()), "beam_width": beam_width,
               **corpus_bleu(references, predicted),
               "distinct_captions": len(set(predicted)),
               "words_per_caption": sum(len(caption.split()) for caption in predicted) / len(predicted),
               "seconds_per_image": seconds / len(kept)}
    inputs = baseline_inputs(captioner, source) if baselines else None
    if inputs is not None:
        frequent, train_items, train_features = inputs
        for key, value in corpus_bleu(references, [frequent] * len(kept)).items():
            metrics[f"most_frequent_{key}"] = value
        nearest = nearest_neighbour_captions(train_features, train_items, captioner.pooled_features(images),
                                             exclude=[item.key for item in kept])
        for key, value in corpus_bleu(references, nearest).items():
            metrics[f"nearest_{key}"] = value
        metrics["nearest_distinct_captions"] = len(set(nearest))
        metrics["most_frequent_caption"] = frequent
    elif baselines:
        print("note: no baselines (the run folder has no baselines.npz and the source no training images)",
              file=sys.stderr)
    if out_dir is not None:
        write_outputs(Path(out_dir), captioner, kept, images, predicted, attention, plots, grid)
    return metrics


def write_outputs(out_dir: Path, captioner, kept, images, predicted, attention, plots: int, grid: int) -> None:
    """captions.json, a grid of photos with their captions, and attention maps word by word for the first few."""
    from apps.captioning.plots import plot_caption_grid
    from rnnkit.io import atomic_write_json
    from rnnkit.plots import plot_attention_map

    rows = [{"image": item.key, "caption": caption, "references": item.captions}
            for item, caption in zip(kept, predicted, strict=True)]
    atomic_write_json(out_dir / "captions.json", rows)
    if grid:
        count = min(grid, len(kept))
        plot_caption_grid(images[:count], predicted[:count], [item.captions for item in kept[:count]],
                          out_dir / "caption_grid.png", title="generated (bold) and reference captions")
    for index in range(min(plots, len(kept))):
        words = predicted[index].split() + ["<end>"]
        plot_attention_map(images[index], words, attention[index], captioner.grid_shape,
                           out_dir / "attention" / f"{Path(kept[index].key).stem}.png", title=predicted[index])


def run(args: argparse.Namespace) -> int:
    from apps.captioning.model import load_run

    captioner = load_run(args.model)
    out = Path(args.out) if args.out else Path(args.model) / "eval"
    metrics = evaluate(captioner, args.data, args.split, args.beam_width, args.max_length, args.alpha,
                       args.baselines, out, args.plots, args.grid)
    cli.report_metrics(metrics, out, args.json, title=f"captioning on {args.data} ({metrics['split']}, beam {metrics['beam_width']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
