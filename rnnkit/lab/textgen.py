"""A textgen model as the lab uses it: hidden states and next-character distributions over a
text, and generation with temperature / top-k / top-p.

A run folder runs through the app's own step model (the training model's layers, one character
per step, in one compiled loop); an export folder through its verified TFLite step model (states
and logits) and its SavedModel `generate` signature (text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.lab.models import ModelRef, app_module

MAX_READ_CHARS = 4000


@dataclass
class Reading:
    """What the model did over a text: after character i it held states[name][i] and predicted probs[i]."""

    text: str  # the characters actually read (unknown ones dropped)
    ids: np.ndarray  # [n]
    probs: np.ndarray  # [n, vocab] distribution of the character after position i
    states: dict[str, np.ndarray]  # name ("h0", "c0", ...) -> [n, units]


class TextModel:
    chars: list[str]
    state_names: list[str]
    description: str

    def encode(self, text: str) -> tuple[np.ndarray, str]:
        index = {char: i for i, char in enumerate(self.chars)}
        kept = "".join(char for char in text if char in index)
        return np.asarray([index[char] for char in kept], np.int32), kept

    def read(self, text: str, limit: int = MAX_READ_CHARS) -> Reading:
        raise NotImplementedError

    def next_logits(self, prime: str) -> np.ndarray:
        """Logits [vocab] of the character after `prime` (an empty prime reads the start character)."""
        raise NotImplementedError

    def generate(self, prime: str, length: int, temperature: float, top_k: int, top_p: float, seed: int) -> str:
        raise NotImplementedError


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


class RunTextModel(TextModel):
    def __init__(self, path: Path):
        import tensorflow as tf

        model_module = app_module("textgen", "model")
        model, self.vocabulary, config = model_module.load_run_model(path)
        self.generator = model_module.Generator(model, self.vocabulary)
        self.chars = list(self.vocabulary.chars)
        self.state_names = model_module.state_names(model)
        self.units = model_module.state_units(model)
        self.description = f"{config.num_layers} x {config.cell.upper()}-{config.units}, vocabulary {len(self.chars)}"
        step = self.generator.step_model
        specs = [tf.TensorSpec((1, size), tf.float32) for size in self.units]

        def scan(ids, states):
            count = tf.shape(ids)[0]
            logits_out = tf.TensorArray(tf.float32, size=count)
            states_out = [tf.TensorArray(tf.float32, size=count) for _ in self.units]

            def body(position, carried, logits_out, states_out):
                logits, *new_states = step([ids[position: position + 1], *carried], training=False)
                new_states = [tf.reshape(state, (1, size)) for state, size in zip(new_states, self.units, strict=True)]
                states_out = [array.write(position, state[0]) for array, state in zip(states_out, new_states, strict=True)]
                return position + 1, new_states, logits_out.write(position, logits[0]), states_out

            _, _, logits_out, states_out = tf.while_loop(
                lambda position, *_: position < count, body, (tf.constant(0), list(states), logits_out, states_out))
            return logits_out.stack(), [array.stack() for array in states_out]

        self._scan = tf.function(scan, input_signature=[tf.TensorSpec((None,), tf.int32), specs])

    def read(self, text: str, limit: int = MAX_READ_CHARS) -> Reading:
        ids, kept = self.encode(text[:limit])
        if len(ids) == 0:
            raise ValueError("none of the text's characters are in the model's vocabulary")
        zeros = [np.zeros((1, size), np.float32) for size in self.units]
        logits, states = self._scan(ids, zeros)
        return Reading(kept, ids, _softmax(logits.numpy().astype(np.float64)),
                       {name: state.numpy() for name, state in zip(self.state_names, states, strict=True)})

    def next_logits(self, prime: str) -> np.ndarray:
        import tensorflow as tf

        ids, _ = self.generator.encode_prime(prime)
        token, states = self.generator.prime(tf.constant(ids[None, :]), tf.ones((1, len(ids)), tf.bool))
        logits, *_ = self.generator.step_model([token, *states], training=False)
        return np.asarray(logits)[0].astype(np.float64)

    def generate(self, prime, length, temperature, top_k, top_p, seed) -> str:
        return self.generator.generate(prime, int(length), temperature=float(temperature), top_k=int(top_k),
                                       top_p=float(top_p), seed=int(seed))


class ExportTextModel(TextModel):
    def __init__(self, path: Path):
        from rnnkit.export import tflite

        meta_path = path / "textgen_step.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{meta_path}: missing; export the run with its TFLite step model (without --no-tflite)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        self.chars, self.start_id = list(meta["vocabulary"]), int(meta["start_id"])
        self.state_names = [name for name in meta["inputs"] if name != "token"]
        self.shapes = {name: meta["inputs"][name] for name in self.state_names}
        self.runner = tflite.signature_runner(path / "textgen_step.tflite", meta["signature"])
        self.path = path
        self._served = None
        config = json.loads((path / "assets.extra" / "rnnkit_config.json").read_text(encoding="utf-8"))["config"]
        self.description = (f"export {path}: {config['num_layers']} x {config['cell'].upper()}-{config['units']}, "
                            f"vocabulary {len(self.chars)} (states from its TFLite step model)")

    def _walk(self, ids):
        states = {name: np.zeros(shape, np.float32) for name, shape in self.shapes.items()}
        for token in ids:
            out = self.runner(token=np.asarray([token], np.int32), **states)
            states = {name: out[f"new_{name}"] for name in self.state_names}
            yield out["logits"][0], states

    def read(self, text: str, limit: int = MAX_READ_CHARS) -> Reading:
        ids, kept = self.encode(text[:limit])
        if len(ids) == 0:
            raise ValueError("none of the text's characters are in the model's vocabulary")
        logits, states = [], {name: [] for name in self.state_names}
        for step_logits, step_states in self._walk(ids):
            logits.append(step_logits)
            for name in self.state_names:
                states[name].append(step_states[name][0])
        return Reading(kept, ids, _softmax(np.asarray(logits, np.float64)),
                       {name: np.asarray(rows) for name, rows in states.items()})

    def next_logits(self, prime: str) -> np.ndarray:
        ids, _ = self.encode(prime)
        *_, (logits, _) = self._walk(ids if len(ids) else [self.start_id])
        return np.asarray(logits, np.float64)

    def generate(self, prime, length, temperature, top_k, top_p, seed) -> str:
        import tensorflow as tf

        if self._served is None:
            self._served = tf.saved_model.load(str(self.path)).signatures["generate"]
        out = self._served(prime=tf.constant([prime]), length=tf.constant(int(length)),
                           temperature=tf.constant(float(temperature)), top_k=tf.constant(int(top_k)),
                           top_p=tf.constant(float(top_p)), seed=tf.constant(int(seed), tf.int64))
        return out["continuation"].numpy()[0].decode("utf-8")


def load_text_model(ref: ModelRef) -> TextModel:
    return RunTextModel(ref.path) if ref.kind == "run" else ExportTextModel(ref.path)


def sample_passage(ref: ModelRef, chars: int = 1200) -> str | None:
    """The start of the validation part of the text a run was trained on, when that file is at hand.

    Read from the run's config.json alone, so the page can show it without loading the model."""
    if ref.kind != "run":
        return None
    try:
        saved = json.loads((ref.path / "config.json").read_text(encoding="utf-8"))
        source, config = saved.get("data"), saved.get("config", {})
        if not source or source.startswith("tfds:"):
            return None
        data = app_module("textgen", "data")
        text = data.load_text(source, config.get("val_fraction", 0.1), config.get("max_chars", 0)).val
    except (OSError, ValueError):
        return None
    start = text.find("\n\n")  # begin at a paragraph (a speech, in a play)
    start = start + 2 if 0 <= start < len(text) // 2 else 0
    return text[start: start + chars]
