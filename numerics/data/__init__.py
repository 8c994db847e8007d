"""Data: the talk's models (stripe, sphere, cylinder), the user's own arrays, MNIST and the
scikit-learn digits, projections, and the input checks every numerical tool shares.

Every dataset is a pair X (p, d) float64, y (p,) in {-1, +1} (:class:`Dataset`), stored as .npz
with keys ``X``, ``y`` and ``meta``. Modules: checks (input checks), dataset (the container and
its files), models (the synthetic models), projection (PCA and scaling), idx (MNIST IDX files),
digits (scikit-learn's 8x8 digits, even against odd).
"""
from .checks import DataError, check_arrays, check_inputs, check_labels, check_size
from .dataset import Dataset, from_files, load
from .digits import parity_digits
from .idx import IDX_TYPES, load_idx, mnist, read_idx
from .models import (MODELS, STRIPE_BAND, balanced_radius, cylinder, gaussian_inputs, make, radial_labels, sphere,
                     stripe, stripe_labels, teacher)
from .projection import Projection

__all__ = ["DataError", "Dataset", "Projection", "check_arrays", "check_inputs", "check_labels", "check_size",
           "from_files", "load", "make", "stripe", "sphere", "cylinder", "gaussian_inputs", "balanced_radius",
           "stripe_labels", "radial_labels", "MODELS", "STRIPE_BAND", "read_idx", "load_idx", "mnist", "IDX_TYPES",
           "parity_digits", "teacher"]
