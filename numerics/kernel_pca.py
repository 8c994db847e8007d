"""``lazyrich.numerics.kernel_pca``: kernel PCA's public names, where scripts import them from (numerics/kernels/)."""
from .kernels.kernel_pca import KernelPCA, kernel_pca, plot_kernel_pca

__all__ = ["KernelPCA", "kernel_pca", "plot_kernel_pca"]
