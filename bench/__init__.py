"""Speed and memory benchmarks (`just bench`); results go to bench/results.json."""
