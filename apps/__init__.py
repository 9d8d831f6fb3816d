"""The rnnkit applications; each subpackage is one app with the same shape."""

# `python -m apps.<app>.<command>` imports this package before anything imports TensorFlow:
# the earliest point to keep TensorFlow's C++ start-up lines off the user's terminal.
from rnnkit import tflog as _tflog

_tflog.install()
