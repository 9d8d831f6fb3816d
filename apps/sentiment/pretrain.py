"""Language-model pretraining of the sentiment model's embedding and first BiRNN (Dai & Le 2015).

A forward RNN predicts each next word of the training reviews and a backward RNN each previous
word, both reading the same embedding; the loss is a sampled softmax over the vocabulary
(`pretrain_samples` negative classes), so a step costs about what a classifier step does rather
than a 25,000-way softmax per token. Only the training split's reviews are read (no outside
text, nothing of the validation or test reviews). Afterwards the embedding and the two RNNs'
weights are copied into the classifier's `embedding` and `birnn_0` (forward and backward
layers), and the language models, with their softmax weights, are dropped: the saved and
exported model is the classifier alone.
"""

from __future__ import annotations

import time

import keras


def language_models(config, vocab_size: int, log_frequencies):
    """(embedding, forward RNN, backward RNN, softmax weights [vocab, units], softmax biases [vocab]).

    The biases start at `log_frequencies` (each word's log share of the training tokens), so the
    language models start as the unigram model and spend their few hundred steps on context; from
    zeros, Adam's small steps take thousands of steps just to learn how common each word is.
    """
    from apps.sentiment.model import RNN_CLASSES

    rnn_class = RNN_CLASSES[config.cell]
    embedding = keras.layers.Embedding(vocab_size, config.embedding_dim, mask_zero=True, name="lm_embedding")
    forward = rnn_class(config.units, return_sequences=True, name="lm_forward")
    backward = rnn_class(config.units, return_sequences=True, name="lm_backward")
    embedding.build((None, None))
    forward.build((None, None, config.embedding_dim))
    backward.build((None, None, config.embedding_dim))
    softmax_weights = keras.Variable(keras.initializers.GlorotUniform(config.seed)((vocab_size, config.units)),
                                     name="lm_softmax_weights")
    softmax_biases = keras.Variable(keras.ops.convert_to_tensor(log_frequencies, "float32"), name="lm_softmax_biases")
    return embedding, forward, backward, softmax_weights, softmax_biases


def pretrain(train_ids, vocab_size: int, config, plan, log=print) -> tuple[dict, dict]:
    """Train the two language models on `train_ids` (ragged); (weights for `apply_pretrained`, report).

    It runs before, and outside, the strategy scope the classifier is built in, so under a
    multi-worker strategy each worker pretrains the same way on the same reviews.
    """
    import numpy as np
    import tensorflow as tf

    from apps.sentiment.data import make_dataset
    from rnnkit.training import make_optimizer

    counts = np.bincount(np.asarray(train_ids.flat_values), minlength=vocab_size)[:vocab_size].astype(np.float64)
    counts[0] = 0.0  # padding is never a target
    log_frequencies = np.log((counts + 1.0) / (counts.sum() + vocab_size))
    embedding, forward, backward, softmax_weights, softmax_biases = language_models(config, vocab_size, log_frequencies)
    layers = [embedding, forward, backward]
    variables = [*(w for layer in layers for w in layer.trainable_weights), softmax_weights, softmax_biases]
    data = make_dataset(train_ids, np.zeros(len(train_ids.row_lengths()), np.float32), config, plan=plan,
                        shuffle=True)
    steps = int(data.cardinality())
    optimizer = make_optimizer(config.optimizer, config.learning_rate, clipnorm=config.clipnorm, schedule="cosine",
                               total_steps=config.pretrain_epochs * steps, final_lr_fraction=config.final_lr_fraction)
    optimizer.build(variables)

    def direction_loss(rnn, inputs, targets):
        mask = targets != 0
        hidden = rnn(embedding(inputs), mask=inputs != 0, training=True)
        hidden = tf.boolean_mask(hidden, mask)
        labels = tf.cast(tf.reshape(tf.boolean_mask(targets, mask), (-1, 1)), tf.int64)
        losses = tf.nn.sampled_softmax_loss(tf.convert_to_tensor(softmax_weights), tf.convert_to_tensor(softmax_biases),
                                            labels, hidden, num_sampled=min(config.pretrain_samples, vocab_size - 1),
                                            num_classes=vocab_size)
        return tf.reduce_sum(losses), tf.cast(tf.shape(labels)[0], tf.float32)

    @tf.function(reduce_retracing=True)
    def step(ids):
        lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)
        reversed_ids = tf.reverse_sequence(ids, lengths, seq_axis=1, batch_axis=0)
        with tf.GradientTape() as tape:
            forward_sum, count = direction_loss(forward, ids[:, :-1], ids[:, 1:])
            backward_sum, _ = direction_loss(backward, reversed_ids[:, :-1], reversed_ids[:, 1:])
            loss = (forward_sum + backward_sum) / tf.maximum(2.0 * count, 1.0)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    history = []
    started = time.perf_counter()
    for epoch in range(config.pretrain_epochs):
        epoch_started, losses = time.perf_counter(), []
        for ids, _ in data:
            losses.append(float(step(ids)))
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                        "seconds": round(time.perf_counter() - epoch_started, 1)})
        log(f"pretraining epoch {epoch + 1}/{config.pretrain_epochs}: language-model loss {history[-1]['loss']:.3f} "
            f"(sampled softmax, {config.pretrain_samples} samples), {history[-1]['seconds']:.0f} s")
    weights = {"embedding": embedding.get_weights(), "forward": forward.get_weights(),
               "backward": backward.get_weights()}
    return weights, {"epochs": history, "seconds": round(time.perf_counter() - started, 1)}


def apply_pretrained(classifier, weights: dict) -> None:
    """Copy the language models' embedding and RNN weights into the classifier (its first BiRNN)."""
    classifier.get_layer("embedding").set_weights(weights["embedding"])
    birnn = classifier.get_layer("birnn_0")
    birnn.forward_layer.set_weights(weights["forward"])
    birnn.backward_layer.set_weights(weights["backward"])
