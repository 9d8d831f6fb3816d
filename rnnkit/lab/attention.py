"""Where the apps' attention looks: sentiment words, caption words over the photo, speech frames.

Thin adapters over each app's public functions (run folders through their `load_run`, exports
through their serving signatures); loaded models are kept per path.
"""

from __future__ import annotations

import functools
import html
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.lab.models import ModelRef, app_module

_lock = threading.Lock()


def _cached(function):
    """functools.cache, but loading the same model from two threads loads it once."""
    cached = functools.cache(function)

    @functools.wraps(function)
    def wrapper(*args):
        with _lock:
            return cached(*args)

    return wrapper


# -- sentiment ---------------------------------------------------------------------------


@dataclass
class Explained:
    probability: float
    label: str
    words: list[str]
    weights: list[float]


@_cached
def _sentiment_run(path: Path):
    model_module, data = app_module("sentiment", "model"), app_module("sentiment", "data")
    model, vocabulary, config, _ = model_module.load_run(path)
    if getattr(config, "pooling", "attention") == "mean_max":
        raise ValueError(f"{path} pools with mean_max and has no attention weights to show")
    vectorizer = data.make_vectorizer(config.vocab_size, vocabulary)
    return model_module, data, model, vectorizer, config


@_cached
def _saved_model(path: Path):
    import tensorflow as tf

    return tf.saved_model.load(str(path))


def explain_review(ref: ModelRef, text: str) -> Explained:
    if not text.strip():
        raise ValueError("type a review first")
    names = app_module("sentiment", "data").CLASS_NAMES
    if ref.kind == "run":
        model_module, data, model, vectorizer, config = _sentiment_run(ref.path)
        ids, _ = data.encode(vectorizer, [text], config.max_length, config.truncate)
        probabilities, attention = model_module.predict_probabilities(model, ids, with_attention=True)
        words = data.words_of([text], config.max_length, config.truncate)[0]
        probability = float(probabilities[0])
        return Explained(probability, names[int(probability >= 0.5)], list(words),
                         [float(w) for w in attention[0][: len(words)]])
    import tensorflow as tf

    loaded = _saved_model(ref.path)
    if "explain" not in loaded.signatures:
        raise ValueError(f"{ref.path} has no explain signature (its model pools without attention)")
    out = {key: value.numpy() for key, value in loaded.signatures["explain"](text=tf.constant([text])).items()}
    tokens = [token.decode("utf-8") for token in out["tokens"][0]]
    count = sum(1 for token in tokens if token)
    probability = float(out["probability"][0])
    return Explained(probability, out["label"][0].decode("utf-8"), tokens[:count],
                     [float(w) for w in out["attention"][0][:count]])


def words_html(explained: Explained) -> str:
    """The review's words, each on a background as dark as its attention weight."""
    weights = np.asarray(explained.weights, np.float64)
    top = float(weights.max()) if weights.size else 1.0
    spans = []
    for word, weight in zip(explained.words, weights, strict=True):
        share = weight / top if top > 0 else 0.0
        colour = f"rgba(220,40,40,{0.08 + 0.85 * share:.3f})"
        spans.append(f'<span style="background:{colour};padding:1px 3px;margin:1px;border-radius:3px;'
                     f'display:inline-block;color:#111" title="{weight:.4f}">{html.escape(word)}</span>')
    return f'<div style="line-height:1.9">{" ".join(spans)}</div>'


# -- captioning ----------------------------------------------------------------------------


@dataclass
class CaptionAttention:
    caption: str
    words: list[str]  # the caption's words and <end>
    weights: np.ndarray  # [len(words), grid_h * grid_w]
    grid_shape: tuple[int, int]
    pixels: np.ndarray  # uint8 [size, size, 3], what the model saw


@_cached
def _captioner(path: Path):
    return app_module("captioning", "model").load_run(path)


def _read_image(path_or_array, size: int) -> tuple[np.ndarray, bytes]:
    """(uint8 pixels resized to size x size, PNG bytes of the original) from a file path or an array."""
    import io

    from PIL import Image

    data = app_module("captioning", "data")
    if isinstance(path_or_array, (str, Path)):
        raw = Path(path_or_array).read_bytes()
        image = data.decode_image(raw, str(path_or_array))
    else:
        image = np.asarray(path_or_array, np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        raw = buffer.getvalue()
    pixels = np.asarray(data.resize_image(image, size)).astype(np.uint8)
    return pixels, raw


def caption_attention(ref: ModelRef, image, beam_width: int = 1) -> CaptionAttention:
    if image is None:
        raise ValueError("upload a photo first")
    if ref.kind == "run":
        captioner = _captioner(ref.path)
        pixels, _ = _read_image(image, captioner.config.image_size)
        tokens, attention = captioner.caption_arrays(pixels[None].astype(np.float32), beam_width=int(beam_width))
        caption = captioner.vocabulary.decode(tokens[0])
        words = caption.split() + ["<end>"]
        return CaptionAttention(caption, words, np.asarray(attention[0][: len(words)]), captioner.grid_shape, pixels)
    import tensorflow as tf

    mobile = json.loads((ref.path / "captioning_mobile.json").read_text(encoding="utf-8"))
    config = json.loads((ref.path / "assets.extra" / "rnnkit_config.json").read_text(encoding="utf-8"))["config"]
    pixels, raw = _read_image(image, int(mobile.get("image_size", config["image_size"])))
    out = _saved_model(ref.path).signatures["caption"](
        images=tf.constant([raw]), beam_width=tf.constant(int(beam_width)), max_length=tf.constant(int(config["max_length"])))
    if out["error"].numpy()[0]:
        raise ValueError(out["error"].numpy()[0].decode("utf-8"))
    caption = out["caption"].numpy()[0].decode("utf-8")
    words = caption.split() + ["<end>"]
    grid = tuple(mobile["grid_shape"])
    return CaptionAttention(caption, words, out["attention"].numpy()[0][: len(words)], grid, pixels)


def attention_overlays(result: CaptionAttention, size: int = 224) -> list[tuple[np.ndarray, str]]:
    """One image per word: the photo with that step's attention, upsampled and coloured, laid over it."""
    from matplotlib import colormaps
    from PIL import Image

    photo = np.asarray(Image.fromarray(result.pixels).resize((size, size), Image.BILINEAR), np.float32) / 255.0
    colour_map = colormaps["inferno"]
    frames = []
    for word, weights in zip(result.words, result.weights, strict=False):
        grid = np.asarray(weights, np.float32).reshape(result.grid_shape)
        grid = grid / max(float(grid.max()), 1e-9)
        heat = np.asarray(Image.fromarray((grid * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR),
                          np.float32) / 255.0
        blended = 0.45 * photo + 0.55 * colour_map(heat)[..., :3]
        frames.append(((blended * 255).astype(np.uint8), word))
    return frames


def demo_photo(seed: int = 3) -> np.ndarray:
    """A picture from the captioning app's demo set (shapes in colours)."""
    data = app_module("captioning", "data")
    return data.demo_item(np.random.default_rng(seed), 0).array


# -- speech -------------------------------------------------------------------------------


@dataclass
class SpeechAttention:
    labels: list[str]
    probabilities: np.ndarray  # [classes]
    over_time: np.ndarray  # [steps] attention weights (or the top word's probability for a stream model)
    kind: str  # "attention" or "trace"
    spectrogram: np.ndarray  # [frames, mel] in dB
    sample_rate: int
    seconds: float


@_cached
def _speech_run(path: Path):
    model_module = app_module("speech", "model")
    model, labels, config = model_module.load_run(path)
    inspect = model_module.inspection_model(model)
    attention = any(layer.name == "attention" for layer in model.layers)
    log_mel = model.get_layer("log_mel")
    power = getattr(log_mel, "scale", "db") == "power"
    from rnnkit.data.audio import ClipDecoder

    return inspect, labels, config, attention, power, ClipDecoder(config.sample_rate, config.clip_samples, config.crop)


def speech_attention(ref: ModelRef, wav_path) -> SpeechAttention:
    if not wav_path:
        raise ValueError("upload a WAV file first")
    if ref.kind != "run":
        return _speech_export(ref, Path(wav_path))
    inspect, labels, config, attention, power, decoder = _speech_run(ref.path)
    waveform, _ = decoder.file(Path(wav_path))
    probabilities, over_time, spectrogram = (np.asarray(value)[0] for value in inspect(waveform[None], training=False))
    if not attention:  # the stream model: the clip's top word after every step
        over_time = over_time[:, int(np.argmax(probabilities))]
    if power:
        spectrogram = 10.0 * np.log10(np.maximum(spectrogram, 1e-10))
    spectrogram = spectrogram.reshape(spectrogram.shape[0], -1)
    return SpeechAttention(list(labels), probabilities, np.asarray(over_time, np.float64),
                           "attention" if attention else "trace", spectrogram, config.sample_rate, config.clip_seconds)


def _speech_export(ref: ModelRef, wav_path: Path) -> SpeechAttention:
    import tensorflow as tf

    from rnnkit.data.audio import ClipDecoder

    config = json.loads((ref.path / "assets.extra" / "rnnkit_config.json").read_text(encoding="utf-8"))["config"]
    labels = json.loads((ref.path / "assets.extra" / "labels.json").read_text(encoding="utf-8"))["labels"]
    out = _saved_model(ref.path).signatures["serving_default"](wav=tf.constant([wav_path.read_bytes()]))
    if out["error"].numpy()[0]:
        raise ValueError(out["error"].numpy()[0].decode("utf-8"))
    if "attention" not in out:
        raise ValueError(f"{ref.path}: this export has no attention output")
    rate = int(config["sample_rate"])
    samples = int(round(float(config["clip_seconds"]) * rate))
    waveform, _ = ClipDecoder(rate, samples, config.get("crop", "loudest")).file(wav_path)
    stft = tf.signal.stft(tf.constant(waveform, tf.float32), 400 * rate // 16000 or 256, 160 * rate // 16000 or 128)
    spectrogram = 20.0 * np.log10(np.abs(stft.numpy()) + 1e-6)
    return SpeechAttention(labels, out["probabilities"].numpy()[0], out["attention"].numpy()[0].astype(np.float64),
                           "attention", spectrogram, rate, float(config["clip_seconds"]))


def demo_wavs(count: int = 3) -> list[Path]:
    """A few WAV files of the speech app's demo set, one per word."""
    folder = Path(app_module("speech", "data").demo_folder())
    picked = []
    for word_folder in sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("_")):
        wavs = sorted(word_folder.glob("*.wav"))
        if wavs:
            picked.append(wavs[0])
        if len(picked) == count:
            break
    return picked
