"""Partial builds (`dbt build --select`) of the customer-history models give the full-refresh answer.

The customer-history models (macros/customer_history_scope.sql) recompute only the customers whose
orders changed. A partial build can leave them behind what they read: int_orders_resolved built
twice without them (a missed build), a model built before the model it reads, a rule var changed
before the model that applies it was built with it. Each test builds a small store that way, then
as a whole, and checks the rows equal a full refresh. The tests run in this order on one
warehouse, each on the state the one before left.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from warehouse_timeline import (END, assert_equal_to_its_full_refresh, build, built_store, copy_day, query,
                                read_rows, single_survivors, snapshot, write_rows)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return built_store(tmp_path_factory.mktemp("partial_builds"))


CUSTOMER_HISTORIES = ("intermediate.int_member_tier_days", "intermediate.int_customer_purchase_days",
                      "intermediate.int_customer_purchase_summary", "main.member_tier_history",
                      "intermediate.int_member_tier_latest")


def merge_then_refund(landing: Path, warehouse: Path, day: date, new_id: str, first_select: str,
                      second_select: str | None) -> None:
    """A customer's only order moves to `new_id` (a customers row with the same phone, registered
    earlier) in a build of `first_select`, then is resolved again (a refund line) in a build of
    `second_select` (None: everything), then everything is built; checks that every customer
    history holds the order under `new_id` and nothing of the first customer."""
    _, lines = read_rows(landing / "order_lines.csv")
    ordered = {line["order_id"] for line in lines}
    only_order = {c: o for c, o in query(warehouse, """
        select customer_id, min(order_key) from intermediate.int_orders_resolved
        group by customer_id having count(*) = 1 and bool_and(is_purchase and source_customer_id = customer_id)""")}
    first = next(c for c in single_survivors(landing, warehouse, 400)
                 if only_order.get(c["customer_id"]) in ordered)
    customer, order = first["customer_id"], only_order[first["customer_id"]]
    assert query(warehouse, "select count(*) from intermediate.int_member_tier_days where customer_id = ?", [customer])[0][0] > 0

    customers_header, _ = read_rows(landing / "customers.csv")
    write_rows(landing / f"customers_{day:%Y%m%d}.csv", customers_header,
               [dict(first, customer_id=new_id, registered_at="2000-01-01 00:00:00")])
    build(landing, warehouse, day, full=False, select=first_select)
    assert query(warehouse, "select customer_id, _previous_customer_id from intermediate.int_orders_resolved "
                            "where order_key = ?", [order]) == [(new_id, customer)]
    lines_header, _ = read_rows(landing / "order_lines.csv")
    products = {p for (p,) in query(warehouse, "select product_id from intermediate.int_products_checked "
                                               "where rejection_reason is null")}
    refund = dict(next(line for line in lines if line["order_id"] == order and line["product_id"] in products),
                  quantity="-1", amount="-1.00", line_id=f"refund-for-{new_id}")
    write_rows(landing / f"order_lines_{day:%Y%m%d}.csv", lines_header, [refund])
    build(landing, warehouse, day, full=False, select=second_select)
    assert query(warehouse, "select customer_id, _previous_customer_id from intermediate.int_orders_resolved "
                            "where order_key = ?", [order]) == [(new_id, new_id)]
    build(landing, warehouse, day, full=False)
    for table in CUSTOMER_HISTORIES:  # every customer history moved the order to new_id
        assert query(warehouse, f"select count(*) from {table} where customer_id = ?", [customer]) == [(0,)], table
        assert query(warehouse, f"select count(*) from {table} where customer_id = ?", [new_id])[0][0] > 0, table


def test_a_missed_build_of_resolved_orders_rebuilds_the_customer_histories(store):
    """int_orders_resolved built twice without the models after it (a partial build, or models
    skipped after a failed test): a customer's only order moves to a new id (merge), then is
    resolved again (a refund line). _previous_customer_id now names the new id only, so the
    customer-keyed models that read it (member tier days, purchase days) must rebuild in full
    to take the order away from its first customer."""
    root, landing, warehouse = store
    merge_then_refund(landing, warehouse, END + timedelta(days=1), "C-GUARD-NEW",
                      first_select="+int_orders_resolved", second_select="+int_orders_resolved")


def test_a_summary_built_before_the_purchase_days_it_reads_catches_up(store):
    """(After the missed-build test, whose builds were as of END + 1.) A partial `--select`
    builds int_customer_purchase_summary but not the purchase days it reads, first with new
    orders on or before as_of, then with as_of moved over orders after it: each time the summary
    is computed from the older purchase days, and the next whole build makes it equal to a full
    refresh (the summary's state records what the purchase days had seen, not what it saw)."""
    root, landing, warehouse = store
    as_of, day = END + timedelta(days=1), END + timedelta(days=2)
    partial = "+int_orders_resolved int_as_of int_customer_purchase_summary"
    orders_header, base_orders = read_rows(landing / "orders.csv")
    lines_header, _ = read_rows(landing / "order_lines.csv")
    busiest = [date.fromisoformat(d) for d, _ in
               Counter(o["ordered_at"][:10] for o in base_orders if o["ordered_at"]).most_common(2)]
    before_as_of, before_lines = copy_day(landing, busiest[0], as_of - timedelta(days=1), "PS-A-")
    after_as_of, after_lines = copy_day(landing, busiest[1], day, "PS-B-")
    write_rows(landing / f"orders_{day:%Y%m%d}.csv", orders_header, before_as_of + after_as_of)
    write_rows(landing / f"order_lines_{day:%Y%m%d}.csv", lines_header, before_lines + after_lines)

    def orders_in_summary(orders: list[dict]) -> int:
        """Purchase orders in the summary rows of these orders' (surviving) customers."""
        ids = sorted({o["customer_id"] for o in orders})
        return query(warehouse, f"""
            select coalesce(sum(purchase_orders), 0) from intermediate.int_customer_purchase_summary
            where customer_id in (select survivor_customer_id from intermediate.int_customer_identity
                                  where customer_id in ({', '.join('?' * len(ids))}))""", ids)[0][0]

    # 1. new orders dated before as_of: resolved, summary built, purchase days not
    stale = orders_in_summary(before_as_of)
    build(landing, warehouse, day, full=False, as_of=as_of, select=partial)
    assert query(warehouse, "select count(*) from intermediate.int_orders_resolved "
                            "where order_key like 'PS-A-%'")[0][0] > 0
    assert orders_in_summary(before_as_of) == stale  # computed from the purchase days of before
    build(landing, warehouse, day, full=False, as_of=as_of)
    assert orders_in_summary(before_as_of) > stale
    assert_equal_to_its_full_refresh(warehouse, "intermediate.int_customer_purchase_summary")

    # 2. as_of moves over the orders dated after it: summary built, purchase days not
    stale = orders_in_summary(after_as_of)
    build(landing, warehouse, day, full=False, as_of=day, select=partial)
    assert orders_in_summary(after_as_of) == stale
    build(landing, warehouse, day, full=False, as_of=day)
    assert orders_in_summary(after_as_of) > stale
    assert_equal_to_its_full_refresh(warehouse, "intermediate.int_customer_purchase_summary")


def test_histories_built_without_what_they_read_then_a_missed_build(store):
    """(After the catch-up test, as of END + 2.) The merge of the missed-build test built with
    the purchase summary, tier history and latest tier but not the purchase and tier days they
    read, then the refund line in a whole build: the days have missed a build of
    int_orders_resolved and rebuild in full; the models that read them recorded the build count
    the days had seen, not their own, so they rebuild in full too (else the order's first
    customer, named by no _previous_customer_id any more, would keep it)."""
    root, landing, warehouse = store
    day = END + timedelta(days=3)
    merge_then_refund(
        landing, warehouse, day, "C-GUARD2-NEW",
        first_select="+int_orders_resolved int_as_of int_customer_purchase_summary member_tier_history int_member_tier_latest",
        second_select=None)


def test_a_rule_var_changed_before_the_tier_days_were_built_with_it(store):
    """A new fast_upgrade_min_order (a rule of the tier days) with only the tier history built:
    the history is computed from the tier days of the old rule, and when the tier days are built
    with the new rule the history rebuilds in full (its fingerprint holds the one the tier days
    recorded, not their rules as the project files have them now)."""
    from laoke.build import build_vars
    from laoke.dbt import run_dbt

    root, landing, warehouse = store
    (as_of, load_date), = query(warehouse, "select as_of_date, load_date from intermediate.int_as_of")
    changed = dict(build_vars(as_of, load_date), fast_upgrade_min_order=0)
    histories = ["int_member_tier_days", "member_tier_history", "int_member_tier_latest"]
    only = ["--exclude-resource-type", "unit_test", "--select"]
    before = snapshot(warehouse)
    run_dbt("build", warehouse, changed, only + ["member_tier_history", "int_member_tier_latest"])
    run_dbt("build", warehouse, changed, only + histories)
    incremental = snapshot(warehouse)
    run_dbt("build", warehouse, changed, only + histories + ["--full-refresh"])
    full = snapshot(warehouse)
    for table in ("main.member_tier_history", "intermediate.int_member_tier_latest"):
        assert full[table] != before[table], f"{table}: the new rule changes nothing here, the test proves nothing"
        assert incremental[table] == full[table], table
    # (the last test here: the tier models keep the new rule)
