"""The sweep machinery's errors, in one module that imports nothing (the CLI maps them cheaply)."""


class SpecError(ValueError):
    """A sweep specification that cannot be expanded into runs."""


class StoreError(ValueError):
    """A store that cannot be opened or read as asked."""


class RunsFailed(RuntimeError):
    """Runs a study needs have failed (their tracebacks are in the store)."""
