"""Lift of treated over control with confidence intervals and p-values: what SQL cannot do well.

dbt's evaluation models count (main.campaign_customer_outcomes, main.campaign_results); this
module reads the per-member outcomes and writes `main.campaign_lift`, one row per list
(campaign_id, send_date) x segment (and 'all'), over one short write connection. The table is
replaced as a whole on every run, so a rerun on the same warehouse gives the same rows.

Methods (all vectorised; benchmarks/calibration.py checks their coverage):
- Conversion lift: absolute = treated rate - control rate (intention-to-treat). Its 95% CI is
  Newcombe's hybrid score interval (Newcombe 1998, method 10), built from the two Wilson score
  intervals. It keeps near-nominal coverage for the small rates (0.5-5%) and small control groups
  of SMS campaigns, where the unpooled Wald interval is too narrow; it never leaves [-1, 1] and
  needs no continuity correction.
- p-value: two-sided two-proportion z-test with the pooled standard error (the test of "no
  difference"); 1.0 when neither group converted.
- Relative lift = treated rate / control rate - 1, CI from the log risk ratio (Katz); null when a
  group has no conversions.
- Revenue per member (treated - control): percentile bootstrap, seeded from the list and segment
  (deterministic). Resampling n members with replacement is drawn as multinomial counts over the
  members who bought plus one cell for all who did not: the exact bootstrap distribution, at a
  cost that grows with the buyers, not the list.
- Not enough data: fewer than `min_group_size` (30) members in either group or fewer than
  `min_conversions` (5) conversions in both groups together: status 'not enough data' and no lift
  numbers (counts and raw rates are still given).
- minimum_detectable_lift: the absolute lift this split detects with 80% power at alpha 0.05,
  given the control rate: what the operator should expect the test to see at all.
"""

from __future__ import annotations

import zlib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from laoke.errors import LaokeError
from laoke.settings import dbt_vars
from laoke.warehouse import connect

OK = "ok"
NOT_ENOUGH_DATA = "not enough data"
CI_METHOD = "newcombe_hybrid_score"
BOOTSTRAP_SEED = 20240607

# Defaults; a store overrides them with dbt_project.yml vars of the same name when present.
DEFAULTS = {
    "evaluation_confidence": 0.95,
    "evaluation_min_group_size": 30,
    "evaluation_min_conversions": 5,
    "evaluation_bootstrap_samples": 2000,
}

# main.campaign_lift, one row per list (campaign_id, send_date) x segment (and 'all'): the columns.
LIFT_COLUMN_DOCS = {
    "campaign_id": "The campaign.",
    "send_date": "The list's send date.",
    "segment": "Segment at send time, or 'all' for the whole list.",
    "status": "'ok', or 'not enough data' (< 30 members in a group or < 5 conversions in all): lift columns null.",
    "treated": "Members of the treatment group (sent).",
    "control": "Members of the holdout (control group).",
    "treated_conversions": "Treated members with a purchase in the attribution window.",
    "control_conversions": "Control members with a purchase in the attribution window.",
    "treated_rate": "treated_conversions / treated.",
    "control_rate": "control_conversions / control.",
    "absolute_lift": "treated_rate - control_rate (a probability: 0.01 = +1 point).",
    "absolute_lift_ci_low": "Lower bound of its confidence interval (Newcombe hybrid score).",
    "absolute_lift_ci_high": "Upper bound.",
    "relative_lift": "treated_rate / control_rate - 1; null when the control had no conversion.",
    "relative_lift_ci_low": "Lower bound (log risk ratio, Katz); null when a group had no conversion.",
    "relative_lift_ci_high": "Upper bound.",
    "p_value": "Two-sided two-proportion z-test (pooled) of no difference.",
    "minimum_detectable_lift": "Absolute lift this split detects with 80% power at alpha 0.05.",
    "treated_revenue_per_customer": "Attributed revenue (CNY) per treated member.",
    "control_revenue_per_customer": "Attributed revenue (CNY) per control member.",
    "revenue_per_customer_lift": "Their difference.",
    "revenue_per_customer_lift_ci_low": "Lower bound of its percentile bootstrap interval.",
    "revenue_per_customer_lift_ci_high": "Upper bound.",
    "confidence_level": "Confidence of the intervals (0.95).",
    "ci_method": "newcombe_hybrid_score.",
    "bootstrap_samples": "Bootstrap resamples.",
    "bootstrap_seed": "Seed of the bootstrap (from campaign, send date and segment: reruns agree).",
    "window_complete": "Every member's attribution window ends on or before as_of: the figures are final.",
    "as_of_date": "The build's as_of.",
}

LIFT_COLUMNS = [
    "campaign_id", "send_date", "segment", "status", "treated", "control", "treated_conversions",
    "control_conversions", "treated_rate", "control_rate", "absolute_lift", "absolute_lift_ci_low",
    "absolute_lift_ci_high", "relative_lift", "relative_lift_ci_low", "relative_lift_ci_high", "p_value",
    "minimum_detectable_lift", "treated_revenue_per_customer", "control_revenue_per_customer",
    "revenue_per_customer_lift", "revenue_per_customer_lift_ci_low", "revenue_per_customer_lift_ci_high",
    "confidence_level", "ci_method", "bootstrap_samples", "bootstrap_seed", "window_complete", "as_of_date",
]


def setting(name: str):
    """An evaluation setting: the dbt var of that name if the project defines it, else DEFAULTS."""
    return dbt_vars().get(name, DEFAULTS[name])


def wilson_interval(x, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for x successes of n (arrays); (nan, nan) where n == 0."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        low, high = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    # x == 0 or x == n: the bound at the edge is exactly 0 or 1 (rounding aside).
    low = np.where(x == 0, 0.0, low)
    high = np.where(x == n, 1.0, high)
    return low, high


def lift(x_t, n_t, x_c, n_c, confidence: float | None = None, min_group_size: int | None = None,
         min_conversions: int | None = None) -> dict[str, np.ndarray]:
    """Conversion lift of treated (x_t of n_t) over control (x_c of n_c); arrays in, arrays out.

    Returns treated_rate, control_rate, absolute_lift with Newcombe CI (absolute_lift_ci_low/high),
    relative_lift with Katz CI, p_value (pooled two-proportion z-test), minimum_detectable_lift,
    and status ('ok' / 'not enough data'; lift numbers are NaN where not ok)."""
    confidence = setting("evaluation_confidence") if confidence is None else confidence
    min_group_size = setting("evaluation_min_group_size") if min_group_size is None else min_group_size
    min_conversions = setting("evaluation_min_conversions") if min_conversions is None else min_conversions
    x_t, n_t = np.asarray(x_t, dtype=float), np.asarray(n_t, dtype=float)
    x_c, n_c = np.asarray(x_c, dtype=float), np.asarray(n_c, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_t, p_c = x_t / n_t, x_c / n_c
        diff = p_t - p_c
        l_t, u_t = wilson_interval(x_t, n_t, confidence)
        l_c, u_c = wilson_interval(x_c, n_c, confidence)
        ci_low = diff - np.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2)
        ci_high = diff + np.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2)

        pooled = (x_t + x_c) / (n_t + n_c)
        se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
        z_stat = np.where(se0 > 0, diff / np.where(se0 > 0, se0, 1), 0.0)
        p_value = np.where(se0 > 0, 2 * stats.norm.sf(np.abs(z_stat)), 1.0)

        has_both = (x_t > 0) & (x_c > 0)
        rr = p_t / p_c
        se_log = np.sqrt(1 / x_t - 1 / n_t + 1 / x_c - 1 / n_c)
        rel = np.where(p_c > 0, rr - 1, np.nan)
        rel_low = np.where(has_both, np.exp(np.log(rr) - z * se_log) - 1, np.nan)
        rel_high = np.where(has_both, np.exp(np.log(rr) + z * se_log) - 1, np.nan)

        z_power = stats.norm.ppf(0.8)
        base = np.clip(p_c, 0.005, 0.995)
        mde = (z + z_power) * np.sqrt(base * (1 - base) * (1 / n_t + 1 / n_c))

    ok = (n_t >= min_group_size) & (n_c >= min_group_size) & (x_t + x_c >= min_conversions)
    masked = {name: np.where(ok, values, np.nan) for name, values in {
        "absolute_lift": diff, "absolute_lift_ci_low": ci_low, "absolute_lift_ci_high": ci_high,
        "relative_lift": rel, "relative_lift_ci_low": rel_low, "relative_lift_ci_high": rel_high,
        "p_value": p_value,
    }.items()}
    return {
        "status": np.where(ok, OK, NOT_ENOUGH_DATA),
        "treated_rate": p_t, "control_rate": p_c, **masked,
        "minimum_detectable_lift": np.where((n_t > 0) & (n_c > 0), mde, np.nan),
    }


def bootstrap_mean_difference(treated: np.ndarray, control: np.ndarray, seed: int, samples: int | None = None,
                              confidence: float | None = None) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(treated) - mean(control), deterministic for a seed.

    Each group is resampled with replacement at its own size; the resample is drawn as
    multinomial counts over the non-zero values plus one cell for the zeros (exactly the
    ordinary bootstrap, cheap when most members bought nothing)."""
    samples = setting("evaluation_bootstrap_samples") if samples is None else samples
    confidence = setting("evaluation_confidence") if confidence is None else confidence
    rng = np.random.default_rng(seed)
    means = []
    for values in (np.asarray(treated, dtype=float), np.asarray(control, dtype=float)):
        n = len(values)
        if n == 0:
            return float("nan"), float("nan")
        nonzero = np.sort(values[values != 0])
        if len(nonzero) == 0:
            means.append(np.zeros(samples))
            continue
        cells = np.append(np.full(len(nonzero), 1.0 / n), (n - len(nonzero)) / n)
        counts = rng.multinomial(n, cells / cells.sum(), size=samples)
        means.append(counts[:, :-1] @ nonzero / n)
    diffs = means[0] - means[1]
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    return float(low), float(high)


def _seed_for(campaign_id: str, send_date, segment: str) -> int:
    return BOOTSTRAP_SEED ^ zlib.crc32(f"{campaign_id}|{send_date}|{segment}".encode("utf-8"))


def lift_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """campaign_lift rows from per-member outcomes (campaign_customer_outcomes columns)."""
    if outcomes.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in LIFT_COLUMNS})
    frame = pd.concat([outcomes, outcomes.assign(segment="all")], ignore_index=True)
    frame["segment"] = frame["segment"].fillna("(none)")
    frame["revenue"] = frame["attributed_revenue"].astype(float)
    frame["converted"] = frame["converted"].astype(bool)
    keys = ["campaign_id", "send_date", "segment"]
    rows = []
    samples = int(setting("evaluation_bootstrap_samples"))
    confidence = float(setting("evaluation_confidence"))
    for key, group in frame.groupby(keys, sort=True):
        treated = group[group["treatment_group"] == "treatment"]
        control = group[group["treatment_group"] == "holdout"]
        rows.append({
            **dict(zip(keys, key)),
            "treated": len(treated), "control": len(control),
            "treated_conversions": int(treated["converted"].sum()), "control_conversions": int(control["converted"].sum()),
            "treated_revenue_per_customer": treated["revenue"].mean() if len(treated) else np.nan,
            "control_revenue_per_customer": control["revenue"].mean() if len(control) else np.nan,
            "window_complete": bool(group["window_complete"].fillna(False).all()),
            "as_of_date": group["as_of_date"].max(),
            "treated_revenue_values": treated["revenue"].to_numpy(), "control_revenue_values": control["revenue"].to_numpy(),
        })
    table = pd.DataFrame(rows)
    stats_ = lift(table["treated_conversions"], table["treated"], table["control_conversions"], table["control"],
                  confidence=confidence)
    for name, values in stats_.items():
        table[name] = values
    table["revenue_per_customer_lift"] = np.where(
        table["status"] == OK, table["treated_revenue_per_customer"] - table["control_revenue_per_customer"], np.nan)
    lows, highs, seeds = [], [], []
    for row in table.itertuples(index=False):
        seed = _seed_for(row.campaign_id, row.send_date, row.segment)
        seeds.append(seed)
        if row.status == OK:
            low, high = bootstrap_mean_difference(row.treated_revenue_values, row.control_revenue_values, seed, samples, confidence)
        else:
            low, high = np.nan, np.nan
        lows.append(low)
        highs.append(high)
    table["revenue_per_customer_lift_ci_low"] = lows
    table["revenue_per_customer_lift_ci_high"] = highs
    table["confidence_level"] = confidence
    table["ci_method"] = CI_METHOD
    table["bootstrap_samples"] = samples
    table["bootstrap_seed"] = seeds
    return table[LIFT_COLUMNS].reset_index(drop=True)


def _table_exists(con, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()[0][0])


def compute_lift(warehouse: Path) -> pd.DataFrame:
    """Reads main.campaign_customer_outcomes, writes main.campaign_lift (replaced), returns it."""
    with connect(warehouse, read_only=True) as con:
        if not _table_exists(con, "main", "campaign_customer_outcomes"):
            raise LaokeError(f"{warehouse}: main.campaign_customer_outcomes does not exist (run `laoke evaluate`)")
        outcomes = con.execute("""
            select campaign_id, send_date, segment, treatment_group, converted, attributed_revenue,
                   window_complete, as_of_date
            from main.campaign_customer_outcomes
            order by campaign_id, send_date, customer_id
        """).df()
    table = lift_table(outcomes)
    with connect(warehouse) as con:
        con.register("_lift", table)
        con.execute("""
            create or replace table main.campaign_lift as
            select
                cast(campaign_id as varchar) as campaign_id, cast(send_date as date) as send_date,
                cast(segment as varchar) as segment, cast(status as varchar) as status,
                cast(treated as integer) as treated, cast(control as integer) as control,
                cast(treated_conversions as integer) as treated_conversions,
                cast(control_conversions as integer) as control_conversions,
                cast(treated_rate as double) as treated_rate, cast(control_rate as double) as control_rate,
                cast(absolute_lift as double) as absolute_lift,
                cast(absolute_lift_ci_low as double) as absolute_lift_ci_low,
                cast(absolute_lift_ci_high as double) as absolute_lift_ci_high,
                cast(relative_lift as double) as relative_lift,
                cast(relative_lift_ci_low as double) as relative_lift_ci_low,
                cast(relative_lift_ci_high as double) as relative_lift_ci_high,
                cast(p_value as double) as p_value,
                cast(minimum_detectable_lift as double) as minimum_detectable_lift,
                cast(treated_revenue_per_customer as double) as treated_revenue_per_customer,
                cast(control_revenue_per_customer as double) as control_revenue_per_customer,
                cast(revenue_per_customer_lift as double) as revenue_per_customer_lift,
                cast(revenue_per_customer_lift_ci_low as double) as revenue_per_customer_lift_ci_low,
                cast(revenue_per_customer_lift_ci_high as double) as revenue_per_customer_lift_ci_high,
                cast(confidence_level as double) as confidence_level, cast(ci_method as varchar) as ci_method,
                cast(bootstrap_samples as integer) as bootstrap_samples, cast(bootstrap_seed as bigint) as bootstrap_seed,
                cast(window_complete as boolean) as window_complete, cast(as_of_date as date) as as_of_date
            from _lift
            order by campaign_id, send_date, segment
        """)
        con.unregister("_lift")
    return table


def evaluate(warehouse: Path) -> pd.DataFrame:
    """`laoke evaluate`: rebuild the evaluation marts (and contact_preferences, which reads the
    replies) with dbt on the warehouse as built, then campaign_lift. Returns the lift table."""
    from laoke.dbt import run_dbt

    with connect(warehouse) as con:
        from laoke.results import ensure_results_tables
        from laoke.send_lists import ensure_ledger

        ensure_ledger(con)
        ensure_results_tables(con)
        if not _table_exists(con, "intermediate", "int_as_of"):
            raise LaokeError(f"{warehouse}: not built yet (run `laoke build` first)")
        as_of, load_date = con.execute("select as_of_date, load_date from intermediate.int_as_of").fetchall()[0]
    run_dbt("build", warehouse, {"as_of": as_of.isoformat(), "load_date": load_date.isoformat()},
            ["--select", "path:models/evaluation", "contact_preferences", "--exclude-resource-type", "unit_test"])
    return compute_lift(warehouse)


def lift_for(warehouse: Path, campaign_id: str, send_date: date | None = None) -> pd.DataFrame:
    """The campaign_lift rows of one list (its latest send date by default)."""
    with connect(warehouse, read_only=True) as con:
        if not _table_exists(con, "main", "campaign_lift"):
            raise LaokeError(f"{warehouse}: main.campaign_lift does not exist (run `laoke evaluate`)")
        return con.execute("""
            select * from main.campaign_lift
            where campaign_id = $c
              and send_date = coalesce($d, (select max(send_date) from main.campaign_lift where campaign_id = $c))
            order by segment = 'all' desc, segment
        """, {"c": campaign_id, "d": send_date}).df()
