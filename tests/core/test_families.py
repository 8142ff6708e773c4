"""Links and GLM families against R's ``stats`` (``make.link``, ``family()``, nmath).

Reference numbers were produced with R 4.2.2 and pasted here; the R calls are in the
comments above each block. Tests never call R.
"""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from scipy import stats

from mm_core import families as F
from mm_core.errors import DataError, MixedModelError
from mm_core.families import (
    FAMILY_NAMES,
    LINK_NAMES,
    Binomial,
    Family,
    GammaFamily,
    Gaussian,
    InverseGaussian,
    Link,
    Poisson,
    get_family,
    get_link,
)

EPS = np.finfo(float).eps

# ---------------------------------------------------------------------------
# Reference values from R.
# eta <- c(-40, -30.5, -12, -8.5, -3.2, -0.7, 0, 0.25, 1.3, 4.1, 8.5, 12, 30.5, 40)
# for (l in c("logit","probit","cauchit","cloglog","log")) {
#   lk <- make.link(l); print(c(lk$linkinv(eta), lk$mu.eta(eta)), digits = 17) }
# etap <- c(0.05, 0.3, 1, 2.5, 7, 40)   # for inverse, sqrt, 1/mu^2, identity
# mu <- c(1e-12, 0.003, 0.1, 0.25, 0.5, 0.77, 0.9, 0.999, 1-1e-12)
# make.link(l)$linkfun(mu)
# ---------------------------------------------------------------------------
ETA = np.array([-40, -30.5, -12, -8.5, -3.2, -0.7, 0, 0.25, 1.3, 4.1, 8.5, 12, 30.5, 40])
ETA_POS = np.array([0.05, 0.3, 1, 2.5, 7, 40])
MU = np.array([1e-12, 0.003, 0.1, 0.25, 0.5, 0.77, 0.9, 0.999, 1 - 1e-12])
LINK_REF = {}
LINK_REF_POS = {}
LINKFUN_REF = {}
LINK_REF["logit"] = ([2.2204460492503126e-16, 2.2204460492503126e-16, 6.1441746022147182e-06,
    0.0002034269780552065, 0.039165722796764356, 0.33181222783183395, 0.5, 0.56217650088579807,
    0.78583498304255861, 0.9836975006285591, 0.9997965730219448, 0.99999385582539779,
    0.99999999999999978, 0.99999999999999978],
    [2.2204460492503131e-16, 2.2204460492503131e-16, 6.1441368513331755e-06,
    0.00020338559551980582, 0.037631768954571369, 0.2217128732931091, 0.25,
    0.24613408273759835, 0.16829836246906021, 0.016036727885685113, 0.00020338559551980585,
    6.1441368513331755e-06, 2.2204460492503131e-16, 2.2204460492503131e-16])
LINK_REF["probit"] = ([2.2204460492503284e-16, 2.2204460492503284e-16, 2.2204460492503284e-16,
    2.2204460492503284e-16, 0.00068713793791584806, 0.24196365222307298, 0.5,
    0.5987063256829237, 0.9031995154143897, 0.99997934249308751, 0.99999999999999978,
    0.99999999999999978, 0.99999999999999978, 0.99999999999999978],
    [2.2204460492503131e-16, 2.2204460492503131e-16, 2.2204460492503131e-16,
    2.2204460492503131e-16, 0.0023840882014648404, 0.31225393336676127, 0.3989422804014327,
    0.38666811680284924, 0.17136859204780736, 8.9261657177132928e-05, 2.2204460492503131e-16,
    2.2204460492503131e-16, 2.2204460492503131e-16, 2.2204460492503131e-16])
LINK_REF["cauchit"] = ([0.0079560899120258138, 0.010432652484918663, 0.026464676059589874,
    0.037276871154205186, 0.096411247979229578, 0.30559988778578523, 0.5, 0.57797913037736937,
    0.79128559983984725, 0.92385021664400102, 0.96272312884579481, 0.97353532394041009,
    0.98956734751508135, 0.99204391008797421],
    [0.0001988194167294133, 0.00034180927375440613, 0.0021952405943709702,
    0.0043455274564340026, 0.02831938489179632, 0.21363079609650382, 0.31830988618379069,
    0.29958577523180296, 0.11833081270772886, 0.017872537124300432, 0.0043455274564340026,
    0.0021952405943709702, 0.00034180927375440613, 0.0001988194167294133])
LINK_REF["cloglog"] = ([2.2204460492503131e-16, 5.6756852326325618e-14, 6.1441934776941472e-06,
    0.00020344767072588945, 0.039942599363796169, 0.39139468219559359, 0.63212055882855767,
    0.7230796659000911, 0.97450560532427588, 0.99999999999999978, 0.99999999999999978,
    0.99999999999999978, 0.99999999999999978, 0.99999999999999978],
    [2.2204460492503131e-16, 5.6756852326324009e-14, 6.1441746020987432e-06,
    0.00020342697384490255, 0.039134055595672991, 0.30222445663096847, 0.36787944117144233,
    0.35557274738194417, 0.093546497426604341, 2.2204460492503131e-16, 2.2204460492503131e-16,
    2.2204460492503131e-16, 2.2204460492503131e-16, 2.2204460492503131e-16])
LINK_REF["log"] = ([2.2204460492503131e-16, 5.6756852326327227e-14, 6.1442123533282098e-06,
    0.00020346836901064417, 0.040762203978366211, 0.49658530379140953, 1, 1.2840254166877414,
    3.6692966676192444, 60.34028759736195, 4914.7688402991344, 162754.79141900392,
    17619017951355.633, 2.3538526683702e+17],
    [2.2204460492503131e-16, 5.6756852326327227e-14, 6.1442123533282098e-06,
    0.00020346836901064417, 0.040762203978366211, 0.49658530379140953, 1, 1.2840254166877414,
    3.6692966676192444, 60.34028759736195, 4914.7688402991344, 162754.79141900392,
    17619017951355.633, 2.3538526683702e+17])
LINK_REF_POS["inverse"] = ([20, 3.3333333333333335, 1, 0.40000000000000002,
    0.14285714285714285, 0.025000000000000001],
    [-399.99999999999994, -11.111111111111111, -1, -0.16, -0.020408163265306121,
    -0.00062500000000000001])
LINK_REF_POS["sqrt"] = ([0.0025000000000000005, 0.089999999999999997, 1, 6.25, 49, 1600],
    [0.10000000000000001, 0.59999999999999998, 2, 5, 14, 80])
LINK_REF_POS["1/mu^2"] = ([4.4721359549995796, 1.8257418583505538, 1, 0.63245553203367588,
    0.3779644730092272, 0.15811388300841897],
    [-44.721359549995789, -3.0429030972509232, -0.5, -0.12649110640673517,
    -0.026997462357801941, -0.001976423537605237])
LINK_REF_POS["identity"] = ([0.050000000000000003, 0.29999999999999999, 1, 2.5, 7, 40],
    [1, 1, 1, 1, 1, 1])
LINKFUN_REF["logit"] = [-27.631021115927549, -5.8061384812937282, -2.1972245773362191,
    -1.0986122886681098, 0, 1.2083112059245342, 2.1972245773362196, 6.906754778648553,
    27.63104323789236]
LINKFUN_REF["probit"] = [-7.0344838253011321, -2.7477813854449931, -1.2815515655446008,
    -0.67448975019608171, 0, 0.73884684918521371, 1.2815515655446008, 3.0902323061678132,
    7.0344869100478356]
LINKFUN_REF["cauchit"] = [-318309886183.79071, -106.10015378333938, -3.077683537175254, -1, 0,
    1.1342773492554057, 3.0776835371752544, 318.30883898555015, 318316927901.77966]
LINKFUN_REF["cloglog"] = [-27.631043237892857, -5.8076411119319511, -2.2503673273124454,
    -1.2458993237072382, -0.36651292058166435, 0.38504194796137331, 0.83403244524795594,
    1.9326447339160653, 3.3189398956562393]
LINKFUN_REF["log"] = [-27.631021115928547, -5.8091429903140277, -2.3025850929940455,
    -1.3862943611198906, -0.69314718055994529, -0.26136476413440751, -0.10536051565782628,
    -0.0010005003335835344, -9.9997787828037852e-13]
LINKFUN_REF["inverse"] = [1000000000000, 333.33333333333331, 10, 4, 2, 1.2987012987012987,
    1.1111111111111112, 1.0010010010010011, 1.0000000000010001]
LINKFUN_REF["sqrt"] = [9.9999999999999995e-07, 0.054772255750516613, 0.31622776601683794, 0.5,
    0.70710678118654757, 0.87749643873921224, 0.94868329805051377, 0.99949987493746095,
    0.99999999999949996]
LINKFUN_REF["1/mu^2"] = [1.0000000000000001e+24, 111111.11111111111, 99.999999999999986, 16, 4,
    1.6866250632484399, 1.2345679012345678, 1.0020030040050061, 1.000000000002]
LINKFUN_REF["identity"] = [9.9999999999999998e-13, 0.0030000000000000001, 0.10000000000000001,
    0.25, 0.5, 0.77000000000000002, 0.90000000000000002, 0.999, 0.99999999999900002]

# ---------------------------------------------------------------------------
# Families, R 4.2.2 (see the R script in the comment of each block):
# BIN: fam <- binomial(); dr <- fam$dev.resids(y, mu, wt)
#      aic = fam$aic(y, rep(1, 8), mu, wt, sum(dr)); aic_n = fam$aic(y, wt, mu, rep(1, 8), sum(dr))
# BERN / POI / GAU / GAM / IG: dev.resids(y, mu, wt) and aic(y, rep(1, n), mu, wt, sum(dr))
#      with binomial(), poisson(), gaussian(), Gamma(), inverse.gaussian().
# BIG_*: (sum(dr), aic) on the deterministic data built by ``_big_data`` below:
#   i <- 1:2000; mu <- plogis(3*sin(i)); y <- as.numeric(cos(7*i) > 0.2*sin(3*i))
#   tr <- 1 + (i %% 17); yb <- floor(tr*(0.5 + 0.5*cos(5*i)))/tr          # binomial(wt = tr)
#   mup <- exp(2 + 1.5*sin(i)); yp <- floor(mup*(1 + 0.6*cos(11*i)))        # poisson
#   mug <- exp(1 + sin(i)); yg <- mug*exp(0.4*cos(13*i)); wg <- 1 + (i %% 3) # Gamma, IG, gaussian
# DBINOM = (x, n, p, dbinom(x, n, p, log=TRUE)); DPOIS = (x, l, dpois(x, l, log=TRUE));
# DGAMMA = (x, shape, scale, dgamma(x, shape, scale=scale, log=TRUE));
# PNORM = (x, pnorm(x), dnorm(x))
# ---------------------------------------------------------------------------
BIN = dict(y=[0, 0.25, 0.5, 1, 0.10000000000000001, 0.90000000000000002, 1, 0], wt=[4, 4, 2, 3,
    10, 10, 1, 1], mu=[0.20000000000000001, 0.29999999999999999, 0.45000000000000001,
    0.80000000000000004, 0.050000000000000003, 0.96999999999999997, 0.59999999999999998,
    0.34999999999999998],
  dev_resids=[1.7851484105136781, 0.049314115333799313, 0.020100671707002915,
    1.3388613078852587, 0.41308437825492789, 1.0597220615357503, 1.0216512475319814,
    0.86156583218490834],
  aic=13.45481338445963,
  aic_n=4.4494189392455397)
BERN = dict(y=[0, 1, 1, 0, 1, 0, 0, 1], mu=[0.01, 0.98999999999999999, 0.5,
    0.94999999999999996, 0.050000000000000003, 0.29999999999999999, 1.0000000000000001e-09,
    0.69999999999999996],
  dev_resids=[0.020100671707003012, 0.020100671707003012, 1.3862943611198906,
    5.9914645471079799, 5.9914645471079817, 0.71334988787746478, 2.0000001644807418e-09,
    0.71334988787746478],
  aic=14.836124576504789)
POI = dict(y=[0, 1, 2, 5, 0, 13, 7, 100], wt=[1, 1, 2, 0.5, 1, 3, 1, 1], mu=[0.5, 1.2, 2,
    3.2999999999999998, 0.0001, 12.699999999999999, 9, 95],
  dev_resids=[1, 0.035356886412090727, 0, 0.37757721980832892, 0.00020000000000000001,
    0.021094391765302034, 0.48159800406731534, 0.25865887751009708],
  aic=34.641426623540738)
GAU = dict(y=[1.2, -0.29999999999999999, 2.5, 4.0999999999999996, 0.90000000000000002,
    3.2999999999999998], wt=[1, 2, 0.5, 1, 3, 1], mu=[1, 0, 2, 4, 1.5, 3],
  dev_resids=[0.03999999999999998, 0.17999999999999999, 0.125, 0.0099999999999999291,
    1.0800000000000001, 0.0899999999999999],
  aic=9.710059754775882)
GAM = dict(y=[0.5, 1.7, 2.2000000000000002, 0.050000000000000003, 3.8999999999999999,
    1.1000000000000001], wt=[1, 2, 1, 0.5, 1, 1.5], mu=[0.80000000000000004, 1.5, 2.5,
    0.29999999999999999, 3, 1.1000000000000001],
  dev_resids=[0.19000725849147104, 0.032680761517309254, 0.015666743019769697,
    0.95842613589472159, 0.075271471065017859, -0],
  aic=12.46525211289114)
IG = dict(y=[0.5, 1.7, 2.2000000000000002, 0.050000000000000003, 3.8999999999999999,
    1.1000000000000001], wt=[1, 2, 1, 0.5, 1, 1.5], mu=[0.80000000000000004, 1.5, 2.5,
    0.29999999999999999, 3, 1.1000000000000001],
  dev_resids=[0.28125, 0.020915032679738554, 0.0065454545454545375, 6.9444444444444446,
    0.023076923076923071, 0],
  aic=25.623987406313372)
BIG_BERN = (4597.0769583902402, 4597.0769583902402)
BIG_BIN = (27172.562453887123, 30407.723510031199)
BIG_POI = (5164.782141641188, 12322.102615678499)
BIG_GAM = (323.45351086264679, 9358.910808421273)
BIG_IG = (150.16593848602656, 10241.068248355097)
BIG_GAU = (5824.05777345767, 6620.3506672003405)
DBINOM = ([0, 3, 7, 20, 0, 1000, 37, 999, 12, 500], [20, 20, 20, 20, 10, 1000, 1200, 1000, 40,
    1000], [0.050000000000000003, 0.20000000000000001, 0.5, 0.96999999999999997,
    0.94999999999999996, 0.99990000000000001, 0.031, 0.999, 0.29999999999999999,
    0.50009999999999999],
  [-1.0258658877510107, -1.5829705682553259, -2.604652364634259, -0.60918414969417145,
    -29.957322735539901, -0.10000500033334732, -2.7115483540327348, -0.99949983324995062,
    -1.9908900002817644, -3.6799389920945296])
DPOIS = ([0, 1, 4, 10, 42, 100, 1000, 12345, 3, 0], [0.29999999999999999, 1, 2.5,
    9.6999999999999993, 54.600000000000001, 101, 1100, 12000, 0.001, 1e-300],
  [-0.29999999999999999, -0.99999999999999989, -2.0128909028513253, -2.0831537179821438,
    -4.3704583242089754, -3.2273238714375454, -9.062719701701436, -10.541967782329937,
    -22.516025306174466, -1e-300])
DGAMMA = ([0.5, 1.7, 0.01, 3, 10, 0.20000000000000001, 2.2000000000000002, 7.5],
    [0.29999999999999999, 0.90000000000000002, 0.5, 1, 2.5, 17.300000000000001, 40, 150], [1,
    2, 0.29999999999999999, 1.5, 4, 0.01, 0.050000000000000003, 0.050000000000000003],
  [-1.1105949684261138, -1.5932715273449107, 2.2988732188989802, -2.4054651081081646,
    -2.7965411337815773, 1.9199820667428544, -0.052632264277282736, -0.42907946143133069])
PNORM = ([-37, -20, -8.1999999999999993, -6, -5.7000000000000002, -3, -1, -0.5, 0,
    0.29999999999999999, 0.69999999999999996, 2, 5.5999999999999996, 5.7000000000000002,
    8.0999999999999996, 9],
  [5.7255712225245771e-300, 2.7536241186062337e-89, 1.2019351542735859e-16,
    9.8658764503769809e-10, 5.9903714010635279e-09, 0.0013498980316300946, 0.15865525393145705,
    0.30853753872598694, 0.5, 0.61791142218895267, 0.75803634777692697, 0.97724986805182079,
    0.99999998928240974, 0.99999999400962858, 0.99999999999999978, 1],
  [2.1200065515246056e-298, 5.5209483621597635e-88, 9.9983787484972129e-16,
    6.0758828498232861e-09, 3.513955094820434e-08, 0.0044318484119380075, 0.24197072451914337,
    0.35206532676429952, 0.3989422804014327, 0.38138781546052414, 0.31225393336676127,
    0.053990966513188063, 6.1826205001658573e-08, 3.513955094820434e-08,
    2.2588094031543087e-15, 1.0279773571668917e-18])


def _big_data():
    i = np.arange(1, 2001, dtype=float)
    mu = 1.0 / (1.0 + np.exp(-3.0 * np.sin(i)))
    y = (np.cos(7 * i) > 0.2 * np.sin(3 * i)).astype(float)
    tr = 1.0 + (np.arange(1, 2001) % 17)
    yb = np.floor(tr * (0.5 + 0.5 * np.cos(5 * i))) / tr
    mup = np.exp(2 + 1.5 * np.sin(i))
    yp = np.floor(mup * (1 + 0.6 * np.cos(11 * i)))
    mug = np.exp(1 + np.sin(i))
    yg = mug * np.exp(0.4 * np.cos(13 * i))
    wg = 1.0 + (np.arange(1, 2001) % 3)
    return dict(mu=mu, y=y, tr=tr, yb=yb, mup=mup, yp=yp, mug=mug, yg=yg, wg=wg)


ALL_FAMILIES = [Binomial, Poisson, Gaussian, GammaFamily, InverseGaussian]


# ---------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(LINK_REF))
def test_link_inverse_and_derivative_match_r(name):
    lk = get_link(name)
    inv, mueta = (np.array(v) for v in LINK_REF[name])
    np.testing.assert_allclose(lk.linkinv(ETA), inv, rtol=1e-15, atol=0)
    np.testing.assert_allclose(lk.mu_eta(ETA), mueta, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", list(LINK_REF_POS))
def test_positive_domain_links_match_r(name):
    lk = get_link(name)
    inv, mueta = (np.array(v) for v in LINK_REF_POS[name])
    np.testing.assert_allclose(lk.linkinv(ETA_POS), inv, rtol=1e-15, atol=0)
    np.testing.assert_allclose(lk.mu_eta(ETA_POS), mueta, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", list(LINKFUN_REF))
def test_linkfun_matches_r(name):
    np.testing.assert_allclose(get_link(name).link(MU), LINKFUN_REF[name], rtol=1e-15, atol=0)


# Regions where each inverse link is smooth and unclamped, for finite differences.
SMOOTH = {
    "logit": (-25, 25), "probit": (-8, 8), "cauchit": (-1e3, 1e3), "cloglog": (-30, 3.5),
    "log": (-30, 30), "identity": (-50, 50), "inverse": (0.05, 50), "sqrt": (0.01, 50),
    "1/mu^2": (0.01, 50),
}


@pytest.mark.parametrize("name", LINK_NAMES)
def test_mu_eta_is_derivative_of_linkinv(name):
    lk = get_link(name)
    lo, hi = SMOOTH[name]
    eta = np.linspace(lo, hi, 501)
    h = 1e-6 * np.maximum(1.0, np.abs(eta))
    up, down = lk.linkinv(eta + h), lk.linkinv(eta - h)
    fd = (up - down) / (2 * h)
    d = lk.mu_eta(eta)
    # central differences: truncation error O(h^2), rounding error ~ eps*|mu|/h
    rounding = 20 * EPS * np.maximum(np.abs(up), np.abs(down)) / h
    assert np.all(np.abs(d - fd) <= 1e-6 * np.abs(d) + rounding + EPS)


@pytest.mark.parametrize("name", LINK_NAMES)
def test_link_is_inverse_of_linkinv(name):
    lk = get_link(name)
    mu = np.linspace(0.001, 0.999, 199)
    if name in ("inverse", "1/mu^2", "sqrt", "log", "identity"):
        mu = np.concatenate([mu, [1.5, 7.0, 120.0]])
    np.testing.assert_allclose(lk.linkinv(lk.link(mu)), mu, rtol=1e-12)


def test_link_closed_forms():
    eta = np.linspace(-20, 20, 401)
    p = stats.logistic.cdf(eta)
    np.testing.assert_allclose(get_link("logit").linkinv(eta), p, rtol=1e-14)
    np.testing.assert_allclose(get_link("logit").mu_eta(eta), stats.logistic.pdf(eta), rtol=1e-14)
    e = np.linspace(-7.5, 7.5, 301)
    np.testing.assert_allclose(get_link("probit").linkinv(e), stats.norm.cdf(e), rtol=2e-14)
    np.testing.assert_allclose(get_link("probit").mu_eta(e), stats.norm.pdf(e), rtol=1e-14)
    np.testing.assert_allclose(get_link("cauchit").linkinv(eta), stats.cauchy.cdf(eta), rtol=1e-14)
    np.testing.assert_allclose(get_link("cauchit").mu_eta(eta), stats.cauchy.pdf(eta), rtol=1e-14)
    e = np.linspace(-20, 3, 231)
    np.testing.assert_allclose(get_link("cloglog").linkinv(e), stats.gumbel_l.cdf(e), rtol=1e-14)
    np.testing.assert_allclose(get_link("cloglog").mu_eta(e), stats.gumbel_l.pdf(e), rtol=1e-13)
    pos = np.linspace(0.1, 10, 100)
    np.testing.assert_allclose(get_link("1/mu^2").mu_eta(pos), -0.5 * pos ** -1.5, rtol=1e-15)
    np.testing.assert_allclose(get_link("inverse").mu_eta(pos), -1 / pos ** 2, rtol=1e-15)


def test_link_clamping_as_r():
    lg = get_link("logit")
    mu = lg.linkinv(np.array([-1000.0, -31.0, 31.0, 1000.0, np.nan]))
    assert mu[0] == mu[1] == EPS / (1 + EPS)
    assert mu[2] == mu[3] == (1 / EPS) / (1 + 1 / EPS)
    assert np.isnan(mu[4])
    assert np.all(lg.mu_eta(np.array([-31.0, 31.0])) == EPS)
    assert lg.linkinv(np.array([-30.0]))[0] == np.exp(-30.0) / (1 + np.exp(-30.0))
    pr = get_link("probit")
    assert pr.linkinv(np.array([-50.0]))[0] == pr.linkinv(np.array([-8.125890664701906]))[0]
    assert np.all(pr.mu_eta(np.array([-40.0, 40.0])) == EPS)
    cl = get_link("cloglog")
    assert np.all(cl.linkinv(np.array([-800.0, 800.0])) == [EPS, 1 - EPS])
    assert np.all(cl.mu_eta(np.array([-800.0, 800.0])) == EPS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no overflow warnings in the inner loop
        assert get_link("log").linkinv(np.array([-800.0]))[0] == EPS
        assert np.isinf(get_link("log").linkinv(np.array([800.0]))[0])
        cl.linkinv(np.array([800.0]))
        cl.mu_eta(np.array([800.0]))
    ca = get_link("cauchit")
    assert ca.linkinv(np.array([-1e300]))[0] == ca.linkinv(np.array([-1 / np.tan(np.pi * EPS)]))[0]
    assert ca.link(np.array([0.5, 0.25, 0.75])).tolist() == [0.0, -1.0, 1.0]


def test_valideta():
    assert get_link("logit").valideta(np.array([-1e9, 0, 1e9]))
    assert not get_link("inverse").valideta(np.array([1.0, 0.0]))
    assert get_link("inverse").valideta(np.array([-1.0, 2.0]))
    assert not get_link("sqrt").valideta(np.array([1.0, -0.1]))
    assert not get_link("1/mu^2").valideta(np.array([1.0, np.inf]))
    assert get_link("1/mu^2").valideta(np.array([1.0, 3.0]))


def test_links_do_not_modify_input():
    for name in LINK_NAMES:
        eta = np.linspace(-40, 40, 81)
        if name in ("inverse", "sqrt", "1/mu^2"):
            eta = np.abs(eta) + 0.5
        before = eta.copy()
        lk = get_link(name)
        lk.linkinv(eta)
        lk.mu_eta(eta)
        np.testing.assert_array_equal(eta, before)


# ---------------------------------------------------------------------------
# R's density routines (used by aic / loglik_obs)
# ---------------------------------------------------------------------------
def test_pnorm_dnorm_match_r():
    x, p, d = (np.array(v) for v in PNORM)
    np.testing.assert_allclose(F._pnorm(x), p, rtol=1e-15, atol=0)
    np.testing.assert_allclose(F._dnorm(x), d, rtol=1e-15, atol=0)


def test_dbinom_dpois_dgamma_match_r():
    x, n, p, ref = (np.array(v) for v in DBINOM)
    np.testing.assert_allclose(F._dbinom_log(x, n, p), ref, rtol=1e-15)
    x, lam, ref = (np.array(v) for v in DPOIS)
    # R >= 4.1 uses ebd0() in dpois_raw; we use the older bd0(): agreement ~1e-15
    np.testing.assert_allclose(F._dpois_log(x, lam), ref, rtol=2e-15)
    x, sh, sc, ref = (np.array(v) for v in DGAMMA)
    np.testing.assert_allclose(F._dgamma_log(x, sh, sc), ref, rtol=1e-14)


def test_densities_against_scipy():
    rng = np.random.default_rng(3)
    n = rng.integers(1, 60, 500).astype(float)
    p = rng.uniform(0.001, 0.999, 500)
    x = np.floor(rng.uniform(0, 1, 500) * (n + 1))
    np.testing.assert_allclose(F._dbinom_log(x, n, p), stats.binom.logpmf(x, n, p), rtol=1e-12)
    lam = rng.uniform(0.01, 80, 500)
    k = rng.poisson(lam).astype(float)
    np.testing.assert_allclose(F._dpois_log(k, lam), stats.poisson.logpmf(k, lam), rtol=1e-12)
    sh = rng.uniform(0.1, 50, 500)
    sc = rng.uniform(0.01, 5, 500)
    y = rng.gamma(sh, sc)
    np.testing.assert_allclose(F._dgamma_log(y, sh, sc), stats.gamma.logpdf(y, sh, scale=sc),
                               rtol=1e-11, atol=1e-12)


def test_density_edge_cases_as_r():
    # dbinom: p = 0 / 1, x outside 0..n, non-integer x, bad n / p
    out = F._dbinom_log(np.array([0, 1, 2, 3, 1.5, 1, 1]), np.array([2, 2, 2, 2, 2, -1, 2]),
                        np.array([0, 0, 1, 0.5, 0.5, 0.5, 1.5]))
    assert out[0] == 0 and out[1] == -np.inf and out[2] == 0 and out[3] == -np.inf
    assert out[4] == -np.inf and np.isnan(out[5]) and np.isnan(out[6])
    # Bernoulli (n == 1 everywhere) path, including x outside {0, 1} and p on the boundary
    out = F._dbinom_log(np.array([0, 1, 2, 0, 1, 0, 1]), np.ones(7),
                        np.array([0.3, 0.3, 0.3, 0, 0, 1, 1]))
    np.testing.assert_allclose(out[:2], [np.log(0.7), np.log(0.3)], rtol=1e-15)
    assert out[2:].tolist() == [-np.inf, 0.0, -np.inf, -np.inf, 0.0]
    # dpois: non-integer count -> -Inf (R: warning + 0), lambda = 0
    out = F._dpois_log(np.array([1.5, 0, 2, -1]), np.array([1.0, 0.0, 0.0, 1.0]))
    assert out.tolist() == [-np.inf, 0.0, -np.inf, -np.inf]
    # dgamma at x = 0
    out = F._dgamma_log(np.zeros(3), np.array([0.5, 1.0, 2.0]), np.array([2.0, 2.0, 2.0]))
    assert out[0] == np.inf and out[1] == -np.log(2.0) and out[2] == -np.inf


# ---------------------------------------------------------------------------
# Families: dev_resids and aic against R
# ---------------------------------------------------------------------------
CASES = [
    (Binomial, BIN, True), (Binomial, BERN, False), (Poisson, POI, True),
    (Gaussian, GAU, True), (GammaFamily, GAM, True), (InverseGaussian, IG, True),
]


@pytest.mark.parametrize("cls,ref,has_wt", CASES, ids=["binomial", "bernoulli", "poisson",
                                                        "gaussian", "Gamma", "inverse.gaussian"])
def test_dev_resids_and_aic_match_r(cls, ref, has_wt):
    fam = cls()
    y, mu = np.array(ref["y"]), np.array(ref["mu"])
    wt = np.array(ref["wt"]) if has_wt else np.ones_like(y)
    dr = fam.dev_resids(y, mu, wt)
    np.testing.assert_allclose(dr, ref["dev_resids"], rtol=1e-15, atol=1e-300)
    assert fam.deviance(y, mu, wt) == pytest.approx(np.sum(ref["dev_resids"]), rel=1e-15)
    assert fam.aic(y, np.ones_like(y), mu, wt, dr.sum()) == pytest.approx(ref["aic"], rel=1e-14)
    assert fam.aic(y, None, mu, wt, dr.sum()) == pytest.approx(ref["aic"], rel=1e-14)


def test_binomial_aic_with_trials_in_n():
    # R: aic(y, n = wt, mu, wt = 1, dev): m = n because any(n > 1); factor wt/m
    y, mu, wt = np.array(BIN["y"]), np.array(BIN["mu"]), np.array(BIN["wt"])
    assert Binomial().aic(y, wt, mu, np.ones_like(y), 0.0) == pytest.approx(BIN["aic_n"], rel=1e-14)


def test_big_data_match_r():
    d = _big_data()
    ones = np.ones(2000)
    cases = [
        (Binomial(), d["y"], d["mu"], ones, BIG_BERN),
        (Binomial(), d["yb"], d["mu"], d["tr"], BIG_BIN),
        (Poisson(), d["yp"], d["mup"], ones, BIG_POI),
        (get_family("gamma", "log"), d["yg"], d["mug"], d["wg"], BIG_GAM),
        (InverseGaussian(), d["yg"], d["mug"], d["wg"], BIG_IG),
        (Gaussian(), d["yg"], d["mug"], d["wg"], BIG_GAU),
    ]
    for fam, y, mu, wt, (dev, aic) in cases:
        dr = fam.dev_resids(y, mu, wt)
        assert dr.sum() == pytest.approx(dev, rel=1e-12), fam
        assert fam.aic(y, None, mu, wt, dr.sum()) == pytest.approx(aic, rel=1e-12), fam


def test_dev_resids_zero_response_conventions():
    # y*log(y/mu) is 0 at y = 0
    b = Binomial().dev_resids(np.array([0.0, 1.0]), np.array([0.3, 0.3]), np.ones(2))
    np.testing.assert_allclose(b, [-2 * np.log(0.7), -2 * np.log(0.3)], rtol=1e-15)
    p = Poisson().dev_resids(np.array([0.0, 0.0]), np.array([0.3, 2.0]), np.array([1.0, 3.0]))
    np.testing.assert_allclose(p, [0.6, 12.0], rtol=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Binomial().dev_resids(np.array([0.0, 1.0]), np.array([0.5, 0.5]), np.ones(2))
        Poisson().dev_resids(np.array([0.0]), np.array([0.5]), np.ones(1))


def test_variance_functions():
    mu = np.array([0.1, 0.5, 2.0])
    np.testing.assert_allclose(Binomial().variance(mu[:2]), [0.09, 0.25])
    np.testing.assert_allclose(Poisson().variance(mu), mu)
    np.testing.assert_allclose(Gaussian().variance(mu), 1.0)
    np.testing.assert_allclose(GammaFamily().variance(mu), mu ** 2)
    np.testing.assert_allclose(InverseGaussian().variance(mu), mu ** 3, rtol=1e-15)


# ---------------------------------------------------------------------------
# loglik_obs
# ---------------------------------------------------------------------------
def test_loglik_obs_sums_to_aic():
    for cls, ref, has_wt in CASES:
        fam = cls()
        y, mu = np.array(ref["y"]), np.array(ref["mu"])
        wt = np.array(ref["wt"]) if has_wt else np.ones_like(y)
        dev = fam.deviance(y, mu, wt)
        if cls is Gaussian:
            phi = dev / y.size
        elif fam.has_dispersion:
            phi = dev / wt.sum()
        else:
            phi = None
        ll = fam.loglik_obs(y, mu, wt, phi)
        assert ll.shape == y.shape
        assert -2 * ll.sum() + 2 * fam.has_dispersion == pytest.approx(ref["aic"], rel=1e-14)


def test_loglik_obs_against_scipy():
    rng = np.random.default_rng(7)
    mu = rng.uniform(0.5, 4, 50)
    wt = rng.uniform(0.5, 2, 50)
    y = rng.gamma(3, mu / 3)
    phi = 0.37
    np.testing.assert_allclose(Gaussian().loglik_obs(y, mu, wt, phi),
                               stats.norm.logpdf(y, mu, np.sqrt(phi / wt)), rtol=1e-13)
    np.testing.assert_allclose(GammaFamily().loglik_obs(y, mu, wt, phi),
                               wt * stats.gamma.logpdf(y, 1 / phi, scale=mu * phi), rtol=1e-12)
    lam = 1 / phi   # inverse Gaussian with mean mu, shape lambda: invgauss(mu/lam, scale=lam)
    np.testing.assert_allclose(InverseGaussian().loglik_obs(y, mu, wt, phi),
                               wt * stats.invgauss.logpdf(y, mu / lam, scale=lam), rtol=1e-12)
    k = rng.poisson(mu).astype(float)
    np.testing.assert_allclose(Poisson().loglik_obs(k, mu, wt, None),
                               wt * stats.poisson.logpmf(k, mu), rtol=1e-13)
    trials = rng.integers(1, 30, 50).astype(float)
    p = rng.uniform(0.05, 0.95, 50)
    s = rng.binomial(trials.astype(int), p).astype(float)
    np.testing.assert_allclose(Binomial().loglik_obs(s / trials, p, trials),
                               stats.binom.logpmf(s, trials, p), rtol=1e-13)


def test_loglik_obs_dispersion_required():
    for cls in (Gaussian, GammaFamily, InverseGaussian):
        with pytest.raises(MixedModelError, match="dispersion"):
            cls().loglik_obs(np.ones(2), np.ones(2), np.ones(2))


# ---------------------------------------------------------------------------
# initialize, valid_mu, validate_response
# ---------------------------------------------------------------------------
def test_initialize_as_r():
    y = np.array([0.0, 0.25, 1.0, 0.5])
    w = np.array([1.0, 4.0, 3.0, 0.0])
    np.testing.assert_allclose(Binomial().initialize(y, w), [0.25, 1.5 / 5, 3.5 / 4, 0.5])
    np.testing.assert_allclose(Binomial().initialize(np.array([0.0, 1.0])), [0.25, 0.75])
    np.testing.assert_allclose(Poisson().initialize(np.array([0.0, 4.0])), [0.1, 4.1])
    yy = np.array([0.5, 2.0])
    for cls in (Gaussian, GammaFamily, InverseGaussian):
        out = cls().initialize(yy)
        np.testing.assert_array_equal(out, yy)
        assert out is not yy
    with pytest.raises(DataError, match="starting values"):
        get_family("gaussian", "log").initialize(np.array([1.0, 0.0]))
    with pytest.raises(DataError, match="starting values"):
        get_family("gaussian", "inverse").initialize(np.array([1.0, 0.0]))


def test_valid_mu():
    assert Binomial().valid_mu(np.array([0.1, 0.9]))
    assert not Binomial().valid_mu(np.array([0.0, 0.5]))
    assert not Binomial().valid_mu(np.array([np.nan, 0.5]))
    assert Poisson().valid_mu(np.array([0.1, 9.0]))
    assert not Poisson().valid_mu(np.array([0.0]))
    assert not GammaFamily().valid_mu(np.array([-1.0]))
    assert Gaussian().valid_mu(np.array([-1.0]))
    assert InverseGaussian().valid_mu(np.array([-1.0]))


def test_binomial_validation():
    fam = Binomial()
    fam.validate_response(np.array([0.0, 1.0, 0.5]), np.array([1.0, 1.0, 2.0]))
    with pytest.raises(DataError, match="proportions must lie between 0 and 1; 3 rows are outside"):
        fam.validate_response(np.array([0.0, 2.0, -1.0, 1.5, 1.0]))
    with pytest.raises(DataError, match="1 row is outside"):
        fam.validate_response(np.array([0.0, 2.0]))
    # rows with zero weight are ignored, as R sets y[weights == 0] <- 0
    fam.validate_response(np.array([0.0, 2.0]), np.array([1.0, 0.0]))
    with pytest.warns(UserWarning, match=r"non-integer number of successes .* in 2 rows"):
        fam.validate_response(np.array([0.3, 0.5, 0.25]), np.array([1.0, 3.0, 4.0]))


def test_poisson_validation():
    fam = Poisson()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fam.validate_response(np.array([0.0, 3.0, 12.0]))
    with pytest.raises(DataError, match=r"2 counts are negative.*rows 2, 4"):
        fam.validate_response(np.array([0.0, -1.0, 3.0, -2.0]))
    with pytest.warns(UserWarning, match="3 non-integer counts"):
        fam.validate_response(np.array([0.5, 1.0, 2.2, 3.7]))
    # the log-likelihood of a non-integer count is -Inf in R, so aic is Inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert Poisson().aic(np.array([0.5, 1.0]), None, np.ones(2), np.ones(2), 0.0) == np.inf


@pytest.mark.parametrize("cls", [GammaFamily, InverseGaussian])
def test_positive_families_validation(cls):
    cls().validate_response(np.array([0.1, 2.0]))
    with pytest.raises(DataError, match="2 rows are zero or negative"):
        cls().validate_response(np.array([0.0, 2.0, -1.0]))


@pytest.mark.parametrize("cls", ALL_FAMILIES)
def test_common_validation(cls):
    fam = cls()
    with pytest.raises(DataError, match="missing or infinite"):
        fam.validate_response(np.array([0.5, np.nan]))
    with pytest.raises(DataError, match="weights must be finite and non-negative"):
        fam.validate_response(np.array([0.5, 0.5]), np.array([1.0, -1.0]))
    with pytest.raises(DataError, match="3 weights given for 2 observations"):
        fam.validate_response(np.array([0.5, 0.5]), np.ones(3))
    assert issubclass(DataError, MixedModelError)


# ---------------------------------------------------------------------------
# Lookup, equality, pickling
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name,cls,link", [
    ("bernoulli", Binomial, "logit"), ("Binomial", Binomial, "logit"),
    ("POISSON", Poisson, "log"), ("gaussian", Gaussian, "identity"),
    ("Normal", Gaussian, "identity"), ("gamma", GammaFamily, "inverse"),
    ("Gamma", GammaFamily, "inverse"), ("inverse_gaussian", InverseGaussian, "1/mu^2"),
    ("inverse.gaussian", InverseGaussian, "1/mu^2"), ("InverseGaussian", InverseGaussian, "1/mu^2"),
])
def test_get_family_names_and_default_links(name, cls, link):
    fam = get_family(name)
    assert type(fam) is cls
    assert fam.link.name == link == fam.default_link
    assert fam.is_canonical
    assert fam.default_link in fam.allowed_links and fam.allowed_links[0] == fam.default_link


def test_get_family_links():
    assert get_family("binomial", "Probit").link == get_link("probit")
    assert get_family("binomial", "cloglog").link.name == "cloglog"
    # R accepts a link outside okLinks when given as a string: binomial(link = "log")
    fam = get_family("binomial", "log")
    assert fam.link.name == "log" and not fam.is_canonical
    assert get_family("poisson", "identity").link.name == "identity"
    assert get_family("inverse.gaussian", "1/MU^2").link.name == "1/mu^2"
    assert get_family("gaussian", get_link("log")).link.name == "log"
    base = get_family("poisson")
    assert get_family(base) is base
    assert get_family(base, "sqrt") == Poisson("sqrt")
    assert Binomial.allowed_links == ("logit", "probit", "cloglog", "cauchit", "log")
    assert set(Poisson.allowed_links) == {"log", "identity", "sqrt"}
    assert set(Gaussian.allowed_links) == {"identity", "log", "inverse"}
    assert set(GammaFamily.allowed_links) == {"inverse", "log", "identity"}
    assert set(InverseGaussian.allowed_links) == {"1/mu^2", "inverse", "log", "identity"}
    assert Binomial().has_dispersion is False and Poisson().has_dispersion is False
    assert Gaussian().has_dispersion and GammaFamily().has_dispersion
    assert InverseGaussian().has_dispersion
    assert [get_family(n).name for n in ("binomial", "poisson", "gaussian", "gamma",
                                         "inverse_gaussian")] == [
        "binomial", "poisson", "gaussian", "Gamma", "inverse.gaussian"]


def test_unknown_names():
    with pytest.raises(MixedModelError, match=r"unknown family 'negbin'.*binomial.*poisson"):
        get_family("negbin")
    with pytest.raises(MixedModelError, match=r"unknown link 'logistic'.*logit.*probit.*1/mu"):
        get_family("binomial", "logistic")
    with pytest.raises(MixedModelError, match="unknown link"):
        get_link("foo")
    with pytest.raises(MixedModelError):
        get_family(3)
    assert "bernoulli" in FAMILY_NAMES and "1/mu^2" in LINK_NAMES


def test_pickle_and_equality():
    for cls in ALL_FAMILIES:
        for link in cls.allowed_links:
            fam = cls(link)
            back = pickle.loads(pickle.dumps(fam))
            assert back == fam and hash(back) == hash(fam) and type(back) is cls
            assert back.link.name == link
            eta = np.array([0.3, 0.6])
            np.testing.assert_array_equal(back.linkinv(eta), fam.linkinv(eta))
    for name in LINK_NAMES:
        lk = get_link(name)
        assert pickle.loads(pickle.dumps(lk)) == lk
        assert isinstance(lk, Link)
    assert Binomial() != Binomial("probit")
    assert Binomial() != Poisson()
    assert repr(Binomial()) == "Family('binomial', link='logit')"
    assert isinstance(Binomial(), Family)


def test_family_link_shortcuts():
    fam = Binomial("probit")
    eta = np.array([-1.0, 0.5])
    np.testing.assert_array_equal(fam.linkinv(eta), fam.link.linkinv(eta))
    np.testing.assert_array_equal(fam.mu_eta(eta), fam.link.mu_eta(eta))
    np.testing.assert_array_equal(fam.linkfun(np.array([0.3])), fam.link.link(np.array([0.3])))
    assert fam.valid_eta(eta)
