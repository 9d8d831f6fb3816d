"""The `rnnkit` command: `rnnkit <app> <command> [flags]`.

Apps register themselves through the `rnnkit.apps` entry-point group (see
pyproject.toml) with an `App` naming their command modules. A command module
has `HELP`, `add_arguments(parser)` and `run(args)`; the same module runs as
`python -m apps.<app>.<command>` through `run_module`, so both spellings take
exactly the same flags. Command modules are imported only when their command
runs, which keeps `rnnkit --help` fast.

The shared flag sets below are the command-line contract every app follows:

    train    --data SOURCE --out RUN_DIR [--epochs N] [--config FILE] [--set k=v ...] [--resume]
    evaluate --model RUN_DIR --data SOURCE [--json]
    tune     --data SOURCE --out TUNE_DIR [--trials N] [--tuner random|bayesian|hyperband]
    export   --model RUN_DIR [--to saved_models] [--version N]
    predict  --model RUN_DIR|EXPORT_DIR INPUT ...
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from importlib import metadata
from types import ModuleType

from rnnkit import tflog
from rnnkit.config import describe_fields

STANDARD_COMMANDS = ("train", "evaluate", "tune", "export", "predict")
ENTRY_POINT_GROUP = "rnnkit.apps"

# Errors that mean "the user asked for something that cannot be done": print
# the message and exit 2 instead of dumping a traceback.
USER_ERRORS = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)


@dataclasses.dataclass(frozen=True)
class App:
    """An application the `rnnkit` command can run."""

    name: str
    help: str
    commands: dict[str, str]  # command name -> module path

    def command_module(self, command: str) -> ModuleType:
        return importlib.import_module(self.commands[command])


def discover_apps() -> dict[str, App]:
    apps = {}
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        app = entry_point.load()
        apps[app.name] = app
    return dict(sorted(apps.items()))


# -- shared flag sets -------------------------------------------------------

DATA_HELP = (
    "`demo` (a small generated set that works offline), a path (file, folder or "
    ".tar.gz in the app's standard layout) or `tfds:NAME`"
)


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type | None) -> None:
    parser.add_argument("--config", metavar="FILE", help="JSON file of config fields (a run's config.json or a tuner's best_config.json works)")
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one config field; repeatable" + (f" (fields of {config_cls.__name__} listed below)" if config_cls else ""),
    )
    if config_cls is not None:
        parser.epilog = f"config fields and defaults:\n{describe_fields(config_cls)}"
        parser.formatter_class = argparse.RawDescriptionHelpFormatter


def add_train_arguments(parser: argparse.ArgumentParser, config_cls: type | None) -> None:
    parser.add_argument("--data", default="demo", metavar="SOURCE", help=DATA_HELP + " (default: demo)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder: config, checkpoints, history, plots, model")
    parser.add_argument("--epochs", type=int, default=None, help="epochs to train in total (default: the config's epochs)")
    add_config_arguments(parser, config_cls)
    parser.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its last completed epoch")
    parser.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multiworker"),
        default="default",
        help="tf.distribute strategy; multiworker reads the cluster from TF_CONFIG (default: default)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the config's seed)")


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN_DIR", help="a run folder made by `train`")
    parser.add_argument("--data", default="demo", metavar="SOURCE", help=DATA_HELP + "; the test split is scored when the source has one, otherwise all of it")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object on the last line of stdout")
    parser.add_argument("--out", metavar="DIR", default=None, help="where plots and the metrics file go (default: RUN_DIR/eval)")


def add_tune_arguments(parser: argparse.ArgumentParser, config_cls: type | None, units: str | None = None) -> None:
    """The `tune` flags; with `units` (e.g. "32,64,128") also `--units`, the RNN sizes the search may pick."""
    parser.add_argument("--data", default="demo", metavar="SOURCE", help=DATA_HELP + " (default: demo)")
    parser.add_argument("--out", required=True, metavar="TUNE_DIR", help="search folder; rerunning on it resumes the search")
    parser.add_argument("--trials", type=int, default=10, help="maximum number of trials (default: 10)")
    parser.add_argument("--tuner", choices=("random", "bayesian", "hyperband"), default="random", help="search algorithm (default: random)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (hyperband: the maximum; default: the config's epochs)")
    add_config_arguments(parser, config_cls)
    parser.add_argument("--seed", type=int, default=None, help="random seed of the search (default: the config's seed)")
    if units is not None:
        parser.add_argument("--units", default=units, help=f"comma-separated RNN unit counts to try (default: {units})")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="RUN_DIR", help="a run folder made by `train`")
    parser.add_argument("--to", default="saved_models", metavar="DIR", help="model base folder; the SavedModel goes to DIR/<app>/<version>/ (default: saved_models)")
    parser.add_argument("--version", type=int, default=None, help="version number (default: the next free integer)")
    parser.add_argument("--no-tflite", dest="tflite", action="store_false", help="skip the TFLite export")


def add_predict_arguments(parser: argparse.ArgumentParser, input_help: str = "inputs") -> None:
    parser.add_argument("--model", required=True, metavar="RUN_DIR|EXPORT_DIR", help="a run folder or an exported version folder")
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help=input_help)


# -- running ----------------------------------------------------------------


def build_parser(module: ModuleType, prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=getattr(module, "HELP", None))
    module.add_arguments(parser)
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own start-up and C++ info logs too (as RNNKIT_DEBUG=1 does)")
    return parser


def run_module(module: ModuleType, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse `argv` with the module's flags and run it; user errors exit 2 with a message.

    Before the command runs, the device TensorFlow will use is said once (on stderr, so that
    stdout stays the command's own output)."""
    tflog.install(sys.argv if argv is None else list(argv))
    if prog is None:
        prog = f"python -m {module.__name__}"
    parser = build_parser(module, prog)
    args = parser.parse_args(argv)
    try:
        print(tflog.describe_devices(), file=sys.stderr, flush=True)
        code = module.run(args)
    except USER_ERRORS as error:
        if os.environ.get("RNNKIT_DEBUG"):
            traceback.print_exc()
        print(f"{prog}: error: {error}", file=sys.stderr)
        if not os.environ.get("RNNKIT_DEBUG"):
            print("(set RNNKIT_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


def _usage(apps: dict[str, App]) -> str:
    lines = ["usage: rnnkit <app> <command> [flags]   (rnnkit <app> --help lists its commands)", "", "apps:"]
    width = max((len(name) for name in apps), default=0)
    for name, app in apps.items():
        lines.append(f"  {name.ljust(width)}  {app.help}")
    lines += ["", "commands every app has: " + ", ".join(STANDARD_COMMANDS),
              "rnnkit lab [--model RUN_OR_EXPORT ...]: the interactive page (rnnkit lab --help)"]
    return "\n".join(lines)


def _app_usage(app: App) -> str:
    lines = [f"usage: rnnkit {app.name} <command> [flags]", "", app.help, "", "commands:"]
    width = max(len(name) for name in app.commands)
    for command, module_name in app.commands.items():
        lines.append(f"  {command.ljust(width)}  python -m {module_name}")
    lines.append(f"\nrnnkit {app.name} <command> --help shows a command's flags")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    tflog.install(argv)
    apps = discover_apps()
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage(apps))
        return 0 if argv else 2
    if argv[0] == "--version":
        from rnnkit import __version__

        print(f"rnnkit {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name == "lab":  # not an app: the interactive page over all of them (rnnkit/lab)
        from rnnkit.lab import main as lab_main

        return lab_main(rest)
    if name not in apps:
        print(f"rnnkit: unknown app {name!r}; choose one of: {', '.join(apps) or '(none installed)'}", file=sys.stderr)
        return 2
    app = apps[name]
    if not rest or rest[0] in {"-h", "--help"}:
        print(_app_usage(app))
        return 0 if rest else 2
    command, rest = rest[0], rest[1:]
    if command not in app.commands:
        print(f"rnnkit {name}: unknown command {command!r}; choose one of: {', '.join(app.commands)}", file=sys.stderr)
        return 2
    return run_module(app.command_module(command), rest, prog=f"rnnkit {name} {command}")


if __name__ == "__main__":
    raise SystemExit(main())


def resolve_train_config(config_cls: type, args: argparse.Namespace):
    """The config a `train` run uses: the saved one when resuming, else defaults + --config + --set.

    `--epochs` and `--seed` override the config's fields. When resuming, a
    --config/--set that would change the saved config is refused: a run is
    one config, so changing it means a new --out.
    """
    from pathlib import Path

    from rnnkit.config import config_to_dict, load_config, read_saved_config

    saved_path = Path(args.out) / "config.json"
    if getattr(args, "resume", False) and saved_path.is_file():
        config = read_saved_config(config_cls, saved_path)
        if args.config or args.overrides:
            asked = load_config(config_cls, args.config, args.overrides, base=config)
            changed = {key for key, value in config_to_dict(asked).items()
                       if config_to_dict(config)[key] != value and key != "epochs"}
            if changed:
                raise ValueError(
                    f"--resume continues {args.out} with its saved config; "
                    f"--config/--set would change {', '.join(sorted(changed))}. Drop them or start a new --out"
                )
    else:
        config = load_config(config_cls, args.config, args.overrides)
    updates = {}
    if args.epochs is not None:
        updates["epochs"] = args.epochs
    if getattr(args, "seed", None) is not None:
        updates["seed"] = args.seed
    return dataclasses.replace(config, **updates) if updates else config


def resolve_tune_config(config_cls: type, args: argparse.Namespace):
    """(base config, seed) of a `tune` run: defaults + --config + --set, then --epochs; seed from --seed or the config."""
    from rnnkit.config import load_config

    base = load_config(config_cls, args.config, args.overrides)
    if getattr(args, "epochs", None):
        base = dataclasses.replace(base, epochs=args.epochs)
    seed = args.seed if getattr(args, "seed", None) is not None else base.seed
    return base, seed


def tune_units(args: argparse.Namespace) -> list[int]:
    """The sizes given by `--units`; at least one."""
    units = int_list(args.units, "--units")
    if not units:
        raise ValueError("--units: give at least one size, e.g. --units 64,128")
    return units


def run_search(app: str, args: argparse.Namespace, base, seed: int, **search_kwargs):
    """rnnkit.tuning.search() with the `tune` flags filled in, then the command that trains the best config.

    `search_kwargs` are the app's own parts: build_model, space, train_data, val_data, objective, ...
    Returns the SearchResult, or None on a distributed-tuning worker."""
    from rnnkit.tuning import search

    result = search(base_config=base, out_dir=args.out, tuner=args.tuner, max_trials=args.trials, epochs=base.epochs,
                    seed=seed, patience=base.patience or None, **search_kwargs)
    if result is not None:
        print(f"train it:  python -m apps.{app}.train --data {args.data} --out RUN_DIR "
              f"--config {result.out_dir / 'best_config.json'}")
    return result


def int_list(text: str, flag: str) -> list[int]:
    """`"32,64,128"` -> [32, 64, 128]; a bad item names the flag."""
    try:
        return [int(value) for value in text.split(",") if value.strip()]
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected comma-separated integers such as 32,64") from None


def announce_split(split: str, how: str, count: int, unit: str) -> None:
    """Say, before any metric, what `evaluate` scores: which split, why that one, how many examples.

    `how` finishes "chosen because ...", e.g. "--split auto and the source has testing_list.txt"."""
    print(f"scoring split {split!r}: {count:,} {unit} (chosen because {how})", flush=True)


def report_metrics(metrics: dict, out_dir, as_json: bool, title: str = "metrics") -> None:
    """Print metrics as a table (or, with --json, one JSON object on the last line) and save metrics.json."""
    import json
    from pathlib import Path

    from rnnkit.io import atomic_write_json

    out = Path(out_dir)
    atomic_write_json(out / "metrics.json", metrics)
    if as_json:
        print(json.dumps(metrics, default=str))
        return
    print(title)
    width = max(len(key) for key in metrics)
    for key, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"  {key.ljust(width)}  {shown}")
    print(f"(saved to {out / 'metrics.json'})")
