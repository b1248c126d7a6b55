"""Running evaluations in parallel, shared by a live benchmark's oracle and the suites' ``ray``
executor: :mod:`~nasbench.parallel.ray_tasks` (a function mapped over items as Ray tasks, with
retries) and :mod:`~nasbench.parallel.reaper` (kills what a SIGKILLed driver's Ray runtime leaves)."""
