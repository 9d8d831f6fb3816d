"""TFLite conversion that stays on builtin ops, and verification against Keras.

Two facts shape this module (see the guide): converting a Keras 3 model
directly (`from_keras_model`, or a concrete function of it) leaves its
weights as resource variables or needs dynamic-shape TensorList ops, and
Keras' own LiteRT export switches on SELECT_TF_OPS (Flex), which a mobile
runtime does not have. So every model goes through a fixed-shape SavedModel
endpoint, is converted with TFLITE_BUILTINS only, and is then loaded in the
LiteRT interpreter (without delegates, so numbers are the reference kernels')
to list its op types and compare its outputs with Keras.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")


class TFLiteExportError(ValueError):
    """The model cannot be a builtin-only TFLite model, or it does not match Keras."""


def convert_saved_model(
    saved_model_dir: str | os.PathLike,
    signature_keys: Sequence[str] | None = None,
    *,
    quantization: str = "none",
    representative_dataset: Callable[[], Iterable[Any]] | None = None,
    float_tensors: Sequence[str] = (),
    per_channel: bool = True,
) -> bytes:
    """Convert endpoints of a SavedModel to a TFLite flatbuffer using builtin ops only.

    For int8, `float_tensors` lists substrings of tensor names to keep in
    float (selective quantization through TFLite's QuantizationDebugger):
    a front end such as a spectrogram of a raw waveform loses too much when
    its input and intermediates are int8. `per_channel=False` quantizes
    weights per tensor: an unrolled RNN repeats each weight's per-channel
    scales at every step, which can make the file bigger than the float one.
    """
    import tensorflow as tf

    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}; choose one of {', '.join(QUANTIZATIONS)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=list(signature_keys) if signature_keys else None)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        if representative_dataset is None:
            raise ValueError("int8 quantization needs a representative_dataset of sample inputs")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        # int8 kernels where they exist, float builtins elsewhere; never Flex.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        if not per_channel:
            converter._experimental_disable_per_channel = True
    try:
        if quantization == "int8" and float_tensors:
            model = _selectively_quantized(saved_model_dir, signature_keys, converter, representative_dataset, float_tensors)
        else:
            model = converter.convert()
    except TFLiteExportError:
        raise
    except Exception as error:  # the converter raises ConverterError and friends
        raise TFLiteExportError(f"TFLite conversion with builtin ops only failed: {error}") from error
    check_builtin_only(model)
    return model


def _selectively_quantized(saved_model_dir, signature_keys, converter, representative_dataset, float_tensors) -> bytes:
    """int8 everywhere except the ops whose output tensor names contain one of `float_tensors`."""
    import tensorflow as tf

    plain = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=list(signature_keys) if signature_keys else None)
    plain.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    names = [detail["name"] for detail in interpreter(plain.convert()).get_tensor_details()]
    denied = [name for name in names if any(part in name for part in float_tensors)]
    if not denied:
        raise TFLiteExportError(f"float_tensors {list(float_tensors)} match no tensor of the model")
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denied)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative_dataset, debug_options=options)
    return debugger.get_nondebug_quantized_model()


def convert_function(
    function: Callable,
    input_signature: Sequence[Any],
    track: Iterable[Any] = (),
    **convert_kwargs: Any,
) -> bytes:
    """Convert a function of Keras models with a fixed input signature.

    `track` lists the models/layers whose variables the function uses. The
    function is written to a scratch SavedModel through keras.export.ExportArchive
    (which freezes the weights cleanly) and converted from there.
    """
    import keras

    archive = keras.export.ExportArchive()
    for item in track:
        archive.track(item)
    archive.add_endpoint("serve", function, input_signature=list(input_signature))
    with tempfile.TemporaryDirectory(prefix="rnnkit-tflite-") as scratch:
        archive.write_out(scratch, verbose=False)
        return convert_saved_model(scratch, ["serve"], **convert_kwargs)


def interpreter(model: bytes | str | os.PathLike):
    """A LiteRT interpreter with builtin kernels only and no default delegate."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs: dict[str, Any] = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    if isinstance(model, bytes):
        kwargs["model_content"] = model
    else:
        kwargs["model_path"] = str(model)
    try:
        engine = Interpreter(**kwargs)
        engine.allocate_tensors()
    except (RuntimeError, ValueError) as error:
        raise TFLiteExportError(f"the LiteRT builtin runtime cannot load this model: {error}") from error
    return engine


def op_types(model: bytes | str | os.PathLike) -> list[str]:
    engine = interpreter(model)
    return sorted({detail["op_name"] for detail in engine._get_ops_details()})


def check_builtin_only(model: bytes | str | os.PathLike) -> list[str]:
    """Return the op types; raise if any is a Flex (TF) op or a custom op."""
    ops = op_types(model)
    foreign = [op for op in ops if op.startswith("Flex") or op.upper() != op or op == "CUSTOM"]
    if foreign:
        raise TFLiteExportError(f"TFLite model needs non-builtin ops {foreign}; a mobile runtime cannot run it")
    return ops


def signature_runner(model: bytes | str | os.PathLike, key: str | None = None):
    engine = interpreter(model)
    return engine.get_signature_runner(key)


@dataclass
class Verification:
    """What `verify` compared: cases, worst absolute difference, op types."""

    cases: int
    max_abs_diff: float
    atol: float
    ops: list[str]
    per_output: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"cases": self.cases, "max_abs_diff": self.max_abs_diff, "atol": self.atol, "ops": self.ops,
                "per_output": self.per_output}


def compare_outputs(expected: Mapping[str, Any], actual: Mapping[str, Any], per_output: dict[str, float]) -> float:
    worst = 0.0
    for name, value in expected.items():
        if name not in actual:
            raise TFLiteExportError(f"TFLite output {name!r} is missing; it has {sorted(actual)}")
        reference = np.asarray(value)
        got = np.asarray(actual[name])
        if reference.shape != got.shape:
            raise TFLiteExportError(f"output {name!r}: TFLite shape {got.shape} != Keras shape {reference.shape}")
        if reference.dtype.kind in "fc":
            diff = float(np.max(np.abs(reference.astype(np.float64) - got.astype(np.float64)))) if reference.size else 0.0
        else:
            diff = float(np.max(reference != got)) if reference.size else 0.0
        per_output[name] = max(per_output.get(name, 0.0), diff)
        worst = max(worst, diff)
    return worst


def verify(
    model: bytes | str | os.PathLike,
    reference: Callable[..., Mapping[str, Any]],
    cases: Iterable[Mapping[str, Any]],
    *,
    signature_key: str | None = None,
    atol: float = 1e-4,
) -> Verification:
    """Run each case (a dict of named inputs) through TFLite and `reference`; raise on a mismatch."""
    ops = check_builtin_only(model)
    runner = signature_runner(model, signature_key)
    worst, count, per_output = 0.0, 0, {}
    for case in cases:
        expected = {name: np.asarray(value) for name, value in reference(**case).items()}
        actual = runner(**{name: np.asarray(value) for name, value in case.items()})
        worst = max(worst, compare_outputs(expected, actual, per_output))
        count += 1
    result = Verification(count, worst, atol, ops, per_output)
    if worst > atol:
        raise TFLiteExportError(f"TFLite differs from Keras by {worst:.3g} (> {atol:g}) over {count} cases: {per_output}")
    return result


def write_model(model: bytes, path: str | os.PathLike) -> Path:
    from rnnkit.io import atomic_write_bytes

    return atomic_write_bytes(Path(path), model)
