"""The harness: suites, trial specs, the ask/tell and vectorised runners, the simulated-time
protocol, trial records and their fingerprints, and the executors that run a suite."""
