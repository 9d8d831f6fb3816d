"""keras.applications CNNs as feature extractors, with weights from ImageNet, a file, or none.

Apps that look at images or frames take `--<part>-weights imagenet|PATH|none`:

    imagenet   Keras downloads the weights once (cached in ~/.keras/models); offline this
               fails with a message that says what to pass instead
    PATH       a Keras weights file of the same network without its top (e.g. copied from
               ~/.keras/models of a machine that has it)
    none       random initialisation, to train from scratch

The models take RGB pixels in 0..255: their own preprocessing is inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keras is imported when a network is built, so configs can import the names cheaply
    import keras

APPLICATIONS = ("mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0")


def _application(name: str):
    import keras

    applications = keras.applications
    table = {
        "mobilenet_v3_small": (applications.MobileNetV3Small, {"include_preprocessing": True}),
        "mobilenet_v3_large": (applications.MobileNetV3Large, {"include_preprocessing": True}),
        "efficientnet_b0": (applications.EfficientNetB0, {}),
    }
    if name not in table:
        raise ValueError(f"unknown network {name!r}; choose one of {', '.join(APPLICATIONS)}")
    return table[name]


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
        return application(include_top=False, weights=None, input_shape=input_shape, **extra)
    if choice.lower() == "imagenet":
        try:
            return application(include_top=False, weights="imagenet", input_shape=input_shape, **extra)
        except Exception as error:  # the download fails with URLError, HTTPError, OSError, ...
            raise ValueError(
                f"{flag} imagenet: could not get the ImageNet weights of {name} ({type(error).__name__}: "
                f"{str(error)[:160]}). Offline, pass {flag} PATH (a Keras weights file of {name} without its "
                f"top, e.g. copied from ~/.keras/models on a machine that has it) or {flag} none to start from "
                f"random weights{offline_hint}"
            ) from None
    path = Path(choice).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{flag} {choice}: no such file (use imagenet, none or a weights file)")
    base = application(include_top=False, weights=None, input_shape=input_shape, **extra)
    try:
        base.load_weights(str(path))
    except Exception as error:
        raise ValueError(f"{flag} {path}: not weights of {name} without its top "
                         f"({type(error).__name__}: {str(error)[:160]})") from None
    return base
