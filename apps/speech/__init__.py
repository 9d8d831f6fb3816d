"""Speech command recognition: raw waveforms -> causal log-mel -> conv -> unidirectional RNN -> words, also as a stream."""

from rnnkit.cli import App

APP = App(
    name="speech",
    help="speech command recognition and streaming keyword spotting (log-mel in the model, causal conv + GRU/LSTM; WAV bytes in when served)",
    commands={
        "train": "apps.speech.train",
        "evaluate": "apps.speech.evaluate",
        "tune": "apps.speech.tune",
        "export": "apps.speech.export",
        "predict": "apps.speech.predict",
        "stream": "apps.speech.stream",
    },
)
