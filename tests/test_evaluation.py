"""Evaluation: lift statistics, their calibration, the simulator, and the evaluation marts end to end."""

from __future__ import annotations

import importlib.util
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from laoke.evaluation import NOT_ENOUGH_DATA, OK, bootstrap_mean_difference, lift, lift_table

TRUE_UPLIFT = 0.01
ROOT = Path(__file__).resolve().parent.parent


def _calibration_module():
    spec = importlib.util.spec_from_file_location("calibration", ROOT / "benchmarks" / "calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the statistics --------------------------------------------------------------------------------


def test_newcombe_interval_matches_the_published_values():
    """Newcombe (1998), Statistics in Medicine 17:873-890, table II, method 10."""
    r = lift([56, 9, 5, 0], [70, 10, 56, 10], [48, 3, 0, 0], [80, 10, 29, 20], min_group_size=0, min_conversions=0)
    np.testing.assert_allclose(r["absolute_lift_ci_low"], [0.0524, 0.1705, -0.0381, -0.1611], atol=5e-5)
    np.testing.assert_allclose(r["absolute_lift_ci_high"], [0.3339, 0.8090, 0.1926, 0.2775], atol=5e-5)


def test_p_value_is_the_two_proportion_z_test():
    x_t, n_t, x_c, n_c = 60, 2000, 20, 1000
    r = lift([x_t], [n_t], [x_c], [n_c])
    chi2, p, _, _ = stats.chi2_contingency([[x_t, n_t - x_t], [x_c, n_c - x_c]], correction=False)
    assert r["p_value"][0] == pytest.approx(p, rel=1e-9)
    assert r["absolute_lift"][0] == pytest.approx(0.01)
    assert r["relative_lift"][0] == pytest.approx(0.5)
    assert r["relative_lift_ci_low"][0] < 0.5 < r["relative_lift_ci_high"][0]


def test_small_groups_give_not_enough_data_instead_of_numbers():
    r = lift([10, 10, 2, 10], [29, 100, 100, 100], [5, 5, 2, 0], [100, 29, 100, 100])
    assert r["status"].tolist() == [NOT_ENOUGH_DATA, NOT_ENOUGH_DATA, NOT_ENOUGH_DATA, OK]
    assert np.isnan(r["absolute_lift"][:3]).all() and np.isnan(r["p_value"][:3]).all()
    assert r["treated_rate"][0] == pytest.approx(10 / 29)  # counts and raw rates are still given
    assert r["p_value"][3] < 0.01


def test_bootstrap_is_deterministic_and_covers_the_difference():
    rng = np.random.default_rng(1)
    treated = np.where(rng.random(5000) < 0.04, 100.0, 0.0)
    control = np.where(rng.random(1000) < 0.02, 100.0, 0.0)
    first = bootstrap_mean_difference(treated, control, seed=5, samples=2000)
    assert first == bootstrap_mean_difference(treated, control, seed=5, samples=2000)
    assert first != bootstrap_mean_difference(treated, control, seed=6, samples=2000)
    low, high = first
    assert low < treated.mean() - control.mean() < high
    se = np.sqrt(treated.var() / len(treated) + control.var() / len(control))
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_lift_table_rolls_up_segments_and_is_deterministic():
    rng = np.random.default_rng(3)
    n = 4000
    group = np.where(rng.random(n) < 0.2, "holdout", "treatment")
    converted = rng.random(n) < np.where(group == "treatment", 0.05, 0.03)
    outcomes = pd.DataFrame({
        "campaign_id": "c", "send_date": pd.Timestamp("2024-06-10"),
        "segment": np.where(rng.random(n) < 0.5, "a", "tiny"), "treatment_group": group, "converted": converted,
        "attributed_revenue": np.where(converted, 100.0, 0.0), "window_complete": True,
        "as_of_date": pd.Timestamp("2024-06-17"),
    })
    outcomes.loc[(outcomes["segment"] == "tiny") & (outcomes["treatment_group"] == "holdout"), "segment"] = "a"
    table = lift_table(outcomes)
    assert table["segment"].tolist() == ["a", "all", "tiny"]
    assert table.set_index("segment").loc["tiny", "status"] == NOT_ENOUGH_DATA  # no holdout at all
    everyone = table.set_index("segment").loc["all"]
    assert everyone["treated"] + everyone["control"] == n
    assert everyone["status"] == OK and everyone["absolute_lift_ci_low"] > 0
    pd.testing.assert_frame_equal(table, lift_table(outcomes))


def test_calibration_95_percent_intervals_cover_the_true_uplift():
    calibration = _calibration_module()
    figure = calibration.calibrate(200)
    assert figure["coverage"] >= 0.93, figure
    large = calibration.calibrate(5000, seed=99)
    assert 0.94 <= large["coverage"] <= 0.97, large
    assert abs(large["bias_points"]) < 0.02, large
    assert large["false_positive_rate"] <= 0.07, large


# --- the simulator on the demo store (read only) ----------------------------------------------------


@pytest.fixture(scope="module")
def winback_members(demo_warehouse):
    """The winback_coupon list of the demo store with each member's history (nothing written)."""
    from laoke.campaigns import get_campaign
    from laoke.send_lists import build_send_list
    from laoke.simulate import member_history

    campaign = get_campaign("winback_coupon")
    send_list = build_send_list(campaign, demo_warehouse)
    with duckdb.connect(str(demo_warehouse), read_only=True) as con:
        history = member_history(con, send_list.recipients[["customer_id", "treatment_group"]], send_list.send_date)
    return history, campaign.attribution_window_days


def test_baseline_conversion_depends_on_history(winback_members):
    from laoke.simulate import base_probability

    history, window = winback_members
    p = base_probability(history, window)
    recent = history["days_since_last_purchase"] <= 90
    assert p.min() > 0 and p.max() < 0.2
    assert p[recent.to_numpy()].mean() > p[~recent.to_numpy()].mean()
    repeat = (history["purchase_orders"] > 3).to_numpy()
    assert p[repeat].mean() > p[~repeat].mean()


def test_with_uplift_zero_the_p_value_is_not_small_in_most_runs(winback_members):
    from laoke.simulate import draw_outcomes

    history, window = winback_members
    treated = (history["treatment_group"] == "treatment").to_numpy()
    rng = np.random.default_rng(2024)
    p_values = []
    for _ in range(40):
        converted = draw_outcomes(history, 0.0, window, rng)["converted"].to_numpy()
        r = lift([converted[treated].sum()], [treated.sum()], [converted[~treated].sum()], [(~treated).sum()])
        if r["status"][0] == OK:
            p_values.append(r["p_value"][0])
    assert len(p_values) >= 30
    assert np.mean(np.array(p_values) >= 0.05) >= 0.85


def test_seed_001_recent_buyers_convert_worse_and_the_exclusion_removes_it(demo_warehouse):
    from laoke.simulate import recent_buyer_comparison

    table = recent_buyer_comparison(demo_warehouse, "recent_buyers_trap", uplift=TRUE_UPLIFT, runs=400, seed=1)
    off, on = table.iloc[0], table.iloc[1]
    assert (off["exclude_recent_buyers_days"], on["exclude_recent_buyers_days"]) == (0, 7)
    assert off["recent_buyers_sent"] > 0 and on["recent_buyers_sent"] == 0
    # Sending to who just bought lowers the treated conversion rate and eats the lift ...
    assert off["treated_conversion_rate"] < on["treated_conversion_rate"]
    assert off["expected_treated_conversion_rate"] < on["expected_treated_conversion_rate"]
    assert off["effect_on_treated"] < on["effect_on_treated"] - 0.005
    # ... and with the 7-day exclusion on, the messages' effect is the true uplift again.
    assert on["effect_on_treated"] == pytest.approx(TRUE_UPLIFT, abs=1e-9)


# --- end to end: exported list -> simulated results -> evaluation marts -> lift --------------------


@pytest.fixture(scope="module")
def evaluated(demo_landing, demo_warehouse, tmp_path_factory):
    """A copy of the demo store: winback_coupon exported, simulated with a true uplift of +1.0
    point, receipts and replies pulled, rebuilt as of the window's end, lift computed."""
    from exports.send_list_export import export_send_list
    from laoke.build import build_warehouse
    from laoke.campaigns import get_campaign
    from laoke.evaluation import compute_lift
    from laoke.results import ensure_results_tables, load_receipts, load_replies
    from laoke.send_lists import build_send_list, ensure_ledger
    from laoke.simulate import simulate_campaign, simulate_outcomes

    root = tmp_path_factory.mktemp("evaluated")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    shutil.copytree(demo_landing, landing)
    shutil.copyfile(demo_warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        ensure_ledger(con)
        ensure_results_tables(con)
    export_send_list(build_send_list(get_campaign("winback_coupon"), warehouse), warehouse, root / "exports", gate=False)
    outcomes, _, _ = simulate_outcomes(warehouse, "winback_coupon", TRUE_UPLIFT, seed=3)
    lines_before = len((landing / "orders.csv").read_bytes().splitlines())
    for _ in range(2):  # a rerun replaces its own orders
        sim = simulate_campaign(warehouse, landing, "winback_coupon", TRUE_UPLIFT, root / "results", seed=3, rebuild=False)
    lines_after = len((landing / "orders.csv").read_bytes().splitlines())
    receipts = load_receipts(warehouse, sim.receipts_file, "winback_coupon")
    replies = load_replies(warehouse, sim.replies_file)
    build_warehouse(landing, warehouse, as_of=sim.as_of_after, load_date=sim.as_of_after)
    lift_rows = compute_lift(warehouse)
    return {"warehouse": warehouse, "sim": sim, "outcomes": outcomes, "receipts": receipts, "replies": replies,
            "lift": lift_rows, "orders_lines_added": lines_after - lines_before}


def test_simulation_is_idempotent_and_as_documented(evaluated):
    sim = evaluated["sim"]
    assert evaluated["orders_lines_added"] == sim.orders_added > 0
    assert sim.as_of_after == sim.send_date + timedelta(days=7)
    receipts = evaluated["receipts"]
    assert receipts.rows_rejected == 0 and receipts.rows_loaded == sim.treated
    assert 0.9 < receipts.counts["delivered"] / sim.treated < 0.99


def test_attribution_in_the_warehouse_matches_the_simulated_conversions(evaluated):
    outcomes = evaluated["outcomes"]
    with duckdb.connect(str(evaluated["warehouse"]), read_only=True) as con:
        results = con.execute("select * from main.campaign_results where campaign_id = 'winback_coupon'").df()
        member = con.execute("select customer_id, converted from main.campaign_customer_outcomes "
                             "where campaign_id = 'winback_coupon'").df()
    merged = outcomes.merge(member, on="customer_id", suffixes=("_simulated", "_warehouse"))
    assert len(merged) == len(outcomes)
    assert (merged["converted_simulated"] == merged["converted_warehouse"]).all()
    everyone = results[results["segment"] == "all"].set_index("treatment_group")
    treated = outcomes["treatment_group"] == "treatment"
    assert everyone.loc["treatment", "sent"] == treated.sum()
    assert everyone.loc["holdout", "targeted"] == (~treated).sum()
    assert everyone.loc["treatment", "delivered"] == evaluated["receipts"].counts["delivered"]
    assert everyone.loc["treatment", "converted"] == outcomes.loc[treated, "converted"].sum()
    assert everyone.loc["treatment", "cost"] == pytest.approx(0.05 * treated.sum())
    assert bool(everyone["window_complete"].all())
    per_segment = results[results["segment"] != "all"].groupby("treatment_group")["converted"].sum()
    assert per_segment["treatment"] == everyone.loc["treatment", "converted"]


def test_with_a_true_uplift_of_one_point_the_ci_covers_it(evaluated):
    row = evaluated["lift"].set_index(["campaign_id", "segment"]).loc[("winback_coupon", "all")]
    assert row["status"] == OK
    assert row["absolute_lift_ci_low"] <= TRUE_UPLIFT <= row["absolute_lift_ci_high"]
    assert row["revenue_per_customer_lift_ci_low"] <= row["revenue_per_customer_lift"] <= row["revenue_per_customer_lift_ci_high"]
    assert bool(row["window_complete"])


def test_opt_out_replies_reach_contact_preferences_after_the_build(evaluated):
    with duckdb.connect(str(evaluated["warehouse"]), read_only=True) as con:
        phones = con.execute("select phone_e164 from campaigns.replies where reply_class = 'opt_out'").fetchall()
        prefs = con.execute("select e164, is_opted_out, latest_consent_source from restricted.contact_preferences "
                            "where latest_consent_source = 'reply'").df()
        opted = con.execute("select sum(opt_outs) from main.campaign_results "
                            "where campaign_id = 'winback_coupon' and segment = 'all'").fetchone()[0]
    assert {p[0] for p in phones} <= set(prefs.loc[prefs["is_opted_out"], "e164"])
    assert opted == len(phones)


def test_campaign_lift_table_has_the_documented_columns(evaluated):
    from laoke.evaluation import LIFT_COLUMN_DOCS, lift_for

    with duckdb.connect(str(evaluated["warehouse"]), read_only=True) as con:
        columns = [r[0] for r in con.execute("describe main.campaign_lift").fetchall()]
    assert columns == list(LIFT_COLUMN_DOCS)
    rows = lift_for(evaluated["warehouse"], "winback_coupon")
    assert rows["segment"].iloc[0] == "all" and set(rows["segment"]) > {"all"}


def test_evaluation_tables_show_no_raw_phones(evaluated):
    import re

    mobile = re.compile(r"1[3-9]\d{9}")
    with duckdb.connect(str(evaluated["warehouse"]), read_only=True) as con:
        columns = con.execute("select table_name, column_name from information_schema.columns where table_schema = 'main' "
                              "and table_name like 'campaign_%' and data_type = 'VARCHAR'").fetchall()
        assert {t for t, _ in columns} >= {"campaign_results", "campaign_customer_outcomes", "campaign_lift"}
        for table, column in columns:
            values = [v for (v,) in con.execute(f'select distinct "{column}" from main."{table}" where "{column}" is not null').fetchall()]
            assert not [v for v in values if mobile.search(v)], f"main.{table}.{column} shows phones"
