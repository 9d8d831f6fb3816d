"""Label reviews with a run, an export, or the TFLite model; --explain shows the words it looked at.

    python -m apps.sentiment.predict --model runs/imdb "A wonderful, moving film." "Dull and far too long."
    python -m apps.sentiment.predict --model saved_models/sentiment/1 --explain "Not bad at all, I loved it!"
    python -m apps.sentiment.predict --model saved_models/sentiment/1/sentiment.tflite --files review.txt
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rnnkit import cli

HELP = ("Print the label and P(positive) of each INPUT review; --model takes a run folder, an exported version "
        "folder or a .tflite file.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_predict_arguments(parser, input_help="review texts (or, with --files, paths of UTF-8 text files)")
    parser.add_argument("--files", action="store_true", help="read each INPUT as a path to a UTF-8 text file")
    parser.add_argument("--explain", action="store_true",
                        help="also show the words with the largest attention weights and plot the weights over words")
    parser.add_argument("--top", type=int, default=8, help="words shown by --explain (default: 8)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="where --explain writes its plots (default: RUN_DIR/explain for a run folder; "
                             "no plots for an export unless given)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON list on the last line")


@dataclass
class Prediction:
    text: str
    probability: float
    label: str
    words: list[str] = field(default_factory=list)
    attention: list[float] = field(default_factory=list)


def read_inputs(args) -> list[str]:
    if not args.inputs:
        raise ValueError("give at least one review to label (or --files PATH ...)")
    if not args.files:
        return list(args.inputs)
    texts = []
    for name in args.inputs:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"--files {path}: no such file")
        try:
            texts.append(path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as error:
            raise ValueError(f"--files {path}: not UTF-8 text (byte {error.start}); convert it first") from None
    return texts


def _label(probability: float) -> str:
    from apps.sentiment.data import CLASS_NAMES

    return CLASS_NAMES[int(probability >= 0.5)]


def predict_with_run(model_dir: Path, texts: list[str], explain: bool) -> list[Prediction]:
    from apps.sentiment.data import encode, make_vectorizer, words_of
    from apps.sentiment.model import load_run, predict_probabilities

    model, vocabulary, config, _ = load_run(model_dir)
    ids, _ = encode(make_vectorizer(config.vocab_size, vocabulary), texts, config.max_length, config.truncate)
    if explain and config.pooling == "mean_max":
        raise ValueError(f"--explain: {model_dir} pools with mean_max and has no attention weights")
    if not explain:
        return [Prediction(text, float(p), _label(p)) for text, p in zip(texts, predict_probabilities(model, ids), strict=True)]
    probabilities, attention = predict_probabilities(model, ids, with_attention=True)
    words = words_of(texts, config.max_length, config.truncate)
    return [Prediction(text, float(p), _label(p), row, [float(w) for w in weights[: len(row)]])
            for text, p, row, weights in zip(texts, probabilities, words, attention, strict=True)]


def predict_with_export(export_dir: Path, texts: list[str], explain: bool) -> list[Prediction]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(export_dir))
    key = "explain" if explain else "serving_default"
    if key not in loaded.signatures:
        raise ValueError(f"--explain: {export_dir} has no explain signature (its model pools without attention)")
    out = {name: value.numpy() for name, value in loaded.signatures[key](text=tf.constant(texts)).items()}
    results = []
    for index, text in enumerate(texts):
        probability = float(out["probability"][index])
        prediction = Prediction(text, probability, out["label"][index].decode("utf-8"))
        if explain:
            tokens = [token.decode("utf-8") for token in out["tokens"][index]]
            count = sum(1 for token in tokens if token)
            prediction.words = tokens[:count]
            prediction.attention = [float(w) for w in out["attention"][index][:count]]
        results.append(prediction)
    return results


def predict_with_tflite(model_path: Path, texts: list[str], explain: bool) -> list[Prediction]:
    """What a mobile app does: tokenize in plain code with the exported vocabulary, run one review per call."""
    import numpy as np

    from apps.sentiment.data import Tokenizer, load_vocabulary
    from apps.sentiment.export import META_NAME, VOCAB_NAME
    from rnnkit.export import tflite

    meta_path = model_path.parent / META_NAME
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: missing; the TFLite model needs the tokenizer settings exported beside it")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    rules = meta["tokenizer"]
    tokenizer = Tokenizer(load_vocabulary(model_path.parent / VOCAB_NAME), rules["max_length"], rules["truncate"])
    runner = tflite.signature_runner(model_path, "serve")
    if explain and "attention" not in meta["outputs"]:
        raise ValueError(f"--explain: {model_path} has no attention output")
    results = []
    for text in texts:
        ids = tokenizer(text)
        out = runner(ids=(ids if len(ids) else np.zeros(1, np.int32))[None, :])
        probability = float(out["probability"][0])
        prediction = Prediction(text, probability, _label(probability))
        if explain:
            prediction.words = tokenizer.words(text)
            prediction.attention = [float(w) for w in out["attention"][0][: len(prediction.words)]]
        results.append(prediction)
    return results


def top_words(prediction: Prediction, count: int) -> list[tuple[str, float]]:
    ranked = sorted(zip(prediction.words, prediction.attention, strict=True), key=lambda pair: -pair[1])
    return [(word, weight) for word, weight in ranked[:count]]


def run(args: argparse.Namespace) -> int:
    model_path = Path(args.model)
    if not model_path.exists():
        raise FileNotFoundError(f"--model {model_path}: no such file or folder")
    texts = read_inputs(args)
    if model_path.suffix == ".tflite":
        results = predict_with_tflite(model_path, texts, args.explain)
    elif (model_path / "saved_model.pb").is_file():
        results = predict_with_export(model_path, texts, args.explain)
    else:
        results = predict_with_run(model_path, texts, args.explain)

    out_dir = Path(args.out) if args.out else (model_path / "explain" if model_path.is_dir() and
                                                not (model_path / "saved_model.pb").is_file() else None)
    for index, (text, result) in enumerate(zip(texts, results, strict=True), start=1):
        if not text.strip():
            print(f"note: input {index} is empty; its probability is what the model says about no words at all",
                  file=sys.stderr)
        if not args.json:
            preview = " ".join(text.split())
            preview = preview[:70] + ("..." if len(preview) > 70 else "")
            print(f"{result.label:<8}  {result.probability:.4f}  {preview!r}")
        if args.explain:
            if not args.json:
                words = ", ".join(f"{word} {weight:.3f}" for word, weight in top_words(result, args.top))
                print(f"          attention: {words or '(no words)'}")
            if out_dir is not None and result.words:
                from rnnkit.plots import plot_token_weights

                plot = plot_token_weights(result.words[:240], result.attention[:240], out_dir / f"attention_{index}.png",
                                          title=f"{result.label} {result.probability:.3f}")
                if not args.json:
                    print(f"          plot: {plot}")
    if args.json:
        print(json.dumps([{"text": r.text, "label": r.label, "probability": r.probability,
                           **({"top_words": top_words(r, args.top)} if args.explain else {})} for r in results]))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
