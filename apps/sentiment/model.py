"""The sentiment model, its explaining twin, and loading a run.

    ids [batch, time] (0 = padding)
      -> Embedding(mask_zero) -> SpatialDropout1D
      -> BidirectionalRNN(LSTM | GRU | SimpleRNN) x num_layers      (padding skipped in both directions)
      -> AttentionPooling (+ masked max with pooling=attention_max, + masked mean and max with
         attention_mean_max; masked mean + max alone with mean_max)
      -> Dropout -> Dense(1) (+ NgramBag(ids): words and the training reviews' word pairs, unless
                              ngrams=off; joined by DropPath(drop_path): in training a review's sum may lack one)
      -> sigmoid                                                      probability of "positive"

The model takes token ids, so tf.data does the tokenizing once per run; the
serving export (export.py) puts TextVectorization in front of it.

Two training-only extras leave this model unchanged: `adversarial > 0` trains it
inside `AdversarialTrainer` (the saved run holds the wrapper; `load_run` returns the
classifier inside), and `pretrain_epochs > 0` sets the embedding and first BiRNN from
language models trained on the training reviews first (pretrain.py), whose
softmax layers are then dropped.
"""

from __future__ import annotations

from pathlib import Path

import keras

from apps.sentiment.config import SentimentConfig
from rnnkit.layers import (
    AttentionPooling,
    BidirectionalRNN,
    DropPath,
    MaskedGlobalPooling1D,
    NgramBag,
    frequent_pairs,
)
from rnnkit.training import optimizer_from_config, summed_sparse_gradients


def training_pairs(config: SentimentConfig, train_ids, vocab_size: int):
    """The word pairs the n-gram bag gives a row (with ngrams=pairs; None otherwise): those in at least
    `ngram_min_reviews` of the training reviews' id rows."""
    return frequent_pairs(train_ids, vocab_size, config.ngram_min_reviews) if config.ngrams == "pairs" else None


def build_model(config: SentimentConfig, vocab_size: int, pair_keys=None) -> keras.Model:
    """`vocab_size` counts every id, padding (0) and [UNK] (1) included; `pair_keys` (needed with
    ngrams=pairs) are the bag's word pairs, `training_pairs(config, train_ids, vocab_size)`."""
    if config.ngrams == "pairs" and pair_keys is None:
        raise ValueError("ngrams=pairs needs the word pairs of the training reviews: build_model(config, vocab_size, "
                         "training_pairs(config, train_ids, vocab_size)); or --set ngrams=hashed / off")
    ids = keras.Input((None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(vocab_size, config.embedding_dim, mask_zero=True, name="embedding")(ids)
    x = keras.layers.SpatialDropout1D(config.embedding_dropout, name="embedding_dropout")(x)
    rnn_class = RNN_CLASSES[config.cell]
    for index in range(config.num_layers):
        if index:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{index}")(x)
        x = BidirectionalRNN(rnn_class(config.units, return_sequences=True, name=f"{config.cell}_{index}"),
                             name=f"birnn_{index}")(x)
    if config.pooling == "mean_max":
        pooled = MaskedGlobalPooling1D("mean_max", name="mean_max")(x)
    else:
        pooled, _ = AttentionPooling(config.attention_units, return_attention_scores=True, name="attention")(x)
        if config.pooling == "attention_max":
            pooled = keras.layers.Concatenate(name="pooled")([pooled, MaskedGlobalPooling1D("max", name="max")(x)])
        elif config.pooling == "attention_mean_max":
            pooled = keras.layers.Concatenate(name="pooled")([pooled, MaskedGlobalPooling1D("mean_max", name="mean_max")(x)])
    pooled = keras.layers.Dropout(config.dropout, name="dropout")(pooled)
    if config.ngrams == "off":
        probability = keras.layers.Dense(1, activation="sigmoid", name="probability")(pooled)
        return keras.Model(ids, probability, name="sentiment")
    logit = keras.layers.Dense(1, name="rnn_logit")(pooled)
    rows = {"pairs": pair_keys} if config.ngrams == "pairs" else {"buckets": config.ngram_buckets}
    ngrams = NgramBag(vocab_size, **rows, rate_multiplier=config.ngram_rate, dropout=config.ngram_dropout,
                      seed=config.seed + 1, name="ngrams")(ids)  # not DropPath's stream
    logit = DropPath(config.drop_path, seed=config.seed, name="logit")([logit, ngrams])
    probability = keras.layers.Activation("sigmoid", name="probability")(logit)
    return keras.Model(ids, probability, name="sentiment")


RNN_CLASSES = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple": keras.layers.SimpleRNN}


@keras.saving.register_keras_serializable(package="rnnkit_sentiment")
class AdversarialTrainer(keras.Model):
    """Trains `classifier` on each batch and on the same batch with its embeddings moved up the loss.

    The fast gradient method on the embedding table (Goodfellow et al. 2015; Miyato et al. 2016
    for text, there on each position's normalised embedding): r = epsilon * g / ||g||_2 with g
    the gradient of the loss with respect to the embedding table, the adversarial loss is taken
    with the table at E + r, and the two losses' gradients are summed. It costs a second
    forward and backward pass per step. Prediction, evaluation and export use `classifier`
    unchanged; this wrapper only exists in the run folder so that `--resume` keeps training it.
    """

    def __init__(self, classifier, epsilon=1.0, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.epsilon = float(epsilon)

    def call(self, inputs, training=None):
        return self.classifier(inputs, training=training)

    def build(self, input_shape=None):
        self.built = True

    def train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        table = self.classifier.get_layer("embedding").embeddings
        weights = self.classifier.trainable_variables
        index = next(i for i, weight in enumerate(weights) if weight is table)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        # compute_loss divides by the replicas (their gradients are summed); the reported loss, as in
        # Keras' own train_step, is the per-example one again.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self._loss_tracker.update_state(loss * tf.cast(replicas, loss.dtype), sample_weight=tf.shape(x)[0])
        gradients = summed_sparse_gradients(tape.gradient(self.optimizer.scale_loss(loss), weights))
        direction = gradients[index]  # the embedding table's gradient, dense [vocab, dim]
        perturbation = tf.stop_gradient(self.epsilon * direction / (tf.norm(direction) + 1e-12))
        # The adversarial pass reads the weights as tensors (stateless_call), so no variable is
        # changed and put back: under a distribution strategy each replica perturbs its own copy.
        values = [tf.convert_to_tensor(weight) for weight in weights]
        frozen = [tf.convert_to_tensor(weight) for weight in self.classifier.non_trainable_variables]
        with tf.GradientTape() as tape:
            tape.watch(values)
            moved = [value + perturbation if i == index else value for i, value in enumerate(values)]
            adversarial_pred, _ = self.classifier.stateless_call(moved, frozen, x, training=True)
            adversarial_loss = self.compute_loss(x=x, y=y, y_pred=adversarial_pred, sample_weight=sample_weight,
                                                 training=True)
        adversarial_gradients = summed_sparse_gradients(tape.gradient(self.optimizer.scale_loss(adversarial_loss), values))
        summed = [a + b for a, b in zip(gradients, adversarial_gradients, strict=True)]
        self.optimizer.apply_gradients(zip(summed, weights, strict=True))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update({"classifier": keras.saving.serialize_keras_object(self.classifier), "epsilon": self.epsilon})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["classifier"] = keras.saving.deserialize_keras_object(config["classifier"])
        return cls(**config)


def classifier_of(model: keras.Model) -> keras.Model:
    """The plain id -> probability model, with or without the training wrapper around it."""
    return model.classifier if isinstance(model, AdversarialTrainer) else model


def training_model(config: SentimentConfig, classifier: keras.Model) -> keras.Model:
    """What `fit` trains: the classifier itself, or the adversarial wrapper around it."""
    if config.adversarial > 0:
        wrapper = AdversarialTrainer(classifier, config.adversarial, name="adversarial_trainer")
        wrapper.build()
        return wrapper
    return classifier


def compile_model(model: keras.Model, config: SentimentConfig, steps_per_epoch: int) -> keras.Model:
    model.compile(
        optimizer=optimizer_from_config(config, steps_per_epoch),
        loss="binary_crossentropy",
        metrics=["accuracy", keras.metrics.AUC(name="auc")],
    )
    return model


def explaining_model(model: keras.Model) -> keras.Model:
    """ids -> (probability [batch], attention weights [batch, time]); the same layers and weights."""
    try:
        attention = model.get_layer("attention")
    except ValueError:
        raise ValueError("this model pools without attention (pooling=mean_max); it has no weights to explain with") from None
    probability = keras.ops.squeeze(model.output, -1)
    return keras.Model(model.input, [probability, attention.output[1]], name="sentiment_explain")


def load_run(run_dir):
    """(model, vocabulary, config, data source) of a sentiment run folder."""
    from apps.sentiment.data import load_vocabulary
    from rnnkit.config import read_saved_config
    from rnnkit.io import read_json
    from rnnkit.training import RunDir

    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"--model {run_dir}: no such run folder")
    run = RunDir(path)
    config = read_saved_config(SentimentConfig, run.config_path)
    vocabulary = load_vocabulary(path / "vocab.txt")
    model = classifier_of(keras.saving.load_model(run.trained_model_path(), compile=False))
    saved = read_json(run.config_path)
    source = saved.get("data_resolved") or saved.get("data")
    return model, vocabulary, config, source


def compiled_call(model):
    """`model(ids)` as one traced graph for any batch and length (an eager RNN call loops in Python)."""
    import tensorflow as tf

    return tf.function(lambda ids: model(ids, training=False),
                       input_signature=[tf.TensorSpec((None, None), tf.int32, name="ids")])


def length_sorted_batches(ids, batch_size: int = 128):
    """Yield (row indices, padded ids [batch, time]) with rows of similar length together.

    For scoring: far less padding than random batches, and the indices put
    every result back in the caller's order. An empty row becomes one
    padding token (a fully masked step).
    """
    import numpy as np

    rows = [np.asarray(row, np.int32) for row in (ids.to_list() if hasattr(ids, "to_list") else ids)]
    order = np.argsort([len(row) for row in rows], kind="stable")
    for start in range(0, len(order), batch_size):
        chosen = order[start: start + batch_size]
        width = max(1, max(len(rows[i]) for i in chosen))
        batch = np.zeros((len(chosen), width), np.int32)
        for slot, index in enumerate(chosen):
            batch[slot, : len(rows[index])] = rows[index]
        yield chosen, batch


def predict_probabilities(model, ids, batch_size: int = 128, with_attention: bool = False):
    """P(positive) for every row of `ids` (ragged or a list of arrays), in order; optionally the attention rows."""
    import numpy as np

    count = len(ids.to_list()) if hasattr(ids, "to_list") else len(ids)
    probabilities = np.zeros(count, np.float32)
    attention: list = [None] * count
    runner = compiled_call(explaining_model(model) if with_attention else model)
    for chosen, batch in length_sorted_batches(ids, batch_size):
        out = runner(batch)
        if with_attention:
            probability, weights = (np.asarray(item) for item in out)
            for slot, index in enumerate(chosen):
                attention[index] = weights[slot]
        else:
            probability = np.asarray(out).reshape(-1)
        probabilities[chosen] = probability
    return (probabilities, attention) if with_attention else probabilities
