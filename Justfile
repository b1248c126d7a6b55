# nasarena: the commands users type. Data is looked up in --data-dir, $NASARENA_DATA, pyproject.toml's
# [tool.nasarena] data (../shared/data), then ~/.cache/nasarena/data: `nasarena data` shows where.
set shell := ["bash", "-euo", "pipefail", "-c"]

export JAX_PLATFORMS := env_var_or_default("JAX_PLATFORMS", "cpu")
# one BLAS thread: JAX hands small triangular solves to OpenBLAS, whose thread start-up dominates them
export OPENBLAS_NUM_THREADS := env_var_or_default("OPENBLAS_NUM_THREADS", "1")

python := if path_exists(justfile_directory() / ".venv/bin/python") == "true" { justfile_directory() / ".venv/bin/python" } else { "python3" }

# list the commands
default:
    @just --list

# install into .venv (with the dev and optuna extras)
install:
    test -x .venv/bin/python || python3 -m venv .venv
    .venv/bin/pip install -q -e '.[dev,optuna]'

# fast tests (slow and GPU tests are marked and skipped)
test *ARGS:
    {{python}} -m pytest -q {{ARGS}}

# every test, slow ones included
test-all *ARGS:
    {{python}} -m pytest -q -m "not gpu" {{ARGS}}

# ruff and mypy
lint:
    {{python}} -m ruff check nasbench strategies experiments tests bench
    {{python}} -m mypy nasbench strategies experiments --ignore-missing-imports
    "$(dirname {{python}})/lint-imports"

# speed and memory benchmarks, written to bench/results.json
bench:
    {{python}} -m bench.run

# what `just run-all` costs from scratch: the default suite into an empty folder, cold caches (over an hour on 2 cores; needs the data); writes bench/results.json
bench-run-all:
    {{python}} -m bench.run --only bench_run_all

# the GPU check (issue 24): JAX vs PyTorch throughput, 4-epoch accuracy vs NB-101; writes bench/gpu_train.json (< 8 min, one H100)
gpu-check *ARGS:
    env -u JAX_PLATFORMS {{python}} -m bench.gpu_train {{ARGS}}

# the default suite: every strategy on every benchmark whose data is found; regenerates results/
run-all:
    {{python}} -m experiments.cli run default --out results --executor process
    {{python}} -m experiments.cli readme

# zero-cost proxies of a uniform 3,000-cell NB-201 sample, resumable (hours on a CPU; low priority), then their report
proxies:
    nice -n 19 {{python}} -m experiments.cli proxies nb201-cifar10 --sample 3000 --chunk 10

# a look in minutes
quick:
    {{python}} -m experiments.cli run quick --out results/runs/quick

# under a minute
smoke:
    {{python}} -m experiments.cli run smoke --out results/runs/smoke
