"""Movie-review sentiment: TextVectorization, a masked BiLSTM/BiGRU with attention pooling, length buckets."""

from rnnkit.cli import App

APP = App(
    name="sentiment",
    help="review sentiment (BiLSTM/BiGRU + attention pooling over masked, length-bucketed batches)",
    commands={
        "train": "apps.sentiment.train",
        "evaluate": "apps.sentiment.evaluate",
        "tune": "apps.sentiment.tune",
        "export": "apps.sentiment.export",
        "predict": "apps.sentiment.predict",
    },
)
