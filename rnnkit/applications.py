"""keras.applications CNNs as feature extractors, with weights from ImageNet, a file, or none.

Apps that look at images or frames take `--<part>-weights imagenet|PATH|none`:

    imagenet   Keras downloads the weights once and caches them in ~/.keras/models
               ($KERAS_HOME/models); a file already there under Keras' own name is used
               without a download. Offline and without that file this fails with a
               message naming the file and what to pass instead
    PATH       a Keras weights file of the same network without its top: the original
               ImageNet .h5 (as Keras downloads it) or a `.weights.h5` written by
               `model.save_weights`. It is checked before loading: a file of another
               network or width multiplier is refused with an error naming both
    none       random initialisation, to train from scratch

Networks (the `encoder` / `backbone` values): mobilenet_v3_small, mobilenet_v3_large,
efficientnet_b0, and MobileNetV2 with its width multiplier alpha, mobilenet_v2_0.35,
mobilenet_v2_0.5, mobilenet_v2_0.75, mobilenet_v2_1.0, mobilenet_v2_1.3, mobilenet_v2_1.4.

The models take RGB pixels in 0..255: their own preprocessing is inside (MobileNetV2's
scaling to [-1, 1] is a Rescaling layer in front of it), so a served or TFLite model
takes raw pixels too. `weights_source` says where the weights came from (the file and
its sha256), for a run's config and an export's metadata.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keras is imported when a network is built, so configs can import the names cheaply
    import keras

MOBILENET_V2_ALPHAS = ("0.35", "0.5", "0.75", "1.0", "1.3", "1.4")
APPLICATIONS = ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
                *(f"mobilenet_v2_{alpha}" for alpha in MOBILENET_V2_ALPHAS))
# Sizes Keras has MobileNetV2 ImageNet weights for; other sizes get the 224 ones.
_MOBILENET_V2_SIZES = (96, 128, 160, 192, 224)


def _application(name: str):
    """(constructor, its extra keyword arguments) of the network `name`."""
    import keras

    applications = keras.applications
    if name.startswith("mobilenet_v2_") and name.removeprefix("mobilenet_v2_") in MOBILENET_V2_ALPHAS:
        return _mobilenet_v2, {"alpha": float(name.removeprefix("mobilenet_v2_"))}
    table = {
        "mobilenet_v3_small": (applications.MobileNetV3Small, {"include_preprocessing": True}),
        "mobilenet_v3_large": (applications.MobileNetV3Large, {"include_preprocessing": True}),
        "efficientnet_b0": (applications.EfficientNetB0, {}),
    }
    if name not in table:
        raise ValueError(f"unknown network {name!r}; choose one of {', '.join(APPLICATIONS)}")
    return table[name]


def _mobilenet_v2(*, include_top, weights, input_shape, alpha):
    """keras.applications.MobileNetV2 on a Rescaling input layer: pixels 0..255 in, as the other networks.

    Built on `input_tensor`, the rescaling is one more layer of the same flat
    model, so its layers keep their names (block_16_project, ...) and an ImageNet
    file loads as it does into the bare network (Rescaling has no weights).
    """
    import keras

    pixels = keras.Input(input_shape, name="pixels")
    scaled = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="preprocess")(pixels)  # mobilenet_v2.preprocess_input
    network = keras.applications.MobileNetV2(include_top=include_top, weights=weights, input_tensor=scaled, alpha=alpha)
    # Keras built it with inputs=[pixels]; one tensor in (not a list of one) as the other networks take
    return keras.Model(pixels, network.output, name=network.name)


def imagenet_file_name(name: str, image_size: int = 224) -> str:
    """The file name under which Keras caches the ImageNet weights (no top) of `name` in ~/.keras/models."""
    _application(name)  # rejects unknown names
    if name.startswith("mobilenet_v2_"):
        size = image_size if image_size in _MOBILENET_V2_SIZES else 224
        alpha = float(name.removeprefix("mobilenet_v2_"))
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{size}_no_top.h5"
    if name.startswith("mobilenet_v3_"):
        return f"weights_mobilenet_v3_{name.removeprefix('mobilenet_v3_')}_224_1.0_float_no_top_v2.h5"
    return "efficientnetb0_notop.h5"


def keras_models_dir() -> Path:
    """Where Keras looks for (and caches) downloaded weights: $KERAS_HOME/models, by default ~/.keras/models."""
    try:
        from keras.src.backend.config import keras_home  # private, but the one place Keras keeps it
        home = keras_home()
    except ImportError:  # pragma: no cover - a Keras without it
        home = "~/.keras"
    home = Path(home).expanduser()
    if not os.access(home, os.W_OK):  # as keras.utils.get_file does
        home = Path(tempfile.gettempdir()) / ".keras"
    return home / "models"


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_source(weights: str, name: str | None = None, image_size: int = 224) -> dict:
    """Where a network's weights come from, for a run's config and an export's metadata.

    {"weights": "none"}, {"weights": "imagenet"} (plus "file" and "sha256" of Keras'
    cached copy when `name` is given and the file is in ~/.keras/models), or
    {"weights": "file", "file": absolute path, "sha256": ...}.
    """
    choice = str(weights)
    if choice.lower() == "none":
        return {"weights": "none"}
    if choice.lower() == "imagenet":
        source = {"weights": "imagenet"}
        if name is not None:
            cached = keras_models_dir() / imagenet_file_name(name, image_size)
            if cached.is_file():
                source.update(file=str(cached), sha256=sha256_of(cached))
        return source
    path = Path(choice).expanduser().resolve()
    return {"weights": "file", "file": str(path), "sha256": sha256_of(path)}


def _shape_signature(shapes) -> Counter:
    return Counter(tuple(int(size) for size in shape) for shape in shapes)


def _file_signature(path: Path) -> Counter:
    """The shapes of every array in a Keras weights file (legacy .h5 or Keras 3 .weights.h5), as a multiset.

    Layer names differ between the two formats and between Keras versions, and
    loading checks only layer by layer, so the shapes are what says which network
    and width a file belongs to.
    """
    import h5py

    shapes = []
    with h5py.File(path, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle  # a whole-model .h5
        if "layer_names" in group.attrs:  # the legacy format of the original ImageNet files
            for layer in group.attrs["layer_names"]:
                layer_group = group[layer.decode() if isinstance(layer, bytes) else layer]
                for weight in layer_group.attrs.get("weight_names", []):
                    shapes.append(layer_group[weight.decode() if isinstance(weight, bytes) else weight].shape)
        else:
            group.visititems(lambda _, item: shapes.append(item.shape) if isinstance(item, h5py.Dataset) else None)
    return _shape_signature(shapes)


_SIGNATURES: dict[str, Counter] = {}


def _network_signature(name: str) -> Counter:
    """The weight shapes of `name` without its top (independent of the input size), built once per process."""
    if name not in _SIGNATURES:
        application, extra = _application(name)
        try:  # variables without values: only their shapes are needed, and that is 3x faster
            from keras.src.backend.common.stateless_scope import StatelessScope
        except ImportError:  # pragma: no cover - a Keras without it
            from contextlib import nullcontext as StatelessScope
        with StatelessScope():
            model = application(include_top=False, weights=None, input_shape=(32, 32, 3), **extra)
        _SIGNATURES[name] = _shape_signature(weight.shape for weight in model.weights)
    return _SIGNATURES[name]


def identify_weights_file(path: str | Path, hint: str | None = None) -> str | None:
    """Which network's weights (no top) `path` holds: a name of APPLICATIONS, "<name> with its top", or None.

    Networks of `hint`'s family are tried first (each is built once, from random
    weights, to read its shapes).
    """
    signature = _file_signature(Path(path))
    family = hint.rsplit("_", 1)[0] if hint else ""
    for name in sorted(APPLICATIONS, key=lambda candidate: not candidate.startswith(family)):
        candidate = _network_signature(name)
        if candidate == signature:
            return name
        if not candidate - signature:  # every no-top array is there, and more: the classifier too
            return f"{name} with its top (the ImageNet classifier)"
    return None


def feature_extractor(name: str, weights: str, input_shape: tuple[int, int, int], *,
                      flag: str = "--weights", offline_hint: str = "") -> keras.Model:
    """The network `name` without its classifier: images [S, S, 3] (0..255) -> its last feature map.

    `weights` is "imagenet", "none" or a path; `flag` is how the user spelled the choice,
    so errors name it; `offline_hint` is appended to the message when ImageNet weights
    cannot be downloaded.
    """
    application, extra = _application(name)
    choice = str(weights)
    if choice.lower() == "none":
        base = application(include_top=False, weights=None, input_shape=input_shape, **extra)
        _SIGNATURES.setdefault(name, _shape_signature(weight.shape for weight in base.weights))
        return base
    if choice.lower() == "imagenet":
        try:
            return application(include_top=False, weights="imagenet", input_shape=input_shape, **extra)
        except Exception as error:  # the download fails with URLError, HTTPError, OSError, ...
            file_name = imagenet_file_name(name, int(input_shape[0]))
            raise ValueError(
                f"{flag} imagenet: could not get the ImageNet weights of {name} ({type(error).__name__}: "
                f"{str(error)[:160]}). Keras looks for them as {keras_models_dir() / file_name} before "
                f"downloading: offline, copy {file_name} there (e.g. from ~/.keras/models on a machine that has "
                f"it), or pass {flag} PATH (that file anywhere) or {flag} none to start from random "
                f"weights{offline_hint}"
            ) from None
    path = Path(choice).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{flag} {choice}: no such file (use imagenet, none or a weights file)")
    base = application(include_top=False, weights=None, input_shape=input_shape, **extra)
    _SIGNATURES.setdefault(name, _shape_signature(weight.shape for weight in base.weights))
    try:
        signature = _file_signature(path)
    except Exception as error:  # not HDF5 at all, truncated, ...
        raise ValueError(f"{flag} {path}: not a Keras weights file ({type(error).__name__}: "
                         f"{str(error)[:160]}); expected the .h5 weights of {name} without its top") from None
    if signature != _shape_signature(weight.shape for weight in base.weights):
        held = identify_weights_file(path, hint=name)
        what = f"weights of {held}" if held else "weights of no network rnnkit knows"
        advice = (f"; pass the {name} file, or choose the network the file is for"
                  f"{' (' + held + ')' if held and ' ' not in held else ''}")
        raise ValueError(f"{flag} {path}: this file holds {what}, but the network is {name}{advice}")
    try:
        base.load_weights(str(path))
    except Exception as error:
        raise ValueError(f"{flag} {path}: not weights of {name} without its top "
                         f"({type(error).__name__}: {str(error)[:160]})") from None
    return base


# Block names of the networks above: MobileNetV2 (expanded_conv, block_1 ... block_16), MobileNetV3
# (expanded_conv, expanded_conv_1 ...), EfficientNet (block1a ... block7a). Layers such as
# "activation_14" inside a block match nothing and stay with the block around them.
_BLOCK = re.compile(r"^(expanded_conv(?:_\d+)?|block_\d+|block\d+[a-z])_")


def block_names(model: keras.Model) -> list[str]:
    """The network's blocks in order (e.g. block_1 ... block_16 for MobileNetV2)."""
    names: list[str] = []
    for layer in model.layers:
        match = _BLOCK.match(layer.name)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


def split_last_blocks(model: keras.Model, blocks: int) -> tuple[keras.Model, keras.Model]:
    """(head, tail): the network up to its last `blocks` blocks, and those blocks (with the layers after them).

    tail(head(images)) == model(images); both share the model's layers (and
    weights). The tail has its own Input, so it saves and loads on its own and can
    be trained on cached head outputs ("fine-tune the last blocks"), which costs a
    fraction of running the whole network at every step.
    """
    import keras

    names = block_names(model)
    if not 1 <= blocks <= len(names):
        raise ValueError(f"fine-tuning {blocks} blocks: {model.name} has {len(names)} "
                         f"({names[0]} ... {names[-1]}); choose 1 to {len(names)}")
    first = names[-blocks]
    start = next(layer for layer in model.layers if _BLOCK.match(layer.name) and _BLOCK.match(layer.name).group(1) == first)
    cut = start.input
    head = keras.Model(model.input, cut, name=f"{model.name}_head")
    tail_input = keras.Input(tuple(cut.shape[1:]), name=f"{first}_input")
    tail = keras.models.clone_model(keras.Model(cut, model.output), input_tensors=tail_input,
                                    clone_function=lambda layer: layer)  # the same layers, a fresh Input
    tail = keras.Model(tail.input, tail.output, name=f"{model.name}_tail")
    return head, tail
