"""rnnkit lab: see inside recurrent networks, interactively, in the browser.

    rnnkit lab [--model RUN_OR_EXPORT ...] [--port 7860] [--host 127.0.0.1] [--cache DIR]

A local Gradio page (the optional extra `pip install rnnkit[lab]`) with one tab per topic:
the hidden state character by character (textgen), vanishing and exploding gradients
(SimpleRNN / LSTM / GRU), attention (sentiment words, caption words over a photo, speech
frames over a spectrogram), generation knobs (temperature, top-k, top-p), and a forecast tab
when the forecast app is installed. A tab with no model given trains a tiny one on its app's
demo data the first time it is used and says so. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

HELP = "Interactive page: hidden states, vanishing gradients, attention, generation knobs (Gradio, local)."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit lab", description=HELP)
    parser.add_argument("--model", action="append", default=[], metavar="RUN_OR_EXPORT",
                        help="a run folder or an exported version folder of any app; repeatable, one per app")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on (default: 7860)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--cache", metavar="DIR", default=None,
                        help="where fallback demo models are trained and kept (default: $RNNKIT_LAB_CACHE or ~/.cache/rnnkit/lab)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Offline and private: no usage analytics, no version check, no web fonts.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("MPLBACKEND", "Agg")
    from rnnkit.lab.models import ModelStore

    try:
        store = ModelStore(args.model, args.cache)
    except (ValueError, FileNotFoundError) as error:
        print(f"rnnkit lab: error: {error}", file=sys.stderr)
        return 2
    try:
        import gradio  # noqa: F401
    except ImportError:
        print("rnnkit lab: error: Gradio is not installed; pip install 'rnnkit[lab]'", file=sys.stderr)
        return 2
    from rnnkit.lab.app import launch

    for app, ref in sorted(store.given.items()):
        print(f"rnnkit lab: {app}: {ref.path} ({ref.kind})")
    print(f"rnnkit lab: serving on http://{args.host}:{args.port}", flush=True)
    try:
        launch(store, args.host, args.port)
    except KeyboardInterrupt:
        return 130
    except OSError as error:  # e.g. the port is taken
        print(f"rnnkit lab: error: cannot serve on {args.host}:{args.port} ({error}); pass another --port", file=sys.stderr)
        return 2
    return 0
