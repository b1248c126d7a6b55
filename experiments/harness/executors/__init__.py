"""Where a suite's trials run: :mod:`~experiments.harness.executors.local` (``inprocess``, ``process``)
and :mod:`~experiments.harness.executors.cluster` (``ray``). Each takes the trials still to run and
hands every finished record to the driver, which writes it."""
