"""``lazyrich.numerics.ntk``: the NTK's public names, where scripts import them from (numerics/kernels/)."""
from .kernels.ntk import (FEATURE_MEMORY, KINDS, MAX_TILE, KernelError, analytic_kernel, analytic_kernel_mp, auto_tile,
                          compressed_ntk_parts, empirical_ntk, hidden_features, neuron_terms, tiled_gram)
from .kernels.ntk_references import REFERENCES, jacobian_ntk, ntk_parametrization, ntk_vector_products, reference_ntk

__all__ = ["KINDS", "MAX_TILE", "FEATURE_MEMORY", "KernelError", "analytic_kernel", "analytic_kernel_mp", "auto_tile",
           "compressed_ntk_parts", "empirical_ntk", "hidden_features", "neuron_terms", "tiled_gram", "REFERENCES",
           "jacobian_ntk", "ntk_parametrization", "ntk_vector_products", "reference_ntk"]
