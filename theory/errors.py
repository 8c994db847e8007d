"""The one base class of lazyrich's own errors: a problem with what the user asked for.

Every error class that names a bad argument, file, setting or store derives from LazyrichError (a
ValueError, so that Python callers that catch ValueError keep working). The command line turns exactly
these into one line on stderr and exit 2; any other exception is a bug and keeps its traceback.
"""


class LazyrichError(ValueError):
    """A bad argument, file, setting or store, named in one line."""
