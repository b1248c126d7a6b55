"""The jitted training path: Flax NB-101 networks built from a cell, CIFAR-10 data, train/eval.

Modules: :mod:`~nasbench.train.networks` (the network), :mod:`~nasbench.train.trainer` (optimiser,
augmentation, jitted steps, ``train_and_evaluate``), :mod:`~nasbench.train.cifar` (data).
Import the submodules directly; this package imports nothing heavy on its own.
"""
