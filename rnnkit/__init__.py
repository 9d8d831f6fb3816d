"""rnnkit: recurrent-network building blocks for Keras 3.

The package is split so that importing it stays cheap: `rnnkit.config`,
`rnnkit.io` and `rnnkit.cli` are pure Python; the layers, data pipelines,
training, tuning and export helpers import Keras / TensorFlow when used.
"""

__version__ = "0.1.0"
