"""Predictions benchmark (issue 8): fit and score the customers of a store, laoke vs lifetimes.

laoke: BG/NBD + Gamma-Gamma fitted by maximum likelihood (numpy/scipy) and every customer scored
(laoke.predictions.predict, without the MBG/NBD model choice, to compare like with like).
lifetimes: BetaGeoFitter + GammaGammaFitter on the same customers, then P(alive), expected
purchases in 90 days and expected spend per order. Prints the times, the ratio and the largest
relative parameter difference (target: fit + score <= 10 s, >= 10x faster, parameters within 0.1%).

Run on a warehouse built by benchmarks/run.py (the 10m store has ~2M customers):
    .venv/bin/python benchmarks/predictions.py benchmarks/data/run-10m-csv/warehouse.duckdb [--customers 1000000]
or on the generator's data directly (builds nothing):  --simulate 1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the laoke CLI does

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from laoke.predictions import (  # noqa: E402
    PredictionSettings, conditional_expected_purchases, expected_spend_per_order, fit_bg_nbd,
    fit_gamma_gamma, p_alive,
)


def load_rfm(warehouse: Path, customers: int | None, seed: int) -> pd.DataFrame:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        # in customer order: the table's row order differs from build to build, and so would the sample
        rfm = con.execute(
            "select customer_id, frequency, recency, t, monetary_value from main.customer_rfm order by customer_id").df()
    if customers and customers < len(rfm):
        rfm = rfm.sample(n=customers, random_state=seed).sort_values("customer_id")
    return rfm.reset_index(drop=True)


def simulate_rfm(customers: int, seed: int) -> pd.DataFrame:
    """BG/NBD-distributed histories (days) for a quick run without a warehouse."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = 0.8, 80.0, 0.9, 6.0
    lam = rng.gamma(r, 1 / alpha, customers)
    p = rng.beta(a, b, customers)
    T = rng.integers(30, 900, customers).astype(float)
    freq, rec = np.zeros(customers), np.zeros(customers)
    alive, t = np.ones(customers, bool), np.zeros(customers)
    for _ in range(60):
        t = t + rng.exponential(1 / lam)
        bought = alive & (t <= T)
        freq += bought
        rec = np.where(bought, np.floor(t), rec)
        alive &= bought & (rng.random(customers) > p)
    spend = np.where(freq > 0, rng.gamma(6.0, 1 / (rng.gamma(3.7, 1 / 15.0, customers)), customers), 0.0)
    return pd.DataFrame({"customer_id": np.arange(customers).astype(str), "frequency": freq, "recency": rec,
                         "t": T, "monetary_value": spend})


def run_laoke(rfm: pd.DataFrame) -> tuple[float, dict]:
    start = time.perf_counter()
    x, tx, T, m = (rfm[c].to_numpy(float) for c in ("frequency", "recency", "t", "monetary_value"))
    bg = fit_bg_nbd(x, tx, T)
    repeat = (x > 0) & (m > 0)
    gg = fit_gamma_gamma(x[repeat], m[repeat])
    p_alive("bg_nbd", bg, x, tx, T)
    conditional_expected_purchases("bg_nbd", bg, 90, x, tx, T)
    expected_spend_per_order(gg, x, m)
    return time.perf_counter() - start, {**bg.params, **gg.params}


# lifetimes' default tolerance, and the one an analyst retries with when its fit raises
# ConvergenceError: scipy's BFGS can stop with "precision loss" at a gradient of ~1e-7 (seen once
# at 10M for the Gamma-Gamma fit), which lifetimes treats as a failure.
LIFETIMES_TOLERANCES = (1e-7, 1e-6)


def _fit_lifetimes(fitter_class, *columns) -> tuple[object, float]:
    """The fitted model and the seconds of the attempt that converged."""
    from lifetimes.utils import ConvergenceError

    for tol in LIFETIMES_TOLERANCES:
        start = time.perf_counter()
        try:
            return fitter_class().fit(*columns, tol=tol), time.perf_counter() - start
        except ConvergenceError:
            if tol == LIFETIMES_TOLERANCES[-1]:
                raise


def run_lifetimes(rfm: pd.DataFrame) -> tuple[float, dict]:
    """lifetimes' fit + score seconds (a fit that converged only on a retry counts its successful
    attempt: the ratio does not profit from lifetimes' failure) and its parameters."""
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    warnings.filterwarnings("ignore")
    bg, bg_seconds = _fit_lifetimes(BetaGeoFitter, rfm["frequency"], rfm["recency"], rfm["t"])
    repeat = rfm[(rfm["frequency"] > 0) & (rfm["monetary_value"] > 0)]
    gg, gg_seconds = _fit_lifetimes(GammaGammaFitter, repeat["frequency"], repeat["monetary_value"])
    start = time.perf_counter()
    bg.conditional_probability_alive(rfm["frequency"], rfm["recency"], rfm["t"])
    bg.conditional_expected_number_of_purchases_up_to_time(90, rfm["frequency"], rfm["recency"], rfm["t"])
    gg.conditional_expected_average_profit(rfm["frequency"], rfm["monetary_value"])
    scoring_seconds = time.perf_counter() - start
    return bg_seconds + gg_seconds + scoring_seconds, {**bg.params_.to_dict(), **gg.params_.to_dict()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", nargs="?", type=Path)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--simulate", type=int, default=None, help="simulate this many customers instead")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-lifetimes", action="store_true")
    args = parser.parse_args(argv)
    if args.simulate:
        rfm = simulate_rfm(args.simulate, args.seed)
    elif args.warehouse:
        rfm = load_rfm(args.warehouse, args.customers, args.seed)
    else:
        parser.error("give a warehouse or --simulate N")
    PredictionSettings()  # the defaults load (dbt_project.yml vars)
    laoke_seconds, laoke_params = run_laoke(rfm)
    print(f"customers: {len(rfm):,} ({int((rfm['frequency'] > 0).sum()):,} repeat buyers)")
    print(f"laoke     fit + score: {laoke_seconds:7.2f} s   {fmt(laoke_params)}")
    if args.skip_lifetimes:
        return
    lifetimes_seconds, lifetimes_params = run_lifetimes(rfm)
    worst = max(abs(laoke_params[k] / lifetimes_params[k] - 1) for k in lifetimes_params)
    print(f"lifetimes fit + score: {lifetimes_seconds:7.2f} s   {fmt(lifetimes_params)}")
    print(f"laoke is {lifetimes_seconds / laoke_seconds:.1f}x faster; largest parameter difference {worst:.4%} "
          f"(targets: <= 10 s, >= 10x, <= 0.1%)")


def fmt(params: dict) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in params.items())


if __name__ == "__main__":
    main()
