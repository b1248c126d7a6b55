"""``import nasarena``: the README's snippet runs, and the API gives what the harness gives."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import nasarena
from experiments.analysis import metrics
from experiments.harness.runner import run_trial
from experiments.harness.spec import TrialSpec

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def bench():
    return nasarena.benchmark("nb201-cifar10")


def test_readme_snippet_runs():
    code = re.search(r"## Python\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None, "the README's Python section lost its snippet"
    scope: dict = {}
    exec(compile(code.group(1), "README.md", "exec"), scope)  # noqa: S102  (our own README)
    assert scope["trial"].best_so_far.shape == (100,)
    assert list(scope["table"]["strategy"]) == ["random-search", "regularized-evolution"]
    assert 0 <= scope["g"].low <= scope["g"].gain <= scope["g"].high


def test_run_is_the_harness_trial(bench):
    trial = nasarena.run("random-search", bench, seed=3, budget=40)
    rec = run_trial(TrialSpec("nb201-cifar10", "random-search", 3, 40, noise=bench.noise), bench)
    assert trial.record == {**rec, "wall_time": trial.record["wall_time"]}
    assert trial.arch.tolist() == rec["arch"]
    best = np.maximum.accumulate(np.asarray(rec["truth"]))
    np.testing.assert_array_equal(trial.best_so_far, best)
    for name, (threshold, _) in trial.targets.items():
        hit = np.flatnonzero(np.asarray(rec["truth"]) >= threshold)
        assert trial.samples_to[name] == (hit[0] + 1 if hit.size else np.inf)


def test_runs_vectorised_equals_one_by_one(bench):
    many = nasarena.runs("regularized-evolution", bench, seeds=[0, 1], budget=30)
    for s, t in zip([0, 1], many):
        one = nasarena.run("regularized-evolution", bench, seed=s, budget=30)
        assert t.arch.tolist() == one.arch.tolist() and t.record["observed"] == one.record["observed"]


def test_gain_by_hand(bench):
    trials = nasarena.runs("random-search", bench, seeds=range(4), budget=50)
    g = nasarena.gain(trials, target="top-1%")
    hits = [t.samples_to["top-1%"] for t in trials]
    art = metrics.art(hits, 50)
    k = trials[0].targets["top-1%"][1]
    assert g.art == art and g.art_random == (15625 + 1) / (k + 1)
    assert g.gain == (g.art_random / art if np.isfinite(art) else 0.0)
    assert g.successes == sum(np.isfinite(hits)) and g.trials == 4


def test_a_spec_for_another_benchmark_is_refused(bench):
    with pytest.raises(ValueError, match="names benchmark 'nb201-cifar100' but was given 'nb201-cifar10'"):
        run_trial(TrialSpec("nb201-cifar100", "random-search", 0, 10), bench)


def test_gain_refuses_mixed_trials(bench):
    a = nasarena.run("random-search", bench, seed=0, budget=10)
    b = nasarena.run("regularized-evolution", bench, seed=0, budget=10)
    with pytest.raises(ValueError, match="one strategy on one benchmark"):
        nasarena.gain([a, b])
