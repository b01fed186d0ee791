"""Runs every dbt unit test (one per DOMAIN.md rule) once, against the built demo warehouse.

dbt unit tests need the upstream relations to exist, so they run after the session's build; one
`dbt test` for all of them keeps dbt's start-up cost to once per session.
"""

from laoke.dbt import run_dbt


def test_every_dbt_unit_test_passes(demo_warehouse):
    results = run_dbt("test", demo_warehouse, extra=["--select", "test_type:unit"])
    # the results also hold the project's on-run-start hook
    unit_tests = [r for r in results["results"] if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 15, [r["unique_id"] for r in results["results"]]
    assert all(r["status"] == "pass" for r in unit_tests)


def test_a_store_with_its_own_tiers_builds_and_checks_them(demo_warehouse, tmp_path):
    """The tier names' data test follows the tiers var: a store with two tiers of its own builds,
    and member_tiers names them as customers read them."""
    import shutil

    import duckdb

    from laoke.build import build_vars

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_warehouse, warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        as_of = con.execute("select as_of_date from intermediate.int_as_of").fetchone()[0]
    tiers = [
        {"tier": "member", "rank": 1, "min_spend": 0, "discount_rate": 0.0, "free_shipping_count": 1,
         "free_shipping_months": 3, "display_name": "会员"},
        {"tier": "gold", "rank": 2, "min_spend": 500, "discount_rate": 0.05, "free_shipping_count": 1,
         "free_shipping_months": 1, "display_name": "金卡"},
    ]
    run_dbt("build", warehouse, {**build_vars(as_of, as_of), "tiers": tiers, "fast_upgrade_tier": "gold"},
            ["--select", "int_member_tier_days member_tier_history int_member_tier_latest member_tiers", "--exclude-resource-type", "unit_test"])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = dict(con.execute("select distinct tier, tier_display_name from main.member_tiers").fetchall())
    assert names == {"member": "会员", "gold": "金卡"}
