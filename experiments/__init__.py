"""The harness: suites, runner, executors, metrics, statistics, plots, reports and the CLI."""
