"""The studies: each computes a result from a results folder with the analysis layer, then renders
it (the default report, the seed papers' claims, the subsets experiment, the time protocol)."""
