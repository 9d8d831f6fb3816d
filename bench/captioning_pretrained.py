"""Random encoder against ImageNet MobileNetV2-0.5 (frozen, and with its last blocks fine-tuned), in one run.

    flock /tmp/rnnkit-heavy.lock python -m bench.captioning_pretrained --data ../shared/data/flickr8k_subset \
        --weights ../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5

Every variant is the DEFAULT `rnnkit captioning train` command with only these flags:
  random        --set encoder=mobilenet_v2_0.5 --encoder-weights none (frozen, batch-norm statistics measured)
  pretrained    --set encoder=mobilenet_v2_0.5 --encoder-weights FILE            (frozen, features cached)
  fine-tuned    the same plus --set fine_tune_blocks=N (the last N blocks trained on cached head features)
Each is scored on the dev images with greedy search and beams 3 and 5 (BLEU-1..4, distinct
captions, words per caption, ms per image), next to the two baselines of the pretrained run
(the most frequent training caption; the nearest training image by the pretrained features).
The pretrained run is then exported: the TFLite encoder + decoder-step sizes, and how often the
mobile loop (LiteRT, greedy) writes the same caption as Keras on every dev image, given the same
pixels and given the platform decoder's (Pillow bilinear) pixels.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WEIGHTS = "../shared/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_224_no_top.h5"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/flickr8k_subset", help="Flickr8k-layout SOURCE")
    parser.add_argument("--weights", default=WEIGHTS, help="MobileNetV2-0.5 ImageNet weights file (no top)")
    parser.add_argument("--out", default="runs/bench-captioning-pretrained", help="folder for the runs (reused: a "
                        "finished variant is not trained again)")
    parser.add_argument("--variants", default="random,pretrained,fine-tuned", help="which variants to run")
    parser.add_argument("--fine-tune-blocks", type=int, default=3, help="blocks the fine-tuned variant trains")
    parser.add_argument("--epochs", type=int, default=None, help="override the default epochs (pilots only)")
    parser.add_argument("--widths", default="1,3,5", help="beam widths (default: 1,3,5)")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per width; the fastest counts")
    parser.add_argument("--extra", action="append", default=[], metavar="KEY=VALUE",
                        help="another --set for every variant (pilots only; the reported result uses none)")
    return parser.parse_args(argv)


def train_variant(name: str, args, out: Path) -> tuple[Path, float | None]:
    import json
    import time

    from rnnkit.cli import main as rnnkit_main

    run = out / name
    flags = ["--set", "encoder=mobilenet_v2_0.5",
             "--encoder-weights", "none" if name == "random" else str(Path(args.weights).resolve())]
    if name == "fine-tuned":
        flags += ["--set", f"fine_tune_blocks={args.fine_tune_blocks}"]
    for item in args.extra:
        flags += ["--set", item]
    if args.epochs is not None:
        flags += ["--epochs", str(args.epochs)]
    state = run / "state.json"
    if state.is_file() and (run / "baselines.npz").is_file():
        print(f"{name}: reusing the finished run {run}", flush=True)
        return run, json.loads((run / "timing.json").read_text())["seconds"] if (run / "timing.json").is_file() else None
    command = ["captioning", "train", "--data", args.data, "--out", str(run), "--samples", "0", *flags]
    if state.is_file():
        command = ["captioning", "train", "--out", str(run), "--resume", "--samples", "0"]
    print(f"\n== {name}: rnnkit {' '.join(command)}", flush=True)
    started = time.perf_counter()
    if rnnkit_main(command) != 0:
        raise SystemExit(f"{name}: training failed")
    seconds = time.perf_counter() - started
    (run / "timing.json").write_text(json.dumps({"seconds": seconds}))
    return run, seconds


def mobile_agreement(written: dict, captioner, items, images) -> dict:
    """The LiteRT greedy loop against Keras greedy on every image: same pixels, and the platform's pixels."""
    import json
    import time

    import numpy as np

    from apps.captioning import mobile
    from apps.captioning.metrics import corpus_bleu
    from apps.captioning.model import state_names
    from rnnkit.export import tflite

    folder = Path(written["tflite_encoder"]).parent
    meta = json.loads((folder / "captioning_mobile.json").read_text())
    encode = tflite.signature_runner((folder / meta["encoder"]).read_bytes(), "serve")
    step = tflite.signature_runner((folder / meta["decoder_step"]).read_bytes(), "serve")
    names = state_names(captioner.config)
    keras_captions = captioner.captions(images, beam_width=1)

    def loop(pixels):
        return mobile.greedy_caption(encode, step, pixels, names, meta["vocabulary"], meta["max_length"],
                                     meta["start_id"], meta["end_id"], meta["no_repeat_ngram"])[0]

    started = time.perf_counter()
    same_pixels = [loop(np.asarray(image, np.float32)[None]) for image in images]
    seconds = time.perf_counter() - started
    platform = [loop(mobile.load_pixels(Path(item.path).read_bytes(), meta["image_size"])) for item in items]
    references = [item.captions for item in items]
    return {
        "encoder_tflite_mib": round((folder / meta["encoder"]).stat().st_size / 2**20, 2),
        "decoder_step_tflite_mib": round((folder / meta["decoder_step"]).stat().st_size / 2**20, 2),
        "images": len(images),
        "same_caption_same_pixels": sum(a == b for a, b in zip(same_pixels, keras_captions, strict=True)),
        "same_caption_platform_pixels": sum(a == b for a, b in zip(platform, keras_captions, strict=True)),
        "keras_greedy_bleu_4": round(corpus_bleu(references, keras_captions)["bleu_4"], 4),
        "mobile_bleu_4_same_pixels": round(corpus_bleu(references, same_pixels)["bleu_4"], 4),
        "mobile_bleu_4_platform_pixels": round(corpus_bleu(references, platform)["bleu_4"], 4),
        "mobile_ms_per_image": round(1000 * seconds / len(images), 1),
        "verification": {key: value for key, value in meta["verification"].items() if not key.endswith("_ops")},
        "ops": sorted(set(meta["verification"]["encoder_ops"]) | set(meta["verification"]["decoder_ops"])),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    import json

    from apps.captioning.data import load_images, load_source
    from apps.captioning.evaluate import evaluate
    from apps.captioning.export import export
    from apps.captioning.model import load_run
    from bench.captioning_beam import measure_widths
    from bench.common import machine, peak_rss_mib, print_table, save_result

    out = Path(args.out)
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    widths = [int(width) for width in args.widths.split(",")]
    source = load_source(args.data)
    results, rows, baselines = {}, [], None
    for name in variants:
        run, seconds = train_variant(name, args, out)
        state = json.loads((run / "state.json").read_text())
        captioner = load_run(run)
        items = source.split("dev")
        images, kept, _ = load_images(items, captioner.config.image_size)
        references = [item.captions for item in kept]
        # evaluate writes the caption grid and the attention maps of the first images to RUN/eval.
        metrics = evaluate(captioner, args.data, "dev", beam_width=captioner.config.beam_width, out_dir=run / "eval",
                           plots=8, grid=16)
        if name == "pretrained" or baselines is None:
            baselines = (name, metrics)
        measured = measure_widths(captioner, images, references, widths, args.repeats)
        best = min(state["history"], key=lambda row: row["val_loss"])
        for row in measured:
            captions = row.pop("captions")
            row.update(variant=name, best_val_loss=round(best["val_loss"], 4), epochs=len(state["history"]),
                       train_s=round(seconds) if seconds else "")
            results.setdefault(name, {})[row["method"]] = {**row, "captions": captions}
            rows.append(row)
    base_name, base = baselines
    for kind in ("most_frequent", "nearest"):
        rows.append({"variant": f"baseline ({base_name} run)", "method": kind.replace("_", " "),
                     **{f"bleu_{n}": round(base[f"{kind}_bleu_{n}"], 4) for n in range(1, 5)},
                     "distinct": base.get(f"{kind}_distinct_captions", 1)})
    mobile = None
    if "pretrained" in variants:
        captioner = load_run(out / "pretrained")
        written = export(out / "pretrained", out / "saved_models")
        items = source.split("dev")
        images, kept, _ = load_images(items, captioner.config.image_size)
        mobile = mobile_agreement(written, captioner, kept, images)

    print(f"\n{len(source.val)} dev images of {args.data}; {machine()}")
    print(f"most frequent training caption: {base['most_frequent_caption']!r}\n")
    print_table(rows, ["variant", "method", "bleu_1", "bleu_2", "bleu_3", "bleu_4", "distinct", "words",
                       "ms_per_image", "best_val_loss", "epochs", "train_s"])
    for name, by_method in results.items():
        for method, row in by_method.items():
            print(f"  {name} {method}: {row['example']!r}")
    if mobile:
        print("\nTFLite / mobile loop of the pretrained run:")
        for key, value in mobile.items():
            print(f"  {key}: {value}")
    print(f"peak memory {peak_rss_mib():.0f} MiB")
    path = save_result("captioning_pretrained", {
        "data": args.data, "weights": args.weights, "machine": machine(), "rows": rows, "mobile": mobile,
        "captions": {name: {method: row["captions"] for method, row in by_method.items()}
                     for name, by_method in results.items()},
        "command": "python -m bench.captioning_pretrained " + " ".join(sys.argv[1:])})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
