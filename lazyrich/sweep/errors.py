"""The sweep machinery's errors, in one module that imports nothing heavy (the CLI maps them cheaply)."""

from ..theory.errors import LazyrichError


class SpecError(LazyrichError):
    """A sweep specification that cannot be expanded into runs."""


class StoreError(LazyrichError):
    """A store that cannot be opened or read as asked."""


class StoreDamaged(StoreError):
    """A store whose database, log or array files are damaged (``lazyrich results STORE --check``)."""

    def __init__(self, message: str, problems=()):
        super().__init__(message)
        self.problems = list(problems)


class RunsFailed(RuntimeError):
    """Runs a study needs have failed (their tracebacks are in the store)."""
