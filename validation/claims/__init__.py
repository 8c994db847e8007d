"""The claims of lazyrich validate: importing this package registers every one of them, in order."""
from . import identities  # noqa: F401
