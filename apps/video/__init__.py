"""Video action recognition: a per-frame CNN and a masked bidirectional RNN over the frames."""

from rnnkit.cli import App

APP = App(
    name="video",
    help="video action recognition (per-frame CNN, masked bidirectional LSTM/GRU, attention pooling)",
    commands={
        "train": "apps.video.train",
        "evaluate": "apps.video.evaluate",
        "tune": "apps.video.tune",
        "export": "apps.video.export",
        "predict": "apps.video.predict",
    },
)
