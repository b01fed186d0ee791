"""Tests of laoke.predictions: BG/NBD, MBG/NBD and Gamma-Gamma against lifetimes and the published
CDNOW values, numerics at the edges, the store-level status rules, the warehouse writer and the
holdout evaluation.

lifetimes (0.11.3) is old: it is only fed numpy arrays / simple Series here, which works under
pandas 3.
"""

from __future__ import annotations

import itertools
import math
import os
import time
import warnings
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize, special

from laoke import predictions as P

lifetimes = pytest.importorskip("lifetimes")
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter  # noqa: E402
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value, load_dataset  # noqa: E402
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data  # noqa: E402

warnings.filterwarnings("ignore", category=FutureWarning)


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow():
    """CDNOW 1/10 sample (2357 customers), weeks, with the mean repeat spend (zbar)."""
    d = load_cdnow_summary_data_with_monetary_value()
    return {c: d[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "monetary_value")}


@pytest.fixture(scope="module")
def lifetimes_fits(cdnow):
    x, tx, T, m = cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"]
    return {
        "bg_nbd": BetaGeoFitter().fit(x, tx, T),
        "mbg_nbd": ModifiedBetaGeoFitter().fit(x, tx, T),
        "gamma_gamma": GammaGammaFitter().fit(x[x > 0], m[x > 0]),
    }


@pytest.fixture(scope="module")
def our_fits(cdnow):
    x, tx, T, m = cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"]
    return {
        "bg_nbd": P.fit_bg_nbd(x, tx, T),
        "mbg_nbd": P.fit_mbg_nbd(x, tx, T),
        "gamma_gamma": P.fit_gamma_gamma(x, m),
    }


@pytest.fixture(scope="module")
def cdnow_orders():
    """The full CDNOW transaction log (23,570 customers, 1997-01-01 .. 1998-06-30)."""
    raw = load_dataset(
        "CDNOW_master.txt", header=0, sep=r"\s+", names=["customer_id", "date", "number_of_cds", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].to_numpy(),
            "ordered_at": pd.to_datetime(raw["date"], format="%Y%m%d").to_numpy(),
            "amount": raw["amount"].to_numpy(dtype=float),
            "is_purchase": True,
        }
    )


def simulate_bg(n, r, alpha, a, b, *, max_T=730, seed=0, mbg=False, log=False):
    """BG/NBD (or MBG/NBD) customers in continuous time, summarised by whole days like the warehouse.

    Vectorised over customers (the loop runs over purchase rounds). Returns x, t_x, T (days) and,
    with ``log``, the purchase days as (customer index, day since first purchase) arrays."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.integers(0, max_T + 1, n).astype(float)
    now = np.zeros(n)
    last_day = np.zeros(n)
    x = np.zeros(n)
    idx = np.arange(n)
    if mbg:
        idx = idx[rng.random(n) >= p]
    log_idx, log_day = [np.arange(n)], [np.zeros(n)]
    while idx.size:
        now[idx] += rng.exponential(1.0, idx.size) / lam[idx]
        day = np.floor(now[idx])
        inside = day <= T[idx]
        idx_in, day_in = idx[inside], day[inside]
        new = day_in > last_day[idx_in]
        x[idx_in[new]] += 1
        last_day[idx_in[new]] = day_in[new]
        if log:
            log_idx.append(idx_in[new])
            log_day.append(day_in[new])
        idx = idx_in[rng.random(idx_in.size) >= p[idx_in]]
    if log:
        return x, last_day, T, np.concatenate(log_idx), np.concatenate(log_day)
    return x, last_day, T


def synthetic_store(n=3000, *, as_of=date(2024, 6, 30), seed=1, spend_follows_frequency=False, max_T=730):
    """A store's order log (several orders on some days) and its customer_rfm, from BG/NBD."""
    x, _, T, cust, day = simulate_bg(n, 0.6, 40.0, 0.7, 2.5, max_T=max_T, seed=seed, log=True)
    rng = np.random.default_rng(seed + 1)
    first = np.datetime64(as_of, "D") - T.astype("timedelta64[D]")
    ordered = first[cust] + day.astype("timedelta64[D]")
    base = rng.gamma(4.0, 50.0, n)  # each customer's typical spend
    if spend_follows_frequency:
        base = base * (1 + x) ** 1.5
    amount = base[cust] * rng.gamma(8.0, 1 / 8.0, len(cust))
    orders = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in cust],
            "ordered_at": pd.to_datetime(ordered) + pd.to_timedelta(rng.integers(0, 86400, len(cust)), unit="s"),
            "amount": amount,
            "is_purchase": True,
        }
    )
    # a second order on the same day for some purchases, and a non-purchase row
    extra = orders.sample(frac=0.1, random_state=seed).assign(amount=lambda f: f["amount"] / 3)
    void = orders.head(5).assign(is_purchase=False, amount=1e6)
    orders = pd.concat([orders, extra, void], ignore_index=True)
    rfm = P.btyd_summary(orders, as_of).rename(columns={"T": "t"})
    return orders, rfm


# ------------------------------------------------------------------------------------------------
# fits against lifetimes and the published CDNOW values
# ------------------------------------------------------------------------------------------------


def _rel(a, b):
    return abs(a / b - 1)


def test_bg_nbd_matches_lifetimes_and_paper(our_fits, lifetimes_fits):
    fit = our_fits["bg_nbd"]
    assert fit.converged, fit.message
    assert fit.n_customers == 2357
    for name, value in lifetimes_fits["bg_nbd"].params_.items():
        assert _rel(fit.params[name], value) < 1e-3, name
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # Fader, Hardie & Lee (2005)
    for name, value in published.items():
        assert _rel(fit.params[name], value) < 0.01, name
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.1)  # the paper's LL


def test_mbg_nbd_matches_lifetimes(our_fits, lifetimes_fits):
    fit = our_fits["mbg_nbd"]
    assert fit.converged, fit.message
    for name, value in lifetimes_fits["mbg_nbd"].params_.items():
        assert _rel(fit.params[name], value) < 1e-3, name
    # the log-likelihood matches lifetimes' (which is per customer, with time scaled so max T = 1)
    lf = lifetimes_fits["mbg_nbd"]
    x = lf.data["frequency"].to_numpy(float)
    scale = lf.data["T"].max()
    lifetimes_ll = -lf._negative_log_likelihood_ * len(x) - x.sum() * math.log(scale)
    assert fit.log_likelihood == pytest.approx(lifetimes_ll, abs=1e-3)


def test_gamma_gamma_matches_lifetimes_and_paper(cdnow, our_fits, lifetimes_fits):
    fit = our_fits["gamma_gamma"]
    assert fit.converged, fit.message
    assert fit.n_customers == 946 == int((cdnow["frequency"] > 0).sum())
    for name, value in lifetimes_fits["gamma_gamma"].params_.items():
        assert _rel(fit.params[name], value) < 1e-3, name
    published = {"p": 6.25, "q": 3.74, "v": 15.44}  # Fader, Hardie & Lee (2005), "RFM and CLV"
    for name, value in published.items():
        assert _rel(fit.params[name], value) < 0.01, name
    assert fit.log_likelihood == pytest.approx(-lifetimes_fits["gamma_gamma"]._negative_log_likelihood_ * 946, abs=1e-3)


@pytest.mark.parametrize("model", ["bg_nbd", "mbg_nbd"])
def test_customer_predictions_match_lifetimes(model, cdnow, our_fits, lifetimes_fits):
    lf = lifetimes_fits[model]
    x, tx, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    sample = np.r_[np.arange(0, len(x), 23), np.argsort(x)[-5:]]  # ~100 customers + the heaviest buyers
    xs, txs, Ts = x[sample], tx[sample], T[sample]
    ours, theirs = our_fits[model], dict(lf.params_)
    np.testing.assert_allclose(P.p_alive(model, ours, xs, txs, Ts), lf.conditional_probability_alive(xs, txs, Ts),
                               rtol=1e-4)
    for t in (1.0, 10.0, 39.0, 52.0, 200.0):
        want = lf.conditional_expected_number_of_purchases_up_to_time(t, xs, txs, Ts)
        np.testing.assert_allclose(P.conditional_expected_purchases(model, ours, t, xs, txs, Ts), want, rtol=1e-4)
        # same parameters -> same formula to rounding
        np.testing.assert_allclose(P.conditional_expected_purchases(model, theirs, t, xs, txs, Ts), want, rtol=1e-9)
        np.testing.assert_allclose(P.expected_purchases(model, theirs, t),
                                   lf.expected_number_of_purchases_up_to_time(t), rtol=1e-9)
        # P(no purchase in t) of a brand-new customer is lifetimes' P(N(t) = 0)
        np.testing.assert_allclose(P.p_no_purchase(model, theirs, t, 0, 0, 0),
                                   lf.probability_of_n_purchases_up_to_time(t, 0), rtol=1e-9)
    # t may also be an array, one per customer
    ts = np.linspace(1, 100, len(sample))
    np.testing.assert_allclose(P.conditional_expected_purchases(model, theirs, ts, xs, txs, Ts),
                               lf.conditional_expected_number_of_purchases_up_to_time(ts, xs, txs, Ts), rtol=1e-9)


def test_spend_and_clv_match_lifetimes(cdnow, lifetimes_fits):
    gg = lifetimes_fits["gamma_gamma"]
    x, tx, T, m = cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"]
    spend = P.expected_spend_per_order(dict(gg.params_), x, m)
    np.testing.assert_allclose(spend, gg.conditional_expected_average_profit(pd.Series(x), pd.Series(m)), rtol=1e-12)
    for model in ("bg_nbd", "mbg_nbd"):
        lf = lifetimes_fits[model]
        want = gg.customer_lifetime_value(lf, pd.Series(x), pd.Series(tx), pd.Series(T), pd.Series(m), time=12,
                                          discount_rate=0.01, freq="W").to_numpy()
        got = P.customer_lifetime_value(model, dict(lf.params_), spend, x, tx, T, monthly_discount_rate=0.01,
                                        days_per_month=4.345)  # lifetimes' weeks per month
        np.testing.assert_allclose(got, want, rtol=1e-8)
    # an annual rate is turned into the equivalent monthly one
    args = ("bg_nbd", dict(lifetimes_fits["bg_nbd"].params_), spend[:50], x[:50], tx[:50], T[:50])
    np.testing.assert_allclose(P.customer_lifetime_value(*args, annual_discount_rate=0.1),
                               P.customer_lifetime_value(*args, monthly_discount_rate=1.1 ** (1 / 12) - 1), rtol=1e-12)
    undiscounted = P.customer_lifetime_value(*args, annual_discount_rate=0.0)
    purchases_365d = P.conditional_expected_purchases("bg_nbd", args[1], 365, *args[3:])
    np.testing.assert_allclose(undiscounted, spend[:50] * purchases_365d, rtol=1e-9)


def test_gradients_match_finite_differences(cdnow):
    x, tx, T, m = cdnow["frequency"], cdnow["recency"], cdnow["T"], cdnow["monetary_value"]
    cols, w = P._aggregate({"x": x, "tx": tx / T.max(), "T": T / T.max()}, np.ones_like(x))
    d = P._bg_data(cols["x"], cols["tx"], cols["T"], w)
    lp = np.log([0.3, 0.2, 0.7, 2.0])
    for k in (0.0, 1.0):
        numeric = optimize.approx_fprime(lp, lambda v: P._bg_nll(v, d, k)[0], 1e-7)
        np.testing.assert_allclose(P._bg_nll(lp, d, k)[1], numeric, rtol=1e-4, atol=1e-7)
    g = P._gg_data(x[x > 0], m[x > 0] / 20, np.ones(int((x > 0).sum())))
    lp = np.log([2.0, 3.0, 0.5])
    numeric = optimize.approx_fprime(lp, lambda v: P._gg_nll(v, g)[0], 1e-7)
    np.testing.assert_allclose(P._gg_nll(lp, g)[1], numeric, rtol=1e-4, atol=1e-7)


def test_weights_and_determinism(cdnow):
    x, tx, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    frame = pd.DataFrame({"x": x, "tx": tx, "T": T}).value_counts().reset_index(name="w")
    weighted = P.fit_bg_nbd(frame["x"], frame["tx"], frame["T"], weights=frame["w"])
    plain = P.fit_bg_nbd(x, tx, T)
    assert weighted.n_customers == plain.n_customers == len(x)
    for name in plain.params:
        assert weighted.params[name] == pytest.approx(plain.params[name], rel=1e-8)
    assert weighted.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-10)
    assert P.fit_bg_nbd(x, tx, T) == plain  # deterministic


def test_fit_recovers_simulated_parameters():
    """200k customers simulated from BG/NBD in days: the fit (which subsamples for its multi-start
    search) finds the generating parameters within sampling error."""
    x, tx, T = simulate_bg(200_000, 0.5, 60.0, 0.8, 3.0, max_T=1000, seed=3)
    fit = P.fit_bg_nbd(x, tx, T)
    assert fit.converged, fit.message
    assert "subsample" in fit.message
    for name, true in {"r": 0.5, "alpha": 60.0, "a": 0.8, "b": 3.0}.items():
        assert _rel(fit.params[name], true) < 0.1, (name, fit.params)
    xm, txm, Tm = simulate_bg(50_000, 0.5, 60.0, 0.8, 3.0, max_T=1000, seed=4, mbg=True)
    mbg = P.fit_mbg_nbd(xm, txm, Tm)
    assert mbg.converged and mbg.log_likelihood > P.fit_bg_nbd(xm, txm, Tm).log_likelihood


# ------------------------------------------------------------------------------------------------
# numerics
# ------------------------------------------------------------------------------------------------


def _g_reference(t, s, beta, a, bp):
    """E_p[(1 - (1 + p t / beta)^-s) / p], p ~ Beta(a, b'), by adaptive quadrature with the
    algebraic end-point weights (QUADPACK QAWS)."""
    k = t / beta

    def f(p):
        return s * k if p == 0 else -math.expm1(-s * math.log1p(p * k)) / p

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)  # asks for more than double precision
        value, _ = integrate.quad(f, 0, 1, weight="alg", wvar=(a - 1, bp - 1), limit=1000, epsabs=0, epsrel=1e-13)
    return value * math.exp(-special.betaln(a, bp))


def test_expected_purchases_kernel_against_quadrature():
    """The closed form (Euler-transformed 2F1), the short-horizon series and the fallbacks agree
    with direct integration, including heavy buyers, huge T and a + b' - 1 <= 0 where the textbook
    formula overflows or breaks."""
    # realistic combinations: s = r + x, beta = alpha + T, b' = b + x + k with T >= x (days)
    worst = 0.0
    for r, alpha, a, b, x, T, t, k in itertools.product([0.1, 0.5, 3.0], [0.5, 30.0, 3000.0], [0.2, 0.8, 0.9999, 2.5],
                                                         [0.3, 2.5, 40.0], [0, 1, 12, 400], [0, 400, 5000],
                                                         [1, 90, 3650], [0, 1]):
        if x > T:
            continue
        s, beta, bp = r + x, alpha + T, b + x + k
        got = P._g(np.array([t]), np.array([s]), np.array([beta]), a, np.array([bp]))[0]
        worst = max(worst, abs(got / _g_reference(t, s, beta, a, bp) - 1))
    assert worst < 1e-7
    # a wide grid of raw arguments, including absurd ones (2000 purchases a day, a + b' - 1 < 0)
    worst = 0.0
    grid = itertools.product([1, 30, 365, 3650], [0.05, 0.3, 3, 50, 1000.3], [0.5, 5, 200, 5000, 1e7],
                             [0.05, 0.5, 0.999, 1.0, 1.3, 4], [0.1, 0.6, 2.5, 60, 1001])
    for t, s, beta, a, bp in grid:
        got = P._g(np.array([t]), np.array([s]), np.array([beta]), a, np.array([bp]))[0]
        worst = max(worst, abs(got / _g_reference(t, s, beta, a, bp) - 1))
    assert worst < 2e-5
    # the quadrature fallback on its own
    for t, s, beta, a, bp in [(365, 0.3, 5, 0.3, 0.4), (3650, 0.25, 0.5, 0.7, 0.2), (30, 40, 300, 1.0, 45)]:
        got = P._g_quadrature(np.array([t * 1.0]), np.array([s]), np.array([beta * 1.0]), a, np.array([bp]))[0]
        assert got == pytest.approx(_g_reference(t, s, beta, a, bp), rel=1e-8)
    # lifetimes' formula overflows for heavy buyers; ours stays finite and consistent
    lf = BetaGeoFitter()
    lf.params_ = pd.Series({"r": 0.5, "alpha": 10.0, "a": 0.8, "b": 3.0})
    x, tx, T = np.array([2000.0]), np.array([2190.0]), np.array([2190.0])
    ours = P.conditional_expected_purchases("bg_nbd", dict(lf.params_), 365, x, tx, T)
    assert np.isfinite(ours).all() and 250 < ours[0] < 400  # ~0.91 purchases a day


EDGE_PARAMS = [
    {"r": 0.25, "alpha": 30.0, "a": 0.7, "b": 2.2},  # CDNOW-like, days
    {"r": 2.0, "alpha": 5.0, "a": 0.3, "b": 0.4},  # a + b < 1 (c <= 0 for x = 0)
    {"r": 0.5, "alpha": 50.0, "a": 1.0, "b": 3.0},  # a == 1
    {"r": 0.1, "alpha": 1e4, "a": 5.0, "b": 0.05},  # a > 1, tiny b
]


@pytest.mark.parametrize("model", ["bg_nbd", "mbg_nbd"])
@pytest.mark.parametrize("params", EDGE_PARAMS)
def test_edge_cases_are_finite(model, params):
    # frequency 0; recency = T; T = 0 (bought today); huge T; heavy buyer; one customer
    x = np.array([0, 0, 3, 5, 0, 1, 0, 2000, 40], dtype=float)
    tx = np.array([0, 0, 100, 200, 0, 1e7, 0, 2100, 41], dtype=float)
    T = np.array([0, 400, 100, 300, 1e7, 1e7, 1, 2190, 41], dtype=float)
    pa = P.p_alive(model, params, x, tx, T)
    assert np.isfinite(pa).all() and (pa >= 0).all() and (pa <= 1).all()
    if model == "bg_nbd":
        assert pa[0] == 1.0 and pa[1] == 1.0  # one-time buyers are alive in BG/NBD
    else:
        assert pa[0] == pytest.approx(params["b"] / (params["a"] + params["b"]))  # MBG: may drop at once
    previous = np.zeros(len(x))
    for t in (0.0, 1.0, 30.0, 90.0, 365.0, 3650.0):
        e = P.conditional_expected_purchases(model, params, t, x, tx, T)
        p0 = P.p_no_purchase(model, params, t, x, tx, T)
        assert np.isfinite(e).all() and np.isfinite(p0).all()
        assert (e >= previous - 1e-12).all() and (p0 >= 0).all() and (p0 <= 1 + 1e-12).all()
        previous = e
    assert np.isfinite(P.expected_purchases(model, params, np.array([0.0, 1.0, 365.0, 1e5]))).all()
    clv = P.customer_lifetime_value(model, params, np.full(len(x), 100.0), x, tx, T)
    assert np.isfinite(clv).all() and (clv >= 0).all()
    tau = P.median_days_to_next_purchase(model, params, x, tx, T)
    assert not np.isnan(tau).any() and (tau > 0).all()
    # one customer, scalars
    assert np.isfinite(P.conditional_expected_purchases(model, params, 90, 0, 0, 0)).all()
    assert np.isfinite(P.p_no_purchase(model, params, 90, 1, 5, 5)).all()


def test_score_customers_edge_rows(our_fits):
    """Scoring with fitted models: T = 0, recency = T, huge T, one customer, invalid rows."""
    fits = {"bg_nbd": our_fits["bg_nbd"], "gamma_gamma": our_fits["gamma_gamma"]}
    rfm = pd.DataFrame(
        {
            "customer_id": ["e", "d", "c", "b", "a", "f", "g"],
            "frequency": [0, 0, 4, 2, 1, 3, np.nan],
            "recency": [0, 0, 30, 1e6, 5, 50, 1],
            "t": [0, 20, 30, 1e6, 3, 40, 10],  # 'a' and 'f' are impossible (recency > t), 'g' missing
            "monetary_value": [0, 0, 25.0, 40.0, 10.0, 12.0, 5.0],
        }
    )
    out = P.score_customers(rfm, date(2024, 1, 31), model="bg_nbd", fits=fits)
    assert list(out.columns) == P.PREDICTION_COLUMNS
    assert out["customer_id"].tolist() == sorted(rfm["customer_id"])
    ok = out[out["prediction_status"] == "ok"].set_index("customer_id")
    assert sorted(ok.index) == ["b", "c", "d", "e"]
    numeric = ["p_alive", "expected_purchases_30d", "expected_purchases_90d", "expected_purchases_365d",
               "p_no_order_90d", "expected_spend_per_order", "predicted_revenue_12m"]
    assert np.isfinite(ok[numeric].to_numpy(dtype=float)).all()
    assert ok.loc["e", "p_alive"] == 1.0  # bought today
    assert (ok["model_used"] == "bg_nbd").all()
    bad = out[out["prediction_status"] != "ok"].set_index("customer_id")
    assert bad.loc["a", "prediction_status"] == "not enough data: invalid history (recency > t)"
    assert bad.loc["g", "prediction_status"] == "not enough data: no purchase history (frequency/recency/t missing)"
    assert bad[numeric].isna().all().all()
    # one customer
    one = P.score_customers(rfm.iloc[[2]], date(2024, 1, 31), model="bg_nbd", fits=fits)
    assert len(one) == 1 and one["prediction_status"].iloc[0] == "ok"


def test_derived_columns_follow_their_definitions(our_fits):
    fit = our_fits["bg_nbd"]  # CDNOW in weeks; the maths does not care about the unit
    rfm = pd.DataFrame({"customer_id": [f"k{i}" for i in range(6)], "frequency": [0, 1, 2, 5, 10, 20],
                        "recency": [0, 2, 30, 35, 38, 38.5], "t": [38.86] * 6,
                        "monetary_value": [0, 20, 30, 15, 25, 40]})
    as_of = date(2024, 1, 1)
    out = P.score_customers(rfm, as_of, model="bg_nbd", fits={"bg_nbd": fit}, churn_bands=(0.33, 0.66))
    x, tx, T = (rfm[c].to_numpy(float) for c in ("frequency", "recency", "t"))
    p0 = P.p_no_purchase("bg_nbd", fit, 90, x, tx, T)
    np.testing.assert_allclose(out["p_no_order_90d"], p0)
    assert out["churn_risk_band"].tolist() == ["low" if p < 0.33 else "high" if p > 0.66 else "medium" for p in p0]
    assert out["expected_spend_per_order"].isna().all()  # no gamma_gamma fit given
    for i, row in out.iterrows():
        if pd.isna(row["expected_next_order_date"]):
            tau = P.median_days_to_next_purchase("bg_nbd", fit, x[i], tx[i], T[i])
            assert not tau <= 365
            continue
        days = (row["expected_next_order_date"].date() - as_of).days
        # the first whole day by which the customer has bought again with probability >= 50 %
        assert P.p_no_purchase("bg_nbd", fit, days, x[i], tx[i], T[i]) <= 0.5 + 1e-12
        if days > 1:
            assert P.p_no_purchase("bg_nbd", fit, days - 1, x[i], tx[i], T[i]) > 0.5


def test_p_no_purchase_and_p_alive_by_simulation():
    """Monte Carlo check of the conditional formulas for one-time buyers (x = 0) of age T: what
    fraction makes no purchase in the next t, and how many purchases they make on average."""
    params = {"r": 0.8, "alpha": 20.0, "a": 0.9, "b": 1.5}
    T, t, n = 50.0, 60.0, 400_000
    rng = np.random.default_rng(7)
    for model, mbg in (("bg_nbd", False), ("mbg_nbd", True)):
        lam = rng.gamma(params["r"], 1 / params["alpha"], n)
        p = rng.beta(params["a"], params["b"], n)
        alive = rng.random(n) >= p if mbg else np.ones(n, bool)
        first_gap = rng.exponential(1.0, n) / lam
        one_timer = ~alive | (first_gap > T)  # no repeat purchase in (0, T]
        # given no purchase by T, memorylessness: the next purchase of a live customer is T + Exp(lam)
        lam1, p1, alive1 = lam[one_timer], p[one_timer], alive[one_timer]
        m = one_timer.sum()
        count = np.zeros(m)
        now = np.zeros(m)
        active = alive1.copy()
        while active.any():
            idx = np.flatnonzero(active)
            now[idx] += rng.exponential(1.0, idx.size) / lam1[idx]
            inside = now[idx] <= t
            count[idx[inside]] += 1
            active[idx[~inside]] = False
            died = rng.random(idx.size) < p1[idx]
            active[idx[inside & died]] = False
        p0_mc = np.mean(count == 0)
        p0 = P.p_no_purchase(model, params, t, 0, 0, T)
        assert p0 == pytest.approx(p0_mc, abs=4 * math.sqrt(p0_mc * (1 - p0_mc) / m))
        e = P.conditional_expected_purchases(model, params, t, 0, 0, T)
        assert e == pytest.approx(count.mean(), abs=4 * count.std() / math.sqrt(m))


# ------------------------------------------------------------------------------------------------
# store-level rules
# ------------------------------------------------------------------------------------------------


def test_everyone_bought_once_is_not_enough_data():
    rfm = pd.DataFrame({"customer_id": [f"c{i}" for i in range(800)], "frequency": 0, "recency": 0,
                        "t": np.arange(800) % 400, "monetary_value": 0.0})
    fit = P.fit_bg_nbd(rfm["frequency"], rfm["recency"], rfm["t"])
    assert not fit.converged and "no repeat purchases" in fit.message
    fits_table, preds = P.predict(rfm, date(2024, 1, 1))
    assert len(preds) == 800 and fits_table.empty
    assert (preds["prediction_status"] == "not enough data: every customer bought only once (0 repeat buyers)").all()
    assert preds["p_alive"].isna().all() and preds["model_used"].isna().all()


def test_small_or_young_store_is_not_enough_data():
    _, rfm = synthetic_store(400, max_T=120)
    fits_table, preds = P.predict(rfm, date(2024, 6, 30))
    status = preds["prediction_status"].iloc[0]
    n_repeat = int((rfm["frequency"] > 0).sum())
    assert status == (f"not enough data: {n_repeat} repeat buyers (at least 500 needed); "
                      f"{rfm['t'].max():g} days of history (at least 180 needed)")
    assert (preds["prediction_status"] == status).all()
    assert preds["expected_purchases_90d"].isna().all()
    # the models were still fitted (for the record)
    assert set(fits_table["model"]) == {"bg_nbd", "mbg_nbd", "gamma_gamma"}
    # a customer without a purchase history keeps its own status
    prospect = pd.DataFrame({"customer_id": ["zz"], "frequency": [np.nan], "recency": [np.nan], "t": [np.nan],
                             "monetary_value": [np.nan]})
    _, with_prospect = P.predict(pd.concat([rfm, prospect], ignore_index=True), date(2024, 6, 30))
    no_history = "not enough data: no purchase history (frequency/recency/t missing)"
    assert with_prospect["prediction_status"].iloc[-1] == no_history
    assert (with_prospect["prediction_status"].iloc[:-1] == status).all()
    # one customer, and no customers at all: never raises
    _, one = P.predict(rfm.iloc[[0]], date(2024, 6, 30))
    assert len(one) == 1 and one["prediction_status"].iloc[0].startswith("not enough data: ")
    _, none = P.predict(rfm.iloc[:0], date(2024, 6, 30))
    assert none.empty and list(none.columns) == P.PREDICTION_COLUMNS
    # the thresholds are settings
    relaxed = P.PredictionSettings(min_repeat_buyers=50, min_history_days=90)
    _, preds = P.predict(rfm, date(2024, 6, 30), relaxed)
    assert (preds["prediction_status"] == "ok").all()


def test_frequency_monetary_correlation_rule():
    _, rfm = synthetic_store(2500, spend_follows_frequency=True)
    repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
    corr = np.corrcoef(repeat["frequency"], repeat["monetary_value"])[0, 1]
    assert corr > 0.3
    _, preds = P.predict(rfm, date(2024, 6, 30))
    status = preds["prediction_status"].iloc[0]
    assert status.startswith("not enough data: frequency-monetary correlation among repeat buyers is ")
    assert f"{corr:.2f}" in status
    assert (preds["prediction_status"] == status).all()
    # spend is not predicted, purchases are
    assert preds["expected_spend_per_order"].isna().all() and preds["predicted_revenue_12m"].isna().all()
    assert preds["p_alive"].notna().all() and (preds["model_used"] == "bg_nbd").all()
    # a looser threshold lets it through
    _, loose = P.predict(rfm, date(2024, 6, 30), P.PredictionSettings(max_frequency_monetary_correlation=0.99))
    assert (loose["prediction_status"] == "ok").all() and loose["predicted_revenue_12m"].notna().all()


def test_predict_ok_store_and_model_selection():
    orders, rfm = synthetic_store(3000)
    as_of = date(2024, 6, 30)
    fits_table, preds = P.predict(rfm, as_of)
    assert (preds["prediction_status"] == "ok").all()
    assert (preds["model_used"] == "bg_nbd").all()  # no orders -> default
    assert list(fits_table.columns) == P.FITS_COLUMNS
    assert len(fits_table) == 11 and fits_table["converged"].all()
    assert fits_table.loc[fits_table["parameter"] == "alpha", "time_unit"].eq("days").all()
    assert fits_table.loc[fits_table["parameter"] != "alpha", "time_unit"].isna().all()
    assert preds["customer_id"].is_monotonic_increasing and preds["customer_id"].is_unique
    assert (preds["expected_purchases_30d"] <= preds["expected_purchases_90d"]).all()
    assert (preds["expected_purchases_90d"] <= preds["expected_purchases_365d"]).all()
    assert preds["churn_risk_band"].isin(["low", "medium", "high"]).all()
    undiscounted = preds["expected_spend_per_order"] * preds["expected_purchases_365d"]
    assert (preds["predicted_revenue_12m"] <= undiscounted + 1e-9).all()
    dates = preds["expected_next_order_date"].dropna()
    assert len(dates) and (dates > pd.Timestamp(as_of)).all()
    assert (dates <= pd.Timestamp(as_of) + pd.Timedelta(days=365)).all()

    run = P._run(rfm, as_of, None, orders)
    assert run.model_used in ("bg_nbd", "mbg_nbd")
    sel = run.selection
    assert sel["method"] == "holdout_mae" and sel["holdout_days"] == 180  # 25 % of ~2 years, capped
    assert run.model_used == min(("bg_nbd", "mbg_nbd"), key=lambda m: (sel[f"mae_{m}"], m != "bg_nbd"))
    assert (run.customers["model_used"] == run.model_used).all()
    assert P.selection_holdout_days(200) == 90 and P.selection_holdout_days(480) == 120
    assert P.selection_holdout_days(2000) == 180


# ------------------------------------------------------------------------------------------------
# warehouse writer
# ------------------------------------------------------------------------------------------------


def test_write_predictions(tmp_path):
    orders, rfm = synthetic_store(3000)
    as_of = date(2024, 6, 30)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.register("rfm_df", rfm.sample(frac=1.0, random_state=3))  # unsorted on purpose
    con.execute("create table main.customer_rfm as select customer_id, frequency::int as frequency, "
                "recency::int as recency, t::int as t, monetary_value from rfm_df")
    con.register("orders_df", orders)
    # the warehouse's orders mart (net_amount, no amount column; only purchase days are read)
    con.execute("create table main.orders as select customer_id, ordered_at::timestamp as ordered_at, "
                "amount::decimal(18, 4) as net_amount, is_purchase from orders_df")
    summary = P.write_predictions(con, as_of)
    assert summary["status"] == "ok" and summary["n_customers"] == summary["n_ok"] == len(rfm)
    assert summary["model_used"] in ("bg_nbd", "mbg_nbd")
    assert summary["selection"]["method"] == "holdout_mae"

    fits = con.execute("select * from main.prediction_model_fits order by model, parameter").df()
    assert len(fits) == 11 and set(fits["as_of"].dt.date) == {as_of}
    preds = con.execute("select * from main.customer_predictions").df()
    assert list(preds.columns) == P.PREDICTION_COLUMNS
    assert preds["customer_id"].tolist() == sorted(rfm["customer_id"])  # deterministic order
    assert (preds["model_used"] == summary["model_used"]).all()
    types = dict(con.execute("select column_name, data_type from information_schema.columns "
                             "where table_name = 'customer_predictions'").fetchall())
    assert types["expected_next_order_date"] == "DATE" and types["as_of"] == "DATE"
    null_dates = con.execute(
        "select count(*) from main.customer_predictions where expected_next_order_date is null"
    ).fetchone()[0]
    assert null_dates == preds["expected_next_order_date"].isna().sum()

    # re-running the same as_of replaces its fit rows; another as_of is appended; predictions are replaced
    P.write_predictions(con, as_of)
    P.write_predictions(con, as_of + timedelta(days=1))
    counts = dict(con.execute("select as_of, count(*) from main.prediction_model_fits group by 1").fetchall())
    assert counts == {as_of: 11, as_of + timedelta(days=1): 11}
    latest = con.execute("select count(*), min(as_of) from main.customer_predictions").fetchone()
    assert latest == (len(rfm), as_of + timedelta(days=1))
    con.close()


def test_write_predictions_small_store_without_orders(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create table main.customer_rfm (customer_id varchar, frequency bigint, recency bigint, t bigint, "
                "monetary_value decimal(18, 2))")
    con.execute("insert into main.customer_rfm values ('b', 0, 0, 10, 0), ('a', 2, 5, 40, 12.5), "
                "('c', null, null, null, null)")  # c: a prospect without a paid order
    summary = P.write_predictions(con, date(2024, 1, 1))
    assert summary["status"].startswith("not enough data: 1 repeat buyers") and summary["model_used"] is None
    rows = con.execute("select customer_id, prediction_status, p_alive from main.customer_predictions").fetchall()
    assert [r[0] for r in rows] == ["a", "b", "c"] and all(r[2] is None for r in rows)
    assert rows[0][1] == rows[1][1] == summary["status"]
    assert rows[2][1] == "not enough data: no purchase history (frequency/recency/t missing)"
    # a customer_rfm built as of another day is refused
    con.execute("alter table main.customer_rfm add column as_of_date date default date '2024-01-01'")
    assert P.write_predictions(con, date(2024, 1, 1))["n_customers"] == 3
    with pytest.raises(ValueError, match="customer_rfm is as of 2024-01-01, not 2024-01-02"):
        P.write_predictions(con, date(2024, 1, 2))
    con.close()


# ------------------------------------------------------------------------------------------------
# evaluation on CDNOW
# ------------------------------------------------------------------------------------------------


def test_btyd_summary_matches_lifetimes(cdnow_orders):
    ours = P.btyd_summary(cdnow_orders, date(1997, 9, 30)).set_index("customer_id")
    theirs = summary_data_from_transaction_data(
        cdnow_orders[cdnow_orders["ordered_at"] <= "1997-09-30"], "customer_id", "ordered_at",
        monetary_value_col="amount", observation_period_end="1997-09-30", freq="D",
    )
    theirs.index = theirs.index.astype(str)
    assert len(ours) == len(theirs) == 23570
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col].to_numpy(), theirs.loc[ours.index, col].to_numpy(), atol=1e-9)


def test_evaluate_predictions_on_cdnow(cdnow_orders):
    result = P.evaluate_predictions(cdnow_orders, date(1997, 9, 30), date(1998, 6, 30))
    summary = result["summary"].iloc[0]
    assert summary["holdout_days"] == 273 and summary["n_customers"] == 23570
    by_freq = result["by_frequency"]
    assert by_freq["calibration_frequency"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert by_freq["n_customers"].sum() == 23570
    assert (by_freq["zero"] == 0).all()
    assert by_freq["bg_nbd"].is_monotonic_increasing and by_freq["actual"].is_monotonic_increasing
    mae = result["mae"].set_index("model")["mae"]
    assert mae["bg_nbd"] < mae["zero"] and mae["mbg_nbd"] < mae["zero"]
    assert mae["bg_nbd"] < mae["historical_rate"]
    rmse = result["mae"].set_index("model")["rmse"]
    assert rmse["bg_nbd"] < 0.8 * rmse["zero"]
    totals = result["totals"].set_index("model")
    assert abs(totals.loc["bg_nbd", "error_pct"]) < 20
    assert result["fits"]["converged"].all()

    # the calibration/holdout split and the predictions agree with lifetimes
    ch = calibration_and_holdout_data(cdnow_orders, "customer_id", "ordered_at", calibration_period_end="1997-09-30",
                                      observation_period_end="1998-06-30", freq="D",
                                      monetary_value_col="amount")  # (without a value column it fails on pandas 3)
    ch.index = ch.index.astype(str)
    customers = result["customers"].set_index("customer_id")
    ch = ch.loc[customers.index]
    np.testing.assert_array_equal(customers["frequency_cal"], ch["frequency_cal"])
    np.testing.assert_array_equal(customers["T_cal"], ch["T_cal"])
    np.testing.assert_array_equal(customers["actual_holdout"], ch["frequency_holdout"])
    lf = BetaGeoFitter().fit(ch["frequency_cal"].to_numpy(), ch["recency_cal"].to_numpy(), ch["T_cal"].to_numpy())
    want = lf.predict(273, ch["frequency_cal"].to_numpy(), ch["recency_cal"].to_numpy(), ch["T_cal"].to_numpy())
    np.testing.assert_allclose(customers["bg_nbd"], want, rtol=1e-4)

    md = P.evaluation_markdown(result)
    assert "| calibration_frequency | n_customers | actual | bg_nbd | mbg_nbd | historical_rate | zero |" in md
    assert "| 7+ |" in md and "### Per-customer error" in md


# ------------------------------------------------------------------------------------------------
# speed (opt-in: LAOKE_BENCH=1)
# ------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not os.environ.get("LAOKE_BENCH"), reason="benchmark; set LAOKE_BENCH=1")
def test_benchmark_one_million_customers():
    x, tx, T = simulate_bg(1_000_000, 0.5, 60.0, 0.8, 3.0, max_T=1000, seed=0)
    m = np.where(x > 0, np.random.default_rng(1).gamma(5, 20, x.size), 0.0)
    timings = {}
    for name, fn in (("bg_nbd", lambda: P.fit_bg_nbd(x, tx, T)), ("mbg_nbd", lambda: P.fit_mbg_nbd(x, tx, T)),
                     ("gamma_gamma", lambda: P.fit_gamma_gamma(x, m))):
        started = time.perf_counter()
        fit = fn()
        timings[name] = time.perf_counter() - started
        assert fit.converged, fit.message
    rfm = pd.DataFrame({"customer_id": np.char.add("c", np.arange(x.size).astype(str)), "frequency": x,
                        "recency": tx, "t": T, "monetary_value": m})
    started = time.perf_counter()
    _, preds = P.predict(rfm, date(2024, 1, 1))
    timings["predict"] = time.perf_counter() - started
    print("\n1M customers:", {k: round(v, 2) for k, v in timings.items()})
    assert (preds["prediction_status"] == "ok").all()
