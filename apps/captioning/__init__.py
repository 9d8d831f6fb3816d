"""Image captioning: a CNN encoder and an attention GRU/LSTM decoder, beam search, BLEU."""

from rnnkit.cli import App

APP = App(
    name="captioning",
    help="image captioning (CNN encoder, attention GRU/LSTM decoder, beam search, BLEU)",
    commands={
        "train": "apps.captioning.train",
        "evaluate": "apps.captioning.evaluate",
        "tune": "apps.captioning.tune",
        "export": "apps.captioning.export",
        "predict": "apps.captioning.predict",
    },
)
