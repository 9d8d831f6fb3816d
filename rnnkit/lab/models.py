"""Which model each tab of the lab uses: one given with --model, or a tiny one trained on demo data.

`--model` takes run folders (model.keras + config.json, whose "app" names the app) and exported
version folders (saved_model.pb + assets.extra/rnnkit_config.json). A tab whose app was not given
trains that app's own `train` command on its `demo` source with small settings, once, into the
cache folder (default ~/.cache/rnnkit/lab, or $RNNKIT_LAB_CACHE), and says so in its note.

The lab reaches an app only through the `rnnkit.apps` entry points (the App's command modules and
their sibling modules), never by importing `apps` itself, the same way `rnnkit` finds apps.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

DEFAULT_CACHE = Path(os.environ.get("RNNKIT_LAB_CACHE", Path.home() / ".cache" / "rnnkit" / "lab"))

# Small enough to train in seconds on two cores, big enough to show something.
FALLBACK_TRAINING = {
    "textgen": ["--data", "demo", "--epochs", "3", "--sample-length", "0", "--set", "cell=lstm",
                "--set", "num_layers=1", "--set", "units=128", "--set", "embedding_dim=16", "--set", "seq_len=64",
                "--set", "batch_size=32", "--set", "max_chars=200000", "--set", "dropout=0.0",
                "--set", "learning_rate=0.01"],
    "sentiment": ["--data", "demo", "--epochs", "1", "--set", "vocab_size=2000", "--set", "max_length=80",
                  "--set", "units=16", "--set", "embedding_dim=16", "--set", "attention_units=16",
                  "--set", "batch_size=32", "--set", "learning_rate=0.01", "--set", "num_buckets=3"],
    "captioning": ["--data", "demo", "--epochs", "2", "--samples", "0", "--set", "max_images=240", "--encoder-weights", "none",
                   "--set", "train_encoder=false", "--set", "image_size=128", "--set", "units=32",
                   "--set", "embedding_dim=16", "--set", "attention_units=16", "--set", "max_length=10",
                   "--set", "batch_size=32", "--set", "beam_width=1", "--set", "learning_rate=0.01"],
    "speech": ["--data", "demo", "--epochs", "4", "--set", "clip_seconds=0.5", "--set", "fft_length=256",
               "--set", "window_ms=16", "--set", "hop_ms=16", "--set", "mel_bins=24", "--set", "conv_blocks=1",
               "--set", "conv_filters=8", "--set", "units=16", "--set", "batch_size=16",
               "--set", "learning_rate=0.01"],
    "forecast": ["--data", "demo", "--epochs", "3", "--set", "seq_len=96", "--set", "horizon=24", "--set", "seg_len=12",
                 "--set", "units=32", "--set", "batch_size=64", "--set", "dropout=0", "--set", "learning_rate=0.01",
                 "--set", "patience=0"],
}

# Settings the lab needs when the app's config has them (the speech app's default stream model has
# no attention to show).
FALLBACK_IF_SUPPORTED = {"speech": {"model": "attention"}}


def fallback_arguments(app: str) -> list[str]:
    arguments = list(FALLBACK_TRAINING[app])
    wanted = FALLBACK_IF_SUPPORTED.get(app, {})
    if wanted:
        import dataclasses

        config_module = app_module(app, "config")
        fields = {field.name for value in vars(config_module).values()
                  if dataclasses.is_dataclass(value) and isinstance(value, type) for field in dataclasses.fields(value)}
        for key, value in wanted.items():
            if key in fields:
                arguments += ["--set", f"{key}={value}"]
    return arguments


@dataclass(frozen=True)
class ModelRef:
    """A model a tab can use."""

    app: str
    path: Path
    kind: str  # "run" (a run folder) or "export" (an exported version folder)
    fallback: bool = False
    seconds: float = 0.0  # how long the fallback took to train (0: found in the cache or given)

    def note(self) -> str:
        if not self.fallback:
            return f"Model: `{self.path}` ({self.app} {'run folder' if self.kind == 'run' else 'export'})."
        trained = f"trained just now in {self.seconds:.0f} s" if self.seconds else "trained earlier"
        return (f"**No {self.app} model was given**, so this is a tiny one {trained} on the app's demo data "
                f"(cached in `{self.path}`); it shows the mechanics, not real quality. Train a real one with "
                f"`rnnkit {self.app} train --data SOURCE --out RUN_DIR` and start `rnnkit lab --model RUN_DIR`.")


def classify(path: str | os.PathLike) -> ModelRef:
    """The app and kind of a run folder or an export folder; a clear error for anything else."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--model {path}: no such file or folder")
    if path.is_file() and path.suffix == ".tflite":
        path = path.parent
    extra = path / "assets.extra" / "rnnkit_config.json"
    if (path / "saved_model.pb").is_file() and extra.is_file():
        return ModelRef(_app_of(extra, path), path, "export")
    if (path / "config.json").is_file():
        return ModelRef(_app_of(path / "config.json", path), path, "run")
    raise ValueError(f"--model {path}: neither a run folder (config.json + model.keras) "
                     "nor an exported version folder (saved_model.pb + assets.extra/rnnkit_config.json)")


def _app_of(config_path: Path, path: Path) -> str:
    try:
        app = json.loads(config_path.read_text(encoding="utf-8")).get("app")
    except (OSError, ValueError) as error:
        raise ValueError(f"--model {path}: cannot read {config_path.name} ({error})") from None
    if not app:
        raise ValueError(f"--model {path}: {config_path.name} does not say which app made it")
    return str(app)


def app_module(app: str, module: str) -> ModuleType:
    """The module `module` of an installed app (e.g. app_module("textgen", "model")), found by entry point."""
    from rnnkit.cli import discover_apps

    apps = discover_apps()
    if app not in apps:
        raise ValueError(f"the {app} app is not installed (installed: {', '.join(apps) or 'none'})")
    package = apps[app].commands["train"].rsplit(".", 1)[0]
    return importlib.import_module(f"{package}.{module}")


def installed_apps() -> set[str]:
    from rnnkit.cli import discover_apps

    return set(discover_apps())


class ModelStore:
    """The models of the lab's tabs: given ones by app, fallbacks trained on first use."""

    def __init__(self, paths=(), cache_dir: str | os.PathLike | None = None):
        self.cache_dir = Path(cache_dir) if cache_dir else DEFAULT_CACHE
        self.given: dict[str, ModelRef] = {}
        for path in paths:
            ref = classify(path)
            if ref.app in self.given:
                raise ValueError(f"--model {path}: a {ref.app} model was already given ({self.given[ref.app].path})")
            self.given[ref.app] = ref
        self._locks = {app: threading.Lock() for app in FALLBACK_TRAINING}
        self._fallbacks: dict[str, ModelRef] = {}

    def get(self, app: str) -> ModelRef:
        if app in self.given:
            return self.given[app]
        if app not in FALLBACK_TRAINING:
            raise ValueError(f"no {app} model was given; start the lab with --model RUN_DIR of a {app} run")
        with self._locks[app]:
            if app not in self._fallbacks:
                self._fallbacks[app] = self._train_fallback(app)
            return self._fallbacks[app]

    def _train_fallback(self, app: str) -> ModelRef:
        from rnnkit.cli import discover_apps, run_module

        arguments = fallback_arguments(app)
        # The folder is named after the settings, so changing them trains a new model.
        out = self.cache_dir / f"{app}-{hashlib.sha1(' '.join(arguments).encode()).hexdigest()[:8]}"
        if (out / "model.keras").is_file() and (out / "config.json").is_file():
            return ModelRef(app, out, "run", fallback=True)
        if out.exists():  # an interrupted earlier training
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        apps = discover_apps()
        if app not in apps:
            raise ValueError(f"the {app} app is not installed, so this tab has no model")
        start = time.perf_counter()
        code = run_module(apps[app].command_module("train"), ["--out", str(out), *arguments],
                          prog=f"rnnkit {app} train (lab fallback)")
        if code != 0 or not (out / "model.keras").is_file():
            raise RuntimeError(f"training the fallback {app} model into {out} failed (exit {code}); see the lab's log")
        return ModelRef(app, out, "run", fallback=True, seconds=time.perf_counter() - start)
