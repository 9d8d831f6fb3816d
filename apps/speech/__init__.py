"""Speech command recognition: raw waveforms -> log-mel -> conv -> bidirectional RNN -> attention -> words."""

from rnnkit.cli import App

APP = App(
    name="speech",
    help="speech command recognition (log-mel in the model, conv + BiGRU/LSTM + attention; WAV bytes in when served)",
    commands={
        "train": "apps.speech.train",
        "evaluate": "apps.speech.evaluate",
        "tune": "apps.speech.tune",
        "export": "apps.speech.export",
        "predict": "apps.speech.predict",
    },
)
