"""Quantities the pictures need beyond the fit result: model matrices, population-level
fitted values, no-pooling estimates, R²/ICC, simulation-based GLMM residuals.

Each function takes a :class:`gui.state.FitRecord` (result + the data it was fitted to) and
returns plain arrays/DataFrames; :func:`gui.cache.fit_derived` caches them per session.
No Streamlit here.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from gui.numerics import linkfun


def _result(rec: Any) -> Any:
    return getattr(rec, "result", rec)


def design(rec: Any) -> Any:
    """The engine's model matrices for the fit (``mm_core.design.materialize``)."""
    from mm_core.design import materialize

    return materialize(_result(rec).formula, rec.data)


def _link(name: str) -> Any:
    try:
        from mm_core.families import get_link

        return get_link(name)
    except Exception:  # noqa: BLE001 - fall back to the app's own links
        return None


def linear_predictor(rec: Any, which: str = "conditional") -> np.ndarray:
    """η with (``conditional``) or without (``population``) the random effects."""
    res = _result(rec)
    if which == "conditional":
        lk = _link(res.link)
        return lk.link(np.asarray(res.fitted, float)) if lk is not None else linkfun(res.link, res.fitted)
    d = design(rec)
    beta = pd.Series(0.0, index=list(d.fixef_names))
    fe = res.fixef
    common = [n for n in fe.index if n in beta.index]
    beta[common] = fe[common].to_numpy(float)
    beta = beta.fillna(0.0)
    eta = d.X @ beta.to_numpy(float)
    if getattr(d, "offset", None) is not None:
        eta = eta + d.offset
    return eta


def population_fitted(rec: Any) -> np.ndarray:
    """Fitted values from the fixed effects alone, on the response scale."""
    res = _result(rec)
    eta = linear_predictor(rec, "population")
    lk = _link(res.link)
    if lk is not None:
        return np.asarray(lk.linkinv(eta), float)
    return eta if res.link == "identity" else np.exp(eta)


def used_rows(rec: Any) -> pd.DataFrame:
    """The data rows the fit used, in the fit's order."""
    res = _result(rec)
    rows = getattr(res, "rows", None)
    return rec.data.iloc[np.asarray(rows)] if rows is not None else rec.data


def group_frame(rec: Any, group: str, x: str) -> pd.DataFrame:
    """Columns for per-group panels: x, y, group, conditional and population fitted values."""
    res = _result(rec)
    d = used_rows(rec)
    from gui.data_design import group_codes

    out = pd.DataFrame({
        "x": d[x].to_numpy() if x in d else np.arange(len(d)),
        "y": np.asarray(getattr(res, "y", None) if getattr(res, "y", None) is not None else
                        np.asarray(res.fitted) + np.asarray(res.residuals), float),
        "group": group_codes(d, group).to_numpy(),
        "conditional": np.asarray(res.fitted, float),
        "population": population_fitted(rec),
    })
    return out


def unpooled(rec: Any, group: str) -> pd.DataFrame:
    """Each level's random-effects coefficients estimated from that level's data alone.

    Partial residual on the link scale (working response minus everything but this term),
    regressed on the term's columns within each level: the limit of the conditional modes as
    the term's variance goes to infinity ("no pooling"). Levels whose columns are not
    estimable from their own data get NaN.
    """
    res = _result(rec)
    term = next((t for t in design(rec).reterms if t.group == group), None)
    if term is None:
        raise KeyError(f"no random-effects term for {group}")
    b = res.ranef[group]
    z = np.asarray(term.z, float)                                   # p × n
    refs = np.asarray(term.refs)
    pos = {str(lv): i for i, lv in enumerate(b.index)}
    bmat = b.to_numpy(float)[[pos[str(lv)] for lv in term.levels]]    # in the term's level order
    contrib = np.einsum("pn,np->n", z, bmat[refs])                  # z_i' b_level(i)
    partial = contrib + np.asarray(res.residuals_of("working"), float)
    out = np.full((len(term.levels), z.shape[0]), np.nan)
    order = np.argsort(refs, kind="stable")
    bounds = np.searchsorted(refs[order], np.arange(len(term.levels) + 1))
    for j in range(len(term.levels)):
        idx = order[bounds[j]:bounds[j + 1]]
        A = z[:, idx].T
        if idx.size >= A.shape[1] and np.linalg.matrix_rank(A) == A.shape[1]:
            out[j] = np.linalg.lstsq(A, partial[idx], rcond=None)[0]
    frame = pd.DataFrame(out, index=[str(lv) for lv in term.levels], columns=list(b.columns))
    return frame.reindex([str(lv) for lv in b.index]).set_axis(b.index)


def group_sizes(rec: Any, group: str) -> pd.Series:
    from gui.data_design import group_codes

    codes = group_codes(used_rows(rec), group)
    return codes.value_counts()


def covariance_matrices(res: Any) -> dict[str, np.ndarray]:
    """Σ of each grouping factor from ``varcorr`` (sd and correlations)."""
    vc = res.varcorr
    out: dict[str, np.ndarray] = {}
    for g, block in vc[vc["group"] != "Residual"].groupby("group", sort=False):
        names = list(block["name"])
        sd = block["sd"].to_numpy(float)
        corr = np.eye(len(names))
        for i, (_, row) in enumerate(block.iterrows()):
            for j in range(i):
                v = row.get(f"corr:{names[j]}", np.nan)
                corr[i, j] = corr[j, i] = 0.0 if pd.isna(v) else float(v)
        out[str(g)] = corr * np.outer(sd, sd)
    return out


def r2_icc(rec: Any) -> dict[str, float]:
    """Nakagawa–Schielzeth marginal and conditional R² and the ICC, for LMMs.

    var_f = variance of Xβ̂; var_r = mean over observations of zᵢ'Σzᵢ summed over the
    random-effects terms (Johnson's extension to random slopes); var_e = σ². ICC (adjusted)
    = var_r / (var_r + var_e).
    """
    res = _result(rec)
    if res.sigma is None or not (res.family == "gaussian" and res.link == "identity"):
        return {}
    d = design(rec)
    eta_pop = linear_predictor(rec, "population")
    var_f = float(np.var(eta_pop))
    covs = covariance_matrices(res)
    var_r = 0.0
    for t in d.reterms:
        S = covs.get(t.group)
        if S is None or S.shape[0] != t.z.shape[0]:
            continue
        z = np.asarray(t.z, float)
        var_r += float(np.mean(np.einsum("pn,pq,qn->n", z, S, z)))
    var_e = float(res.sigma) ** 2
    total = var_f + var_r + var_e
    return {"marginal R²": var_f / total, "conditional R²": (var_f + var_r) / total,
            "ICC (adjusted)": var_r / (var_r + var_e), "variance fixed": var_f, "variance random": var_r,
            "variance residual": var_e}


def simulated_residuals(rec: Any, n_sim: int = 250, seed: int = 123, mode: str = "conditional") -> dict:
    """DHARMa-style scaled residuals for a GLMM (or LMM) by simulation from the fit.

    ``mode="conditional"`` simulates the response given the fitted random effects (DHARMa
    0.5 default); ``"unconditional"`` draws new random effects from N(0, Σ̂). The scaled
    residual of observation i is the randomized PIT of its observed value among its
    simulated values: uniform on (0, 1) under a correct model.

    Returns ``scaled``, ``predicted``, ``tests`` (KS uniformity, dispersion, outliers p-values),
    ``dispersion_sim``, ``dispersion_obs`` and the settings.
    """
    res = _result(rec)
    rng = np.random.default_rng(seed)
    mu = np.asarray(res.fitted, float)
    n = mu.size
    if mode == "unconditional":
        mu_sim = _unconditional_mu(rec, n_sim, rng)
    else:
        mu_sim = np.broadcast_to(mu, (n_sim, n))
    y = np.asarray(getattr(res, "y", mu + np.asarray(res.residuals)), float)
    w = getattr(res, "prior_weights", None)
    w = np.ones(n) if w is None else np.asarray(w, float)
    fam = res.family
    if fam == "binomial":
        trials = np.rint(w).astype(int)
        trials = np.maximum(trials, 1)
        obs = np.rint(y * trials)
        sim = rng.binomial(trials, np.clip(mu_sim, 0, 1)).astype(float)
        integer = True
    elif fam == "poisson":
        obs = y
        sim = rng.poisson(np.maximum(mu_sim, 0)).astype(float)
        integer = True
    elif fam == "gaussian":
        sigma = res.sigma or float(np.std(res.residuals))
        obs = y
        sim = rng.normal(mu_sim, sigma / np.sqrt(w))
        integer = False
    elif fam == "gamma":
        phi = (res.sigma or 1.0) ** 2
        obs = y
        sim = rng.gamma(1 / phi, mu_sim * phi)
        integer = False
    else:
        raise ValueError(f"simulated residuals are not available for the {fam} family")
    below = (sim < obs).mean(axis=0)
    equal = (sim == obs).mean(axis=0) if integer else np.zeros(n)
    u = rng.uniform(size=n)
    scaled = below + u * equal
    # tests (DHARMa testUniformity / testDispersion / testOutliers)
    ks = stats.kstest(scaled, "uniform").pvalue
    sim_resid_var = np.var(sim - np.asarray(mu_sim), axis=1)
    obs_var = float(np.var(obs - mu))
    p_disp = 2 * min(np.mean(sim_resid_var >= obs_var), np.mean(sim_resid_var <= obs_var))
    p_disp = min(1.0, max(p_disp, 1 / (n_sim + 1)))
    outside = int(np.sum((obs < sim.min(axis=0)) | (obs > sim.max(axis=0))))
    p_out = stats.binomtest(outside, n, 2 / (n_sim + 1)).pvalue if n else np.nan
    return {"scaled": scaled, "predicted": mu, "tests": {"KS uniformity": float(ks), "dispersion": float(p_disp),
                                                         "outliers": float(p_out)},
            "dispersion_sim": sim_resid_var, "dispersion_obs": obs_var,
            "outliers": outside, "n_sim": n_sim, "seed": seed, "mode": mode}


def _unconditional_mu(rec: Any, n_sim: int, rng: np.random.Generator) -> np.ndarray:
    res = _result(rec)
    d = design(rec)
    eta0 = linear_predictor(rec, "population")
    covs = covariance_matrices(res)
    eta = np.tile(eta0, (n_sim, 1))
    for t in d.reterms:
        S = covs.get(t.group)
        if S is None:
            continue
        p = S.shape[0]
        L = np.linalg.cholesky(S + 1e-12 * np.eye(p))
        b = rng.standard_normal((n_sim, t.nlevels, p)) @ L.T        # sims × levels × p
        eta += np.einsum("pn,snp->sn", np.asarray(t.z, float), b[:, np.asarray(t.refs), :])
    lk = _link(res.link)
    return np.asarray(lk.linkinv(eta), float) if lk is not None else eta


def residual_frame(rec: Any, leverage: bool = True) -> pd.DataFrame:
    """Per-observation fitted values, residuals of each kind and (if asked) leverage.

    Leverage needs an extra factorization (seconds for 70,000 rows), so large-data pages ask
    for it only when they draw it.
    """
    res = _result(rec)
    out = pd.DataFrame({"fitted": np.asarray(res.fitted, float), "response": np.asarray(res.residuals, float)})
    for kind in ("pearson", "deviance", "scaled"):
        try:
            out[kind] = np.asarray(res.residuals_of(kind), float)
        except Exception:  # noqa: BLE001 - not every kind exists for every family
            pass
    if "scaled" not in out and res.sigma:
        out["scaled"] = out["pearson"] / res.sigma if "pearson" in out else out["response"] / res.sigma
    out["leverage"] = np.nan
    if leverage:
        try:
            lev = np.asarray(res.leverage, float)
            if lev.size == len(out):
                out["leverage"] = lev
        except Exception:  # noqa: BLE001 - not every model reports leverages
            pass
    h = out["leverage"].to_numpy(float)
    base = out["scaled"] if "scaled" in out else out.get("pearson", out["response"])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["standardized"] = base / np.sqrt(np.clip(1 - h, 1e-12, None)) if np.isfinite(h).any() else base
    return out
