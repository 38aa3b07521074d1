"""The errors a stage reports as a one-line message (and exit code 1) instead of a traceback.

Each message names the problem and the fix. They live apart from the modules that raise them so
that a stage can catch them without importing torch.
"""


class ParamsError(ValueError):
    """params.yaml is missing a key, has an unknown one, or holds a value of the wrong shape."""


class DataError(ValueError):
    """The dataset cannot be found or read, or its columns or labels are unusable."""


class ModelError(RuntimeError):
    """A model or adapter cannot be found or loaded, or would run on random encoder weights."""
