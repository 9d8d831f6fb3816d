"""Character-level text generation with stacked LSTM/GRU and a stateful sampler."""

from rnnkit.cli import App

APP = App(
    name="textgen",
    help="character-level text generation (stacked LSTM/GRU, stateful sampling)",
    commands={
        "train": "apps.textgen.train",
        "evaluate": "apps.textgen.evaluate",
        "tune": "apps.textgen.tune",
        "generate": "apps.textgen.generate",
        "export": "apps.textgen.export",
        "predict": "apps.textgen.predict",
    },
)
