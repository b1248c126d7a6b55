"""Loaders that convert published tabular NAS data into one compact columnar form (cached ``.npz``)
and register the benchmarks built on it."""
