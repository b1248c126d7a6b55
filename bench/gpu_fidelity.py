"""The GPU check's fidelity part, run by :mod:`bench.gpu_train` (whose docstring says what each field
of its JSON means): cells of the NB-101 30k subset trained with NAS-Bench-101's own 4-epoch protocol
on the real CIFAR-10 split, their validation accuracies against the table's ``val_acc_4``.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np

from bench.gpu_sizes import Budget, Sizes, num, random_data, train_config
from bench.gpu_throughput import jax_params


def fidelity_cells(arrays: dict[str, np.ndarray], n: int, cost_quantile: float = 0.25) -> list[int]:
    """Indices of ``n`` subset cells: those whose ``train_time_108`` is in the cheapest
    ``cost_quantile`` (cheap to train here), then ``n`` at evenly spaced ranks of ``val_acc_4``
    (ranks ``(k + 1/2) n_cheap / n``), lowest first."""
    cost = arrays["train_time_108"]
    cheap = np.flatnonzero(cost <= np.quantile(cost, cost_quantile))
    ranked = cheap[np.argsort(arrays["val_acc_4"][cheap], kind="stable")]
    return [int(ranked[int((k + 0.5) * len(ranked) / n)]) for k in range(n)]


def fidelity_data(sizes: Sizes, data_dir: str | None) -> tuple[dict, str]:
    """The fidelity part's images and where they come from (random ones with ``sizes.n_train``)."""
    if sizes.n_train is not None:
        n = sizes.n_train
        d = random_data(n + (sizes.n_valid or 0), seed=1)
        data = {
            "train_x": d["train_x"][:n],
            "train_y": d["train_y"][:n],
            "valid_x": d["train_x"][n:],
            "valid_y": d["train_y"][n:],
        }
        return data, f"random images ({sizes.n_train} train, {sizes.n_valid} validation): --tiny, no accuracy meaning"
    from nasbench.train import cifar, live

    full = cifar.load_cifar10(data_dir)
    data = {k: full[k] for k in ("train_x", "train_y", "valid_x", "valid_y")}
    return (
        data,
        f"CIFAR-10 {live.cifar_source(data_dir)}, NB-101 split: {len(data['train_x'])} train, {len(data['valid_x'])} validation",
    )


def fidelity(sizes: Sizes, data_dir: str | None, budget: Budget, est: dict, workers: int = 2) -> dict:
    """Train :func:`fidelity_cells` with NB-101's 4-epoch protocol and compare with ``val_acc_4``."""
    import jax
    from scipy.stats import spearmanr

    from nasbench.data import DataNotFound
    from nasbench.spaces import nb101 as S
    from nasbench.tables import nb101 as t101
    from nasbench.train import trainer

    try:
        path, arrays = t101.subset_table(data_dir)
        data, source = fidelity_data(sizes, data_dir)
    except DataNotFound as exc:
        return {"skipped": f"data not found: {exc}"}
    cfg = train_config(sizes, epochs=4.0, steps=sizes.fidelity_steps)
    steps = cfg.total_steps(len(data["train_x"]))
    picked = fidelity_cells(arrays, sizes.n_fidelity)
    order = [picked[k] for k in np.random.default_rng(0).permutation(len(picked))]

    def one(i: int) -> dict:
        cell = S.genotype_to_cell(arrays["genotype"][i])
        r = trainer.train_and_evaluate(cell, data, cfg, jax.random.key(i))
        ours, table = float(r["val_acc"]), float(arrays["val_acc_4"][i])
        return {
            "index": i,
            "hash": arrays["hash"][i].tobytes().hex(),
            "val_acc": num(ours),
            "val_acc_4_table": num(table),
            "abs_diff": num(abs(ours - table)),
            "params": jax_params(cell, trainer.nb101_config()),  # the table's size: C = 128, 3 x 3
            "params_table": int(arrays["params"][i]),
            "train_time_108_table": num(arrays["train_time_108"][i], 1),
            "compile_s": num(r["compile_time"], 2),
            "train_s": num(r["train_time"], 2),
            "wall_s": num(r["wall_time"], 2),
        }

    rows: list[dict] = []
    cut = None

    def need() -> float:
        done = [c["wall_s"] for c in rows if c.get("wall_s")]
        return max(done) if done else est["compile"] + est["init"] + steps * est["step"] + est["eval"]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: dict[Future, int] = {}
        for k, i in enumerate(order):
            while len(running) >= workers:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                rows.extend(_result(f, running.pop(f)) for f in done)
            cut = budget.check(need())
            if cut:
                cut = f"{len(order) - k} of {len(order)} cells not trained: {cut}"
                break
            running[pool.submit(one, i)] = i
        rows.extend(_result(f, i) for f, i in running.items())
    ok = [c for c in rows if "val_acc" in c and c["val_acc"] is not None]
    ours = np.array([c["val_acc"] for c in ok])
    table = np.array([c["val_acc_4_table"] for c in ok])
    summary: dict[str, Any] = {"n": len(ok)}
    if ok:
        summary.update(
            mean_abs_diff=num(np.mean(np.abs(ours - table))),
            max_abs_diff=num(np.max(np.abs(ours - table))),
            mean_diff_ours_minus_table=num(np.mean(ours - table)),
            params_match=all(c["params"] == c["params_table"] for c in ok),
        )
    if len(ok) >= 3:
        rho = spearmanr(ours, table)
        summary.update(spearman=num(rho.statistic), spearman_p=num(rho.pvalue))
    else:
        summary["spearman"] = None
        summary["spearman_why"] = f"{len(ok)} cells trained: a rank correlation needs at least 3"
    return {
        "table": str(path),
        "table_column": "val_acc_4",
        "table_note": "the subset's 4-epoch validation accuracy of one NB-101 training run (the full "
        "dataset has three repeats); NB-101's repeats differ a lot at 4 epochs, so per-cell "
        "differences are noisy and the rank correlation of a handful of cells is a coarse check",
        "selection": "the cheapest quarter of the subset by train_time_108, at evenly spaced ranks of val_acc_4",
        "protocol": f"{'NB-101' if sizes.fidelity_steps is None else '--tiny'}: {steps} steps of batch "
        f"{cfg.batch_size} ({len(data['train_x'])} images), RMSProp, cosine schedule, "
        f"weight decay {cfg.weight_decay}, crop + flip; dtype {cfg.dtype or 'the backend default'}; "
        f"{workers} cells trained at once in threads (their times overlap)",
        "data": source,
        "cells": sorted(rows, key=lambda c: c["index"]),
        "summary": summary,
        **({"cut": cut} if cut else {}),
    }


def _result(f: Future, i: int) -> dict:
    try:
        return f.result()
    except Exception as exc:  # noqa: BLE001 - recorded, the other cells go on
        return {"index": i, "error": f"{type(exc).__name__}: {exc}"}
