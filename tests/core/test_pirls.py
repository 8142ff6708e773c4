"""PIRLS, the weighted PLS systems, the Laplace/AGQ objective and the dispersion profile.

Kernels are checked against dense numpy on small random problems; the objective against lme4's
own estimates (lme4 1.1-31 values in tests/reference/*.json) and against exact marginal
likelihoods computed by numerical integration in R. Tests never call R.
"""
from __future__ import annotations

import importlib
import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import fit_case, load_reference

import mm_core
from mm_core.design import fitting_order, materialize
from mm_core.families import get_family
from mm_core.pirls import FamilyKernel, PirlsError, PLSSystem, ScalarSystem, make_system, pirls

glmm = importlib.import_module("mm_core.glmm")

CASES = ["verbagg_laplace", "contra_laplace", "contra_agq9", "cbpp_binomial",
         "grouseticks_poisson"]


def _model(formula, data, **kw):
    d = materialize(formula, data)
    m = glmm.GeneralizedLinearMixedModel(d, **kw)
    m.start()
    return m


def _dense_Z(reterms, n, theta):
    """ZΛ densely, terms in fitting order."""
    cols = []
    start = 0
    for t in reterms:
        rows, cs = t.theta_index
        lam = np.zeros((t.ncols, t.ncols))
        lam[rows, cs] = theta[start:start + len(rows)]
        start += len(rows)
        Z = np.zeros((n, t.q))
        for j in range(t.ncols):
            Z[np.arange(n), t.refs * t.ncols + j] = t.z[j]
        cols.append(Z @ np.kron(np.eye(t.nlevels), lam))
    return np.hstack(cols)


# ------------------------------------------------------------------------------------------------
# The weighted systems against dense linear algebra
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["verbagg_laplace", "grouseticks_poisson", "cbpp_binomial"])
@pytest.mark.parametrize("kind", ["scalar", "pls"])
def test_systems_solve_the_pls_equations(case, kind):
    ref = load_reference(case)
    d = materialize(ref["formula"], mm_core.datasets.load(ref["data"]))
    reterms = [d.reterms[i] for i in fitting_order(d.reterms)]
    X = d.X
    n, _p = X.shape
    rng = np.random.default_rng(1)
    theta = rng.uniform(0.3, 1.5, len(reterms))
    w, z = rng.uniform(0.1, 1.0, n), rng.normal(size=n)
    system = ScalarSystem(reterms, X) if kind == "scalar" else PLSSystem(reterms, X)
    ZL = _dense_Z(reterms, n, theta)
    q = ZL.shape[1]
    M = ZL.T @ (w[:, None] * ZL) + np.eye(q)
    # u only
    system.update(w, z, full=False)
    f = system.factor(theta)
    assert f.logdet == pytest.approx(np.linalg.slogdet(M)[1], rel=1e-11)
    _, u = system.solve(f)
    np.testing.assert_allclose(u, np.linalg.solve(M, ZL.T @ (w * z)), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(system.zlam(theta, u), ZL @ u, rtol=1e-12, atol=1e-12)
    # (β, u) jointly
    system.update(w, z, full=True)
    f = system.factor(theta)
    beta, u = system.solve(f)
    A = np.hstack([ZL, X])
    big = A.T @ (w[:, None] * A)
    big[:q, :q] += np.eye(q)
    sol = np.linalg.solve(big, A.T @ (w * z))
    np.testing.assert_allclose(beta, sol[q:], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(u, sol[:q], rtol=1e-8, atol=1e-10)
    V = np.linalg.inv(big)[q:, q:]
    np.testing.assert_allclose(system.unscaled_vcov(), V, rtol=1e-8, atol=1e-10 * np.abs(V).max())


def test_system_choice_and_sparse_schur():
    """Random intercepts get the lean scalar system; grouseticks' nested brood/location Schur
    complement (181 × 181, almost diagonal) goes to CHOLMOD; a random slope to the general PLS."""
    gt = fit_case("grouseticks_poisson").model.system
    assert isinstance(gt, ScalarSystem) and gt.sparse_S
    vb = fit_case("verbagg_laplace").model.system
    assert isinstance(vb, ScalarSystem) and not vb.sparse_S
    d = materialize("use ~ 1 + urban + (1 + urban | dist)", mm_core.datasets.load("contra"))
    assert isinstance(make_system(d.reterms, d.X), PLSSystem)


# ------------------------------------------------------------------------------------------------
# Family kernels
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family,link", [("binomial", "logit"), ("poisson", "log"),
                                         ("binomial", "probit"), ("poisson", "sqrt"),
                                         ("gamma", "log"), ("inverse_gaussian", "log")])
def test_kernel_matches_family(family, link):
    fam = get_family(family, link)
    rng = np.random.default_rng(3)
    n = 200
    eta = rng.normal(0.3, 1.0, n) if link != "sqrt" else rng.uniform(0.5, 3, n)
    if fam.name == "binomial":
        trials = rng.integers(1, 6, n).astype(float)
        y = rng.binomial(trials.astype(int), 0.4) / trials
    elif fam.name == "poisson":
        trials, y = np.ones(n), rng.poisson(2.0, n).astype(float)
    else:
        trials, y = np.ones(n), rng.gamma(3.0, 1.0, n)
    pw = trials * rng.uniform(0.5, 2.0, n) if fam.name != "binomial" else trials
    k = FamilyKernel(fam, y, pw, trials if fam.name == "binomial" else None)
    k.calibrate(eta)
    mu, dev, aux = k.evaluate(eta)
    np.testing.assert_allclose(mu, fam.linkinv(eta), rtol=1e-13)
    if not fam.has_dispersion:
        # Σ dev + const is R's family()$aic at any μ
        eta2 = eta + rng.normal(0, 0.3, n) if link != "sqrt" else eta * 1.1
        mu2, dev2, _ = k.evaluate(eta2)
        assert dev2 + k.const == pytest.approx(fam.aic(y, trials, mu2, pw, 0.0), rel=1e-12)
        assert np.sum(k.dev(eta2, mu2)) == pytest.approx(dev2, rel=1e-12)
    else:
        assert dev == pytest.approx(np.sum(fam.dev_resids(y, mu, pw)), rel=1e-12)
    w, wres = k.working(eta, mu, aux)
    dmu = fam.mu_eta(eta)
    np.testing.assert_allclose(w, pw * dmu ** 2 / fam.variance(mu), rtol=1e-10)
    np.testing.assert_allclose(wres, (y - mu) / dmu, rtol=1e-10, atol=1e-12)


def test_logit_kernel_is_stable_in_the_tails():
    fam = get_family("binomial")
    y = np.array([0.0, 1.0, 0.0, 1.0])
    k = FamilyKernel(fam, y, np.ones(4))
    eta = np.array([-50.0, 50.0, 40.0, -40.0])
    mu, dev, aux = k.evaluate(eta)
    # -2 log P(y): ~1e-22 for the first two, 2·40 (+1e-17) for the others
    assert dev == pytest.approx(160.0, rel=1e-12)
    w, wres = k.working(eta, mu, aux)
    assert np.all(np.isfinite(w)) and np.all(w > 0) and np.all(np.isfinite(wres))


# ------------------------------------------------------------------------------------------------
# PIRLS
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_pirls_reproduces_lme4_modes_at_lme4_estimates(case):
    """At lme4's (θ, β) our conditional modes and fitted values equal lme4's (to its own PIRLS
    tolerance); the conditional SDs to 3e-5 (lme4 factors with the previous iterate's weights)."""
    ref, m = load_reference(case), fit_case(case)
    model = m.model
    b = model.ranef_at(ref["theta"], ref["fixef"])
    cv = model.condvar_at(ref["theta"], ref["fixef"])
    for grp in ref["ranef"]:
        g, levels = grp["group"], grp["levels"]
        want = np.array(grp["values"], float).reshape(-1, len(grp["names"]))
        np.testing.assert_allclose(b[g].loc[levels].to_numpy(), want, atol=1e-7)
        sd = np.sqrt(np.diagonal(cv[g], axis1=1, axis2=2))
        idx = b[g].index.get_indexer(levels)
        want_sd = np.array(grp["condsd"], float).reshape(sd[idx].shape)
        np.testing.assert_allclose(sd[idx], want_sd, atol=3e-5)
    st = model.state_at(ref["theta"], ref["fixef"])
    np.testing.assert_allclose(st.mu, ref["fitted"], atol=1e-8)


def test_lme4s_objective_lags_its_weights():
    """grouseticks: lme4 (tolPwrss = 1e-12) reports 1780.542706984 at (θ, β) below, with
    ldL2 = 431.749442693657, sqrL = 196.868940944904, aic = 1151.92432334544; recomputing
    log|ΛᵀZᵀWZΛ + I| in R with W at its final μ gives 431.749395894544 — ours."""
    m = fit_case("grouseticks_poisson").model
    theta = [0.541507177300, 0.750032377910, 0.528717666166]
    beta = [0.3727898973292, 1.1804061162003, -0.9786921599022, -0.0237603152367]
    st = m.state_at(theta, beta)
    assert st.logdet == pytest.approx(431.749395894544, abs=1e-8)
    assert st.sqrl == pytest.approx(196.868940944904, abs=1e-8)
    assert st.dev + m.kernel.const == pytest.approx(1151.92432334544, abs=1e-8)
    assert m.objective(np.concatenate([theta, beta])) == pytest.approx(
        431.749395894544 + 196.868940944904 + 1151.92432334544, abs=1e-7)


def test_pirls_warm_start_and_tolerance():
    m = fit_case("verbagg_laplace").model
    theta, beta = np.array([1.3, 0.35]), m.X.shape[1] * [0.0]
    beta = np.array(beta)
    beta[0] = -0.1
    cold = m.solve(theta, beta, np.zeros(m.system.q), profile_beta=False, tol=1e-12)
    warm = m.solve(theta * 1.01, beta, cold.u, profile_beta=False, tol=1e-12)
    cold2 = m.solve(theta * 1.01, beta, np.zeros(m.system.q), profile_beta=False, tol=1e-12)
    assert warm.iterations < cold2.iterations
    assert m.laplace(warm) == pytest.approx(m.laplace(cold2), abs=1e-9)
    np.testing.assert_allclose(warm.u, cold2.u, atol=1e-10)
    # the loose tolerance of the optimization is within 1e-6 of the tight one
    loose = m.solve(theta * 1.01, beta, cold.u, profile_beta=False, tol=1e-9)
    assert m.laplace(loose) == pytest.approx(m.laplace(cold2), abs=1e-6)


def test_pirls_step_halving_and_failure():
    """A start far out (η = 6 everywhere, μ ≈ 0.998) overshoots and needs step-halving, then
    converges to the same modes; a start at η = 10 is beyond 10 halvings (lme4's limit, which
    fails the same way), and an iteration limit fails with a message rather than looping."""
    m = fit_case("contra_laplace").model
    theta = np.array([0.5])
    beta = np.zeros(m.p)
    beta[0] = 6.0
    st = pirls(m.kernel, m.system, m.X, m.offset, theta, beta, np.zeros(m.system.q),
               profile_beta=True, tol=1e-10)
    assert st.halvings > 0
    ref = m.solve(theta, np.zeros(m.p), np.zeros(m.system.q), profile_beta=True, tol=1e-10)
    assert m.laplace(st) == pytest.approx(m.laplace(ref), abs=1e-7)
    beta[0] = 10.0
    with pytest.raises(PirlsError, match="step-halving failed"):
        pirls(m.kernel, m.system, m.X, m.offset, theta, beta, np.zeros(m.system.q),
              profile_beta=True, tol=1e-10)
    beta[0] = 3.0
    with pytest.raises(PirlsError, match="did not converge in 2 iterations"):
        pirls(m.kernel, m.system, m.X, m.offset, theta, beta, np.zeros(m.system.q),
              profile_beta=True, tol=1e-10, maxit=2)


def test_profiled_beta_is_the_joint_optimum_of_pdev():
    """Stage 1's β solves the PLS problem jointly: fixing it in stage 2 gives the same modes."""
    m = fit_case("cbpp_binomial").model
    theta = np.array([0.6])
    s1 = m.solve(theta, np.zeros(m.p), np.zeros(m.system.q), profile_beta=True, tol=1e-12)
    s2 = m.solve(theta, s1.beta, np.zeros(m.system.q), profile_beta=False, tol=1e-12)
    np.testing.assert_allclose(s2.u, s1.u, atol=1e-9)
    assert s2.pdev == pytest.approx(s1.pdev, rel=1e-12)


# ------------------------------------------------------------------------------------------------
# Laplace / AGQ objective
# ------------------------------------------------------------------------------------------------
def test_laplace_components_match_lme4_devfun():
    """cbpp at lme4's estimates: lme4's devfun with tolPwrss = 1e-12 gives 184.052572416."""
    ref, m = load_reference("cbpp_binomial"), fit_case("cbpp_binomial")
    val = m.model.objective(np.concatenate([ref["theta"], ref["fixef"]]))
    assert val == pytest.approx(184.052572416, abs=2e-8)


def test_agq_with_one_node_is_laplace_and_converges_with_more():
    m = fit_case("contra_agq9").model
    ref = load_reference("contra_agq9")
    st = m.state_at(ref["theta"], ref["fixef"])
    from mm_core.agq import agq_adjustment
    vals = [agq_adjustment(m.kernel, m.reterms[0], st.theta, st, k) for k in (1, 3, 9, 15, 25)]
    assert vals[0] == 0.0
    assert abs(vals[-1] - vals[-2]) < 1e-6 < abs(vals[1] - vals[-1])
    assert m.objective_at(st) == pytest.approx(2372.458885, abs=1e-5)


# ------------------------------------------------------------------------------------------------
# Dispersion families
# ------------------------------------------------------------------------------------------------
def gamma_data() -> pd.DataFrame:
    """Simulated Gamma data (written to CSV with these digits for the R computations below)."""
    rng = np.random.default_rng(20260511)
    g = np.repeat(np.arange(12), 15)
    x = np.round(rng.uniform(-1, 1, g.size), 3)
    b = rng.normal(0, 0.4, 12)
    mu = np.exp(0.5 + 0.8 * x + b[g])
    y = np.round(rng.gamma(shape=4.0, scale=mu / 4.0), 4)
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical([f"G{k:02d}" for k in g])})


@pytest.mark.parametrize("family,link", [("gamma", "log"), ("inverse_gaussian", "log"),
                                         ("gaussian", "log")])
def test_dispersion_profile_is_the_maximum(family, link):
    """φ̂ in closed form minimises Σ −2 log f(y | μ̃, φ) + ‖ũ‖²/φ (family loglik_obs, R's densities)."""
    m = _model("y ~ 1 + x + (1 | g)", gamma_data(), family=family, link=link)
    st = m.solve(np.array([0.5]), np.array([0.5, 0.8]), np.zeros(m.system.q), profile_beta=False,
                 tol=1e-12)
    phi, val = glmm._profile_dispersion(m, st.dev + st.sqrl)

    def g(phi):
        return float(-2 * np.sum(m.family.loglik_obs(m.y, st.mu, m.pw, phi)) + st.sqrl / phi)

    assert val == pytest.approx(g(phi), rel=1e-12)
    assert g(phi) < g(phi * 1.001) and g(phi) < g(phi / 1.001)
    assert m.laplace(st) == pytest.approx(val + st.logdet, rel=1e-14)


def test_gamma_glmm_is_the_maximum_likelihood():
    """Exact marginal ML of the simulated Gamma(log) model by numerical integration in R
    (integrate() per group, optim(BFGS, reltol 1e-14)): −2ℓ 439.597765812, β (0.5191057423,
    0.8934423439), sd(b) 0.2958185794, σ 0.4885762528. 25-point AGQ reproduces it; the Laplace
    approximation is within 0.03. lme4 1.1-31 (glmer, Gamma(link = "log")) reports −2ℓ
    432.143739048779, β (0.505789020498, 0.889102704492), sd(b) 0.2299947429, σ 0.506275268022:
    its objective is not the likelihood (see mm_core.glmm), yet the fixed effects are close."""
    data = gamma_data()
    agq = mm_core.fit("y ~ 1 + x + (1 | g)", data, family="gamma", link="log", n_agq=25)
    assert agq.objective == pytest.approx(439.597765812, abs=1e-6)
    np.testing.assert_allclose(agq.fixef.to_numpy(), [0.5191057423, 0.8934423439], atol=1e-5)
    assert agq.varcorr["sd"].iloc[0] == pytest.approx(0.2958185794, abs=1e-5)
    assert agq.sigma == pytest.approx(0.4885762528, abs=1e-5)
    lap = mm_core.fit("y ~ 1 + x + (1 | g)", data, family="gamma", link="log")
    assert lap.objective == pytest.approx(439.597765812, abs=0.05)
    assert lap.sigma == pytest.approx(0.4885762528, rel=1e-3)
    assert lap.dof == 4 and lap.family == "Gamma" and lap.link == "log"
    vc = lap.varcorr
    assert list(vc["group"]) == ["g", "Residual"]
    assert vc["sd"].iloc[1] == pytest.approx(lap.sigma)
    assert vc["sd"].iloc[0] == pytest.approx(lap.theta[0] * lap.sigma)
    np.testing.assert_allclose(lap.fixef.to_numpy(), [0.505789020498, 0.889102704492], atol=0.01)
    # conditional variances carry φ
    cv = lap.condvar["g"][:, 0, 0]
    assert np.all(cv > 0) and np.sqrt(cv[0]) == pytest.approx(0.116, abs=0.002)


def test_gaussian_identity_through_the_glmm_path_is_lmer():
    """The dispersion machinery with the Gaussian family and identity link is the ML LMM."""
    d = materialize("reaction ~ 1 + days + (1 + days | subj)", mm_core.datasets.load("sleepstudy"))
    g = glmm.fit_glmm(d, family="gaussian", link="identity")
    lmm = mm_core.fit("reaction ~ 1 + days + (1 + days | subj)", mm_core.datasets.load("sleepstudy"))
    assert g.objective == pytest.approx(1751.93934, abs=1e-4)
    assert g.objective == pytest.approx(lmm.objective, abs=1e-6)
    np.testing.assert_allclose(g.theta, lmm.theta, atol=1e-4)
    assert g.sigma == pytest.approx(lmm.sigma, rel=1e-5)
    np.testing.assert_allclose(g.fixef, lmm.fixef, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(g.extras["vcov_pls"])), lmm.stderror, rtol=1e-4)
    np.testing.assert_allclose(g.ranef_sd["subj"], lmm.ranef_sd["subj"], rtol=1e-4)
    # AGQ is exact for a Gaussian model: it equals the Laplace value
    d2 = materialize("yield ~ 1 + (1 | batch)", mm_core.datasets.load("dyestuff"))
    assert glmm.fit_glmm(d2, family="gaussian", link="identity",
                         n_agq=9).objective == pytest.approx(327.32706, abs=1e-4)


# ------------------------------------------------------------------------------------------------
# Model object
# ------------------------------------------------------------------------------------------------
def test_model_pickles_and_recomputes():
    m = fit_case("grouseticks_poisson")
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_allclose(m2.fixef, m.fixef)
    np.testing.assert_allclose(m2.ranef_sd["brood"], m.ranef_sd["brood"], rtol=1e-10)
    params = np.concatenate([m.theta, m.fixef.to_numpy()])
    assert m2.model.objective(params) == pytest.approx(m.objective, abs=1e-8)


def test_residuals_leverage_and_blas_threads():
    m = fit_case("cbpp_binomial")
    fam = get_family("binomial")
    mu, y, pw = m.fitted, m.y, m.prior_weights
    np.testing.assert_allclose(m.residuals_of("response"), y - mu)
    np.testing.assert_allclose(m.residuals_of("pearson"), (y - mu) * np.sqrt(pw / (mu * (1 - mu))))
    eta = np.log(mu / (1 - mu))
    np.testing.assert_allclose(m.residuals_of("working"), (y - mu) / fam.mu_eta(eta))
    dev = m.residuals_of("deviance")
    assert np.sum(dev ** 2) == pytest.approx(m.extras["deviance_residuals_sum"])
    assert np.all(np.sign(dev) == np.sign(y - mu))
    with pytest.raises(ValueError, match="unknown residual type"):
        m.residuals_of("partial")
    b = [m.ranef[t.group].to_numpy() for t in m.model.design.reterms]
    np.testing.assert_allclose(m.model.linear_predictor(m.fixef.to_numpy(), b), m.extras["eta"],
                               rtol=1e-12, atol=1e-12)
    h = m.leverage
    assert h.shape == (m.nobs,) and np.all((h > 0) & (h < 1))
    # trace of the hat matrix: between p and p + q
    assert m.model.p < h.sum() < m.model.p + m.model.system.q
