"""Calibration of laoke's lift statistics: do the 95% intervals cover a known true uplift 95% of the time?

Simulates campaigns in memory (no warehouse): list sizes 500-20,000, holdout shares 5-50%, base
conversion 0.5-5%, true uplift 0, +0.5, +1 or +2 points. For each, draws the control and treated
conversions, and runs the same function the product uses (laoke.evaluation.lift). Prints:

- coverage: share of campaigns (with enough data) whose 95% CI contains the true uplift (goal >= 93%);
- bias: mean (estimate - truth) of the absolute lift, in points;
- false positives: share of uplift-0 campaigns with p < 0.05 (goal about 5%);
- revenue: coverage of the bootstrap CI of revenue per member (laoke.evaluation.bootstrap_mean_difference)
  on a subset, with lognormal order values.

Run: .venv/bin/python benchmarks/calibration.py [--campaigns 200] [--seed 2024]. Takes a few seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from laoke.evaluation import OK, bootstrap_mean_difference, lift  # noqa: E402

UPLIFTS = (0.0, 0.005, 0.01, 0.02)
ORDER_VALUE_MU, ORDER_VALUE_SIGMA = 5.0, 0.5   # lognormal: mean about 168 CNY


def simulate_campaigns(n_campaigns: int = 200, seed: int = 2024) -> dict[str, np.ndarray]:
    """Vectorised: one row per simulated campaign with its truth and laoke's lift statistics."""
    rng = np.random.default_rng(seed)
    size = rng.integers(500, 20_001, n_campaigns)
    share = rng.uniform(0.05, 0.5, n_campaigns)
    base = rng.uniform(0.005, 0.05, n_campaigns)
    uplift = rng.choice(UPLIFTS, n_campaigns)
    n_c = rng.binomial(size, share)
    n_t = size - n_c
    x_c = rng.binomial(n_c, base)
    x_t = rng.binomial(n_t, base + uplift)
    stats = lift(x_t, n_t, x_c, n_c, confidence=0.95, min_group_size=30, min_conversions=5)
    return {"size": size, "n_t": n_t, "n_c": n_c, "x_t": x_t, "x_c": x_c, "base": base, "uplift": uplift, **stats}


def revenue_coverage(n_campaigns: int = 50, seed: int = 7, samples: int = 1000) -> float:
    """Coverage of the bootstrap CI of revenue per member (treated - control) on simulated members."""
    rng = np.random.default_rng(seed)
    mean_value = np.exp(ORDER_VALUE_MU + ORDER_VALUE_SIGMA ** 2 / 2)
    covered = []
    for i in range(n_campaigns):
        n_t, n_c = int(rng.integers(2000, 10_001)), int(rng.integers(500, 3001))
        base, uplift = rng.uniform(0.01, 0.05), rng.choice(UPLIFTS)
        treated = np.where(rng.random(n_t) < base + uplift, rng.lognormal(ORDER_VALUE_MU, ORDER_VALUE_SIGMA, n_t), 0.0)
        control = np.where(rng.random(n_c) < base, rng.lognormal(ORDER_VALUE_MU, ORDER_VALUE_SIGMA, n_c), 0.0)
        low, high = bootstrap_mean_difference(treated, control, seed=i, samples=samples, confidence=0.95)
        covered.append(low <= uplift * mean_value <= high)
    return float(np.mean(covered))


def calibrate(n_campaigns: int = 200, seed: int = 2024) -> dict[str, float]:
    sims = simulate_campaigns(n_campaigns, seed)
    ok = sims["status"] == OK
    truth = sims["uplift"]
    covered = (sims["absolute_lift_ci_low"] <= truth) & (truth <= sims["absolute_lift_ci_high"])
    null = ok & (truth == 0)
    return {
        "campaigns": n_campaigns,
        "with_enough_data": int(ok.sum()),
        "coverage": float(covered[ok].mean()),
        "bias_points": float(np.mean((sims["absolute_lift"] - truth)[ok]) * 100),
        "mean_abs_error_points": float(np.mean(np.abs(sims["absolute_lift"] - truth)[ok]) * 100),
        "false_positive_rate": float((sims["p_value"][null] < 0.05).mean()) if null.any() else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = calibrate(args.campaigns, args.seed)
    print(f"{result['campaigns']} simulated campaigns ({result['with_enough_data']} with enough data), "
          f"true uplift in {{{', '.join(f'{u * 100:+.1f}' for u in UPLIFTS)}}} points:")
    print(f"  95% CI covers the true uplift: {result['coverage']:.1%} (goal >= 93%)")
    print(f"  bias of the estimate: {result['bias_points']:+.3f} points "
          f"(mean absolute error {result['mean_abs_error_points']:.3f} points)")
    print(f"  uplift 0: p < 0.05 in {result['false_positive_rate']:.1%} of campaigns (about 5% expected)")
    large = calibrate(10_000, args.seed + 1)
    print(f"  same over 10,000 campaigns: coverage {large['coverage']:.2%}, bias {large['bias_points']:+.4f} points, "
          f"false positives {large['false_positive_rate']:.2%}")
    print(f"  revenue per member, bootstrap 95% CI covers the truth: {revenue_coverage():.1%} (50 campaigns)")
    print(f"  ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
