import dataclasses
import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("keras_tuner")

from rnnkit.config import load_config  # noqa: E402
from rnnkit.tuning import search  # noqa: E402


@dataclasses.dataclass
class Tiny:
    units: int = 4
    learning_rate: float = 1e-2
    epochs: int = 2


def space(hp, base):
    return dataclasses.replace(base, units=hp.Choice("units", [2, 4, 8]),
                               learning_rate=hp.Float("learning_rate", 1e-3, 1e-1, sampling="log"))


def build(config):
    model = keras.Sequential([keras.Input((5, 2)), keras.layers.GRU(config.units), keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(config.learning_rate), "mse")
    return model


def arrays():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 5, 2)).astype("float32")
    return x, x.sum(axis=(1, 2), keepdims=False)[:, None]


@pytest.mark.parametrize("tuner", ["random", "bayesian", "hyperband"])
def test_search_writes_summary_and_best_config(tmp_path, tuner):
    x, y = arrays()
    result = search(build_model=build, space=space, base_config=Tiny(), train_data=(x, y), val_data=(x, y),
                    out_dir=tmp_path, tuner=tuner, max_trials=2, epochs=2, seed=3, verbose=0)
    trials = json.loads((tmp_path / "trials.json").read_text())["trials"]
    assert len(trials) >= 2 and all(trial["config"]["units"] in (2, 4, 8) for trial in trials)
    assert (tmp_path / "trials.csv").read_text().startswith("trial_id,status,score")
    assert (tmp_path / "trial_scores.png").stat().st_size > 1000
    best = load_config(Tiny, tmp_path / "best_config.json")
    scores = [trial["score"] for trial in trials if trial["score"] is not None]
    assert result.best_score == min(scores) and best == result.best_config


def test_search_resumes_instead_of_starting_over(tmp_path):
    x, y = arrays()
    kwargs = dict(build_model=build, space=space, base_config=Tiny(), train_data=(x, y), val_data=(x, y),
                  out_dir=tmp_path, max_trials=2, epochs=1, seed=3, verbose=0)
    first = search(**kwargs)
    again = search(**{**kwargs, "max_trials": 3})
    first_ids = [trial["trial_id"] for trial in first.trials]
    again_ids = [trial["trial_id"] for trial in again.trials]
    assert again_ids[:2] == first_ids and len(again_ids) == 3, "finished trials are kept, one more is run"


def test_unknown_tuner_is_refused(tmp_path):
    x, y = arrays()
    with pytest.raises(ValueError, match="unknown tuner"):
        search(build_model=build, space=space, base_config=Tiny(), train_data=(x, y), val_data=(x, y),
               out_dir=tmp_path, tuner="grid")
