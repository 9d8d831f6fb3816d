"""rnnkit layers: one public layer per file, each registered for `.keras` saving.

Import this package (or the layer's module) before loading a `.keras` file
that uses one of them.
"""

from rnnkit.layers.bahdanau_attention import BahdanauAttention
from rnnkit.layers.luong_attention import LuongAttention

__all__ = [
    "BahdanauAttention",
    "LuongAttention",
]
