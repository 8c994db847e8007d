"""One way to make a figure for a claim: a matplotlib context that saves a PNG and closes it."""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def figure(path, rows: int = 1, cols: int = 1, size=(6, 4)):
    """``with figure(path, 1, 2) as axes:`` draw, and the PNG is written on exit (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    try:
        yield axes[0, 0] if rows == cols == 1 else (axes[0] if rows == 1 else axes)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)
