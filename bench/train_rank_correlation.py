"""Validation of the live NB-201 training path against the NAS-Bench-201 table.

Trains a sample of NB-201 cells with a short CPU proxy through the live benchmark ``train-nb201``
(so through its oracle and disk cache: a rerun with the same settings trains nothing) on real
CIFAR-10 (the JPEG copy or the original release, found on the data search path), and reports the
rank correlation (Spearman's rho, Kendall's tau, with scipy's p-values) between the proxy's
validation accuracies and the table's (``nb201-cifar10``: seed-mean validation accuracy after 200
epochs at C = 16, N = 5).

Sample: ``cells`` cells stratified by the table's rank (the 15,625 cells sorted by table accuracy,
cut into ``cells`` equal bins, one cell drawn from each with numpy seed ``seed``), so they span the
whole accuracy range, the disconnected ~10% cells included. Correlations are also given over the
better half of the sample (the regime a search cares about), where they are harder to earn.

    python -m bench.train_rank_correlation [--cells 18] [--epochs 2] [--n-train 5000] [--n-valid 2000]

writes ``bench/train_rank_correlation.json``. Settings other than these follow the
``nb201-proxy`` preset (C = 8, N = 1, 3 stages, batch 64, SGD Nesterov 0.9, lr 0.1 cosine, wd
5e-4, crop + flip augmentation, one compile per architecture).
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "train_rank_correlation.json"


def stratified_sample(truth: np.ndarray, cells: int, seed: int) -> np.ndarray:
    """One index per equal-size bin of the cells sorted by ``truth`` (ascending)."""
    order = np.argsort(truth, kind="stable")
    bins = np.array_split(order, cells)
    rng = np.random.default_rng(seed)
    return np.array([int(rng.choice(b)) for b in bins])


def correlations(x: np.ndarray, y: np.ndarray) -> dict:
    from scipy import stats

    rho = stats.spearmanr(x, y)
    tau = stats.kendalltau(x, y)
    return {
        "n": int(len(x)),
        "spearman": round(float(rho.statistic), 4),
        "spearman_p": float(f"{rho.pvalue:.3g}"),
        "kendall": round(float(tau.statistic), 4),
        "kendall_p": float(f"{tau.pvalue:.3g}"),
    }


def run(cells: int = 18, epochs: float = 2.0, n_train: int = 5000, n_valid: int = 2000, seed: int = 0) -> dict:
    import jax

    from nasbench.registry import get_benchmark
    from nasbench.train import live

    table = get_benchmark("nb201-cifar10", noise="mean")
    truth = table.truth.truth
    idx = stratified_sample(truth, cells, seed)
    bench = live.live_benchmark(
        "train-nb201", preset="proxy", epochs=epochs, n_train=n_train, n_valid=n_valid, n_test=0
    )
    oracle = bench.oracle(jax.random.key(0))
    t0, c0 = time.perf_counter(), time.process_time()
    rows = []
    for k, i in enumerate(idx):
        r = oracle.query([int(i)])
        rec = bench._results[int(i)][bench.config.seed]["record"]
        rows.append(
            {
                "index": int(i),
                "arch": bench.space.describe(int(i)),
                "table_val_acc": round(float(truth[i]), 4),
                "proxy_val_acc": round(float(r.values[0]), 4),
                "cost_s": round(float(r.cost[0]), 2),
                "compile_s": round(float(rec["compile_time"]), 2),
                "train_s": round(float(rec["train_time"]), 2),
                "train_cpu_s": round(float(rec["train_cpu_time"]), 2),
                "cached": bool(rec.get("cached", False)),
            }
        )
        logging.getLogger(__name__).warning(
            "%d/%d %s table %.2f proxy %.2f (%.0fs)", k + 1, cells, rows[-1]["arch"], truth[i], r.values[0], r.cost[0]
        )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    x = np.array([r["table_val_acc"] for r in rows])
    y = np.array([r["proxy_val_acc"] for r in rows])
    top = x >= np.median(x)
    cfg = bench.config
    return {
        "what": "rank correlation of live NB-201 proxy validation accuracy with the NB-201 table (nb201-cifar10)",
        "sample": f"{cells} cells, one per equal-size bin of the table's accuracy ranking (numpy seed {seed})",
        "proxy": {
            "train_config": cfg.train.key(),
            "n_train": cfg.n_train,
            "n_valid": cfg.n_valid,
            "steps_per_cell": cfg.train.total_steps(n_train),
            "data": bench.data_id,
            "training_seed": cfg.seed,
        },
        "all": correlations(x, y),
        "better_half": correlations(x[top], y[top]),
        "wall_s": round(wall, 1),
        "process_cpu_s": round(cpu, 1),
        "cells": rows,
        "machine": {"platform": platform.platform(), "jax": jax.__version__, "backend": jax.default_backend()},
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=18)
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--n-valid", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(OUT))
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    res = run(a.cells, a.epochs, a.n_train, a.n_valid, a.seed)
    from nasbench.data import atomic_write_text

    atomic_write_text(a.out, json.dumps(res, indent=2))
    print(json.dumps({k: res[k] for k in ("all", "better_half", "wall_s", "process_cpu_s")}, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
