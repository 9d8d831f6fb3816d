"""Caption image files with a run, an exported SavedModel, or the TFLite pair.

    python -m apps.captioning.predict --model runs/flickr photo.jpg other.png --beam-width 5 --attention-plots plots/
    python -m apps.captioning.predict --model saved_models/captioning/1 photo.jpg             # the serving signature
    python -m apps.captioning.predict --model saved_models/captioning/1/captioning_encoder.tflite photo.jpg   # the mobile loop

Prints `FILE<TAB>caption` per image. A file that cannot be read or is not an
image is reported on stderr (`FILE: error: ...`) and the others are still
captioned; the exit status is then 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from apps.captioning.evaluate import add_search_arguments
from rnnkit import cli

HELP = "Caption each INPUT image; --model takes a run folder, an exported version folder or the encoder .tflite file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_predict_arguments(parser, input_help="image files (JPEG, PNG, GIF, BMP)")
    add_search_arguments(parser)
    parser.add_argument("--attention-plots", metavar="DIR", default=None,
                        help="write one attention map per image to DIR (run folders only)")


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return path.read_bytes()


def predict_with_run(model_path: Path, paths: list[Path], args) -> dict[Path, str]:
    from apps.captioning.data import decode_image, resize_image
    from apps.captioning.model import load_run
    from rnnkit.plots import plot_attention_map

    captioner = load_run(model_path)
    results: dict[Path, str] = {}
    for path in paths:
        try:
            image = decode_image(_read(path), str(path))
        except (ValueError, OSError) as error:
            results[path] = error
            continue
        pixels = resize_image(image, captioner.config.image_size).numpy()
        tokens, attention = captioner.caption_arrays(pixels[None], beam_width=args.beam_width,
                                                     max_length=args.max_length, alpha=args.alpha)
        caption = captioner.vocabulary.decode(tokens[0])
        results[path] = caption
        if args.attention_plots:
            plot = plot_attention_map(pixels, caption.split() + ["<end>"], attention[0], captioner.grid_shape,
                                      Path(args.attention_plots) / f"{path.stem}.png", title=caption)
            print(f"attention map: {plot}", file=sys.stderr)
    return results


def predict_with_saved_model(model_path: Path, paths: list[Path], args) -> dict[Path, str]:
    import tensorflow as tf

    from apps.captioning.data import MAX_PIXELS

    loaded = tf.saved_model.load(str(model_path))
    config = _saved_config(model_path)
    results: dict[Path, str] = {}
    for path in paths:
        try:
            data = _read(path)
            _check_size(data, path, MAX_PIXELS)
        except (ValueError, OSError) as error:
            results[path] = error
            continue
        out = loaded.signatures["caption"](
            images=tf.constant([data]),
            beam_width=tf.constant(args.beam_width or config.get("beam_width", 3)),
            max_length=tf.constant(args.max_length or config.get("max_length", 20)))
        error = out["error"].numpy()[0].decode("utf-8")
        results[path] = ValueError(f"{path}: {error}") if error else out["caption"].numpy()[0].decode("utf-8")
    return results


def _saved_config(model_path: Path) -> dict:
    from rnnkit.export.savedmodel import read_extra

    return read_extra(model_path, "rnnkit_config.json")["config"]


def _check_size(data: bytes, path: Path, limit: int) -> None:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except (UnidentifiedImageError, OSError):
        return  # the serving signature reports what it cannot decode
    if width * height > limit:
        raise ValueError(f"{path}: {width}x{height} pixels is more than the {limit:,} this app decodes")


def predict_with_tflite(model_path: Path, paths: list[Path], args) -> dict[Path, str]:
    from apps.captioning import mobile

    if args.beam_width not in (None, 1):
        print("note: the TFLite loop is greedy; --beam-width is ignored", file=sys.stderr)
    results: dict[Path, str] = {}
    for path in paths:
        try:
            _read(path)
            results[path] = mobile.caption_file(model_path, path)
        except (ValueError, OSError) as error:
            results[path] = error
    return results


def run(args: argparse.Namespace) -> int:
    model_path = Path(args.model)
    if not model_path.exists():
        raise FileNotFoundError(f"--model {model_path}: no such file or folder")
    if not args.inputs:
        raise ValueError("give one or more image files to caption")
    paths = [Path(item) for item in args.inputs]
    if model_path.suffix == ".tflite":
        results = predict_with_tflite(model_path, paths, args)
    elif (model_path / "saved_model.pb").is_file():
        results = predict_with_saved_model(model_path, paths, args)
    else:
        results = predict_with_run(model_path, paths, args)
    failed = 0
    for path, result in results.items():
        if isinstance(result, Exception):
            failed += 1
            message = str(result)
            print(message if message.startswith(str(path)) else f"{path}: error: {message}", file=sys.stderr)
        else:
            print(f"{path}\t{result}")
    return 2 if failed else 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
