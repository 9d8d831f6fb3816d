"""Beam width against speed and BLEU, next to the two baselines, in one run.

    python -m bench.captioning_beam --model runs/flickr --data ../shared/data/flickr8k_subset --split dev

For each beam width the same trained run captions the same images (the compiled
search of `rnnkit.decoding`, batches of 32, after one untimed warm-up call) and is
scored with corpus BLEU-1..4 against every reference. The baselines (the most
frequent training caption for every image; the consensus caption of the nearest
training image in the encoder's feature space) are computed once in the same run.
Without --model a tiny run is trained on the demo set first.
"""

from __future__ import annotations

import argparse
import os
import sys

from bench.common import machine, peak_rss_mib, print_table, run_or_demo, save_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="captioning run folder (default: train a tiny one on the demo set)")
    parser.add_argument("--data", default="demo", help="SOURCE to caption (default: demo)")
    parser.add_argument("--split", default="dev", help="split to caption (default: dev)")
    parser.add_argument("--widths", default="1,3,5", help="beam widths (default: 1,3,5)")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per width; the fastest counts (default: 2)")
    parser.add_argument("--no-repeat-ngram", type=int, default=None,
                        help="override the run's no_repeat_ngram (0: off; default: the run's config)")
    return parser.parse_args(argv)


def measure_widths(captioner, images, references, widths, repeats: int = 2) -> list[dict]:
    """BLEU-1..4, words per caption, distinct captions and ms per image of each beam width, on the same images.

    Each width is traced and warmed up untimed, then the fastest of `repeats` passes counts.
    """
    import time

    from apps.captioning.metrics import corpus_bleu

    rows = []
    for width in widths:
        captioner.captions(images[:32], beam_width=width)  # trace and warm up, untimed
        best = None
        for _ in range(max(1, repeats)):
            started = time.perf_counter()
            tokens, _ = captioner.caption_arrays(images, beam_width=width)
            seconds = time.perf_counter() - started
            best = seconds if best is None else min(best, seconds)
        captions = [captioner.vocabulary.decode(row) for row in tokens]
        scores = corpus_bleu(references, captions)
        words = sum(len(caption.split()) for caption in captions) / len(captions)
        rows.append({"method": f"beam {width}" if width > 1 else "greedy (beam 1)",
                     **{key: round(value, 4) for key, value in scores.items()},
                     "ms_per_image": round(1000 * best / len(images), 2), "words": round(words, 2),
                     "distinct": len(set(captions)),
                     "example": captions[0], "captions": captions})
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    import dataclasses

    from apps.captioning.data import load_images, load_source
    from apps.captioning.evaluate import evaluate
    from apps.captioning.model import load_run

    run_dir = run_or_demo("captioning", args.model, "--epochs", "3", "--samples", "0",
                     "--encoder-weights", "none", "--set", "train_encoder=true", "--set", "image_size=96")
    captioner = load_run(run_dir)
    if args.no_repeat_ngram is not None:  # before the first search traces the config into the graph
        captioner.config = dataclasses.replace(captioner.config, no_repeat_ngram=args.no_repeat_ngram)
    widths = [int(width) for width in args.widths.split(",")]

    baseline = evaluate(captioner, args.data, args.split, beam_width=widths[0], baselines=True)
    source = load_source(args.data)
    items = source.split(args.split)
    images, kept, _ = load_images(items, captioner.config.image_size)
    references = [item.captions for item in kept]

    rows = measure_widths(captioner, images, references, widths, args.repeats)
    greedy_ms = rows[0]["ms_per_image"]
    for row in rows:
        row["time_vs_greedy"] = f"{row['ms_per_image'] / greedy_ms:.2f}x"
    for name in ("most_frequent", "nearest"):
        rows.append({"method": f"baseline: {name.replace('_', ' ')}",
                     **{f"bleu_{n}": round(baseline[f"{name}_bleu_{n}"], 4) for n in range(1, 5)}})

    print(f"\n{len(images)} {args.split} images of {args.data}; run {run_dir}; no_repeat_ngram "
          f"{captioner.config.no_repeat_ngram}, length_alpha {captioner.config.length_alpha}; {machine()}")
    print(f"most frequent training caption: {baseline['most_frequent_caption']!r}\n")
    print_table(rows, ["method", "bleu_1", "bleu_2", "bleu_3", "bleu_4", "ms_per_image", "time_vs_greedy", "words",
                       "distinct"])
    for row in rows[: len(widths)]:
        print(f"  {row['method']}: {row['example']!r}")
    print(f"peak memory {peak_rss_mib():.0f} MiB")
    for row in rows:
        row.pop("captions", None)
    path = save_result("captioning_beam", {"data": args.data, "split": args.split, "images": len(images),
                                           "run": str(run_dir), "machine": machine(), "rows": rows,
                                           "no_repeat_ngram": captioner.config.no_repeat_ngram,
                                           "command": "python -m bench.captioning_beam " + " ".join(sys.argv[1:])})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
