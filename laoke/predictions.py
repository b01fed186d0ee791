"""Per-customer purchase and spend predictions: BG/NBD, MBG/NBD and Gamma-Gamma.

Input is the warehouse's ``customer_rfm`` table in the BTYD convention of lifetimes'
``summary_data_from_transaction_data(freq='D')``: time in days, ``frequency`` = purchase days - 1,
``recency`` = days from the first to the last purchase day, ``t`` = days from the first purchase
day to ``as_of``, ``monetary_value`` = mean daily total over the repeat purchase days (0 when
frequency is 0).

Models (all maths is vectorised numpy in log space; no per-customer Python loop anywhere):

* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way"). Purchases follow a
  Poisson process with rate lambda ~ Gamma(r, alpha); after every *repeat* purchase the customer
  drops out with probability p ~ Beta(a, b).
* **MBG/NBD** (Batislam, Denizel & Filiztekin 2007; Wagner & Hoppe 2008 erratum; lifetimes'
  ``ModifiedBetaGeoFitter``). As BG/NBD, but the customer may also drop out right after the *first*
  purchase, so P(alive) < 1 even for one-time buyers and for a customer who bought today
  (P(alive | x=0, T=0) = b / (a + b)).
* **Gamma-Gamma** (Fader, Hardie & Lee 2005, "RFM and CLV"; Hardie's note 025): spend per
  purchase day of a repeat buyer; fitted on repeat buyers (frequency > 0) with monetary_value > 0.

Closed forms used (x = frequency, t_x = recency, T = age, all in days; k = 0 for BG/NBD, 1 for
MBG/NBD; s = r + x, beta = alpha + T, b' = b + x + k):

* P(alive) = 1 / (1 + a / (b' - 1) * ((alpha + T) / (alpha + t_x))^s), and 1 for BG/NBD when x = 0.
* Given alive, lambda ~ Gamma(s, beta) and p ~ Beta(a, b') independently, and a live customer
  with (lambda, p) makes (1 - exp(-lambda p t)) / p purchases in the next t days in expectation. So
  E[Y(t) | history] = P(alive) * G(t; s, beta, a, b') with
  G = (a + b' - 1) / (a - 1) * (1 - (beta / (beta + t))^s * 2F1(s, b'; a + b' - 1; z)),
  z = t / (beta + t) -- eq. (10) of FHL 2005 and Wagner & Hoppe's MBG/NBD formula.
  G = E_p[(1 - (1 + p t / beta)^-s) / p] with p ~ Beta(a, b'). The textbook 2F1 grows like
  (1 - z)^(a - 1 - s) and overflows for heavy buyers (s large, z near 1; lifetimes has the same
  formula), so we use Euler's transformation, (1 - z)^s 2F1(s, b'; c; z) =
  (1 - z)^(a - 1) 2F1(c - s, a - 1; c; z), c = a + b' - 1, which stays bounded. Short horizons
  (t / beta * (s + 1) <= 1/4) use the power series of G in t / beta instead (no cancellation, no
  1 / (a - 1)); within 1e-5 of a = 1 the closed form is interpolated from a = 1 -+ 1e-5; entries
  with c near or below 0 (BG/NBD one-time buyers when a + b < 1) or a non-finite 2F1 use tanh-sinh
  quadrature of the integral. Checked against adaptive quadrature to 1e-6 over a wide grid (tests).
* Unconditional E[X(t)] is the same G with (s, beta, b') = (r, alpha, b) for BG/NBD and
  b / (a + b) * G(t; r, alpha, a, b + 1) for MBG/NBD (lifetimes' formulas).
* P(no purchase in the next t days | history) = 1 - P(alive) + P(alive) * (beta / (beta + t))^s:
  a dead customer never buys, a live one buys at rate lambda and can only drop out *at* a purchase,
  so it makes no purchase with probability E[exp(-lambda t)] = (beta / (beta + t))^s under the
  Gamma(s, beta) posterior. Same expression for both models (with each model's P(alive)).
* Gamma-Gamma: E[spend per order | x, m] = (1 - w) * v p / (q - 1) + w * m, w = p x / (p x + q - 1)
  (needs q > 1; for x = 0 this is the population mean).

Derived columns (``score_customers``):

* ``expected_next_order_date``: as_of + the *median* time to the next purchase, i.e. the first whole
  day d with P(at least one purchase within d days | history) >= 50 %. From the expression above,
  tau = beta * ((1 - 0.5 / P(alive))^(-1/s) - 1), rounded up to whole days (at least 1). Null when
  the 50 % is never reached (P(alive) <= 0.5) or is reached only after 365 days.
* ``predicted_revenue_12m`` (CLV): lifetimes' ``customer_lifetime_value`` approach. Twelve months of
  365/12 days; the expected purchases in month m (difference of the cumulative conditional
  expectation) times the Gamma-Gamma expected spend per order, discounted by
  (1 + d)^m with the monthly rate d = (1 + annual_discount_rate)^(1/12) - 1. (lifetimes uses 30-day
  months and takes the monthly rate directly; ``customer_lifetime_value(days_per_month=30)`` with
  that monthly rate reproduces it exactly.)

Store-level status rules (``predict``; the reason is reported in ``prediction_status`` as
``'not enough data: <reason>'``, several reasons joined with '; '):

* fewer than ``min_repeat_buyers`` repeat buyers (frequency > 0), nobody bought twice, or fewer than
  ``min_history_days`` days of history (max t), or the selected model's fit did not converge:
  *blocking* -- every prediction column is null (model_used too).
* |Pearson corr(frequency, monetary_value)| among repeat buyers with monetary_value > 0 above
  ``max_frequency_monetary_correlation``, or an unusable Gamma-Gamma fit (did not converge, q <= 1):
  *spend only* -- the Gamma-Gamma assumption (spend independent of frequency) fails, so
  ``expected_spend_per_order`` and ``predicted_revenue_12m`` are null, but the purchase columns
  (p_alive, expected purchases, churn risk, next order date) are filled since BG/NBD does not use
  spend. The status still says 'not enough data: ...' so consumers filtering on 'ok' are safe.
* a customer row without a purchase history (frequency/recency/t null: 'not enough data: no purchase
  history (...)') or with an impossible one (negative or fractional frequency, recency > t, ...:
  'not enough data: invalid history (...)') keeps that status and null predictions whatever the
  store's status, and is left out of the fits and of the store counts.

Fitting: maximum likelihood on the log-parameters with analytic gradients; identical histories are
collapsed into one weighted row (and logs / gammaln / digamma are taken once per distinct x, t_x, T);
time is rescaled so that max T = 1 (money so that the median spend is 1). L-BFGS-B runs from several
starting points (on a fixed random subsample of 100k customers when the data are larger), the best
solution is refined on all customers and polished with Newton steps (finite-difference Hessian of the
analytic gradient). ``converged`` = max |gradient| of the mean log-likelihood < 1e-6, Hessian
positive definite, no parameter on the search bound; ``message`` says how many starts agreed.

Models are fitted whenever the data allows it mathematically (at least one repeat buyer and max
t > 0; Gamma-Gamma: at least two repeat buyers with monetary_value > 0), even when a rule blocks the
predictions, so ``prediction_model_fits`` shows what the data gave.

Model choice (``predict`` with ``orders``): BG/NBD vs MBG/NBD by the lower per-customer holdout MAE
of ``evaluate_predictions`` on the store's own order history: the holdout is the last 25 % of the
history (first purchase day -> as_of), clamped to 90..180 days; the calibration period is everything
before. A model whose calibration fit did not converge cannot be chosen; ties and failures fall back
to BG/NBD. Without orders the model is BG/NBD.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, special

__all__ = [
    "FitResult",
    "PredictionSettings",
    "MODEL_PARAMETERS",
    "fit_bg_nbd",
    "fit_mbg_nbd",
    "fit_gamma_gamma",
    "log_likelihood",
    "p_alive",
    "conditional_expected_purchases",
    "expected_purchases",
    "p_no_purchase",
    "median_days_to_next_purchase",
    "expected_spend_per_order",
    "customer_lifetime_value",
    "btyd_summary",
    "score_customers",
    "predict",
    "write_predictions",
    "evaluate_predictions",
    "evaluation_markdown",
]

MODEL_PARAMETERS: dict[str, tuple[str, ...]] = {
    "bg_nbd": ("r", "alpha", "a", "b"),
    "mbg_nbd": ("r", "alpha", "a", "b"),
    "gamma_gamma": ("p", "q", "v"),
}
TRANSACTION_MODELS = ("bg_nbd", "mbg_nbd")
HORIZONS_DAYS = (30, 90, 365)
NEXT_ORDER_HORIZON_DAYS = 365
CLV_MONTHS = 12
NOT_ENOUGH = "not enough data: "

# Optimiser settings. The parameters are optimised on the log scale, with time rescaled so that the
# largest T is 1 (and money so that the median spend is 1): the bounds below are generous on that
# scale; a solution on a bound means the data do not identify the parameter (reported as not converged).
_LOG_BOUND = 18.0
_GRAD_TOL = 1e-6  # max |d mean-NLL / d log-param| accepted as converged

# Starting points on the scaled problem: (r, alpha / max T, a, b). The first is lifetimes' start
# (exp(0.1) everywhere); the second is close to the CDNOW solution; the others cover slower, faster,
# low- and high-churn populations.
DEFAULT_BG_STARTS: tuple[tuple[float, float, float, float], ...] = (
    (1.105, 1.105, 1.105, 1.105),
    (0.25, 0.1, 0.8, 2.5),
    (2.0, 0.5, 0.3, 0.5),
    (0.5, 0.02, 2.0, 8.0),
)
# (p, q, v / median spend)
DEFAULT_GG_STARTS: tuple[tuple[float, float, float], ...] = (
    (1.105, 1.105, 1.105),
    (6.0, 4.0, 3.0),
    (1.0, 2.0, 1.0),
    (20.0, 1.5, 0.03),
)


@dataclass
class FitResult:
    model: str
    params: dict[str, float]
    log_likelihood: float
    n_customers: int
    converged: bool
    message: str


def _rule(name: str):
    from laoke.settings import rule

    return rule(name)


@dataclass
class PredictionSettings:
    """Defaults are the dbt_project.yml vars (one place for every rule's number)."""

    min_repeat_buyers: int = field(default_factory=lambda: int(_rule("prediction_min_repeat_buyers")))
    min_history_days: float = field(default_factory=lambda: float(_rule("prediction_min_history_days")))
    max_frequency_monetary_correlation: float = field(
        default_factory=lambda: float(_rule("prediction_max_frequency_monetary_correlation")))
    annual_discount_rate: float = field(default_factory=lambda: float(_rule("clv_annual_discount_rate")))
    churn_low: float = field(default_factory=lambda: float(_rule("churn_risk_low")))
    churn_high: float = field(default_factory=lambda: float(_rule("churn_risk_high")))


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def _arr(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _model_kind(model: str) -> float:
    if model == "bg_nbd":
        return 0.0
    if model == "mbg_nbd":
        return 1.0
    raise ValueError(f"unknown transaction model {model!r}; expected one of {TRANSACTION_MODELS}")


def _unpack(params: FitResult | Mapping[str, float], names: Sequence[str]) -> tuple[float, ...]:
    mapping = params.params if isinstance(params, FitResult) else params
    return tuple(float(mapping[n]) for n in names)


def _not_fitted(model: str, n: int, message: str) -> FitResult:
    return FitResult(
        model=model,
        params={p: math.nan for p in MODEL_PARAMETERS[model]},
        log_likelihood=math.nan,
        n_customers=int(n),
        converged=False,
        message=message,
    )


def _dot(u: np.ndarray, v: np.ndarray) -> float:
    """Inner product without BLAS: a threaded BLAS ddot is slow for these sizes on a busy machine."""
    return float(np.einsum("i,i->", u, v))


def _aggregate(columns: dict[str, np.ndarray], weights: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Collapse identical rows into one row with summed weight (lifetimes does the same)."""
    frame = pd.DataFrame(columns)
    frame["_w"] = weights
    grouped = frame.groupby(list(columns), sort=True, as_index=False)["_w"].sum()
    return {c: grouped[c].to_numpy(dtype=float) for c in columns}, grouped["_w"].to_numpy(dtype=float)


# ------------------------------------------------------------------------------------------------
# BG/NBD and MBG/NBD likelihood
# ------------------------------------------------------------------------------------------------


@dataclass
class _BGData:
    """Aggregated BG/NBD data: one row per distinct (x, t_x, T) with its weight; x, t_x and T are
    also indexed into their distinct values so that the log / gammaln / digamma work is done once
    per distinct value."""

    x: np.ndarray  # per row
    w: np.ndarray
    W: float
    ux: np.ndarray  # distinct frequencies; ix: row -> ux
    ix: np.ndarray
    wx: np.ndarray  # weight per distinct frequency
    uT: np.ndarray  # distinct T; iT: row -> uT
    iT: np.ndarray
    utx: np.ndarray  # distinct t_x; itx: row -> utx
    itx: np.ndarray
    ws: np.ndarray  # w * x (for the s = r + x weighted sums)


def _bg_data(x: np.ndarray, tx: np.ndarray, T: np.ndarray, w: np.ndarray) -> _BGData:
    ux, ix = np.unique(x, return_inverse=True)
    uT, iT = np.unique(T, return_inverse=True)
    utx, itx = np.unique(tx, return_inverse=True)
    wx = np.bincount(ix, weights=w, minlength=len(ux))
    return _BGData(x, w, float(w.sum()), ux, ix, wx, uT, iT, utx, itx, w * x)


def _bg_nll(log_params: np.ndarray, d: _BGData, k: float, with_grad: bool = True):
    """Mean negative log-likelihood (per unit weight) of BG/NBD (k=0) or MBG/NBD (k=1), and its
    gradient with respect to the log-parameters.

    Per customer: ll = A12(x) + logaddexp(A3, A4) with A3 = -(r+x) ln(alpha+T) and
    A4 = ln a - ln(b+x+k-1) - (r+x) ln(alpha+t_x) (A4 absent for BG/NBD when x = 0);
    A12 = ln Gamma(r+x) - ln Gamma(r) + r ln alpha + ln B(a, b+x+k) - ln B(a, b)."""
    r, alpha, a, b = np.exp(log_params)
    ux = d.ux
    bx = b + ux + k  # b' per distinct x
    has4_u = (ux > 0) if k == 0.0 else np.ones(len(ux), dtype=bool)
    bx1 = np.where(has4_u, bx - 1.0, 1.0)
    lnB = special.gammaln(a + b) + special.gammaln(bx) - special.gammaln(b) - special.gammaln(a + bx)
    A12_u = special.gammaln(r + ux) - special.gammaln(r) + r * np.log(alpha) + lnB
    c4_u = np.where(has4_u, np.log(a) - np.log(bx1), -1e300)  # "no A4 term"; finite keeps numpy on its fast path
    lT_u = np.log(alpha + d.uT)
    ltx_u = np.log(alpha + d.utx)
    lT = lT_u[d.iT]
    dl = ltx_u[d.itx] - lT  # ln(alpha + t_x) - ln(alpha + T) <= 0
    s = d.x + r
    dd = c4_u[d.ix] - s * dl  # A4 - A3
    e = np.exp(-np.abs(dd))
    softplus = np.maximum(dd, 0.0) + np.log1p(e)  # logaddexp(A3, A4) - A3
    sum_w_lT = _dot(d.w, lT)
    sum_w_s_lT = _dot(d.ws, lT) + r * sum_w_lT
    nll = -(_dot(A12_u, d.wx) - sum_w_s_lT + _dot(d.w, softplus)) / d.W
    if not with_grad:
        return nll
    w4 = special.expit(dd)  # weight of the A4 term
    ww4 = d.w * w4
    inv_T = 1.0 / (alpha + d.uT)
    inv_tx = 1.0 / (alpha + d.utx)
    # sums over rows of w * (w3 * f(T) + w4 * f(t_x)) = sum w f(T) + sum w w4 (f(t_x) - f(T))
    dr = _dot((special.digamma(r + ux) - special.digamma(r) + np.log(alpha)), d.wx) - sum_w_lT - _dot(ww4, dl)
    sw = d.ws + r * d.w  # w * s
    dinv = inv_tx[d.itx] - inv_T[d.iT]
    dalpha = r / alpha * d.W - _dot(np.bincount(d.iT, weights=sw, minlength=len(d.uT)), inv_T) - _dot(sw * w4, dinv)
    psi_ab = special.digamma(a + b)
    psi_abx = special.digamma(a + bx)
    sum_w4_u = np.bincount(d.ix, weights=ww4, minlength=len(ux))
    da = _dot((psi_ab - psi_abx), d.wx) + float(sum_w4_u.sum()) / a
    db = _dot((psi_ab + special.digamma(bx) - special.digamma(b) - psi_abx), d.wx) - _dot(sum_w4_u, (1.0 / bx1))
    grad = -np.array([r * dr, alpha * dalpha, a * da, b * db]) / d.W
    return nll, grad


def log_likelihood(model: str, params: FitResult | Mapping[str, float], frequency, recency=None, T=None,
                   monetary_value=None) -> np.ndarray:
    """Per-customer log-likelihood under ``model`` (for Gamma-Gamma pass frequency and
    monetary_value; only customers with frequency > 0 and monetary_value > 0 are meaningful)."""
    if model == "gamma_gamma":
        p, q, v = _unpack(params, MODEL_PARAMETERS["gamma_gamma"])
        x = _arr(frequency)
        m = _arr(monetary_value)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _gg_ll_rows(p, q, v, x, m)
    k = _model_kind(model)
    r, alpha, a, b = _unpack(params, MODEL_PARAMETERS[model])
    x, tx, TT = np.broadcast_arrays(_arr(frequency), _arr(recency), _arr(T))
    x, tx, TT = x.ravel(), tx.ravel(), TT.ravel()
    bx = b + x + k
    has4 = (x > 0) | (k == 1.0)
    lnB = special.gammaln(a + b) + special.gammaln(bx) - special.gammaln(b) - special.gammaln(a + bx)
    A12 = special.gammaln(r + x) - special.gammaln(r) + r * math.log(alpha) + lnB
    s = r + x
    A3 = -s * np.log(alpha + TT)
    A4 = np.where(has4, math.log(a) - np.log(np.where(has4, bx - 1.0, 1.0)) - s * np.log(alpha + tx), -np.inf)
    return A12 + np.logaddexp(A3, A4)


# ------------------------------------------------------------------------------------------------
# optimisation
# ------------------------------------------------------------------------------------------------


def _numeric_hessian(fun_grad, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    n = len(x)
    H = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        H[:, i] = (fun_grad(x + e)[1] - fun_grad(x - e)[1]) / (2 * h)
    return (H + H.T) / 2


def _lbfgsb(fun_grad, x0: np.ndarray, n_params: int, ftol: float, gtol: float):
    return optimize.minimize(
        fun_grad,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * n_params,
        options={"maxiter": 2000, "ftol": ftol, "gtol": gtol, "maxcor": 20},
    )


# Above this many aggregated rows the multi-start search runs on a fixed random subsample of the
# customers; the best start is then refined on all of them (the subsample optimum is within sampling
# error of the full one, so the refinement takes a handful of iterations).
_SUBSAMPLE_ROWS = 100_000
_SUBSAMPLE_CUSTOMERS = 100_000


def _minimise(fun_grad, starts: Sequence[np.ndarray], n_params: int,
              search_fun_grad=None) -> tuple[np.ndarray, float, bool, str]:
    """Multi-start L-BFGS-B on the log-parameters (on ``search_fun_grad``, a subsample, when given),
    then L-BFGS-B from the best start on the full data and a Newton polish.

    Returns (log_params, mean_nll, converged, message)."""
    search = fun_grad if search_fun_grad is None else search_fun_grad
    results = []
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, dtype=float), -_LOG_BOUND + 1, _LOG_BOUND - 1)
        if not np.isfinite(search(x0)[0]):
            continue
        res = _lbfgsb(search, x0, n_params, ftol=1e-11, gtol=1e-8)
        if np.isfinite(res.fun):
            results.append(res)
    if not results:
        return np.full(n_params, np.nan), math.nan, False, "no finite starting point"
    results.sort(key=lambda rr: rr.fun)
    best = results[0]
    n_agree = sum(1 for rr in results if rr.fun - best.fun <= 1e-7 * max(1.0, abs(best.fun)))
    x = np.array(best.x)
    if search_fun_grad is not None:
        res = _lbfgsb(fun_grad, x, n_params, ftol=1e-11, gtol=1e-8)
        if np.isfinite(res.fun):
            x = np.array(res.x)
    f, g = fun_grad(x)
    f = float(f)

    # Newton polish: the likelihood surface of these models is flat along some directions (e.g. a
    # and b together) where quasi-Newton methods stop early; a few exact-Hessian steps fix that.
    H = None
    for _ in range(4):
        H = _numeric_hessian(fun_grad, x)
        if np.max(np.abs(g)) < 1e-10:
            break
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            break
        step = np.linalg.solve(H, -g)
        if -_dot(g, step) < 1e-16:  # Newton decrement: nothing left to gain
            break
        improved = False
        lam = 1.0
        for _ in range(12):
            x_new = np.clip(x + lam * step, -_LOG_BOUND, _LOG_BOUND)
            f_new, g_new = fun_grad(x_new)
            if np.isfinite(f_new) and (f_new < f or (f_new <= f + 1e-15 and np.max(np.abs(g_new)) < np.max(np.abs(g)))):
                x, f, g, improved = x_new, float(f_new), g_new, True
                break
            lam /= 2
        if not improved:
            break
        H = None
    if H is None:
        H = _numeric_hessian(fun_grad, x)
    eigenvalues = np.linalg.eigvalsh(H) if np.all(np.isfinite(H)) else np.array([math.nan])
    eig_min = float(eigenvalues.min())
    hessian_pd = bool(eig_min > 0)
    grad_max = float(np.max(np.abs(g)))
    at_bound = bool(np.any(np.abs(x) >= _LOG_BOUND - 1e-6))
    converged = bool(np.isfinite(f) and grad_max < _GRAD_TOL and hessian_pd and not at_bound)
    where = " on a subsample" if search_fun_grad is not None else ""
    parts = [
        f"L-BFGS-B from {len(starts)} starts{where}, {len(results)} finished, {n_agree} reached the best optimum",
        f"Newton polish: max|grad| {grad_max:.1e}, min Hessian eigenvalue {eig_min:.2e}",
    ]
    if at_bound:
        parts.append("a parameter is on the search bound (not identified by the data)")
    if not hessian_pd:
        parts.append("Hessian not positive definite")
    if grad_max >= _GRAD_TOL:
        parts.append("gradient not small")
    return x, f, converged, "; ".join(parts)


def _subsample(n_rows: int) -> np.ndarray | None:
    """Indices of a fixed (seeded) random subsample of the customers, or None when small enough."""
    if n_rows <= _SUBSAMPLE_CUSTOMERS:
        return None
    rng = np.random.default_rng(20050101)
    return np.sort(rng.choice(n_rows, size=_SUBSAMPLE_CUSTOMERS, replace=False))


def _fit_bg_family(model: str, frequency, recency, T, weights, starts) -> FitResult:
    k = _model_kind(model)
    x, tx, TT = (np.ravel(v) for v in np.broadcast_arrays(_arr(frequency), _arr(recency), _arr(T)))
    w = np.ones_like(x) if weights is None else np.ravel(_arr(weights)) * np.ones_like(x)
    n = int(round(float(w.sum())))
    ok = np.isfinite(x) & np.isfinite(tx) & np.isfinite(TT) & np.isfinite(w) & (w > 0)
    ok &= (x >= 0) & (tx >= 0) & (tx <= TT)
    if not ok.all():
        raise ValueError(
            f"{model}: {int((~ok).sum())} rows have an impossible history (need 0 <= recency <= T, frequency >= 0)"
        )
    if len(x) == 0:
        return _not_fitted(model, 0, "cannot fit: no customers")
    if not (x > 0).any():
        return _not_fitted(model, n, "cannot fit: no repeat purchases (every customer bought once)")
    t_max = float(TT.max())
    if t_max <= 0:
        return _not_fitted(model, n, "cannot fit: all customers are 0 days old")
    cols, wa = _aggregate({"x": x, "tx": tx / t_max, "T": TT / t_max}, w)
    full = _bg_data(cols["x"], cols["tx"], cols["T"], wa)
    search = None
    if len(wa) > _SUBSAMPLE_ROWS:
        pick = _subsample(len(x))
        if pick is not None and (x[pick] > 0).any():
            sc, sw = _aggregate({"x": x[pick], "tx": tx[pick] / t_max, "T": TT[pick] / t_max}, w[pick])
            sub = _bg_data(sc["x"], sc["tx"], sc["T"], sw)
            search = lambda lp: _bg_nll(lp, sub, k)  # noqa: E731
    starts = DEFAULT_BG_STARTS if starts is None else starts
    log_starts = [np.log(np.asarray(s, dtype=float)) for s in starts]
    lp, _, converged, message = _minimise(lambda lp: _bg_nll(lp, full, k), log_starts, 4, search)
    if not np.all(np.isfinite(lp)):
        return _not_fitted(model, n, message)
    r, alpha_scaled, a, b = np.exp(lp)
    params = {"r": float(r), "alpha": float(alpha_scaled * t_max), "a": float(a), "b": float(b)}
    # log-likelihood in days: times were divided by t_max, which multiplies each customer's
    # likelihood (a density in x purchase times) by t_max^x.
    ll = -_bg_nll(lp, full, k, with_grad=False) * full.W - _dot(full.w, full.x) * math.log(t_max)
    return FitResult(model, params, float(ll), n, converged, message)


def fit_bg_nbd(frequency, recency, T, *, weights=None, starts: Sequence[Sequence[float]] | None = None) -> FitResult:
    """Maximum-likelihood BG/NBD fit. ``starts``: starting points (r, alpha / max(T), a, b)."""
    return _fit_bg_family("bg_nbd", frequency, recency, T, weights, starts)


def fit_mbg_nbd(frequency, recency, T, *, weights=None, starts: Sequence[Sequence[float]] | None = None) -> FitResult:
    """Maximum-likelihood MBG/NBD fit. ``starts``: starting points (r, alpha / max(T), a, b)."""
    return _fit_bg_family("mbg_nbd", frequency, recency, T, weights, starts)


# ------------------------------------------------------------------------------------------------
# Gamma-Gamma
# ------------------------------------------------------------------------------------------------


def _gg_ll_rows(p, q, v, x, m):
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


@dataclass
class _GGData:
    xm: np.ndarray  # x * m per row
    w: np.ndarray
    wxr: np.ndarray  # w * x per row
    W: float
    ux: np.ndarray  # distinct x; wx: weight per distinct x
    wx: np.ndarray
    S_xlnm: float  # sum w x ln m
    S_lnm: float  # sum w ln m


def _gg_data(x: np.ndarray, m: np.ndarray, w: np.ndarray) -> _GGData:
    ux, ix = np.unique(x, return_inverse=True)
    wx = np.bincount(ix, weights=w, minlength=len(ux))
    lnm = np.log(m)
    return _GGData(x * m, w, w * x, float(w.sum()), ux, wx, _dot((w * x), lnm), _dot(w, lnm))


def _gg_nll(log_params, d: _GGData, with_grad: bool = True):
    """Mean negative log-likelihood of Gamma-Gamma and its gradient in the log-parameters.
    Per customer: ln Gamma(px+q) - ln Gamma(px) - ln Gamma(q) + q ln v + (px-1) ln m + px ln x
    - (px+q) ln(xm+v); everything but the last term is summed per distinct x."""
    p, q, v = np.exp(log_params)
    ux = d.ux
    pux = p * ux
    per_x = special.gammaln(pux + q) - special.gammaln(pux) + pux * np.log(ux)
    L = np.log(d.xm + v)
    sum_w_L = _dot(d.w, L)
    sum_wx_L = _dot(d.wxr, L)
    ll = (
        _dot(per_x, d.wx)
        + (q * math.log(v) - float(special.gammaln(q))) * d.W
        + p * d.S_xlnm
        - d.S_lnm
        - p * sum_wx_L
        - q * sum_w_L
    )
    nll = -ll / d.W
    if not with_grad:
        return nll
    psi_pxq = special.digamma(pux + q)
    dp = _dot((ux * (psi_pxq - special.digamma(pux) + np.log(ux))), d.wx) + d.S_xlnm - sum_wx_L
    dq = _dot(psi_pxq, d.wx) + (math.log(v) - float(special.digamma(q))) * d.W - sum_w_L
    inv = 1.0 / (d.xm + v)
    dv = q / v * d.W - p * _dot(d.wxr, inv) - q * _dot(d.w, inv)
    return nll, -np.array([p * dp, q * dq, v * dv]) / d.W


def fit_gamma_gamma(frequency, monetary_value, *, weights=None,
                    starts: Sequence[Sequence[float]] | None = None) -> FitResult:
    """Maximum-likelihood Gamma-Gamma fit on the customers with frequency > 0 and monetary_value > 0
    (other rows are ignored; ``n_customers`` counts the rows used). ``starts``: (p, q, v / median spend)."""
    x, m = (np.ravel(v) for v in np.broadcast_arrays(_arr(frequency), _arr(monetary_value)))
    w = np.ones_like(x) if weights is None else np.ravel(_arr(weights)) * np.ones_like(x)
    use = np.isfinite(x) & np.isfinite(m) & np.isfinite(w) & (x > 0) & (m > 0) & (w > 0)
    x, m, w = x[use], m[use], w[use]
    n = int(round(float(w.sum())))
    if len(x) < 2 or np.all(m == m[0]):
        return _not_fitted(
            "gamma_gamma", n, "cannot fit: needs at least two repeat buyers with different positive spend"
        )
    scale = float(np.median(m))
    full = _gg_data(x, m / scale, w)
    search = None
    pick = _subsample(len(x))
    if pick is not None:
        sub = _gg_data(x[pick], m[pick] / scale, w[pick])
        search = lambda lp: _gg_nll(lp, sub)  # noqa: E731
    starts = DEFAULT_GG_STARTS if starts is None else starts
    log_starts = [np.log(np.asarray(s, dtype=float)) for s in starts]
    lp, _, converged, message = _minimise(lambda lp: _gg_nll(lp, full), log_starts, 3, search)
    if not np.all(np.isfinite(lp)):
        return _not_fitted("gamma_gamma", n, message)
    p, q, v_scaled = np.exp(lp)
    params = {"p": float(p), "q": float(q), "v": float(v_scaled * scale)}
    # in currency units: each customer's density in m gains a factor 1 / scale
    ll = -_gg_nll(lp, full, with_grad=False) * full.W - full.W * math.log(scale)
    return FitResult("gamma_gamma", params, float(ll), n, converged, message)


def expected_spend_per_order(params: FitResult | Mapping[str, float], frequency, monetary_value) -> np.ndarray:
    """Gamma-Gamma conditional expected spend per purchase day (lifetimes'
    ``conditional_expected_average_profit``). NaN when q <= 1 (population mean undefined)."""
    p, q, v = _unpack(params, MODEL_PARAMETERS["gamma_gamma"])
    x, m = np.broadcast_arrays(_arr(frequency), _arr(monetary_value))
    if not q > 1:
        return np.full(x.shape, np.nan)
    weight = p * x / (p * x + q - 1)
    population_mean = v * p / (q - 1)
    m = np.where(x > 0, m, 0.0)
    return (1 - weight) * population_mean + weight * m


# ------------------------------------------------------------------------------------------------
# BG/NBD and MBG/NBD predictions
# ------------------------------------------------------------------------------------------------


# Double-exponential (tanh-sinh) nodes on (0, 1) for the quadrature fallback: v = expit(pi sinh u).
_TS_NODES = 200
_TS_U = np.linspace(-4.0, 4.0, _TS_NODES)
_TS_LOGV = -np.logaddexp(0.0, -np.pi * np.sinh(_TS_U))  # log v
_TS_LOGJ = (  # log(dv/du * du) = log v + log(1 - v) + log(pi cosh u) + log(du)
    _TS_LOGV
    - np.logaddexp(0.0, np.pi * np.sinh(_TS_U))
    + np.log(np.pi * np.cosh(_TS_U))
    + math.log(_TS_U[1] - _TS_U[0])
)
_QUAD_CHUNK = 20_000


def _g_integrand(p: np.ndarray, s: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(1 - (1 + p k)^-s) / p, with its limit s k at p = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f = -np.expm1(-s * np.log1p(p * k)) / p
    return np.where(p > 0, f, s * k)


def _g_quadrature(t: np.ndarray, s: np.ndarray, beta: np.ndarray, a: float, bp: np.ndarray) -> np.ndarray:
    """G = E_p[(1 - (1 + p t / beta)^-s) / p], p ~ Beta(a, b'), by quadrature.

    The integral over p is split at 1/2 and each half mapped to (0, 1) so that the Beta density's
    end-point singularities disappear: p = v^(1/a) / 2 on the lower half, 1 - p = w^(1/b') / 2 on the
    upper half; tanh-sinh nodes then also resolve the boundary layer of the integrand near p = 0
    (width 1 / (s t / beta)). Accurate to ~1e-9 relative; vectorised over rows (in chunks)."""
    out = np.empty(t.shape)
    for start in range(0, t.size, _QUAD_CHUNK):
        sl = slice(start, start + _QUAD_CHUNK)
        k = (t[sl] / beta[sl])[:, None]
        s2 = s[sl][:, None]
        b2 = bp[sl][:, None]
        p1 = np.exp(_TS_LOGV[None, :] / a - math.log(2.0))
        w1 = np.exp(_TS_LOGJ[None, :] + (b2 - 1.0) * np.log1p(-p1) - a * math.log(2.0) - math.log(a))
        q2 = np.exp(_TS_LOGV[None, :] / b2 - math.log(2.0))
        w2 = np.exp(_TS_LOGJ[None, :] + (a - 1.0) * np.log1p(-q2) - b2 * math.log(2.0) - np.log(b2))
        total = np.einsum("ij,ij->i", _g_integrand(p1, s2, k), w1) + np.einsum(
            "ij,ij->i", _g_integrand(1.0 - q2, s2, k), w2
        )
        out[sl] = total * np.exp(-special.betaln(a, bp[sl]))
    return out


def _g_closed(t, s, beta, a: float, bp) -> tuple[np.ndarray, np.ndarray]:
    """Closed form of G (Euler-transformed 2F1) and a mask of the entries that cannot be trusted."""
    c = a + bp - 1.0
    with np.errstate(all="ignore"):
        log1mz = -np.log1p(t / beta)  # log(beta / (beta + t))
        z = t / (beta + t)
        h = special.hyp2f1(c - s, a - 1.0, c, z)
        out = c / (a - 1.0) * -np.expm1((a - 1.0) * log1mz + np.log(h))
    bad = ~np.isfinite(out) | ~(h > 0) | (c < 1e-3) | (out < 0)
    return out, bad


_A_NEAR_ONE = 1e-5


_SERIES_MAX = 0.25
_SERIES_TERMS = 40


def _g_series(t, s, beta, a: float, bp) -> np.ndarray:
    """G by its power series in k = t / beta (for k (s + 1) <= 0.25, i.e. short horizons or long
    histories): sum_n (-1)^(n+1) (s)_n / n! k^n E[p^(n-1)], E[p^(n-1)] = (a)_(n-1) / (a + b')_(n-1).
    No 1 / (a - 1) and no cancellation; the terms shrink at least 4-fold each."""
    k = t / beta
    term = s * k
    total = term.copy()
    for n in range(1, _SERIES_TERMS):
        term = term * (-k) * (s + n) / (n + 1) * (a + n - 1) / (a + bp + n - 1)
        total += term
    return total


def _g(t, s, beta, a: float, bp) -> np.ndarray:
    """Expected purchases in the next t days of a customer who is alive, with lambda ~ Gamma(s, beta)
    and p ~ Beta(a, b'): G = E_p[(1 - (1 + p t / beta)^-s) / p].

    Short horizons relative to the history (t / beta * (s + 1) <= 0.25) use the power series in
    t / beta; otherwise the closed form (module docstring). Within 1e-5 of a = 1 the closed form's
    1 / (a - 1) cancels against 1 - (...): there we interpolate linearly between a = 1 -+ 1e-5
    (G is smooth in a).
    Entries the closed form cannot handle (c = a + b' - 1 near or below 0, a non-finite 2F1) use
    quadrature (``_g_quadrature``)."""
    t, s, beta, bp = (np.asarray(v, dtype=float) for v in np.broadcast_arrays(t, s, beta, bp))
    shape = t.shape
    t, s, beta, bp = t.ravel().copy(), s.ravel(), beta.ravel(), bp.ravel()
    out = np.zeros(t.shape)
    with np.errstate(all="ignore"):
        series = (t > 0) & (t / beta * (s + 1.0) <= _SERIES_MAX)
    closed = (t > 0) & ~series
    if series.any():
        out[series] = _g_series(t[series], s[series], beta[series], a, bp[series])
    if closed.any():
        tc, sc, bc, bpc = t[closed], s[closed], beta[closed], bp[closed]
        if abs(a - 1.0) < _A_NEAR_ONE:
            lo, bad_lo = _g_closed(tc, sc, bc, 1.0 - _A_NEAR_ONE, bpc)
            hi, bad_hi = _g_closed(tc, sc, bc, 1.0 + _A_NEAR_ONE, bpc)
            share = (a - (1.0 - _A_NEAR_ONE)) / (2.0 * _A_NEAR_ONE)
            gc, bad = lo + share * (hi - lo), bad_lo | bad_hi
        else:
            gc, bad = _g_closed(tc, sc, bc, a, bpc)
        if bad.any():
            gc[bad] = _g_quadrature(tc[bad], sc[bad], bc[bad], a, bpc[bad])
        out[closed] = gc
    return out.reshape(shape)


def _history(frequency, recency, T):
    x, tx, TT = np.broadcast_arrays(_arr(frequency), _arr(recency), _arr(T))
    return x, tx, TT


def p_alive(model: str, params: FitResult | Mapping[str, float], frequency, recency, T) -> np.ndarray:
    """P(customer still alive | x, t_x, T)."""
    k = _model_kind(model)
    r, alpha, a, b = _unpack(params, MODEL_PARAMETERS[model])
    x, tx, TT = _history(frequency, recency, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        bx1 = np.where((x > 0) | (k == 1.0), b + x + k - 1.0, 1.0)
        log_odds_dead = math.log(a) - np.log(bx1) + (r + x) * np.log1p((TT - tx) / (alpha + tx))
        pa = special.expit(-log_odds_dead)
    if k == 0.0:
        pa = np.where(x == 0, 1.0, pa)
    return pa


def _distinct_pairs(x: np.ndarray, TT: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The distinct (x, T) pairs and each customer's index into them (None: one pair per customer).

    The 2F1 part of every prediction depends on the history only through (x, T), of which there are
    far fewer than customers (days are whole numbers)."""
    xf, Tf = x.ravel(), TT.ravel()
    if xf.size <= 256:
        return xf, Tf, None
    whole = np.all((xf == np.round(xf)) & (Tf == np.round(Tf)) & (xf >= 0) & (Tf >= 0))
    if whole and xf.max() * (Tf.max() + 1) < 2**62:
        width = int(Tf.max()) + 1
        key = xf.astype(np.int64) * width + Tf.astype(np.int64)
        codes, uniques = pd.factorize(key, sort=False)
        return (uniques // width).astype(float), (uniques % width).astype(float), codes
    pairs, inverse = np.unique(xf + 1j * Tf, return_inverse=True)
    return pairs.real.copy(), pairs.imag.copy(), inverse.ravel()


def _g_pairs(horizons, ux: np.ndarray, uT: np.ndarray, r: float, alpha: float, a: float, bk: float) -> np.ndarray:
    """G(t) for every horizon t (1-D) and every distinct pair: shape (len(horizons), len(ux))."""
    horizons = np.atleast_1d(np.asarray(horizons, dtype=float))
    return _g(horizons[:, None], (r + ux)[None, :], (alpha + uT)[None, :], a, (bk + ux)[None, :])


def _gather(values: np.ndarray, inverse: np.ndarray | None, shape) -> np.ndarray:
    return (values if inverse is None else values[..., inverse]).reshape(values.shape[:-1] + tuple(shape))


def _discounted_g(ux, uT, r, alpha, a, bk, months: int, monthly_rate: float, days_per_month: float) -> np.ndarray:
    """sum over months m of (G(m * days_per_month) - G((m-1) * days_per_month)) / (1 + d)^m, per pair."""
    ts = np.arange(1, months + 1, dtype=float) * days_per_month
    g = _g_pairs(ts, ux, uT, r, alpha, a, bk)
    per_month = np.diff(g, axis=0, prepend=0.0)
    discount = (1.0 + monthly_rate) ** -np.arange(1, months + 1, dtype=float)
    return np.einsum("m,mu->u", discount, per_month)


def conditional_expected_purchases(model: str, params: FitResult | Mapping[str, float], t, frequency, recency,
                                   T) -> np.ndarray:
    """E[purchases in the next t time units | x, t_x, T] (eq. 10 of FHL 2005 / its MBG analogue).
    ``t`` is a scalar, or an array broadcasting with the customers."""
    k = _model_kind(model)
    r, alpha, a, b = _unpack(params, MODEL_PARAMETERS[model])
    x, tx, TT = _history(frequency, recency, T)
    pa = p_alive(model, params, x, tx, TT)
    if np.ndim(t) == 0:
        ux, uT, inverse = _distinct_pairs(x, TT)
        return pa * _gather(_g_pairs([float(t)], ux, uT, r, alpha, a, b + k)[0], inverse, x.shape)
    return pa * _g(t, r + x, alpha + TT, a, b + x + k)


def expected_purchases(model: str, params: FitResult | Mapping[str, float], t) -> np.ndarray:
    """Unconditional E[X(t)]: repeat purchases in (0, t] of a customer who just made the first one."""
    k = _model_kind(model)
    r, alpha, a, b = _unpack(params, MODEL_PARAMETERS[model])
    t = _arr(t)
    g = _g(t, r, alpha, a, b + k)
    return g if k == 0.0 else b / (a + b) * g


def _p_no_purchase(pa, r, alpha, t, x, TT):
    return 1.0 - pa * -np.expm1(-(r + x) * np.log1p(t / (alpha + TT)))


def _median_days(pa, r, alpha, x, TT):
    with np.errstate(divide="ignore", invalid="ignore"):
        # (beta / (beta + tau))^s = 1 - 0.5 / pa
        tau = (alpha + TT) * np.expm1(-np.log1p(-0.5 / pa) / (r + x))
    return np.where(pa > 0.5, tau, np.inf)


def p_no_purchase(model: str, params: FitResult | Mapping[str, float], t, frequency, recency, T) -> np.ndarray:
    """P(no purchase in the next t time units | x, t_x, T) = 1 - P(alive) (1 - (beta/(beta+t))^s)."""
    r, alpha, _, _ = _unpack(params, MODEL_PARAMETERS[model])
    x, tx, TT = _history(frequency, recency, T)
    return _p_no_purchase(p_alive(model, params, x, tx, TT), r, alpha, _arr(t), x, TT)


def median_days_to_next_purchase(model: str, params: FitResult | Mapping[str, float], frequency, recency,
                                 T) -> np.ndarray:
    """Median time to the next purchase: tau with P(no purchase in tau | history) = 0.5; inf when
    P(alive) <= 0.5 (more likely than not the customer never buys again)."""
    r, alpha, _, _ = _unpack(params, MODEL_PARAMETERS[model])
    x, tx, TT = _history(frequency, recency, T)
    return _median_days(p_alive(model, params, x, tx, TT), r, alpha, x, TT)


def customer_lifetime_value(model: str, params: FitResult | Mapping[str, float], spend_per_order, frequency,
                            recency, T, *, months: int = CLV_MONTHS, annual_discount_rate: float = 0.10,
                            monthly_discount_rate: float | None = None,
                            days_per_month: float = 365.0 / 12) -> np.ndarray:
    """Discounted expected revenue over ``months`` months (lifetimes' ``_customer_lifetime_value``):
    sum over m of spend * (E[Y(m * days_per_month)] - E[Y((m-1) * days_per_month)]) / (1 + d)^m,
    d = (1 + annual_discount_rate)^(1/12) - 1 unless ``monthly_discount_rate`` is given."""
    d = (1.0 + annual_discount_rate) ** (1.0 / 12) - 1.0 if monthly_discount_rate is None else monthly_discount_rate
    x, tx, TT = _history(frequency, recency, T)
    k = _model_kind(model)
    r, alpha, a, b = _unpack(params, MODEL_PARAMETERS[model])
    pa = p_alive(model, params, x, tx, TT)
    ux, uT, inverse = _distinct_pairs(x, TT)
    factor = _discounted_g(ux, uT, r, alpha, a, b + k, months, d, days_per_month)
    return _arr(spend_per_order) * pa * _gather(factor, inverse, x.shape)


# ------------------------------------------------------------------------------------------------
# transaction log -> BTYD summary
# ------------------------------------------------------------------------------------------------


def _purchase_days(orders: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer_id, purchase day) with the day's total amount."""
    frame = orders
    if "is_purchase" in frame.columns:
        frame = frame[frame["is_purchase"].fillna(False).astype(bool)]
    stamps = pd.to_datetime(frame["ordered_at"])
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_localize(None)  # keep the wall-clock (store-local) time
    days = stamps.dt.normalize()
    amount = pd.to_numeric(frame["amount"], errors="coerce") if "amount" in frame.columns else 0.0
    out = pd.DataFrame({"customer_id": frame["customer_id"].astype(str).to_numpy(), "day": days.to_numpy(),
                        "amount": np.asarray(amount, dtype=float) * np.ones(len(frame))})
    out = out[out["day"].notna()]
    return out.groupby(["customer_id", "day"], sort=True, as_index=False)["amount"].sum()


def btyd_summary(orders: pd.DataFrame, observation_end: date, *, _days: pd.DataFrame | None = None) -> pd.DataFrame:
    """customer_id, frequency, recency, T, monetary_value as of the end of ``observation_end`` from an
    order log (customer_id, ordered_at, amount[, is_purchase]), like lifetimes'
    ``summary_data_from_transaction_data(freq='D', monetary_value_col='amount')``: orders on the same
    day are one purchase whose amount is the day's total."""
    days = _purchase_days(orders) if _days is None else _days
    end = pd.Timestamp(observation_end).normalize()
    days = days[days["day"] <= end]
    g = days.groupby("customer_id", sort=True)
    first = g["day"].min()
    last = g["day"].max()
    count = g["day"].size()
    total = g["amount"].sum()
    first_amount = days.drop_duplicates("customer_id", keep="first").set_index("customer_id")["amount"]
    frequency = (count - 1).astype(float)
    repeat_total = total - first_amount.reindex(total.index)
    monetary = np.where(frequency > 0, repeat_total / frequency.where(frequency > 0, 1.0), 0.0)
    return pd.DataFrame(
        {
            "customer_id": first.index.astype(str),
            "frequency": frequency.to_numpy(),
            "recency": ((last - first) / pd.Timedelta(days=1)).to_numpy(dtype=float),
            "T": ((end - first) / pd.Timedelta(days=1)).to_numpy(dtype=float),
            "monetary_value": np.asarray(monetary, dtype=float),
        }
    ).reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# scoring
# ------------------------------------------------------------------------------------------------

PREDICTION_COLUMNS = [
    "as_of",
    "customer_id",
    "model_used",
    "p_alive",
    "expected_purchases_30d",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "p_no_order_90d",
    "churn_risk_band",
    "expected_next_order_date",
    "expected_spend_per_order",
    "predicted_revenue_12m",
    "prediction_status",
]
_PURCHASE_COLUMNS = [
    "p_alive",
    "expected_purchases_30d",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "p_no_order_90d",
    "churn_risk_band",
    "expected_next_order_date",
]
_SPEND_COLUMNS = ["expected_spend_per_order", "predicted_revenue_12m"]


def _rfm_arrays(rfm: pd.DataFrame):
    tcol = "t" if "t" in rfm.columns else "T"
    ids = rfm["customer_id"].astype(str).to_numpy()
    x = pd.to_numeric(rfm["frequency"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    tx = pd.to_numeric(rfm["recency"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    TT = pd.to_numeric(rfm[tcol], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if "monetary_value" in rfm.columns:
        m = pd.to_numeric(rfm["monetary_value"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        m = np.full(len(ids), np.nan)
    return ids, x, tx, TT, m


def _invalid_reasons(x, tx, TT) -> np.ndarray:
    """Per row: '' when the history is possible, else the row's 'not enough data: ...' status."""
    reasons = np.full(len(x), "", dtype=object)
    checks = [
        (~np.isfinite(x) | ~np.isfinite(tx) | ~np.isfinite(TT), "no purchase history (frequency/recency/t missing)"),
        (np.isfinite(x) & ((x < 0) | (x != np.round(x))), "invalid history (frequency not a whole number >= 0)"),
        (np.isfinite(tx) & (tx < 0), "invalid history (recency < 0)"),
        (np.isfinite(tx) & np.isfinite(TT) & (tx > TT), "invalid history (recency > t)"),
        (np.isfinite(x) & np.isfinite(tx) & (x == 0) & (tx != 0), "invalid history (recency > 0 with frequency 0)"),
    ]
    for mask, text in checks:
        fresh = mask & (reasons == "")
        reasons[fresh] = NOT_ENOUGH + text
    return reasons


def _fit_usable(fit: FitResult | None) -> bool:
    return fit is not None and fit.converged and all(np.isfinite(v) for v in fit.params.values())


def score_customers(rfm: pd.DataFrame, as_of: date, *, model: str, fits: Mapping[str, FitResult],
                    annual_discount_rate: float = 0.1, churn_bands: tuple[float, float] = (0.33, 0.66)) -> pd.DataFrame:
    """One row per customer (sorted by customer_id) with the columns of ``PREDICTION_COLUMNS``.

    ``fits[model]`` gives the purchase model; ``fits.get('gamma_gamma')`` the spend model (spend and
    revenue are null without a usable one). A non-converged purchase fit nulls every prediction and
    says so in ``prediction_status``; an unusable spend fit nulls the spend columns only."""
    _model_kind(model)
    ids, x, tx, TT, m = _rfm_arrays(rfm)
    n = len(ids)
    as_of_ts = pd.Timestamp(as_of).normalize()
    invalid = _invalid_reasons(x, tx, TT)
    valid = invalid == ""
    status = np.where(valid, "ok", invalid).astype(object)
    cols: dict[str, np.ndarray] = {c: np.full(n, np.nan) for c in _PURCHASE_COLUMNS + _SPEND_COLUMNS}
    cols["model_used"] = np.full(n, None, dtype=object)
    cols["churn_risk_band"] = np.full(n, None, dtype=object)
    cols["expected_next_order_date"] = np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")

    fit = fits.get(model)
    block = None
    if fit is None:
        block = f"no {model} fit"
    elif not _fit_usable(fit):
        block = f"{model} fit did not converge ({fit.message})"
    if block is not None:
        status[valid] = NOT_ENOUGH + block
    elif valid.any():
        k = _model_kind(model)
        r, alpha, a, b = _unpack(fit, MODEL_PARAMETERS[model])
        xv, txv, Tv = x[valid], tx[valid], TT[valid]
        pa = p_alive(model, fit, xv, txv, Tv)
        ux, uT, inverse = _distinct_pairs(xv, Tv)
        g = _gather(_g_pairs(HORIZONS_DAYS, ux, uT, r, alpha, a, b + k), inverse, xv.shape)
        cols["model_used"][valid] = model
        cols["p_alive"][valid] = pa
        for i, h in enumerate(HORIZONS_DAYS):
            cols[f"expected_purchases_{h}d"][valid] = pa * g[i]
        p0 = _p_no_purchase(pa, r, alpha, 90.0, xv, Tv)
        cols["p_no_order_90d"][valid] = p0
        low, high = churn_bands
        cols["churn_risk_band"][valid] = np.where(p0 < low, "low", np.where(p0 > high, "high", "medium"))
        tau = _median_days(pa, r, alpha, xv, Tv)
        has_date = np.isfinite(tau) & (tau <= NEXT_ORDER_HORIZON_DAYS)
        days = np.maximum(np.ceil(np.where(has_date, tau, 0.0)), 1.0).astype("int64")
        dates = (np.datetime64(as_of_ts.date(), "D") + days.astype("timedelta64[D]")).astype("datetime64[s]")
        cols["expected_next_order_date"][valid] = np.where(has_date, dates, np.datetime64("NaT", "s"))

        gg = fits.get("gamma_gamma")
        spend_block = None
        if gg is None:
            pass  # spend not requested: spend columns stay null, status unaffected
        elif not _fit_usable(gg):
            spend_block = f"gamma_gamma fit did not converge ({gg.message})"
        elif not gg.params["q"] > 1:
            spend_block = f"gamma_gamma q = {gg.params['q']:.3g} <= 1: mean spend undefined"
        if gg is not None and spend_block is None:
            spend = expected_spend_per_order(gg, xv, m[valid])
            monthly = (1.0 + annual_discount_rate) ** (1.0 / 12) - 1.0
            factor = _discounted_g(ux, uT, r, alpha, a, b + k, CLV_MONTHS, monthly, 365.0 / 12)
            cols["expected_spend_per_order"][valid] = spend
            cols["predicted_revenue_12m"][valid] = spend * pa * _gather(factor, inverse, xv.shape)
        elif spend_block is not None:
            status[valid] = NOT_ENOUGH + spend_block
    out = pd.DataFrame({"as_of": pd.Series(np.full(n, np.datetime64(as_of_ts.date(), "s"))), "customer_id": ids})
    for c in PREDICTION_COLUMNS[2:-1]:
        out[c] = cols[c]
    out["prediction_status"] = status
    if not out["customer_id"].is_monotonic_increasing:
        out = out.sort_values("customer_id", kind="stable").reset_index(drop=True)
    return out


# ------------------------------------------------------------------------------------------------
# evaluation on a holdout period
# ------------------------------------------------------------------------------------------------

_BUCKETS = ["0", "1", "2", "3", "4", "5", "6", "7+"]
_EVAL_PREDICTORS = ("bg_nbd", "mbg_nbd", "historical_rate", "zero")


def evaluate_predictions(orders: pd.DataFrame, calibration_end: date,
                         holdout_end: date | None = None) -> dict[str, pd.DataFrame]:
    """Fit BG/NBD and MBG/NBD on the orders up to ``calibration_end`` (inclusive) and compare their
    predicted purchase days in (calibration_end, holdout_end] with what happened, next to two naive
    baselines: 'historical_rate' (frequency / T x holdout days, 0 when T = 0) and 'zero'.

    Customers are those with a purchase by calibration_end; purchases are counted in purchase days
    (as frequency is). ``holdout_end`` defaults to the last order day. Returns DataFrames:
    'summary' (one row), 'fits', 'by_frequency' (calibration frequency 0..6, '7+': mean actual and
    predicted holdout purchases), 'totals' (sum predicted vs actual), 'mae' (per-customer MAE and
    RMSE) and 'customers' (per customer)."""
    days = _purchase_days(orders)
    cal_end = pd.Timestamp(calibration_end).normalize()
    hold_end = (days["day"].max() if holdout_end is None else pd.Timestamp(holdout_end)).normalize()
    if pd.isna(hold_end) or hold_end <= cal_end:
        raise ValueError(f"holdout_end ({hold_end}) must be after calibration_end ({cal_end.date()})")
    holdout_days = float((hold_end - cal_end) / pd.Timedelta(days=1))
    cal = btyd_summary(orders, cal_end, _days=days)
    hold = days[(days["day"] > cal_end) & (days["day"] <= hold_end)].groupby("customer_id").size()
    actual = hold.reindex(cal["customer_id"]).fillna(0).to_numpy(dtype=float)
    x, tx, TT = (cal[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))

    fits = {"bg_nbd": fit_bg_nbd(x, tx, TT), "mbg_nbd": fit_mbg_nbd(x, tx, TT)}
    preds: dict[str, np.ndarray] = {}
    for name, fit in fits.items():
        if _fit_usable(fit):
            preds[name] = conditional_expected_purchases(name, fit, holdout_days, x, tx, TT)
        else:
            preds[name] = np.full(len(x), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        preds["historical_rate"] = np.where(TT > 0, x / TT * holdout_days, 0.0)
    preds["zero"] = np.zeros(len(x))

    customers = pd.DataFrame({"customer_id": cal["customer_id"], "frequency_cal": x, "recency_cal": tx, "T_cal": TT,
                              "actual_holdout": actual})
    for name in _EVAL_PREDICTORS:
        customers[name] = preds[name]
    bucket = np.minimum(x, 7).astype(int) if len(x) else np.zeros(0, dtype=int)
    customers["bucket"] = pd.Categorical.from_codes(bucket, categories=_BUCKETS)
    agg = {"n_customers": ("actual_holdout", "size"), "actual": ("actual_holdout", "mean")}
    agg.update({name: (name, "mean") for name in _EVAL_PREDICTORS})
    by_frequency = (
        customers.groupby("bucket", observed=False).agg(**agg).reindex(_BUCKETS).rename_axis("calibration_frequency")
        .reset_index()
    )
    by_frequency["calibration_frequency"] = by_frequency["calibration_frequency"].astype(str)
    by_frequency["n_customers"] = by_frequency["n_customers"].fillna(0).astype("int64")
    customers = customers.drop(columns="bucket")

    total_actual = float(actual.sum())
    totals = pd.DataFrame(
        [
            {
                "model": name,
                "predicted_total": float(np.sum(preds[name])),
                "actual_total": total_actual,
                "error_pct": (float(np.sum(preds[name])) / total_actual - 1) * 100 if total_actual > 0 else math.nan,
            }
            for name in _EVAL_PREDICTORS
        ]
    )
    mae = pd.DataFrame(
        [
            {
                "model": name,
                "mae": float(np.mean(np.abs(preds[name] - actual))) if len(x) else math.nan,
                "rmse": float(np.sqrt(np.mean((preds[name] - actual) ** 2))) if len(x) else math.nan,
                "n_customers": len(x),
            }
            for name in _EVAL_PREDICTORS
        ]
    )
    fits_frame = pd.DataFrame(
        [
            {"model": name, **fit.params, "log_likelihood": fit.log_likelihood, "n_customers": fit.n_customers,
             "converged": fit.converged, "message": fit.message}
            for name, fit in fits.items()
        ]
    )
    summary = pd.DataFrame(
        [
            {
                "calibration_start": days["day"].min() if len(days) else pd.NaT,
                "calibration_end": cal_end,
                "holdout_end": hold_end,
                "holdout_days": holdout_days,
                "n_customers": len(x),
                "n_repeat_buyers_calibration": int((x > 0).sum()),
                "holdout_purchases": total_actual,
            }
        ]
    )
    return {"summary": summary, "fits": fits_frame, "by_frequency": by_frequency, "totals": totals, "mae": mae,
            "customers": customers}


def _markdown_table(frame: pd.DataFrame, float_format: str = "{:.4g}") -> str:
    def cell(v):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
            return ""
        if isinstance(v, (float, np.floating)):
            return float_format.format(v)
        if isinstance(v, pd.Timestamp):
            return v.date().isoformat()
        return str(v).replace("|", "\\|")

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False, name=None)]
    return "\n".join([header, rule, *rows])


def evaluation_markdown(result: Mapping[str, pd.DataFrame]) -> str:
    """The tables of ``evaluate_predictions`` as markdown."""
    s = result["summary"].iloc[0]
    start = pd.Timestamp(s["calibration_start"]).date() if pd.notna(s["calibration_start"]) else "?"
    lines = [
        "## Purchase prediction accuracy (holdout)",
        "",
        f"Calibration {start} to "
        f"{pd.Timestamp(s['calibration_end']).date()}, holdout to {pd.Timestamp(s['holdout_end']).date()} "
        f"({s['holdout_days']:g} days); {int(s['n_customers'])} customers, "
        f"{int(s['n_repeat_buyers_calibration'])} repeat buyers in calibration.",
        "",
        "### Mean holdout purchases by calibration frequency",
        "",
        _markdown_table(result["by_frequency"]),
        "",
        "### Totals",
        "",
        _markdown_table(result["totals"]),
        "",
        "### Per-customer error",
        "",
        _markdown_table(result["mae"]),
        "",
        "### Calibration fits",
        "",
        _markdown_table(result["fits"].drop(columns=["message"], errors="ignore")),
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# store-level run
# ------------------------------------------------------------------------------------------------


@dataclass
class PredictionRun:
    """Everything one ``predict`` run produced (``predict`` returns the two tables)."""

    fits: dict[str, FitResult]
    fits_table: pd.DataFrame
    customers: pd.DataFrame
    model_used: str | None
    store_status: str
    selection: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


FITS_COLUMNS = ["as_of", "model", "parameter", "value", "time_unit", "n_customers", "log_likelihood", "converged"]


def _fits_table(as_of: date, fits: Mapping[str, FitResult]) -> pd.DataFrame:
    rows = []
    for model in ("bg_nbd", "mbg_nbd", "gamma_gamma"):
        fit = fits.get(model)
        if fit is None:
            continue
        for parameter in MODEL_PARAMETERS[model]:
            rows.append(
                {
                    "as_of": pd.Timestamp(as_of).normalize(),
                    "model": model,
                    "parameter": parameter,
                    "value": fit.params.get(parameter, math.nan),
                    "time_unit": "days" if parameter == "alpha" else None,
                    "n_customers": fit.n_customers,
                    "log_likelihood": fit.log_likelihood,
                    "converged": bool(fit.converged),
                }
            )
    frame = pd.DataFrame(rows, columns=FITS_COLUMNS)
    frame["as_of"] = frame["as_of"].astype("datetime64[s]")
    frame["time_unit"] = frame["time_unit"].astype(object)
    frame["n_customers"] = frame["n_customers"].astype("int64")
    frame["converged"] = frame["converged"].astype(bool)
    frame["value"] = frame["value"].astype(float)
    frame["log_likelihood"] = frame["log_likelihood"].astype(float)
    return frame


def selection_holdout_days(history_days: float) -> int:
    """Holdout length for model choice: 25 % of the history, clamped to 90..180 days."""
    return int(min(180, max(90, round(0.25 * history_days))))


def _select_model(orders: pd.DataFrame, as_of: date, fits: Mapping[str, FitResult]) -> tuple[str, dict[str, Any]]:
    days = _purchase_days(orders)
    end = pd.Timestamp(as_of).normalize()
    days = days[days["day"] <= end]
    info: dict[str, Any] = {"method": "holdout_mae"}
    if days.empty:
        return "bg_nbd", {**info, "note": "no purchases in orders; defaulted to bg_nbd"}
    history_days = float((end - days["day"].min()) / pd.Timedelta(days=1))
    holdout = selection_holdout_days(history_days)
    cal_end = end - pd.Timedelta(days=holdout)
    info.update({"calibration_end": cal_end.date(), "holdout_end": end.date(), "holdout_days": holdout})
    if cal_end < days["day"].min():
        return "bg_nbd", {**info, "note": "history shorter than the holdout; defaulted to bg_nbd"}
    result = evaluate_predictions(days.rename(columns={"day": "ordered_at"}), cal_end.date(), end.date())
    mae = result["mae"].set_index("model")["mae"]
    converged = result["fits"].set_index("model")["converged"]
    info.update({f"mae_{name}": float(mae[name]) for name in _EVAL_PREDICTORS})
    candidates = [
        m for m in TRANSACTION_MODELS if bool(converged[m]) and np.isfinite(mae[m]) and _fit_usable(fits.get(m))
    ]
    if not candidates:
        return "bg_nbd", {**info, "note": "no model converged on the calibration period; defaulted to bg_nbd"}
    chosen = min(candidates, key=lambda m: (mae[m], TRANSACTION_MODELS.index(m)))
    return chosen, info


def _run(rfm: pd.DataFrame, as_of: date, settings: PredictionSettings | None,
         orders: pd.DataFrame | None) -> PredictionRun:
    settings = settings or PredictionSettings()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    ids, x, tx, TT, m = _rfm_arrays(rfm)
    row_reasons = _invalid_reasons(x, tx, TT)
    valid = row_reasons == ""
    xv, txv, Tv, mv = x[valid], tx[valid], TT[valid], m[valid]
    n_repeat = int((xv > 0).sum())
    history_days = float(Tv.max()) if len(Tv) else 0.0

    blocking: list[str] = []
    spend: list[str] = []
    if len(xv) == 0:
        blocking.append("no customers with a valid purchase history")
    elif n_repeat == 0:
        blocking.append("every customer bought only once (0 repeat buyers)")
    elif n_repeat < settings.min_repeat_buyers:
        blocking.append(f"{n_repeat} repeat buyers (at least {settings.min_repeat_buyers} needed)")
    if len(xv) and history_days < settings.min_history_days:
        blocking.append(f"{history_days:g} days of history (at least {settings.min_history_days:g} needed)")
    repeat_spend = (xv > 0) & np.isfinite(mv) & (mv > 0)
    corr = math.nan
    if repeat_spend.sum() >= 3:
        xs, ms = xv[repeat_spend], mv[repeat_spend]
        if xs.std() > 0 and ms.std() > 0:
            corr = float(np.corrcoef(xs, ms)[0, 1])
    if not np.isfinite(corr):
        if n_repeat > 0:
            spend.append("frequency-monetary correlation among repeat buyers undefined; spend not predicted")
    elif abs(corr) > settings.max_frequency_monetary_correlation:
        spend.append(
            f"frequency-monetary correlation among repeat buyers is {corr:.2f} (|corr| > "
            f"{settings.max_frequency_monetary_correlation:g}: Gamma-Gamma assumes independence); spend not predicted"
        )

    fits: dict[str, FitResult] = {}
    if n_repeat > 0 and history_days > 0:
        t0 = time.perf_counter()
        fits["bg_nbd"] = fit_bg_nbd(xv, txv, Tv)
        seconds["fit_bg_nbd"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        fits["mbg_nbd"] = fit_mbg_nbd(xv, txv, Tv)
        seconds["fit_mbg_nbd"] = time.perf_counter() - t0
    if repeat_spend.sum() >= 2:
        t0 = time.perf_counter()
        fits["gamma_gamma"] = fit_gamma_gamma(xv, mv)
        seconds["fit_gamma_gamma"] = time.perf_counter() - t0

    model = "bg_nbd"
    selection: dict[str, Any] = {"method": "default (no orders given)"}
    if not blocking and orders is not None:
        t0 = time.perf_counter()
        model, selection = _select_model(orders, as_of, fits)
        seconds["model_selection"] = time.perf_counter() - t0
    if not blocking and not _fit_usable(fits.get(model)):
        other = "mbg_nbd" if model == "bg_nbd" else "bg_nbd"
        if _fit_usable(fits.get(other)):
            selection["note"] = f"{model} fit did not converge; used {other}"
            model = other
        else:
            why = fits["bg_nbd"].message if "bg_nbd" in fits else "not fitted"
            blocking.append(f"neither bg_nbd nor mbg_nbd fit converged ({why})")

    gg = fits.get("gamma_gamma")
    if blocking:
        spend = []  # nothing is predicted; the blocking reasons are the ones that matter
    elif not spend:
        if gg is None:
            spend.append("fewer than two repeat buyers with different positive spend; spend not predicted")
        elif not _fit_usable(gg):
            spend.append(f"gamma_gamma fit did not converge ({gg.message}); spend not predicted")
        elif not gg.params["q"] > 1:
            spend.append(f"gamma_gamma q = {gg.params['q']:.3g} <= 1 (mean spend undefined); spend not predicted")

    score_fits: dict[str, FitResult] = {}
    if not blocking:
        score_fits[model] = fits[model]
        if not spend:
            score_fits["gamma_gamma"] = fits["gamma_gamma"]
    t0 = time.perf_counter()
    customers = score_customers(
        rfm, as_of, model=model, fits=score_fits, annual_discount_rate=settings.annual_discount_rate,
        churn_bands=(settings.churn_low, settings.churn_high),
    )
    seconds["score"] = time.perf_counter() - t0
    store_reasons = blocking + spend
    store_status = "ok" if not store_reasons else NOT_ENOUGH + "; ".join(store_reasons)
    if store_reasons:
        valid_rows = ~customers["prediction_status"].isin(set(row_reasons[~valid]))
        customers.loc[valid_rows, "prediction_status"] = store_status
    model_used = None if blocking else model
    seconds["total"] = time.perf_counter() - started
    selection.update({"frequency_monetary_correlation": corr, "n_repeat_buyers": n_repeat,
                      "history_days": history_days, "n_customers": int(len(ids)), "n_invalid": int((~valid).sum())})
    return PredictionRun(fits, _fits_table(as_of, fits), customers, model_used, store_status, selection, seconds)


def predict(rfm: pd.DataFrame, as_of: date, settings: PredictionSettings | None = None,
            orders: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit the models on ``rfm`` and score every customer. Returns (fits_table, customer_predictions).

    Never raises for a store that is too small: the predictions then carry the status."""
    run = _run(rfm, as_of, settings, orders)
    return run.fits_table, run.customers


# ------------------------------------------------------------------------------------------------
# warehouse I/O
# ------------------------------------------------------------------------------------------------

_FITS_DDL = """
create table if not exists main.prediction_model_fits (
    as_of date not null,
    model varchar not null,
    parameter varchar not null,
    value double,
    time_unit varchar,
    n_customers bigint,
    log_likelihood double,
    converged boolean
)
"""

_PREDICTIONS_SELECT = """
select
    cast(as_of as date) as as_of,
    cast(customer_id as varchar) as customer_id,
    cast(model_used as varchar) as model_used,
    cast(p_alive as double) as p_alive,
    cast(expected_purchases_30d as double) as expected_purchases_30d,
    cast(expected_purchases_90d as double) as expected_purchases_90d,
    cast(expected_purchases_365d as double) as expected_purchases_365d,
    cast(p_no_order_90d as double) as p_no_order_90d,
    cast(churn_risk_band as varchar) as churn_risk_band,
    cast(expected_next_order_date as date) as expected_next_order_date,
    cast(expected_spend_per_order as double) as expected_spend_per_order,
    cast(predicted_revenue_12m as double) as predicted_revenue_12m,
    cast(prediction_status as varchar) as prediction_status
from {view}
order by customer_id
"""


def _table_exists(con, name: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'main' and table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])


def write_predictions(con, as_of: date, settings: PredictionSettings | None = None) -> dict[str, Any]:
    """Read main.customer_rfm (and main.orders -- customer_id, ordered_at, is_purchase -- when present,
    for the model choice), predict, and write main.prediction_model_fits (rows of this as_of
    replaced) and main.customer_predictions (whole table replaced), in one transaction. Returns a
    small JSON-able summary. Raises ValueError when customer_rfm has an as_of_date other than
    ``as_of`` (its t and recency would be measured from another day)."""
    rfm_columns = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_schema = 'main' "
            "and table_name = 'customer_rfm'"
        ).fetchall()
    }
    if "as_of_date" in rfm_columns:
        built = [row[0] for row in con.execute("select distinct as_of_date from main.customer_rfm").fetchall()]
        wanted = pd.Timestamp(as_of).date()
        if any(pd.Timestamp(d).date() != wanted for d in built if d is not None):
            raise ValueError(
                f"main.customer_rfm is as of {', '.join(str(d) for d in built)}, not {wanted}: its t and "
                "recency would not match the prediction date"
            )
    rfm = con.execute(
        "select customer_id, frequency, recency, t, monetary_value from main.customer_rfm order by customer_id"
    ).df()
    orders = None
    if _table_exists(con, "orders"):
        # the model choice only needs the purchase days (amounts do not enter BG/NBD or MBG/NBD)
        next_day = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
        orders = con.execute(
            "select customer_id, ordered_at from main.orders where is_purchase and ordered_at < ?",
            [next_day.to_pydatetime()],
        ).df()
    run = _run(rfm, as_of, settings, orders)
    fits_view = "__laoke_prediction_fits"
    preds_view = "__laoke_customer_predictions"
    con.execute("begin transaction")
    try:
        con.execute(_FITS_DDL)
        con.execute("delete from main.prediction_model_fits where as_of = ?", [pd.Timestamp(as_of).date()])
        con.register(fits_view, run.fits_table)
        con.execute(
            f"insert into main.prediction_model_fits select cast(as_of as date), model, parameter, value, "
            f"time_unit, n_customers, log_likelihood, converged from {fits_view} order by model, parameter"
        )
        con.register(preds_view, run.customers)
        con.execute(
            "create or replace table main.customer_predictions as " + _PREDICTIONS_SELECT.format(view=preds_view)
        )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    finally:
        for view in (fits_view, preds_view):
            try:
                con.unregister(view)
            except Exception:  # noqa: BLE001 - the view may not have been registered
                pass
    statuses = run.customers["prediction_status"].value_counts().to_dict()
    return _jsonable({
        "as_of": pd.Timestamp(as_of).date(),
        "n_customers": int(len(run.customers)),
        "n_ok": int(statuses.get("ok", 0)),
        "status": run.store_status,
        "model_used": run.model_used,
        "fits": {name: {"converged": fit.converged, **fit.params} for name, fit in run.fits.items()},
        "selection": run.selection,
        "seconds": {k: round(v, 3) for k, v in run.seconds.items()},
    })


def _jsonable(value: Any) -> Any:
    """dates as ISO strings, NaN as None, numpy scalars as Python ones (for logs and run metadata)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (date, pd.Timestamp)):
        return value.isoformat()[:10]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
