"""Experiments over the benchmarks: ``harness`` runs suites and writes records, ``analysis`` holds
the statistics, ``studies`` turns results folders into reports, ``cli`` is the ``nasarena`` command."""
