"""Export a forecast run for TF Serving and for TFLite.

Writes `<to>/forecast/<version>/`:
  saved_model.pb, variables/     the scaling is inside the graph: raw units in, raw units out
      serving_default(history: float32[batch, steps, features])   steps >= seq_len; the last seq_len are read
        -> forecast float32[batch, horizon, targets], quantiles float32[batch, horizon, targets, Q],
           error string[batch]
        A row holding a NaN or an infinity gets NaN forecasts and an error naming the step and
        column; the other rows are answered as usual. Fewer than seq_len steps fail the request
        with a message giving both numbers.
  assets.extra/rnnkit_config.json, columns.json (the input columns in order, targets, quantile
        levels, seq_len, horizon, the step in seconds, the scaling statistics)
  forecast.tflite                history float32[1, seq_len, features] (raw units) -> forecast, quantiles;
                                 builtin ops only, checked against Keras before it is written
  forecast_tflite.json           shapes, the config, the columns (as columns.json), op list, the verification
"""

from __future__ import annotations

import argparse
import sys

from rnnkit import cli

HELP = ("Export a trained run: a TF Serving SavedModel taking the raw history (scaling and a NaN check in the graph) "
        "and a verified builtin-only TFLite model.")

TFLITE_NAME, TFLITE_JSON, COLUMNS_JSON = "forecast.tflite", "forecast_tflite.json", "columns.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_export_arguments(parser)
    parser.add_argument("--data", default=None, metavar="SOURCE",
                        help="series whose windows the TFLite model is checked on (default: the run's own; "
                             "random windows when it cannot be read)")
    parser.add_argument("--check-windows", type=int, default=32, help="windows the TFLite model is checked on (default: 32)")
    parser.add_argument("--atol", type=float, default=1e-3,
                        help="largest allowed |TFLite - Keras| difference, relative to each target's scale (default: 1e-3)")


def columns_record(config, schema) -> dict:
    return {"columns": schema["columns"], "targets": schema["targets"], "quantiles": list(config.quantiles),
            "seq_len": config.seq_len, "horizon": config.horizon, "step_seconds": schema["step_seconds"],
            "categories": schema["categories"], "mean": schema["mean"], "std": schema["std"],
            "time_column": schema["time_column"]}


def raw_units_function(model, config, schema):
    """history (raw units, exactly seq_len steps) -> {"forecast", "quantiles"} in raw units, as TF ops."""
    import numpy as np
    import tensorflow as tf

    mean = tf.constant(np.asarray(schema["mean"], np.float32))
    std = tf.constant(np.asarray(schema["std"], np.float32))
    targets = len(schema["targets"])

    def function(history):
        out = model((history - mean) / std, training=False)
        result = {"forecast": out["forecast"] * std[:targets] + mean[:targets]}
        if "quantiles" in out:
            result["quantiles"] = out["quantiles"] * std[:targets, None] + mean[:targets, None]
        return result

    return function


def build_serving_archive(model, config, schema):
    import keras
    import numpy as np
    import tensorflow as tf

    features, seq_len = len(schema["columns"]), config.seq_len
    names = tf.constant(schema["columns"])
    raw_units = raw_units_function(model, config, schema)

    def serve(history):
        long_enough = tf.debugging.assert_greater_equal(
            tf.shape(history)[1], seq_len,
            message=f"history has fewer steps than the model reads: send at least seq_len={seq_len} steps "
                    f"of the {features} columns {', '.join(schema['columns'])}")
        with tf.control_dependencies([long_enough]):  # checked before the shape is, so this message is the one seen
            history = tf.ensure_shape(tf.identity(history)[:, -seq_len:, :], [None, seq_len, features])
        finite = tf.math.is_finite(history)
        bad = tf.logical_not(tf.reduce_all(finite, axis=[1, 2]))
        out = raw_units(tf.where(finite, history, 0.0))
        first = tf.argmax(tf.cast(tf.reshape(tf.logical_not(finite), [tf.shape(history)[0], -1]), tf.int32), axis=1,
                          output_type=tf.int32)
        message = tf.strings.join([
            "history has a missing or non-finite value (NaN or Inf) at step ", tf.strings.as_string(first // features),
            f" of the last {seq_len}, column ", tf.gather(names, first % features), "; fill it before forecasting"])
        result = {"error": tf.where(bad, message, "")}
        for key, value in out.items():
            rank = len(value.shape)
            result[key] = tf.where(tf.reshape(bad, [-1] + [1] * (rank - 1)), tf.constant(np.nan, tf.float32), value)
        return result

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve,
                         input_signature=[tf.TensorSpec((None, None, features), tf.float32, name="history")])
    return archive


def convert_tflite(model, config, schema) -> bytes:
    import tensorflow as tf

    from rnnkit.export import tflite

    spec = tf.TensorSpec((1, config.seq_len, len(schema["columns"])), tf.float32, name="history")
    return tflite.convert_function(raw_units_function(model, config, schema), [spec], track=[model])


def check_windows(config, schema, source: str | None, count: int, seed: int = 0):
    """Raw-unit history windows [n, seq_len, features]: the run's validation windows, else random ones."""
    import numpy as np

    from apps.forecast.data import load_series

    if source:
        try:
            series = load_series(source, config, schema=schema)
        except (ValueError, FileNotFoundError) as error:
            print(f"note: cannot read {source} ({error}); checking on random windows instead", file=sys.stderr)
        else:
            split = "val" if series.borders else "all"
            starts = series.window_starts(split, config)
            chosen = starts[np.unique(np.linspace(0, len(starts) - 1, num=min(count, len(starts))).round().astype(int))]
            return np.stack([series.values[s: s + config.seq_len] for s in chosen]).astype(np.float32), f"{source} ({split})"
    rng = np.random.default_rng(seed)
    mean, std = np.asarray(schema["mean"], np.float32), np.asarray(schema["std"], np.float32)
    return (mean + std * rng.normal(size=(count, config.seq_len, len(mean)))).astype(np.float32), "random windows"


def export(run_dir, to="saved_models", version=None, with_tflite=True, data=None, check_count=32, atol=1e-3) -> dict:
    import numpy as np

    from apps.forecast.model import load_run
    from rnnkit.config import config_to_dict
    from rnnkit.export import savedmodel
    from rnnkit.io import atomic_write_json, read_json
    from rnnkit.training import RunDir

    model, config, schema = load_run(run_dir)
    written: dict[str, str] = {}
    with savedmodel.new_version(to, "forecast", version) as (scratch, final):
        build_serving_archive(model, config, schema).write_out(str(scratch), verbose=False)
        savedmodel.write_extra(scratch, "rnnkit_config.json", {"app": "forecast", "config": config_to_dict(config)})
        savedmodel.write_extra(scratch, COLUMNS_JSON, columns_record(config, schema))
        if with_tflite:
            source = data or read_json(RunDir(run_dir).config_path).get("data")
            cases, used = check_windows(config, schema, source, check_count)
            content = convert_tflite(model, config, schema)
            reference = raw_units_function(model, config, schema)
            scale = np.asarray(schema["std"], np.float64)[: len(schema["targets"])]
            # Compared in units of each target's standard deviation, so one tolerance fits any series.
            check = _verify(content, reference, cases, scale, atol)
            (scratch / TFLITE_NAME).write_bytes(content)
            atomic_write_json(scratch / TFLITE_JSON, {
                "signature": "serve",
                "inputs": {"history": [1, config.seq_len, len(schema["columns"])]},
                "outputs": {"forecast": [1, config.horizon, len(schema["targets"])],
                            **({"quantiles": [1, config.horizon, len(schema["targets"]), len(config.quantiles)]}
                               if config.quantiles else {})},
                "units": "raw (the scaling is inside the model)",
                "config": config_to_dict(config),
                "series": columns_record(config, schema),
                "verification": {**check.as_dict(), "windows": used, "relative_to": "each target's training std"},
            })
            written["tflite"] = str(final / TFLITE_NAME)
            written["tflite_check"] = (f"|TFLite - Keras| <= {check.max_abs_diff:.2e} target std over {check.cases} "
                                       f"windows of {used}; ops: {', '.join(check.ops)}")
    return {"saved_model": str(final), **written}


def _verify(content, reference, cases, scale, atol):
    """tflite.verify on outputs divided by each target's scale (raw units differ from series to series)."""
    import numpy as np

    from rnnkit.export import tflite

    def scaled(outputs):
        return {key: np.asarray(value) / (scale if key == "forecast" else scale[:, None]) for key, value in outputs.items()}

    runner = tflite.signature_runner(content, "serve")
    ops = tflite.check_builtin_only(content)
    worst, per_output = 0.0, {}
    for case in cases:
        expected = scaled(reference(case[None]))
        actual = scaled(runner(history=case[None]))
        worst = max(worst, tflite.compare_outputs(expected, actual, per_output))
    result = tflite.Verification(len(cases), worst, atol, ops, per_output)
    if worst > atol:
        raise tflite.TFLiteExportError(f"TFLite differs from Keras by {worst:.3g} target std (> {atol:g}) over "
                                       f"{len(cases)} windows: {per_output}")
    return result


def run(args: argparse.Namespace) -> int:
    written = export(args.model, args.to, args.version, with_tflite=args.tflite, data=args.data,
                     check_count=args.check_windows, atol=args.atol)
    for key, value in written.items():
        print(f"{key}: {value}")
    print(f"try it:  rnnkit forecast predict --model {written['saved_model']} history.csv")
    print(f"         saved_model_cli show --dir {written['saved_model']} --all")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run_module(sys.modules[__name__]))
