"""Regularised evolution on a partial table: the child's exact law, against the official loop's."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from nasbench.synthetic import synthetic_benchmark
from strategies.regularized_evolution import RegularizedEvolution


def _setup():
    bench = synthetic_benchmark(positions=4, choices=4, repeats=1, keep=0.2, seed=0, name="synthetic-sparse")
    re = RegularizedEvolution(bench.space, {"population": 4, "tournament": 2})
    nb = np.asarray(bench.space.neighbors)
    n_in = (nb >= 0).sum(axis=1)
    # a population of four, one without an in-table neighbour, none a neighbour of another, so
    # that no child of theirs was evaluated before (every ask ends at its first draw)
    lonely = [int(i) for i in np.flatnonzero(n_in == 0)]
    assert lonely, "the toy table needs a cell without in-table neighbours"
    pop = [lonely[0]]
    for i in np.flatnonzero(n_in >= 2):
        if len(pop) == 4:
            break
        if all(int(i) not in nb[p] and p not in nb[i] for p in pop):
            pop.append(int(i))
    values = np.array([0.9, 0.8, 0.7, 0.6], np.float32)  # the lonely cell is the best member
    state = re.init_fn(re._arrays, jax.random.key(0), 64)
    for i, v in zip(pop, values):
        state = re.tell_fn(re._arrays, state, jnp.asarray(i), jnp.asarray(v))
    return bench, re, nb, pop, values, state


def _parent_law(values: np.ndarray, tournament: int) -> np.ndarray:
    """P(the parent is each member): the best of ``tournament`` uniform draws with replacement."""
    size = len(values)
    rank = np.argsort(np.argsort(-values))  # 0 = best
    return ((size - rank) / size) ** tournament - ((size - rank - 1) / size) ** tournament


def test_the_child_law_is_the_official_redraw_loop_on_a_partial_table():
    """The colab's mutate loop redraws the mutation of the same parent until the child is valid
    ("in the table" here): a child uniform among the parent's in-table neighbours. A parent
    without one gives a uniform random unevaluated architecture (and a counted random pick)."""
    bench, re, nb, pop, values, state = _setup()
    n = bench.space.n
    seen = np.zeros(n, bool)
    seen[pop] = True
    exact = np.zeros(n)
    for p, w in zip(pop, _parent_law(values, 2)):
        inside = nb[p][nb[p] >= 0]
        if inside.size:
            np.add.at(exact, inside, w / inside.size)
        else:
            exact[~seen] += w / (~seen).sum()
    # the literal loop, simulated: the same parent, uniform over every valid mutation, until in the table
    rng = np.random.default_rng(0)
    loop = np.zeros(n)
    draws = 200_000
    parents = rng.choice(len(pop), size=draws, p=_parent_law(values, 2))
    for k in np.bincount(parents, minlength=len(pop)).nonzero()[0]:
        valid = nb[pop[k]][nb[pop[k]] != -2]
        m = (parents == k).sum()
        if (valid >= 0).any():
            picks = rng.choice(valid, size=m * 20)  # enough redraws for every child to find one in the table
            np.add.at(loop, picks[picks >= 0][:m], 1)
        else:
            np.add.at(loop, rng.choice(np.flatnonzero(~seen), size=m), 1)
    loop /= draws
    tol = 5 * np.sqrt(exact * (1 - exact) / draws) + 1e-12
    assert np.all(np.abs(loop - exact) <= tol)
    # ours, vectorised over keys
    keys = jax.random.split(jax.random.key(1), 40_000)
    ask = jax.jit(jax.vmap(lambda k: re.ask_fn(re._arrays, state._replace(key=k))))
    states, children = ask(keys)
    freq = np.bincount(np.asarray(children), minlength=n) / keys.shape[0]
    tol = 5 * np.sqrt(exact * (1 - exact) / keys.shape[0]) + 1e-12
    assert np.all(np.abs(freq - exact) <= tol), np.abs(freq - exact).max()
    lonely_parent = _parent_law(values, 2)[0]  # the best member has no in-table neighbour
    assert abs(float(np.mean(np.asarray(states.random_picks))) - lonely_parent) < 5 * np.sqrt(lonely_parent / keys.shape[0])
    assert not seen[np.asarray(children)].any()
