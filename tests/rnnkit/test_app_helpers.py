"""Helpers every app uses: optimizer_from_config (rnnkit.training), resolve_tune_config and int_list (rnnkit.cli)."""

from dataclasses import dataclass

import pytest

keras = pytest.importorskip("keras")

from rnnkit.training import optimizer_from_config  # noqa: E402


@dataclass
class Full:
    optimizer: str = "adamw"
    learning_rate: float = 0.01
    clipnorm: float = 0.5
    weight_decay: float = 0.02
    schedule: str = "cosine"
    epochs: int = 4
    warmup_steps: int = 0
    final_lr_fraction: float = 0.1
    seed: int = 5


@dataclass
class Minimal:
    learning_rate: float = 0.003
    epochs: int = 2


def test_fields_reach_the_optimizer_and_schedule():
    optimizer = optimizer_from_config(Full(), steps_per_epoch=25)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert optimizer.clipnorm == 0.5 and optimizer.weight_decay == pytest.approx(0.02)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(100)) == pytest.approx(0.001, rel=1e-4)  # 4 epochs x 25 steps, down to 10%


def test_missing_fields_take_defaults():
    optimizer = optimizer_from_config(Minimal(), steps_per_epoch=0)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert float(optimizer.learning_rate) == pytest.approx(0.003) and optimizer.clipnorm == 1.0


def test_resolve_tune_config_applies_set_epochs_and_seed():
    import argparse

    from rnnkit.cli import int_list, resolve_tune_config

    args = argparse.Namespace(config=None, overrides=["learning_rate=0.5"], epochs=7, seed=None)
    base, seed = resolve_tune_config(Full, args)
    assert (base.learning_rate, base.epochs, seed) == (0.5, 7, 5)
    args.seed = 11
    assert resolve_tune_config(Full, args)[1] == 11
    assert int_list("32, 64,,128", "--units") == [32, 64, 128]
    with pytest.raises(ValueError, match="--units 'a,b'"):
        int_list("a,b", "--units")
