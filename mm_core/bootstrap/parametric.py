"""The parametric bootstrap of a fit: its replicate engine, run on workers, and the result."""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np

from ..errors import NotFittedError
from ..simulate import ResponseSimulator, check_count, check_result, seed_entropy
from .execution import run_replicates
from .glmm_replicator import GlmmReplicator
from .lmm_replicator import LmmReplicator, fresh_lmm
from .result import BootstrapResult, assemble

__all__ = ["make_replicator", "parametric_bootstrap"]


def make_replicator(result, *, beta=None, theta=None, sigma=None, step: float = 0.1,
                    **options):
    """The replicate engine for a fit (a picklable callable ``(j, entropy) -> row``)."""
    simulator = ResponseSimulator.from_result(result, beta=beta, theta=theta, sigma=sigma)
    if result.is_lmm:
        m = result.model                  # a model of our own: the fit's is left untouched
        return LmmReplicator(fresh_lmm(m.design, m.reml, m.weights), simulator, result.theta,
                             step=step, **options)
    return GlmmReplicator(result, simulator, step=step, **options)


def _check_fitted(result, allow_unconverged: bool) -> None:
    check_result(result)
    finite = (np.isfinite(result.objective) and np.all(np.isfinite(result.theta))
              and np.all(np.isfinite(result.beta)))
    if not finite:
        raise NotFittedError("the fit failed (its estimates are not finite); there is nothing "
                             "to bootstrap")
    if not result.converged and not allow_unconverged:
        raise NotFittedError("the fit did not converge (" + result.optsum.verdict + "); a "
                             "bootstrap around it would be misleading. Fix the fit first, or "
                             "pass allow_unconverged=True.")


def parametric_bootstrap(result, n: int, *, seed=None, rng: np.random.Generator | None = None,
                         progress: Callable | None = None, executor: Executor | None = None,
                         workers: int | None = None, chunk_size: int | None = None,
                         beta=None, theta=None, sigma=None, allow_unconverged: bool = False,
                         step: float = 0.1, **optimizer) -> BootstrapResult:
    """Parametric bootstrap of a fitted linear or generalized linear mixed model.

    Parameters
    ----------
    result : MixedModelResult
        A converged fit.
    n : int
        Number of replicates.
    seed : int or numpy.random.Generator, optional
        Replicate ``j`` draws from child ``j`` of ``numpy.random.SeedSequence(seed)``: the same
        seed gives the same table whatever ``workers``, ``executor`` or ``chunk_size``.
    rng : numpy.random.Generator, optional
        Alternative to ``seed`` (128 bits of entropy are drawn from it).
    progress : callable, optional
        ``progress(p)`` with a :class:`mm_core.Progress` (``p.done`` of ``p.total`` replicates,
        ``p.elapsed`` seconds) after each chunk and, with the default chunking, every
        ``PROGRESS_INTERVAL`` seconds while replicates run; returning ``False`` cancels the
        run: the running replicates stop after the one under way (in this process or a pool of
        our own) and the finished replicates are kept (``result.cancelled`` is True).
    executor : concurrent.futures.Executor, optional
        Where chunks run, e.g. ``distributed.Client(...).get_executor()``. Default: a process
        pool of ``workers`` processes created (and shut down) here.
    workers : int, optional
        Size of the default pool; default ``os.cpu_count()``; 1 runs in this process.
    chunk_size : int, optional
        Replicates per task. Default: tasks of 1, 2, 4, ... replicates growing to about 1/64
        of ``n`` (between 16 and 1000), so that progress moves from the first replicates, and
        a cancelled run keeps every finished replicate. Given explicitly, every task has that
        size and a cancelled run keeps whole tasks only. Tasks are submitted as earlier ones
        finish (a few per worker in flight), so any ``n`` starts at once.
    beta, theta, sigma : optional
        Simulate at these parameter values instead of the estimates.
    allow_unconverged : bool
        Bootstrap a fit that did not converge instead of raising.
    step : float
        BOBYQA's initial step, relative to max(|θᵢ|, 1).
    **optimizer
        ``ftol_rel``, ``ftol_abs``, ``xtol_abs``, ``maxeval`` for the refits.

    Returns
    -------
    BootstrapResult

    Raises
    ------
    NotFittedError
        ``result`` is not a fitted model, its fit failed or did not converge.
    MixedModelError
        ``n`` is not a positive integer.

    Notes
    -----
    Equivalent to MixedModels.jl's ``parametricbootstrap(rng, n, m)`` and lme4's
    ``bootMer(m, FUN, nsim = n, type = "parametric", use.u = FALSE)``. The refits use the
    fit's criterion (REML or ML). A refit is singular when a diagonal element of λ is below
    1e-4 (lme4's ``isSingular`` tolerance).

    Examples
    --------
    >>> from mm_core import datasets, fit
    >>> m = fit("yield ~ 1 + (1 | batch)", datasets.load("dyestuff"))
    >>> b = parametric_bootstrap(m, 200, seed=1, workers=1)
    >>> b.n, sorted(b.tidy["type"].unique())
    (200, ['beta', 'sigma'])
    """
    _check_fitted(result, allow_unconverged)
    n = check_count(n)
    entropy = seed_entropy(seed, rng)
    if workers is not None:
        workers = check_count(workers, "workers")
    if chunk_size is not None:
        chunk_size = check_count(chunk_size, "chunk_size")
    replicator = make_replicator(result, beta=beta, theta=theta, sigma=sigma, step=step,
                                 **optimizer)
    rows, reps, cancelled, used, elapsed = run_replicates(
        replicator, n, entropy, progress=progress, executor=executor, workers=workers,
        chunk_size=chunk_size)
    return assemble(result, rows, reps, n, entropy, cancelled, elapsed, used)
