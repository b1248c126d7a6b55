"""Every number of the seed papers that a study tests, once, with where it comes from. The claims
report (:mod:`experiments.studies.claims`) and the default report's reproduction section
(:mod:`experiments.studies.reproduction`) both read them from here.

All ratios are the papers' mean samples to NAS-Bench-101's global optimum (searched until found, no
budget) of the baseline over the strategy's.
"""

from __future__ import annotations

# LaNAS (Wang et al., arXiv:1906.06832, ICLR 2020 submission abstract and Fig. 6; 41 released runs)
LANAS_ART = 2274.0  # mean samples to the optimum (median 2,056; range 568-4,846)
LANAS_VS: dict[str, float] = {
    "random-search": 22.0,
    "regularized-evolution": 14.6,
    "alphax": 12.4,  # "MCTS (AlphaX)"
    "nao": 6.8,
    "bayesian-optimization": 16.5,
}

# AlphaX (Wang et al., arXiv:1903.11059, AAAI 2020): mean samples to the optimum, digitised from the
# boxplot of its NAS-Bench-101 experiment (114 runs), apparently the <= 6-vertex subspace
ALPHAX_SAMPLES: dict[str, float] = {"alphax": 10.4e3, "random-search": 32.3e3, "regularized-evolution": 29.7e3}
ALPHAX_VS: dict[str, float] = {  # as the paper rounds them
    "random-search": 3.1,
    "regularized-evolution": 2.85,
}

# NAO/SemiNAS (Luo et al., NeurIPS 2020) on NAS-Bench-101: a top-0.01% cell after about 300
# evaluations, 1/7 of regularised evolution's samples
SEMINAS_ART_TOP = 300.0
SEMINAS_VS: dict[str, float] = {"regularized-evolution": 7.0}
