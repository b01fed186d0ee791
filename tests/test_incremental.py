"""Incremental builds give the full-refresh answer.

A small store is built in full; then days are appended as new landing files (orders_YYYYMMDD.csv,
order_lines_..., customers_..., a folder part orders/...) and each time the warehouse is built
incrementally (only new files loaded, only new rows parsed, order-level models updated in place)
and compared, table by table, with a fresh full-refresh build of the same landing folder. The
scenarios cover the cases that make incrementality hard: a duplicate order id in a later file (the
first occurrence wins), a file that sorts before the ones already loaded, a customer merge caused
by a later customers file, a refund line for an old order, an order that was a future timestamp
and no longer is, a landing file changed in place, and a file removed. The checked models of
order lines, points and customers parse only new rows too: a line whose order is rejected today
and accepted tomorrow, a line before its order, repeated line and customer keys (in a part that
sorts first, too), future points, birthdays and registrations, a build with nothing new, and new
products (a full rebuild of the lines). Identity and profiles recompute only the people a day
touches: a new id with an old phone, a merge undone by a customers part that sorts first, an id
with orders only that later gets a customers row, an order taken over by another id, and a
warehouse whose identity was built before it was incremental. A changed rule var (up-sell price
ratio, max_order_amount) decides everything again.

The loader's own incremental behaviour and its fast path for clean CSV (DuckDB's reader) are
checked here too, without dbt.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warehouse_timeline import (END, LATEST_ONLY, build, built_store, copy_day, query, read_rows,
                                single_survivors, snapshot, write_rows)

from laoke.landing import find_landing_files, find_landing_parts, load_landing

# Models that parse only the rows of new landing files; STAMPS holds, per build, each one's newest
# `_built` before it, so a test can count the rows a build decided.
CHECKED_MODELS = ("int_order_lines_checked", "int_points_checked", "int_customers_checked")
STAMPS: dict[str, dict[str, object]] = {}
CHANGE_LOG: dict[str, object] = {}  # the newest change-log stamp after a build


# --- helpers -------------------------------------------------------------------------------------


def assert_same_as_full_refresh(landing: Path, incremental: Path, tmp: Path, day: date,
                                ignore: frozenset[str] = frozenset(), as_of: date | None = None) -> None:
    reference = tmp / f"reference_{day:%Y%m%d}.duckdb"
    build(landing, reference, day, full=True, as_of=as_of)
    got, expected = snapshot(incremental), snapshot(reference)
    assert got.keys() == expected.keys()
    different = sorted(name for name in expected if got[name] != expected[name] and name not in ignore)
    assert not different, f"differ from a full refresh: {different}"


def build_incrementally(landing: Path, warehouse: Path, day: date, label: str) -> None:
    STAMPS[label] = {model: query(warehouse, f"select max(_built) from intermediate.{model}")[0][0]
                     for model in CHECKED_MODELS}
    build(landing, warehouse, day, full=False)


def decided(warehouse: Path, model: str, label: str, where: str = "true") -> int:
    """Rows of `model` the build `label` parsed or decided again."""
    return query(warehouse, f"select count(*) from intermediate.{model} "
                            f"where _built > cast('{STAMPS[label][model]}' as timestamp) and ({where})")[0][0]


def last_build_share(warehouse: Path, model: str) -> float:
    """Share of `model`'s rows the last build wrote (those with the newest `_built`)."""
    written, rows = query(warehouse, f"select count(*) filter (where _built = (select max(_built) from intermediate.{model})), "
                                     f"count(*) from intermediate.{model}")[0]
    return written / rows


def total(warehouse: Path, model: str) -> int:
    return query(warehouse, f"select count(*) from intermediate.{model}")[0][0]


def decisions(warehouse: Path, model: str, where: str) -> list[tuple]:
    return query(warehouse, f"select source_file, rejection_reason from intermediate.{model} "
                            f"where {where} order by source_file, source_row")


# --- the timeline -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return built_store(tmp_path_factory.mktemp("incremental"))


@pytest.fixture(scope="module")
def day_one(store):
    """A plain day: new orders and their lines in dated files; one of them dated the day after
    (a future timestamp today, a purchase tomorrow)."""
    root, landing, warehouse = store
    day = END + timedelta(days=1)
    orders, lines = copy_day(landing, END, day, "D1-")
    header, _ = read_rows(landing / "orders.csv")
    tomorrow = dict(orders[0], order_id="D1-TOMORROW", ordered_at=(day + timedelta(days=1)).isoformat() + " 09:00:00",
                    status="paid")
    write_rows(landing / f"orders_{day:%Y%m%d}.csv", header, orders + [tomorrow])
    # lines: one of the future order, one of an order that comes tomorrow, a repeat of an old
    # accepted line's key, one without an order id
    lines_header, base_lines = read_rows(landing / "order_lines.csv")
    (old_order, old_line_id), = query(warehouse, "select order_id, line_id from intermediate.int_order_lines_checked "
                                                 "where rejection_reason is null and line_id is not null "
                                                 "order by source_row limit 1")
    repeated = next(line for line in base_lines if line["order_id"] == old_order and line["line_id"] == old_line_id)
    extra_lines = [dict(lines[0], order_id="D1-TOMORROW", line_id="1"), dict(lines[0], order_id="D2-LATE", line_id="1"),
                   dict(repeated), dict(lines[0], order_id="", line_id="1")]
    write_rows(landing / f"order_lines_{day:%Y%m%d}.csv", lines_header, lines + extra_lines)
    # points: today's, tomorrow's (a future timestamp today), one that is not a number
    points_header, base_points = read_rows(landing / "points.csv")
    write_rows(landing / f"points_{day:%Y%m%d}.csv", points_header, [
        dict(base_points[0], occurred_at=f"{day} 10:00:00", points="5", order_id=""),
        dict(base_points[0], occurred_at=f"{day + timedelta(days=1)} 10:00:00", points="7", order_id=""),
        dict(base_points[0], occurred_at=f"{day} 11:00:00", points="x", order_id=""),
    ])
    # customers: a member born and registered tomorrow, a repeated id
    customers_header, base_customers = read_rows(landing / "customers.csv")
    write_rows(landing / f"customers_{day:%Y%m%d}.csv", customers_header, [
        dict(base_customers[0], customer_id="C-D1-NEW", phone="", name="明天", birthday=str(day + timedelta(days=1)),
             registered_at=f"{day + timedelta(days=1)} 09:00:00"),
        dict(base_customers[1], name="重复"),
    ])
    build_incrementally(landing, warehouse, day, "day_one")
    return day


def test_a_new_day_is_built_incrementally_and_equals_a_full_refresh(store, day_one, tmp_path):
    root, landing, warehouse = store
    # only the new files were parsed, and order rows were appended, not rebuilt
    assert query(warehouse, "select count(*) from intermediate.int_orders_checked where not _reprocessed "
                            f"and source_file = 'orders_{day_one:%Y%m%d}.csv'")[0][0] > 0
    assert query(warehouse, "select bool_or(_full_build), bool_and(not _full_build) "
                            "from intermediate.int_orders_resolved where order_key like 'D1-%'") == [(False, True)]
    assert query(warehouse, "select rejection_reason from intermediate.int_orders_checked "
                            "where order_key = 'D1-TOMORROW'") == [("future_timestamp",)]
    assert_same_as_full_refresh(landing, warehouse, tmp_path, day_one)


def test_a_new_day_parses_only_new_lines_points_and_customers(store, day_one):
    root, landing, warehouse = store
    files = {model: f"{table}_{day_one:%Y%m%d}.csv" for model, table in
             zip(CHECKED_MODELS, ("order_lines", "points", "customers"))}
    for model, new_file in files.items():
        # the new file's rows were parsed (not decided again), and little else was decided
        new_rows = total(warehouse, model) - query(warehouse, f"select count(*) from intermediate.{model} "
                                                              f"where source_file <> '{new_file}'")[0][0]
        assert new_rows > 0
        assert decided(warehouse, model, "day_one", f"source_file = '{new_file}' and not _reprocessed") == new_rows
        assert decided(warehouse, model, "day_one", f"source_file <> '{new_file}'") < total(warehouse, model) / 20, model
    assert decisions(warehouse, "int_order_lines_checked", "order_id in ('D1-TOMORROW', 'D2-LATE')") == [
        (files["int_order_lines_checked"], "order_rejected"), (files["int_order_lines_checked"], "unknown_order_id")]
    assert [r for _, r in decisions(warehouse, "int_order_lines_checked", f"source_file = '{files['int_order_lines_checked']}' "
                                                                         "and rejection_reason = 'duplicate_line_id'")] == ["duplicate_line_id"]
    assert [r for _, r in decisions(warehouse, "int_points_checked", f"source_file = '{files['int_points_checked']}'")] == [
        None, "future_timestamp", "unparseable_points"]
    assert query(warehouse, "select birthday_issue, registered_at_issue from intermediate.int_customers_checked "
                            "where customer_id = 'C-D1-NEW'") == [("future_birthday", "future_registered_at")]
    assert [r for _, r in decisions(warehouse, "int_customers_checked", f"source_file = '{files['int_customers_checked']}'")] == [
        None, "duplicate_customer_id"]
    # purchased lines: only the new day's orders (and the old order a repeated line id touched)
    assert 0 < last_build_share(warehouse, "int_purchased_lines") < 0.05
    assert query(warehouse, "select count(*) from intermediate.int_purchased_lines where order_key = 'D1-TOMORROW'") == [(0,)]
    # identity: only the persons of the day's orders and customers rows (a full recompute writes all)
    assert 0 < last_build_share(warehouse, "int_customer_identity") < 0.1


@pytest.fixture(scope="module")
def day_two(store, day_one):
    """The hard cases at once: a repeated order id (of an old order) in a new file, a new
    customer with an existing customer's phone registered earlier (the new id survives, so the
    old customer's orders move), a refund line for an old order, and yesterday's 'future' order."""
    root, landing, warehouse = store
    day = day_one + timedelta(days=1)
    orders_header, base_orders = read_rows(landing / "orders.csv")
    lines_header, base_lines = read_rows(landing / "order_lines.csv")
    customers_header, customers = read_rows(landing / "customers.csv")
    orders, lines = copy_day(landing, END - timedelta(days=1), day, "D2-")

    duplicate = dict(next(o for o in base_orders if o["status"] == "paid" and o["order_id"]), amount="1.00")
    # an old customer with a valid mobile and paid orders; the new id takes over their orders
    paid_customers = {o["customer_id"] for o in base_orders if o["status"] == "paid"}
    old = next(c for c in customers if c["customer_id"] in paid_customers and c["phone"].isdigit()
               and len(c["phone"]) == 11 and c["registered_at"])
    newcomer = dict(old, customer_id="C-NEW-SAME-PHONE", registered_at="2001-01-01 00:00:00", name="新号")
    new_order = dict(orders[0], customer_id="C-NEW-SAME-PHONE", order_id="D2-NEWCOMER")
    # a refund line for an old paid order with lines
    with_lines = {line["order_id"] for line in base_lines}
    refunded = next(o for o in base_orders if o["status"] == "paid" and o["order_id"] in with_lines)
    refund_line = dict(next(line for line in base_lines if line["order_id"] == refunded["order_id"]),
                       quantity="-1", amount="-5.00", line_id="refund-1")

    # the order of yesterday's early line; a line of an unknown product (known from day six)
    late_order = dict(orders[0], order_id="D2-LATE", status="paid")
    unknown_product = dict(lines[0], product_id="P-LATER", line_id="99")
    # a part that sorts before yesterday's files repeats a line key (on a later line than there:
    # the file decides, then the line) and a customer id of them, and has a line without an order id
    day_one_lines = read_rows(landing / f"order_lines_{day_one:%Y%m%d}.csv")[1]
    taken_line = day_one_lines[0]
    assert taken_line["order_id"].startswith("D1-") and taken_line["line_id"]
    write_rows(landing / "order_lines" / "0001-late-export.csv", lines_header,
               [dict(lines[0], order_id="", line_id="1"), dict(taken_line)])
    taken_customer = dict(read_rows(landing / f"customers_{day_one:%Y%m%d}.csv")[1][0], name="先到",
                          registered_at="2020-01-01 00:00:00")

    write_rows(landing / f"orders_{day:%Y%m%d}.csv", orders_header, orders + [duplicate, new_order, late_order])
    write_rows(landing / f"order_lines_{day:%Y%m%d}.csv", lines_header, lines + [refund_line, unknown_product])
    write_rows(landing / "customers" / f"{day:%Y%m%d}.csv", customers_header, [newcomer, taken_customer])
    build_incrementally(landing, warehouse, day, "day_two")
    return day, duplicate["order_id"], old["customer_id"], refunded["order_id"]


def test_duplicates_merges_refunds_and_future_orders_equal_a_full_refresh(store, day_two, tmp_path):
    root, landing, warehouse = store
    # the merge was made by recomputing the persons concerned, not every customer id
    assert 0 < last_build_share(warehouse, "int_customer_identity") < 0.1
    day, duplicate_id, merged_id, refunded_id = day_two
    assert query(warehouse, "select source_file, rejection_reason from intermediate.int_orders_checked "
                            f"where order_key = '{duplicate_id}' order by source_file") == [
        ("orders.csv", None), (f"orders_{day:%Y%m%d}.csv", "duplicate_order_id")]
    assert query(warehouse, "select survivor_customer_id from intermediate.int_customer_identity "
                            f"where customer_id = '{merged_id}'") == [("C-NEW-SAME-PHONE",)]
    # the merged customer's orders were resolved again, not the whole table
    assert query(warehouse, "select count(*) from intermediate.int_orders_resolved "
                            f"where source_customer_id = '{merged_id}' and _previous_customer_id = '{merged_id}'")[0][0] > 0
    assert query(warehouse, "select bool_or(_full_build), count(*) < (select count(*) / 2 from intermediate.int_orders_resolved) "
                            "from intermediate.int_orders_resolved "
                            "where _built = (select max(_built) from intermediate.int_orders_resolved)") == [(False, True)]
    assert query(warehouse, "select refunded_amount from intermediate.int_orders_resolved "
                            f"where order_key = '{refunded_id}'")[0][0] <= -5
    assert query(warehouse, "select is_purchase from main.orders where order_key = 'D1-TOMORROW'") == [(True,)]
    # the merge took orders away from the merged customer: logged once, at this build's stamp
    assert query(warehouse, "select count(*) > 0, count(distinct changed_at) from intermediate.int_purchased_lines__changes "
                            f"where customer_id = '{merged_id}'") == [(True, 1)]
    CHANGE_LOG["day_two"] = query(warehouse, "select max(changed_at) from intermediate.int_purchased_lines__changes")[0][0]
    assert_same_as_full_refresh(landing, warehouse, tmp_path, day)


def test_later_files_change_earlier_lines_points_and_customers(store, day_one, day_two):
    root, landing, warehouse = store
    day = day_two[0]
    day_one_lines = f"order_lines_{day_one:%Y%m%d}.csv"
    # yesterday's lines decided again: the future order is one no more, the late order came
    assert decisions(warehouse, "int_order_lines_checked", "order_id in ('D1-TOMORROW', 'D2-LATE')") == [
        (day_one_lines, None), (day_one_lines, None)]
    assert decided(warehouse, "int_order_lines_checked", "day_two", "order_id in ('D1-TOMORROW', 'D2-LATE') and _reprocessed") == 2
    # the part that sorts first holds the first occurrence of the line key and of the customer id
    taken = query(warehouse, "select order_id, line_key from intermediate.int_order_lines_checked "
                             "where source_file = 'order_lines/0001-late-export.csv' and order_id is not null")
    assert len(taken) == 1
    assert decisions(warehouse, "int_order_lines_checked", f"order_id = '{taken[0][0]}' and line_key = '{taken[0][1]}'") == [
        ("order_lines/0001-late-export.csv", None), (day_one_lines, "duplicate_line_id")]
    assert decisions(warehouse, "int_customers_checked", "customer_id = 'C-D1-NEW'") == [
        (f"customers/{day:%Y%m%d}.csv", None), (f"customers_{day_one:%Y%m%d}.csv", "duplicate_customer_id")]
    assert query(warehouse, "select source_file, line_key_occurrence from intermediate.int_order_lines_checked "
                            "where order_id is null and line_key = '1' order by source_file") == [
        ("order_lines/0001-late-export.csv", 1), (day_one_lines, 2)]
    assert query(warehouse, "select rejection_reason from intermediate.int_order_lines_checked "
                            "where product_id = 'P-LATER'") == [("unknown_product_id",)]
    # yesterday's future point and registration are today's
    assert [r for _, r in decisions(warehouse, "int_points_checked", f"source_file = 'points_{day_one:%Y%m%d}.csv'")] == [
        None, None, "unparseable_points"]
    assert query(warehouse, "select birthday_issue, registered_at_issue from intermediate.int_customers_checked "
                            f"where source_file = 'customers_{day_one:%Y%m%d}.csv' and customer_id = 'C-D1-NEW'") == [(None, None)]
    # no points file came: only the rows the load date can change were decided
    assert decided(warehouse, "int_points_checked", "day_two") <= 1


@pytest.fixture(scope="module")
def day_three(store, day_two):
    """A part that sorts before files already loaded repeats one of their order ids: the new row
    is now the first occurrence, so an accepted order becomes a duplicate (a full rebuild of the
    order models)."""
    root, landing, warehouse = store
    day = day_two[0] + timedelta(days=1)
    header, day_one_orders = read_rows(landing / f"orders_{(day - timedelta(days=2)):%Y%m%d}.csv")
    earlier = dict([o for o in day_one_orders if o["status"] == "paid"][1], amount="7.00")
    write_rows(landing / "orders" / "0001-late-export.csv", header, [earlier])
    build_incrementally(landing, warehouse, day, "day_three")
    return day, earlier["order_id"]


def test_a_part_that_sorts_first_takes_over_the_order_id(store, day_three, tmp_path):
    root, landing, warehouse = store
    day, order_id = day_three
    assert query(warehouse, "select source_file, rejection_reason from intermediate.int_orders_checked "
                            f"where order_key = '{order_id}' order by source_file") == [
        ("orders/0001-late-export.csv", None), (f"orders_{(day - timedelta(days=2)):%Y%m%d}.csv", "duplicate_order_id")]
    assert query(warehouse, f"select cast(gross_amount as double) from main.orders where order_key = '{order_id}'") == [(7.0,)]
    # the change log keeps only what a customer-scoped model has not seen: day two's entries are gone
    assert query(warehouse, "select count(*) from intermediate.int_purchased_lines__changes "
                            "where changed_at <= ?", [CHANGE_LOG["day_two"]]) == [(0,)]
    assert_same_as_full_refresh(landing, warehouse, tmp_path, day)


@pytest.fixture(scope="module")
def day_four(store, day_three):
    """A landing file changed in place and another removed: the loader reloads those tables."""
    root, landing, warehouse = store
    day = day_three[0] + timedelta(days=1)
    path = landing / f"orders_{(day - timedelta(days=3)):%Y%m%d}.csv"
    header, rows = read_rows(path)
    changed = next(o for o in rows if o["status"] == "paid")
    changed["amount"] = "123.45"
    write_rows(path, header, rows)
    shutil.rmtree(landing / "customers")
    # an order lines file without the line of D2-LATE; the points file of day one removed
    lines_path = landing / f"order_lines_{(day - timedelta(days=3)):%Y%m%d}.csv"
    lines_header, lines = read_rows(lines_path)
    write_rows(lines_path, lines_header, [line for line in lines if line["order_id"] != "D2-LATE"])
    (landing / f"points_{(day - timedelta(days=3)):%Y%m%d}.csv").unlink()
    build_incrementally(landing, warehouse, day, "day_four")
    return day, changed["order_id"]


def test_a_changed_or_removed_file_reloads_and_equals_a_full_refresh(store, day_four, tmp_path):
    root, landing, warehouse = store
    day, order_id = day_four
    assert query(warehouse, f"select cast(gross_amount as double) from main.orders where order_key = '{order_id}'") == [(123.45,)]
    # the customers part is gone: the merge it caused is undone
    assert query(warehouse, "select count(*) from intermediate.int_customer_identity "
                            "where survivor_customer_id = 'C-NEW-SAME-PHONE' and customer_id <> survivor_customer_id") == [(0,)]
    # reloaded or removed files: the checked models were rebuilt, without the rows that are gone
    assert query(warehouse, "select count(*) from intermediate.int_order_lines_checked where order_id = 'D2-LATE'") == [(0,)]
    assert query(warehouse, "select count(*) from intermediate.int_points_checked "
                            f"where source_file = 'points_{(day - timedelta(days=3)):%Y%m%d}.csv'") == [(0,)]
    assert decisions(warehouse, "int_customers_checked", "customer_id = 'C-D1-NEW'") == [
        (f"customers_{(day - timedelta(days=3)):%Y%m%d}.csv", None)]
    for model in ("int_order_lines_checked", "int_points_checked", "int_customers_checked"):
        assert decided(warehouse, model, "day_four") == total(warehouse, model), model
    assert_same_as_full_refresh(landing, warehouse, tmp_path, day)


@pytest.fixture(scope="module")
def day_five(store, day_four):
    """The same day built again with nothing new."""
    root, landing, warehouse = store
    build_incrementally(landing, warehouse, day_four[0], "day_five")
    return day_four[0]


def test_a_build_with_nothing_new_decides_almost_nothing(store, day_five, tmp_path):
    root, landing, warehouse = store
    for model in CHECKED_MODELS:
        # at most the lines of the orders int_orders_checked decides again on every build
        assert decided(warehouse, model, "day_five") < total(warehouse, model) / 100, model
    assert_same_as_full_refresh(landing, warehouse, tmp_path, day_five)


def test_customer_scoped_marts_and_profiles_recompute_only_customers_with_changes(store, day_five):
    """A row of a customer with no change, altered by hand, survives the next build: the
    build did not recompute that customer (a full recompute would have put it back)."""
    root, landing, warehouse = store
    altered = {"main.upsell_candidates": ("candidate_price", -1),
               "main.cross_sell_candidates": ("last_bought_on", date(1999, 1, 1)),
               "intermediate.int_category_last_purchases": ("cycle_days", -1),
               "main.referral_candidates": ("durable_products", -1),
               "intermediate.int_customer_profiles": ("city", "手改"),
               "intermediate.int_member_tier_days": ("cumulative_spend", -1),
               "main.member_tier_history": ("cumulative_spend", -1),
               "intermediate.int_member_tier_latest": ("cumulative_spend", -1),
               "intermediate.int_customer_purchase_summary": ("current_run_start", date(1999, 1, 1))}
    with duckdb.connect(str(warehouse)) as con:
        # (not one with a future-dated order: every build decides such an order again, so its
        # person's identity and profile are recomputed)
        customer = con.execute(" intersect ".join(f"select customer_id from {table}" for table in altered)
                               + " except select identity.survivor_customer_id"
                                 " from intermediate.int_orders_checked as orders"
                                 " inner join intermediate.int_customer_identity as identity"
                                 " on identity.customer_id = orders.customer_id"
                                 " where orders.rejection_reason = 'future_timestamp'"
                               + " order by 1 limit 1").fetchone()[0]
        saved = {table: con.execute(f"select * from {table} where customer_id = ?", [customer]).fetchall()
                 for table in altered}
        for table, (column, value) in altered.items():
            con.execute(f"update {table} set {column} = ? where customer_id = ?", [value, customer])
    build_incrementally(landing, warehouse, day_five, "day_five_again")
    with duckdb.connect(str(warehouse)) as con:
        for table, (column, value) in altered.items():
            assert {v for (v,) in con.execute(f"select {column} from {table} where customer_id = ?",
                                              [customer]).fetchall()} == {value}, table
        for table, rows in saved.items():  # put the rows back for the builds after this one
            con.execute(f"delete from {table} where customer_id = ?", [customer])
            con.executemany(f"insert into {table} values ({', '.join('?' * len(rows[0]))})", rows)


@pytest.fixture(scope="module")
def day_six(store, day_one, day_five):
    """A products file with the product a line of day two named: every line is decided again. A
    points file with a point of the day after day one."""
    root, landing, warehouse = store
    day = day_five + timedelta(days=1)
    header, products = read_rows(landing / "products.csv")
    write_rows(landing / f"products_{day:%Y%m%d}.csv", header, [dict(products[0], product_id="P-LATER", name="新品")])
    points_header, base_points = read_rows(landing / "points.csv")
    write_rows(landing / f"points_{day:%Y%m%d}.csv", points_header, [
        dict(base_points[0], occurred_at=f"{day_one + timedelta(days=1)} 12:00:00", points="3", order_id="")])
    build_incrementally(landing, warehouse, day, "day_six")
    return day


def test_new_products_decide_every_line_again(store, day_six, tmp_path):
    root, landing, warehouse = store
    assert query(warehouse, "select rejection_reason from intermediate.int_order_lines_checked "
                            "where product_id = 'P-LATER'") == [(None,)]
    assert decided(warehouse, "int_order_lines_checked", "day_six") == total(warehouse, "int_order_lines_checked")
    assert decided(warehouse, "int_points_checked", "day_six") < total(warehouse, "int_points_checked") / 100
    # a new product: every purchased line is joined to the products again
    assert last_build_share(warehouse, "int_purchased_lines") == 1
    assert_same_as_full_refresh(landing, warehouse, tmp_path, day_six)


@pytest.fixture(scope="module")
def day_seven(store, day_one, day_six):
    """Built again as of day one (the load date moves back): what was a future date then is one again."""
    root, landing, warehouse = store
    build_incrementally(landing, warehouse, day_one, "day_seven")
    return day_one


def test_a_load_date_moved_back_makes_future_dates_again(store, day_seven, tmp_path):
    root, landing, warehouse = store
    assert query(warehouse, "select birthday_issue, registered_at_issue from intermediate.int_customers_checked "
                            "where customer_id = 'C-D1-NEW'") == [("future_birthday", "future_registered_at")]
    assert decisions(warehouse, "int_order_lines_checked", "order_id = 'D1-TOMORROW'") == [
        (f"order_lines_{day_seven:%Y%m%d}.csv", "order_rejected")]
    assert [r for _, r in decisions(warehouse, "int_points_checked", "source_file <> 'points.csv'")] == ["future_timestamp"]
    for model in CHECKED_MODELS:
        assert decided(warehouse, model, "day_seven") < total(warehouse, model) / 20, model
    # the history keeps the snapshots of the later as_of dates built before: its latest differs
    assert_same_as_full_refresh(landing, warehouse, tmp_path, day_seven, ignore=frozenset(LATEST_ONLY))


def test_an_as_of_moved_back_takes_later_purchases_out_of_every_table(store, day_seven, tmp_path):
    """Built as of three weeks before the load date: the purchases after as_of leave the lines,
    and the customers who made them are recomputed in the customer-scoped marts."""
    root, landing, warehouse = store
    as_of = day_seven - timedelta(days=21)
    build(landing, warehouse, day_seven, full=False, as_of=as_of)
    assert query(warehouse, f"select count(*) from intermediate.int_purchased_lines "
                            f"where ordered_on > date '{as_of}'") == [(0,)]
    assert query(warehouse, f"select count(*) from intermediate.int_category_last_purchases "
                            f"where last_purchase_date > date '{as_of}'") == [(0,)]
    assert_same_as_full_refresh(landing, warehouse, tmp_path, day_seven, ignore=frozenset(LATEST_ONLY), as_of=as_of)


def test_a_changed_rule_var_recomputes_every_customer(store, day_seven):
    """upsell_min_price_ratio is in upsell_candidates' fingerprint, fast_upgrade_min_order in
    int_member_tier_days', member_tier_history's and int_member_tier_latest's, active_days in
    int_customer_purchase_summary's: a new value recomputes every customer, not only those with
    new orders or lines (none here)."""
    from laoke.build import build_vars
    from laoke.dbt import run_dbt

    root, landing, warehouse = store
    (as_of, load_date), = query(warehouse, "select as_of_date, load_date from intermediate.int_as_of")
    histories = ("intermediate.int_member_tier_days", "main.member_tier_history", "intermediate.int_member_tier_latest",
                 "intermediate.int_customer_purchase_summary")
    selected = ["--exclude-resource-type", "unit_test", "--select", "upsell_candidates",
                *(table.split(".")[1] for table in histories)]
    before = snapshot(warehouse)
    changed = dict(build_vars(as_of, load_date), upsell_min_price_ratio=1.5, fast_upgrade_min_order=0, active_days=30)
    assert query(warehouse, "select count(*) from main.upsell_candidates where candidate_price < bought_price * 1.5")[0][0] > 0
    fast_upgraded = "select count(distinct customer_id) from intermediate.int_member_tier_days where is_fast_upgraded"
    fast_upgraded_before = query(warehouse, fast_upgraded)[0][0]
    run_dbt("build", warehouse, changed, selected)
    assert query(warehouse, "select count(*) from main.upsell_candidates where candidate_price < bought_price * 1.5") == [(0,)]
    # every customer with a promotion purchase is fast-upgraded now that any amount qualifies
    assert query(warehouse, fast_upgraded)[0][0] > fast_upgraded_before
    incremental = snapshot(warehouse)
    run_dbt("build", warehouse, changed, selected + ["--full-refresh"])
    full = snapshot(warehouse)
    for table in ("main.upsell_candidates", *histories):
        assert full[table] != before[table], f"{table}: the new values change nothing here, the test proves nothing"
        assert full[table] == incremental[table], table
    run_dbt("build", warehouse, build_vars(as_of, load_date), selected + ["--full-refresh"])


def survivor(warehouse: Path, customer_id: str):
    return query(warehouse, "select survivor_customer_id from intermediate.int_customer_identity "
                            "where customer_id = ?", [customer_id])


@pytest.fixture(scope="module")
def day_eight(store, day_six):
    """(After the tests of day seven.) A new id with an old customer's phone, registered earlier
    (it becomes that person's survivor), and a new id with orders only."""
    root, landing, warehouse = store
    day = day_six + timedelta(days=1)
    (first,) = single_survivors(landing, warehouse, 1)
    customers_header, _ = read_rows(landing / "customers.csv")
    write_rows(landing / f"customers_{day:%Y%m%d}.csv", customers_header,
               [dict(first, customer_id="C-MERGE-A", registered_at="2000-01-01 00:00:00", name="新号")])
    orders_header, _ = read_rows(landing / "orders.csv")
    orders, lines = copy_day(landing, END - timedelta(days=2), day, "D8-")
    write_rows(landing / f"orders_{day:%Y%m%d}.csv", orders_header,
               orders + [dict(orders[0], order_id="D8-ORDERS-ONLY", customer_id="C-ORDERS-ONLY")])
    lines_header, _ = read_rows(landing / "order_lines.csv")
    write_rows(landing / f"order_lines_{day:%Y%m%d}.csv", lines_header, lines)
    build_incrementally(landing, warehouse, day, "day_eight")
    return day, first["customer_id"], orders[0]["order_id"]


def test_a_new_id_with_an_old_phone_and_an_id_with_orders_only(store, day_eight):
    root, landing, warehouse = store
    day, first, _ = day_eight
    assert survivor(warehouse, first) == [("C-MERGE-A",)]
    assert survivor(warehouse, "C-ORDERS-ONLY") == [("C-ORDERS-ONLY",)]
    assert 0 < last_build_share(warehouse, "int_customer_identity") < 0.1
    # (compared with a full refresh after day nine, which builds on this day)


@pytest.fixture(scope="module")
def day_nine(store, day_eight):
    """Identity changes no upstream full rebuild makes: a customers part that sorts before day
    eight's file gives C-MERGE-A a landline (the merge is undone), the id with orders only gets a
    customers row with another old customer's phone, registered earlier (it becomes that person's
    survivor), and an orders part that sorts before day eight's file takes one of its order ids
    over for a new id (the order's customer changes)."""
    root, landing, warehouse = store
    day, first, taken_order = day_eight
    day = day + timedelta(days=1)
    customers_header, _ = read_rows(landing / "customers.csv")
    merged_a = read_rows(landing / f"customers_{day_eight[0]:%Y%m%d}.csv")[1][0]
    second = next(c for c in single_survivors(landing, warehouse, 3) if c["customer_id"] != first)
    write_rows(landing / "customers" / "0000-early.csv", customers_header, [
        dict(merged_a, phone="0571-88886666"),
        dict(second, customer_id="C-ORDERS-ONLY", registered_at="2000-01-01 00:00:00", name="先下单"),
    ])
    orders_header, day_eight_orders = read_rows(landing / f"orders_{day_eight[0]:%Y%m%d}.csv")
    taken = next(o for o in day_eight_orders if o["order_id"] == taken_order)
    write_rows(landing / "orders" / "0000-early.csv", orders_header, [dict(taken, customer_id="C-TAKEOVER")])
    build_incrementally(landing, warehouse, day, "day_nine")
    return day, first, second["customer_id"], taken_order


def test_a_merge_undone_a_new_survivor_and_an_order_taken_over(store, day_nine, tmp_path):
    root, landing, warehouse = store
    day, first, second, taken_order = day_nine
    assert survivor(warehouse, first) == [(first,)]
    assert survivor(warehouse, "C-MERGE-A") == [("C-MERGE-A",)]
    assert survivor(warehouse, second) == [("C-ORDERS-ONLY",)]
    assert query(warehouse, "select source_customer_ids, name from intermediate.int_customer_profiles "
                            "where customer_id = 'C-ORDERS-ONLY'") == [(2, "先下单")]
    assert query(warehouse, "select count(*) from intermediate.int_customer_profiles where customer_id = ?",
                 [second]) == [(0,)]
    assert query(warehouse, "select customer_id from main.orders where order_key = ?", [taken_order]) == [("C-TAKEOVER",)]
    assert survivor(warehouse, "C-TAKEOVER") == [("C-TAKEOVER",)]
    assert 0 < last_build_share(warehouse, "int_customer_identity") < 0.1
    assert_same_as_full_refresh(landing, warehouse, tmp_path, day)


def test_identity_built_before_it_was_incremental_is_rebuilt(store, day_nine):
    """A warehouse whose identity table has no _person_key (built by an earlier laoke) and whose
    profiles have no state: the next build rebuilds both instead of failing."""
    root, landing, warehouse = store
    day = day_nine[0]
    before = snapshot(warehouse)  # day nine's tables (equal to a full refresh: the test before)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("alter table intermediate.int_customer_identity drop column _person_key")
        con.execute("alter table intermediate.int_customer_identity drop column _built")
        con.execute("delete from intermediate.incremental_state "
                    "where model in ('int_customer_identity', 'int_customer_profiles')")
    build(landing, warehouse, day, full=False)
    assert last_build_share(warehouse, "int_customer_identity") == 1
    assert query(warehouse, "select count(*) from intermediate.int_customer_identity where _person_key is null") == [(0,)]
    assert snapshot(warehouse) == before


def test_purchase_days_built_by_older_code_are_rebuilt(store, day_nine):
    """Purchase days built before they had promotion_orders / day_discount (and before their state
    kept a code fingerprint): the next build rebuilds them instead of appending the new columns
    as nulls on every kept row."""
    root, landing, warehouse = store
    day = day_nine[0]
    before = snapshot(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        for column in ("promotion_orders", "day_discount"):
            con.execute(f"alter table intermediate.int_customer_purchase_days drop column {column}")
        # the state the earlier code wrote: as_of | its code's fingerprint | resolved builds
        con.execute("update intermediate.incremental_state "
                    "set detail = split_part(detail, '|', 1) || '|older code|' || split_part(detail, '|', 3) "
                    "where model = 'int_customer_purchase_days'")
    build(landing, warehouse, day, full=False)
    assert query(warehouse, "select count(*) from intermediate.int_customer_purchase_days "
                            "where promotion_orders is null or day_discount is null") == [(0,)]
    assert snapshot(warehouse) == before


def test_a_changed_max_order_amount_decides_every_order_again(store, day_nine):
    """max_order_amount is in int_orders_checked's fingerprint: a lower limit decides every stored
    order again (there is no new row), as a full refresh would."""
    from laoke.build import build_vars
    from laoke.dbt import run_dbt

    root, landing, warehouse = store
    (as_of, load_date), = query(warehouse, "select as_of_date, load_date from intermediate.int_as_of")
    (largest,), = query(warehouse, "select max(abs(amount)) from intermediate.int_orders_checked "
                                   "where rejection_reason is null")
    lowered = dict(build_vars(as_of, load_date), max_order_amount=float(largest) - 1)
    only_orders = ["--exclude-resource-type", "unit_test", "--select", "int_orders_checked"]
    run_dbt("build", warehouse, lowered, only_orders)
    assert query(warehouse, "select count(*) from intermediate.int_orders_checked "
                            "where rejection_reason = 'absurd_amount' and abs(amount) = ?", [largest])[0][0] > 0
    incremental = snapshot(warehouse)["intermediate.int_orders_checked"]
    run_dbt("build", warehouse, lowered, only_orders + ["--full-refresh"])
    assert snapshot(warehouse)["intermediate.int_orders_checked"] == incremental
    # (the last test of the timeline: no build follows on this warehouse)


# --- the loader alone ---------------------------------------------------------------------------

HEADER = "customer_id,ordered_at,amount,order_id\n"


def raw_state(con) -> dict:
    return {
        "orders": sorted(con.execute("select * from raw.orders").fetchall(), key=repr),
        "rejects": sorted(con.execute("select * from raw.load_rejects").fetchall(), key=repr),
        "audit": sorted(con.execute(
            "select table_name, source_file, file_format, encoding, rows_in, rows_loaded, rows_rejected, "
            "extra_columns, blank_lines from raw.load_audit").fetchall(), key=repr),
        "phones": sorted(con.execute("select * from raw.phone_numbers").fetchall(), key=repr),
    }


def test_parts_are_found_in_load_order(tmp_path):
    (tmp_path / "orders").mkdir()
    for name in ("orders.csv", "orders_20261101.csv", "orders_20261102_tmall.csv", "orders/b.csv", "orders/a.parquet",
                 "orders_2023.csv", "orders/.hidden.csv", "order_lines_20261101.csv", "orders_20261101.csv.bak"):
        (tmp_path / name).write_text(HEADER)
    assert find_landing_files(tmp_path) == {"orders": tmp_path / "orders.csv"}
    parts = find_landing_parts(tmp_path)
    assert [source for source, _ in parts["orders"]] == [
        "orders.csv", "orders/a.parquet", "orders/b.csv", "orders_20261101.csv", "orders_20261102_tmall.csv"]
    assert [source for source, _ in parts["order_lines"]] == ["order_lines_20261101.csv"]


def test_only_new_files_are_read_and_the_result_equals_a_fresh_load(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "orders.csv").write_text(HEADER + "c1,2024-06-01,10,o1\nc2,2024-06-01,x,o2\n")
    (landing / "customers.csv").write_text("customer_id,phone\nc1,13812345678\n")
    con = duckdb.connect()
    first = load_landing(con, landing)
    assert {a.source_file: a.load_id for a in first} == {"orders.csv": 1, "customers.csv": 1}

    (landing / "orders_20240602.csv").write_text(HEADER + "c1,2024-06-02,5,o1\nc3,2024-06-02,7,o3\n")
    second = load_landing(con, landing)
    assert {a.source_file: a.load_id for a in second} == {"orders.csv": 1, "customers.csv": 1, "orders_20240602.csv": 2}
    fresh = duckdb.connect()
    load_landing(fresh, landing)
    assert raw_state(con) == raw_state(fresh)

    # a changed file reloads its table (every file of it gets the new load id); others are kept
    (landing / "customers.csv").write_text("customer_id,phone\nc1,13812345678\nc3,+86 139 0000 1111\n")
    third = load_landing(con, landing)
    assert {a.source_file: a.load_id for a in third} == {"orders.csv": 1, "customers.csv": 3, "orders_20240602.csv": 2}
    fresh = duckdb.connect()
    load_landing(fresh, landing)
    assert raw_state(con) == raw_state(fresh)

    # a removed file reloads its table
    (landing / "orders_20240602.csv").unlink()
    fourth = load_landing(con, landing)
    assert {a.source_file: a.load_id for a in fourth} == {"orders.csv": 4, "customers.csv": 3}
    fresh = duckdb.connect()
    load_landing(fresh, landing)
    assert raw_state(con) == raw_state(fresh)

    # full=True reloads everything
    assert {a.load_id for a in load_landing(con, landing, full=True)} == {5}


def test_a_failed_load_leaves_the_raw_schema_as_it_was(tmp_path):
    from laoke.errors import LaokeError

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "orders.csv").write_text(HEADER + "c1,2024-06-01,10,o1\n")
    con = duckdb.connect()
    load_landing(con, landing)
    before = raw_state(con)
    (landing / "orders_20240602.csv").write_text("no,usable,header\n1,2,3\n")
    with pytest.raises(LaokeError):
        load_landing(con, landing)
    assert raw_state(con) == before
    assert con.execute("select count(*) from raw.load_files").fetchone() == (1,)


# --- the fast path: DuckDB's reader decides as the Python reader does -----------------------------

_FIELDS = st.sampled_from(["c1", "", " ", "  c2 ", "\u3000c3\u3000", "2024-06-01", "10", "1,299", "x\ty", "张三", "customer_id",
                           "\ufeffc4", "a" * 40, "ordered_at"])


@st.composite
def clean_csv(draw) -> bytes:
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    header = draw(st.sampled_from(["customer_id,ordered_at,amount", "customer_id;ordered_at;amount",
                                   "Customer ID,下单时间,实付金额", "\ufeffcustomer_id,ordered_at,amount,extra"]))
    delimiter = ";" if ";" in header else ","
    lines = [header]
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "short", "long", "header"]))
        width = header.count(delimiter) + 1
        if kind == "blank":
            lines.append(draw(st.sampled_from(["", " ", delimiter * (width - 1), "\u3000"])))
        elif kind == "header":
            lines.append(header.lstrip("\ufeff"))
        else:
            n = width + {"row": 0, "short": -1, "long": 1}[kind]
            lines.append(delimiter.join(draw(_FIELDS) for _ in range(max(n, 1))))
    text = newline.join(lines)
    if draw(st.booleans()):
        text += newline
    return text.encode("utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=clean_csv())
def test_fast_path_loads_what_the_python_reader_loads(tmp_path, monkeypatch, content):
    landing = tmp_path / "landing"
    if landing.exists():
        shutil.rmtree(landing)
    landing.mkdir()
    (landing / "orders.csv").write_bytes(content)
    results = {}
    for mode, minimum in (("python", "-1"), ("duckdb", "0")):
        monkeypatch.setenv("LAOKE_CSV_FAST_MIN_BYTES", minimum)
        con = duckdb.connect()
        try:
            audit = load_landing(con, landing)
        except Exception as exc:  # noqa: BLE001 - both readers must fail alike
            results[mode] = ("error", type(exc).__name__, str(exc))
            continue
        results[mode] = raw_state(con)
        if mode == "duckdb" and len(content.splitlines()) > 1:
            assert [a.reader for a in audit if a.table_name == "orders"] == ["duckdb"]
    assert results["duckdb"] == results["python"]


def test_phones_classified_in_worker_processes_equal_one_process(tmp_path, monkeypatch):
    import laoke.landing as landing_module

    landing = tmp_path / "landing"
    landing.mkdir()
    phones = ["13812345678", "+86 139 0000 1111", "0571-88886666", "1381234", "", "12012345678", "17012345678",
              "１３８１２３４５６７８", "+1 415 555 0100", "not a phone", "13812345678.0", "1.38123457E+10"]
    (landing / "orders.csv").write_text(HEADER + "c1,2024-06-01,10,o1\n")
    (landing / "customers.csv").write_text("customer_id,phone\n" + "".join(f"c{i},{p}\n" for i, p in enumerate(phones)))
    serial = duckdb.connect()
    load_landing(serial, landing)
    monkeypatch.setattr(landing_module, "_PHONE_PARALLEL_MIN", 1)
    monkeypatch.setattr(landing_module, "_PHONE_CHUNK", 3)

    def not_here(*args):
        raise AssertionError("classified in the loading process, not in the workers")

    monkeypatch.setattr(landing_module, "_phone_rows", not_here)
    workers = duckdb.connect()
    load_landing(workers, landing)
    assert raw_state(workers)["phones"] == raw_state(serial)["phones"]
    assert len(raw_state(serial)["phones"]) == len([p for p in phones if p])
