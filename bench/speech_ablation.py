"""What helps the speech model hear voices it never heard: one table, every variant on the same speaker split.

    python -m bench.speech_ablation --data ../shared/data/speech_commands_12 --epochs 20
    python -m bench.speech_ablation --data ../shared/data/speech_commands_12 --epochs 20 --variants base,specaugment

Each variant is one `rnnkit speech train` run (in a subprocess, so each is
timed alone and starts clean) with the same split, epochs and seed, followed by
`rnnkit speech evaluate` on the split's held-out speakers. The split holds out
`--test-fraction` of the speakers (0.3: about 700 clips, so that one clip is
0.14 points), and validation is another 10% of the speakers. Every variant
starts from `base`: the streaming model (causal conv + GRU) with no
augmentation beyond the time shift and gain every run has:

  attention     the earlier default: conv + bidirectional GRU + attention pooling
  base          model=stream (conv 16/32, GRU-64), no SpecAugment, no speed or pitch change, batch-norm
                features, no noise
  specaugment   + 2 time masks of up to 10 frames and 2 frequency masks of up to 5 mel bins
  speed         + clips played up to 10% faster or slower (pitch moves with it)
  pitch         + frequency axis stretched by up to 10% (vocal tract length perturbation)
  pcen          normalize=pcen: per-channel energy normalization instead of batch-norm
  clip_norm     normalize=clip: each band of each clip to mean 0, variance 1 (not streamable)
  noise         + the training _silence_ clips mixed in as background noise (80% of clips)
  combined      every one of the above that helped (give it with --combined k=v,...)

Finished variants are kept in bench/results/speech_ablation/<variant>.json and
skipped when the script runs again with the same settings, so the table can be
built across several sittings of the CPU lock.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The table's starting point: the small streaming model the app had before it (2 conv blocks of 16 and 32
# filters, GRU-64), with no augmentation beyond the time shift and gain.
NO_AUGMENTATION = {"model": "stream", "conv_filters": "16", "units": "64", "spec_time_masks": "0",
                   "spec_freq_masks": "0", "speed_change": "0", "pitch_change": "0", "normalize": "batch",
                   "noise_probability": "0"}
VARIANTS = {
    "attention": {**NO_AUGMENTATION, "model": "attention"},
    "base": NO_AUGMENTATION,
    "specaugment": {**NO_AUGMENTATION, "spec_time_masks": "2", "spec_freq_masks": "2"},
    "speed": {**NO_AUGMENTATION, "speed_change": "0.1"},
    "pitch": {**NO_AUGMENTATION, "pitch_change": "0.1"},
    "pcen": {**NO_AUGMENTATION, "normalize": "pcen"},
    "clip_norm": {**NO_AUGMENTATION, "normalize": "clip"},
    "noise": {**NO_AUGMENTATION, "noise_probability": "0.8"},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/speech_commands_12")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variants to run (default: all but combined)")
    parser.add_argument("--combined", default="", help="the combined variant's settings, e.g. spec_time_masks=2,spec_freq_masks=2")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="a setting every variant gets (key=value)")
    parser.add_argument("--runs", default="runs/speech_ablation", help="where the run folders go")
    return parser.parse_args(argv)


def settings_of(name: str, args) -> dict:
    if name == "combined":
        if not args.combined:
            raise SystemExit("--variants combined needs --combined key=value,...")
        chosen = dict(item.split("=", 1) for item in args.combined.split(","))
        base = {**NO_AUGMENTATION, **chosen}
    elif name in VARIANTS:
        base = dict(VARIANTS[name])
    else:
        raise SystemExit(f"unknown variant {name!r}; choose from {', '.join([*VARIANTS, 'combined'])}")
    extra = dict(item.split("=", 1) for item in args.extra)
    return {**base, "test_fraction": str(args.test_fraction), "val_fraction": "0.1", **extra}


def rnnkit(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "rnnkit"), *arguments], capture_output=True, text=True, check=False)


def run_variant(name: str, settings: dict, args) -> dict:
    out = Path(args.runs) / name
    flags = [item for key, value in settings.items() for item in ("--set", f"{key}={value}")]
    if out.exists():
        import shutil

        shutil.rmtree(out)
    started = time.perf_counter()
    trained = rnnkit("speech", "train", "--data", args.data, "--out", str(out), "--epochs", str(args.epochs), *flags)
    seconds = time.perf_counter() - started
    if trained.returncode:
        raise SystemExit(f"{name}: training failed:\n{trained.stderr[-3000:]}")
    scored = rnnkit("speech", "evaluate", "--model", str(out), "--data", args.data, "--json", "--plots", "0")
    if scored.returncode:
        raise SystemExit(f"{name}: evaluate failed:\n{scored.stderr[-3000:]}")
    metrics = json.loads(scored.stdout.strip().splitlines()[-1])
    state = json.loads((out / "state.json").read_text())
    best = next(row for row in state["history"] if row["epoch"] == state["best_epoch"])
    rates = metrics.get("false_accepts", {})
    return {
        "variant": name, "settings": settings, "epochs": args.epochs, "train_seconds": round(seconds, 1),
        "test_accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "test_clips": metrics["clips"],
        "val_accuracy": best.get("val_accuracy"), "best_epoch": state["best_epoch"],
        "unknown_false_accept": rates.get("_unknown_", {}).get("any"), "silence_false_accept": rates.get("_silence_", {}).get("any"),
        "recall": {label: row["recall"] for label, row in metrics["per_class"].items()},
    }


def main(argv=None) -> int:
    from bench.common import machine, print_table

    args = parse_args(argv)
    results_dir = Path(__file__).resolve().parent / "results" / "speech_ablation"
    results_dir.mkdir(parents=True, exist_ok=True)
    names = [name for name in args.variants.split(",") if name]
    rows = []
    print(f"{machine()}; {args.data}, {args.epochs} epochs, test = {args.test_fraction:.0%} of the speakers")
    for name in names:
        settings = settings_of(name, args)
        cached = results_dir / f"{name}.json"
        if cached.is_file():
            row = json.loads(cached.read_text())
            if row["settings"] == settings and row["epochs"] == args.epochs:
                print(f"{name}: kept from {cached}")
                rows.append(row)
                continue
        print(f"{name}: training ({' '.join(f'{k}={v}' for k, v in settings.items())})", flush=True)
        row = run_variant(name, settings, args)
        cached.write_text(json.dumps(row, indent=2) + "\n")
        rows.append(row)
        print(f"{name}: test accuracy {row['test_accuracy']:.4f}, {row['train_seconds']:.0f} s", flush=True)
    base = next((row["test_accuracy"] for row in rows if row["variant"] == "base"), None)
    table = []
    for row in rows:
        table.append({
            "variant": row["variant"], "test acc": f"{row['test_accuracy']:.4f}",
            "vs base": f"{row['test_accuracy'] - base:+.4f}" if base is not None else "",
            "macro F1": f"{row['macro_f1']:.4f}", "val acc": f"{row['val_accuracy']:.4f}",
            "unknown FA": f"{row['unknown_false_accept']:.3f}" if row["unknown_false_accept"] is not None else "",
            "silence FA": f"{row['silence_false_accept']:.3f}" if row["silence_false_accept"] is not None else "",
            "train s": f"{row['train_seconds']:.0f}", "clips": row["test_clips"],
        })
    print_table(table, ["variant", "test acc", "vs base", "macro F1", "val acc", "unknown FA", "silence FA", "train s", "clips"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
