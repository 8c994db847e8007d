"""Kernels: the NTK and NNGP of the network (infinite width, finite width, torch.func references),
kernel PCA, kernel machines (the kernel gradient flow, SVC, kNN), hidden representations, and the
per-cell work of a learning curve.

ntk (closed forms, tiled), ntk_references (torch.func, by name), kernel_pca, kernel_machines,
representations, learning_cells.
"""
