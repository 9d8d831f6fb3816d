"""The on-device captioning loop, in Python with the LiteRT interpreter.

This is what a mobile app does with `captioning_encoder.tflite`,
`captioning_decoder_step.tflite` and `captioning_mobile.json`: decode and resize
the photo with the platform's image API, run the encoder once, then call the
decoder step once per word, carrying its state and feeding back the most likely
word (greedy search), until the end token. It needs only numpy, Pillow and
ai-edge-litert.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def repeated_ngram_tokens(tokens: list[int], n: int) -> set[int]:
    """The tokens that would repeat an n-gram of `tokens` if they came next."""
    if n < 2 or len(tokens) < n - 1:
        return set()
    tail = tokens[len(tokens) - n + 1:]
    return {tokens[i + n - 1] for i in range(len(tokens) - n + 1) if tokens[i: i + n - 1] == tail}


def greedy_caption(encode, step, pixels: np.ndarray, state_names: list[str], words: list[str],
                   max_length: int, start_id: int = 2, end_id: int = 3, no_repeat_ngram: int = 0) -> tuple[str, np.ndarray]:
    """encode/step: LiteRT signature runners. pixels: float32 [1, S, S, 3] in 0..255.

    Returns the caption and the attention weights of each step [steps, positions].
    `no_repeat_ngram` n > 1 never repeats an n-gram, as the server's search does.
    """
    encoded = encode(image=pixels)
    features = encoded["features"]
    states = {name: encoded[name] for name in state_names}
    token, tokens, attention = start_id, [], []
    for _ in range(max_length):
        out = step(token=np.array([token], np.int32), features=features, **states)
        states = {name: out[f"new_{name}"] for name in state_names}
        attention.append(out["attention"][0])
        logits = out["logits"][0].copy()
        logits[list(repeated_ngram_tokens(tokens, no_repeat_ngram))] = -np.inf
        token = int(np.argmax(logits))
        if token == end_id:
            break
        tokens.append(token)
    caption = [words[token] for token in tokens]
    return " ".join(caption), np.stack(attention)


def load_pixels(data: bytes, image_size: int, name: str = "image") -> np.ndarray:
    """What the platform's decoder does on a phone: any image -> RGB, resized, float32 [1, S, S, 3]."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB").resize((image_size, image_size), Image.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(f"{name}: not an image this loop can decode ({error})") from None
    return np.asarray(rgb, np.float32)[None]


def caption_file(encoder_path: str | Path, image_path: str | Path) -> str:
    """Caption one image file with the TFLite pair next to `encoder_path`."""
    from ai_edge_litert.interpreter import Interpreter

    folder = Path(encoder_path).parent
    meta = json.loads((folder / "captioning_mobile.json").read_text(encoding="utf-8"))
    encode = Interpreter(model_path=str(folder / meta["encoder"])).get_signature_runner(meta["signature"])
    step = Interpreter(model_path=str(folder / meta["decoder_step"])).get_signature_runner(meta["signature"])
    pixels = load_pixels(Path(image_path).read_bytes(), meta["image_size"], str(image_path))
    caption, _ = greedy_caption(encode, step, pixels, meta["states"], meta["vocabulary"], meta["max_length"],
                                meta["start_id"], meta["end_id"], meta.get("no_repeat_ngram", 0))
    return caption
