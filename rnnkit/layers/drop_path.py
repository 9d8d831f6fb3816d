"""DropPath: the sum of parallel branches, each dropped for some training examples (local drop-path)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnnkit")
class DropPath(keras.layers.Layer):
    """Sums its inputs; in training, leaves each out of an example's sum with probability `rate`.

    FractalNet's local drop-path (Larsson et al. 2017) as a join of branches that each make the
    same prediction, e.g. the logits of an RNN and of a bag of n-grams: at least one input is
    kept for every example (one picked at random when all were dropped), and the kept ones are
    summed without rescaling, so for those examples a branch must predict alone. Two branches
    trained only through their sum learn to lean on each other; the one that fits the training
    set first (the bag) leaves the other little to learn. With drop-path each is also trained
    as a model of its own, and their sum behaves more like an ensemble of the two.

    At inference (and in exports) it is a plain sum.

    Args:
        rate: probability in [0, 1) that an input is left out of an example's sum in training.
        seed: seed of the random draws.
        **kwargs: passed to `keras.layers.Layer`.

    Inputs:
        a list of two or more tensors of one shape `[batch, ...]`.

    Outputs:
        their sum, `[batch, ...]`.
    """

    def __init__(self, rate=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"rate must be in [0, 1), not {rate}")
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2 or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"DropPath joins a list of two or more tensors, not {input_shape}")
        self.built = True

    def call(self, inputs, training=False):
        stacked = ops.stack(inputs, axis=1)  # [batch, branches, ...]
        if not training or not self.rate:
            return ops.sum(stacked, axis=1)
        branches = len(inputs)
        batch = ops.shape(stacked)[0]
        keep = keras.random.uniform((batch, branches), seed=self.seed_generator) >= self.rate
        fallback = ops.one_hot(keras.random.randint((batch,), 0, branches, seed=self.seed_generator), branches) > 0.5
        keep = ops.where(ops.any(keep, axis=1, keepdims=True), keep, fallback)
        keep = ops.reshape(ops.cast(keep, stacked.dtype), (batch, branches) + (1,) * (len(stacked.shape) - 2))
        return ops.sum(stacked * keep, axis=1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
