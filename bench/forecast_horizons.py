"""Train and score the default forecaster at several horizons, beside the baselines of the same runs.

    python -m bench.forecast_horizons --data ../shared/data/timeseries/ETTh1.csv --seq-len 96 --horizons 96,192,336,720
    python -m bench.forecast_horizons --data ../shared/data/timeseries/ETTh1.csv --seq-len 720 --horizons 96
    python -m bench.forecast_horizons --data ../shared/data/timeseries/beijing_pm25.csv --seq-len 96 --horizons 24 \\
        --set targets=pm2.5 --set covariates=DEWP,TEMP,PRES,cbwd,Iws,Is,Ir

Each horizon is exactly what a user runs:

    rnnkit forecast train --data DATA --out OUT/L<seq_len>-H<horizon> --set seq_len=L --set horizon=H [--set ...]
    rnnkit forecast evaluate --model OUT/L<seq_len>-H<horizon> --data DATA --json

(the defaults, nothing else), run one after the other in this process; the table gives the
validation MSE (what a recipe is chosen on), then the test MSE / MAE of the model and of the
last-value, seasonal-naive and linear baselines on the same windows, the interval coverage, the MAE in original units and the training time. With
--published the ETTh1 figures of the papers are printed beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# ETTh1 multivariate test MSE / MAE (standardised): SegRNN (Lin et al. 2023, Table 2, lookback 720),
# and at lookback 96 the figures the guide cites (SegRNN 0.368; PatchTST, DLinear, iTransformer as reported).
PUBLISHED = {
    96: {"SegRNN L=96": (0.368, 0.395), "SegRNN L=720": (0.351, 0.392), "PatchTST": (0.370, 0.400),
         "DLinear": (0.375, 0.399), "iTransformer": (0.386, 0.405), "vanilla GRU": (1.135, 0.844)},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the CSV series")
    parser.add_argument("--seq-len", type=int, default=96, help="lookback (default: 96)")
    parser.add_argument("--horizons", default="96,192,336,720", help="comma-separated horizons (default: 96,192,336,720)")
    parser.add_argument("--out", default="runs/bench-forecast", help="runs go to OUT/L<seq_len>-H<horizon> (default: runs/bench-forecast)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="further config fields for every run (the data's targets / covariates, not the recipe)")
    parser.add_argument("--resume", action="store_true", help="reuse finished runs in OUT instead of refusing them")
    return parser.parse_args(argv)


def quiet(function, *args):
    """Run a command, keeping its output for the log but off the table."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = function(*args)
    return code, buffer.getvalue()


def main(argv=None) -> int:
    args = parse_args(argv)
    from bench.common import machine, print_table, save_result
    from rnnkit.cli import main as rnnkit

    horizons = [int(value) for value in args.horizons.split(",") if value.strip()]
    sets = [item for pair in args.overrides for item in ("--set", pair)]
    rows, results = [], []
    print(machine())
    for horizon in horizons:
        run = Path(args.out) / f"L{args.seq_len}-H{horizon}"
        command = ["forecast", "train", "--data", args.data, "--out", str(run), "--set", f"seq_len={args.seq_len}",
                   "--set", f"horizon={horizon}", *sets] + (["--resume"] if args.resume else [])
        print("rnnkit " + " ".join(command), flush=True)
        started = time.perf_counter()
        code, log = quiet(rnnkit, command)
        wall = time.perf_counter() - started
        (run / "bench_train.log").write_text(log)
        if code:
            raise SystemExit(f"training failed ({code}); see {run / 'bench_train.log'}")
        evaluate = ["forecast", "evaluate", "--model", str(run), "--data", args.data, "--json"]
        print("rnnkit " + " ".join(evaluate), flush=True)
        code, out = quiet(rnnkit, evaluate)
        if code:
            raise SystemExit(f"evaluate failed ({code}):\n{out[-2000:]}")
        metrics = json.loads(out.strip().splitlines()[-1])
        summary = json.loads((run / "summary.json").read_text())
        baselines = metrics["baselines"]
        target = metrics["targets"][-1]
        row = {
            "horizon": horizon,
            "val mse": f"{summary['validation']['model']['mse']:.4f}",
            "mse": f"{metrics['mse']:.4f}", "mae": f"{metrics['mae']:.4f}",
            "linear": f"{baselines['linear']['mse']:.4f}/{baselines['linear']['mae']:.4f}",
            "seasonal": f"{baselines['seasonal_naive']['mse']:.4f}/{baselines['seasonal_naive']['mae']:.4f}",
            "last": f"{baselines['last_value']['mse']:.4f}/{baselines['last_value']['mae']:.4f}",
            "coverage": f"{metrics.get('coverage', float('nan')):.3f}",
            f"MAE {target}": f"{metrics['mae_original'][target]:.3f}",
            "epochs": f"{summary['epochs_run']} (best {summary['best']['epoch']})",
            "train s": f"{summary['train_seconds']:.0f}", "wall s": f"{wall:.0f}",
        }
        rows.append(row)
        results.append({"horizon": horizon, "seq_len": args.seq_len, "run": str(run), "metrics": metrics,
                        "train_seconds": summary["train_seconds"], "wall_seconds": wall,
                        "epochs_run": summary["epochs_run"], "best_epoch": summary["best"]["epoch"],
                        "parameters": summary["parameters"]})
        print(f"  horizon {horizon}: validation MSE {row['val mse']}, test MSE {row['mse']}, MAE {row['mae']} (linear {row['linear']}); "
              f"{row['train s']} s of training", flush=True)
    print()
    print_table(rows, list(rows[0]))
    if Path(args.data).name.lower().startswith("etth1"):
        for horizon in horizons:
            for name, (mse, mae) in PUBLISHED.get(horizon, {}).items():
                print(f"  published, horizon {horizon}: {name:<14} {mse:.3f} / {mae:.3f}")
    name = f"forecast_{Path(args.data).stem}_L{args.seq_len}"
    path = save_result(name, {"machine": machine(), "data": args.data, "overrides": args.overrides, "runs": results})
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
