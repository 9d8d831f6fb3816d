"""The on-device generation loop, in Python with the LiteRT interpreter.

This is what a mobile app does with `textgen_step.tflite` and its
`textgen_step.json`: keep the states, feed one character id per call, sample
the next id from the logits. It needs only numpy and ai-edge-litert.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def sample(logits: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator) -> int:
    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    if 0 < top_k < scaled.size:
        scaled[scaled < np.sort(scaled)[-top_k]] = -np.inf
    probabilities = np.exp(scaled - scaled.max())
    probabilities /= probabilities.sum()
    return int(rng.choice(scaled.size, p=probabilities))


def generate(tflite_path: str | Path, prime: str, length: int, temperature: float = 0.8,
             top_k: int = 0, seed: int | None = None) -> str:
    from ai_edge_litert.interpreter import Interpreter

    tflite_path = Path(tflite_path)
    meta = json.loads(tflite_path.with_suffix(".json").read_text(encoding="utf-8"))
    chars, index = meta["vocabulary"], {char: i for i, char in enumerate(meta["vocabulary"])}
    state_names = [name for name in meta["inputs"] if name != "token"]

    interpreter = Interpreter(model_path=str(tflite_path))
    step = interpreter.get_signature_runner(meta["signature"])
    states = {name: np.zeros(meta["inputs"][name], np.float32) for name in state_names}
    rng = np.random.default_rng(seed)

    ids = [index[char] for char in prime if char in index] or [meta["start_id"]]
    for token in ids[:-1]:  # read the prime, one character per call
        out = step(token=np.array([token], np.int32), **states)
        states = {name: out[f"new_{name}"] for name in state_names}
    token, generated = ids[-1], []
    for _ in range(length):
        out = step(token=np.array([token], np.int32), **states)
        states = {name: out[f"new_{name}"] for name in state_names}
        token = sample(out["logits"][0], temperature, top_k, rng)
        generated.append(chars[token])
    return "".join(generated)
