"""The sentiment config: every setting of a run, with defaults that work."""

from __future__ import annotations

from dataclasses import dataclass

CELLS = ("lstm", "gru", "simple")  # simple: the Elman keras.layers.SimpleRNN
POOLINGS = ("attention", "attention_max", "mean_max", "attention_mean_max")
TRUNCATIONS = ("head", "tail", "head_tail")
BATCHINGS = ("buckets", "longest", "fixed")
NGRAMS = ("pairs", "hashed", "off")


@dataclass
class SentimentConfig:
    # text
    vocab_size: int = 25_000  # words kept by TextVectorization, plus padding and [UNK]
    max_length: int = 3000  # tokens kept per review, longer ones are cut (see `truncate`); 3000 keeps every IMDB review whole
    truncate: str = "head_tail"  # which tokens a long review keeps: head, tail, or head_tail (first quarter + last three quarters)
    # model
    cell: str = "lstm"  # lstm, gru or simple (Elman SimpleRNN)
    num_layers: int = 1
    units: int = 64
    embedding_dim: int = 128
    embedding_dropout: float = 0.4  # SpatialDropout1D: drops whole embedding channels of a review
    dropout: float = 0.4  # between recurrent layers and before the classifier
    pooling: str = "attention_mean_max"  # attention, attention_max (attention + masked max), mean_max, attention_mean_max (all three)
    attention_units: int = 64
    ngrams: str = "pairs"  # add a linear model of the review's words and word pairs to the logit: pairs (a row for each pair in ngram_min_reviews training reviews), hashed (ngram_buckets rows), off
    ngram_min_reviews: int = 2  # ngrams=pairs: a word pair gets a row when at least this many training reviews have it
    ngram_buckets: int = 1_000_003  # ngrams=hashed: rows the word pairs are hashed into
    ngram_dropout: float = 0.0  # each word and pair of a training review is left out of the bag's sum with this probability
    ngram_rate: float = 50.0  # the n-gram table learns this many times faster than the rest (a pair is in few reviews)
    drop_path: float = 0.5  # with ngrams: each branch's logit is left out for this fraction of training reviews (one always stays)
    adversarial: float = 1.0  # FGM: also train on the embeddings moved by this L2 norm up the loss gradient (0: off)
    pretrain_epochs: int = 0  # language-model pretraining of the embedding and first BiRNN on the training reviews (0: off)
    pretrain_samples: int = 512  # negative classes of the pretraining sampled softmax
    # data
    batch_size: int = 64
    batching: str = "buckets"  # buckets (by length), longest (pad each random batch to its longest), fixed (pad to max_length)
    num_buckets: int = 16  # whole reviews have a long tail: 16 buckets pad 16.8% of IMDB token slots, 8 pad 28.1%
    scale_batch: bool = True  # buckets of reviews shorter than batch_length get proportionally bigger batches than batch_size
    batch_length: int = 400  # with scale_batch: a batch holds about batch_size * batch_length tokens, and at least batch_size reviews
    val_fraction: float = 0.2  # carved from the training split, stratified; never the test split
    split_seed: int = 1337  # which reviews (movies) the validation part holds; `seed` only changes the training
    max_examples: int = 0  # use only N training reviews (0: all); for quick runs
    shuffle: bool = True  # reshuffle the training reviews every epoch; off only to compare runs step by step
    # optimisation
    epochs: int = 5  # the cosine schedule spans these
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    schedule: str = "cosine"
    final_lr_fraction: float = 0.05
    warmup_steps: int = 0
    clipnorm: float = 1.0
    patience: int = 2  # stop after N epochs without a better val_accuracy (0: off)
    seed: int = 1337

    def validate(self) -> None:
        choices = {"cell": CELLS, "pooling": POOLINGS, "truncate": TRUNCATIONS, "batching": BATCHINGS, "ngrams": NGRAMS}
        for name, options in choices.items():
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {', '.join(options)}, not {getattr(self, name)!r}")
        for name in ("vocab_size", "max_length", "num_layers", "units", "embedding_dim", "attention_units",
                     "batch_size", "batch_length", "num_buckets", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3 (padding, [UNK] and one word), not {self.vocab_size}")
        for name in ("adversarial", "pretrain_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (off) or positive, not {getattr(self, name)}")
        if self.ngram_buckets < 1 or self.ngram_min_reviews < 1:
            raise ValueError(f"ngram_buckets and ngram_min_reviews must be at least 1, not {self.ngram_buckets} and "
                             f"{self.ngram_min_reviews} (ngrams=off turns the n-gram branch off)")
        if self.ngram_rate <= 0:
            raise ValueError(f"ngram_rate must be positive, not {self.ngram_rate}")
        if self.pretrain_samples < 1:
            raise ValueError(f"pretrain_samples must be at least 1, not {self.pretrain_samples}")
        for name in ("embedding_dropout", "dropout", "drop_path", "ngram_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), not {getattr(self, name)}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5), not {self.val_fraction}")
        if self.max_examples < 0:
            raise ValueError(f"max_examples must be 0 (all) or positive, not {self.max_examples}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, not {self.learning_rate}")
