"""Shared fixtures: small synthetic benchmarks built here, and a skip for absent real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nasbench.synthetic import synthetic_benchmark

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Tests never touch the user's cache unless NASARENA_CACHE is set by the caller (CI sets it)."""
    if "NASARENA_CACHE" not in os.environ:
        os.environ["NASARENA_CACHE"] = str(tmp_path_factory.mktemp("nasarena-cache"))
    yield


def data_dir() -> Path | None:
    env = os.environ.get("NASARENA_DATA")
    for p in ([Path(env)] if env else []) + [SHARED_DATA]:
        if p.is_dir():
            return p
    return None


def require_data(rel: str) -> Path:
    """Path of a real data file, or skip the test with the reason."""
    d = data_dir()
    if d is None or not (d / rel).exists():
        pytest.skip(f"real data {rel} not found (set NASARENA_DATA to a folder holding it, e.g. ../shared/data)")
    return d / rel


@pytest.fixture
def toy():
    """256 architectures (4 positions x 4 choices), complete table, 3 noisy repeats."""
    return synthetic_benchmark(positions=4, choices=4, repeats=3, seed=0)


@pytest.fixture
def toy_partial():
    """The same space with only ~40% of it in the table (out-of-table answers happen)."""
    return synthetic_benchmark(positions=4, choices=4, repeats=1, keep=0.4, seed=1, name="synthetic-partial")


@pytest.fixture
def register(monkeypatch):
    """``register(bench)``: make ``bench`` loadable by its name (as the suite runner loads
    benchmarks), for this test only; a callable that raises instead simulates missing data."""
    import nasbench.registry as reg

    def put(bench, name: str = "synthetic", how: str = "built in") -> None:
        load = bench if callable(bench) and not hasattr(bench, "space") else (lambda _d: bench)
        monkeypatch.setitem(reg._REGISTRY, name, reg.Entry(name, load, "toy", how))
        reg._cache.clear()

    yield put
    reg._cache.clear()
