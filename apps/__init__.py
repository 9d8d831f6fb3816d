"""The rnnkit applications; each subpackage is one app with the same shape."""
