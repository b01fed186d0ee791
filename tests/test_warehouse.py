"""Whole-warehouse behaviours: determinism, the smallest store, masked phones, the CLI's errors."""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from laoke.build import build_warehouse
from laoke.cli import main

MART_SCHEMAS = ("main",)
MOBILE = re.compile(r"1[3-9]\d{9}")


def table_fingerprints(path: Path, schemas=("main", "restricted")) -> dict[str, str]:
    """A content hash per table, independent of physical row order."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in {tuple(schemas)!r} and table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f'select count(*), coalesce(sum(hash(x)), 0) from {s}."{t}" as x').fetchone()
            for s, t in tables
        }


def test_same_inputs_and_as_of_give_identical_tables(demo_landing, demo_warehouse, tmp_path):
    again = tmp_path / "again.duckdb"
    build_warehouse(demo_landing, again, as_of=date(2026, 10, 31), load_date=date(2026, 10, 31))
    first, second = table_fingerprints(demo_warehouse), table_fingerprints(again)
    assert first.keys() == second.keys() and len(first) > 15
    assert first == second


def test_smallest_store_builds_with_empty_marts_for_missing_inputs(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "orders.csv").write_text(
        "customer_id,ordered_at,amount\n"
        "a,2024-01-01,10\n"
        "a,2024-02-01,0\n"          # zero amount: a purchase
        "b,2024-03-01,20\n"
        "b,2024-03-01,20\n",        # identical row, no order id: a second purchase
        encoding="utf-8",
    )
    result = build_warehouse(landing, tmp_path / "w.duckdb", load_date=date(2024, 6, 30))
    assert result.as_of == date(2024, 3, 1)  # default: the latest order date
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rfm = dict(con.execute("select customer_id, frequency from main.customer_rfm").fetchall())
        assert rfm == {"a": 1, "b": 0}
        assert con.execute("select purchase_orders from main.customer_lifecycle where customer_id = 'b'").fetchone()[0] == 2
        for empty in ("repurchase_due", "cross_sell_candidates", "upsell_candidates", "referral_candidates", "points_balances"):
            assert con.execute(f"select count(*) from main.{empty}").fetchone()[0] == 0
        assert con.execute("select count(*) from main.customers").fetchone()[0] == 2


def test_no_raw_phone_in_analyst_tables(read_warehouse):
    columns = read_warehouse.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'main' and data_type = 'VARCHAR'"
    ).fetchall()
    assert columns
    for table, column in columns:
        values = read_warehouse.execute(f'select distinct "{column}" from main."{table}" where "{column}" is not null limit 5000').fetchall()
        leaked = [v for (v,) in values if MOBILE.search(v.replace(" ", "").replace("-", ""))]
        assert not leaked, f"main.{table}.{column} shows raw phones, e.g. {leaked[0][:3]}…"
    masked = read_warehouse.execute("select masked_phone from main.customers where phone_class = 'valid_mobile' limit 1").fetchone()[0]
    assert re.fullmatch(r"1\d{2}\*{4}\d{4}", masked)


def test_demo_rules_visible_in_marts(read_warehouse):
    statuses = dict(read_warehouse.execute("select lifecycle_status, count(*) from main.customer_lifecycle group by 1").fetchall())
    assert {"prospect", "active", "sleeping", "churned"} <= statuses.keys()
    merged = read_warehouse.execute("select count(*) from intermediate.int_customer_identity where is_merged").fetchone()[0]
    assert merged > 0  # the generator plants duplicated customers under a second id
    reasons = {r for (r,) in read_warehouse.execute("select distinct reason from main.quarantine").fetchall()}
    assert {"future_timestamp", "test_order", "duplicate_order_id", "negative_amount_not_refund"} <= reasons


def test_cli_user_error_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LAOKE_LANDING", str(tmp_path / "nowhere"))
    monkeypatch.setenv("LAOKE_WAREHOUSE", str(tmp_path / "w.duckdb"))
    assert main(["build"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere" in err and "Traceback" not in err


def test_cli_rejects_bad_date(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--as-of", "31/10/2026"])
    assert exit_info.value.code == 2
    assert "not a date" in capsys.readouterr().err


def test_lifecycle_history_keeps_one_snapshot_per_as_of(tmp_path):
    """Building two as_of dates keeps both snapshots; rebuilding one replaces its snapshot whole;
    a full refresh keeps the earlier snapshots; the change between them is one query."""
    from laoke.build import transform

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "orders.csv").write_text(
        "customer_id,ordered_at,amount\na,2024-01-01,10\na,2024-01-20,10\nb,2024-03-01,20\n", encoding="utf-8")
    warehouse = tmp_path / "w.duckdb"
    build_warehouse(landing, warehouse, as_of=date(2024, 3, 31), load_date=date(2024, 12, 31), predictions=False)
    transform(warehouse, as_of=date(2024, 5, 31), load_date=date(2024, 12, 31))
    transform(warehouse, as_of=date(2024, 5, 31), load_date=date(2024, 12, 31))  # rebuilt: replaced, not added
    with duckdb.connect(str(warehouse), read_only=True) as con:
        history = con.execute("select as_of_date, customer_id, lifecycle_status from main.customer_lifecycle_history "
                              "order by 1, 2").fetchall()
        changes = con.execute("select customer_id, previous_status, lifecycle_status from main.customer_lifecycle_changes").fetchall()
    assert history == [
        (date(2024, 3, 31), "a", "active"), (date(2024, 3, 31), "b", "new"),
        (date(2024, 5, 31), "a", "sleeping"), (date(2024, 5, 31), "b", "sleeping"),
    ]
    assert sorted(changes) == [("a", "active", "sleeping"), ("b", "new", "sleeping")]

    # b's orders are gone from the landing file (reloaded) and the store is built again in full:
    # the earlier snapshot survives --full-refresh, the rebuilt as_of's snapshot no longer has b
    (landing / "orders.csv").write_text(
        "customer_id,ordered_at,amount\na,2024-01-01,10\na,2024-01-20,10\n", encoding="utf-8")
    build_warehouse(landing, warehouse, as_of=date(2024, 5, 31), load_date=date(2024, 12, 31), full_refresh=True,
                    predictions=False)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        history = con.execute("select as_of_date, customer_id, lifecycle_status from main.customer_lifecycle_history "
                              "order by 1, 2").fetchall()
    assert history == [
        (date(2024, 3, 31), "a", "active"), (date(2024, 3, 31), "b", "new"),
        (date(2024, 5, 31), "a", "sleeping"),
    ]


# What customer_lifecycle_changes means: each customer's snapshots in as_of order, where the
# status differs from the customer's previous snapshot.
WHOLE_HISTORY_CHANGES = """
    select customer_id, as_of_date, previous_as_of_date, previous_status, lifecycle_status, status_since
    from (
        select *,
            lag(as_of_date) over (partition by customer_id order by as_of_date) as previous_as_of_date,
            lag(lifecycle_status) over (partition by customer_id order by as_of_date) as previous_status
        from main.customer_lifecycle_history
    )
    where previous_status <> lifecycle_status
    order by all
"""


def test_lifecycle_changes_built_day_by_day_equal_the_whole_historys(tmp_path):
    """customer_lifecycle_changes recomputes only the as_of built and the snapshots after it; in
    any order of builds it equals the comparison of the whole history: a new as_of, the same one
    again, an earlier one between two (the next snapshot's changes move), one before all, and a
    customer missing from the previous snapshot (compared with an older one)."""
    from laoke.build import transform

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "orders.csv").write_text(
        "customer_id,ordered_at,amount\n"
        "a,2024-01-01,10\na,2024-01-20,10\na,2024-07-01,10\n"
        "b,2024-03-01,20\nc,2024-02-10,5\nc,2024-02-20,5\nc,2024-06-15,5\nd,2024-08-01,7\n",
        encoding="utf-8")
    warehouse = tmp_path / "w.duckdb"

    def changes_after(as_of: date) -> list[tuple]:
        transform(warehouse, as_of=as_of, load_date=date(2024, 12, 31))
        with duckdb.connect(str(warehouse), read_only=True) as con:
            built = con.execute("select * from main.customer_lifecycle_changes order by all").fetchall()
            expected = con.execute(WHOLE_HISTORY_CHANGES).fetchall()
        assert built == expected, as_of
        return built

    build_warehouse(landing, warehouse, as_of=date(2024, 3, 31), load_date=date(2024, 12, 31), predictions=False)
    assert changes_after(date(2024, 5, 31))            # a new as_of: a and b went to sleep, c too
    changes_after(date(2024, 5, 31))                   # the same as_of again
    changes_after(date(2024, 8, 31))
    changes_after(date(2024, 10, 31))
    changes_after(date(2024, 7, 15))                   # between two: 2024-08-31's changes move
    changes_after(date(2024, 1, 31))                   # before every other snapshot
    # as if c had been merged away when 2024-10-31 was built (no row in that snapshot, so no change
    # that day) and were back now: c's change is against its 2024-08-31 snapshot
    with duckdb.connect(str(warehouse)) as con:
        for table in ("customer_lifecycle_history", "customer_lifecycle_changes"):
            con.execute(f"delete from main.{table} where customer_id = 'c' and as_of_date = '2024-10-31'")
    changes = changes_after(date(2024, 12, 31))
    assert [row[:4] for row in changes if row[0] == "c" and row[1] == date(2024, 12, 31)] == [
        ("c", date(2024, 12, 31), date(2024, 8, 31), "active")]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        snapshots = con.execute("select count(distinct as_of_date) from main.customer_lifecycle_history").fetchone()[0]
    assert snapshots == 7
    # a build recomputes only its own as_of: a change of an earlier one altered by hand stays
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update main.customer_lifecycle_changes set previous_status = 'altered' where as_of_date = '2024-05-31'")
    transform(warehouse, as_of=date(2024, 12, 31), load_date=date(2024, 12, 31))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from main.customer_lifecycle_changes where previous_status = 'altered'").fetchone()[0]
    # the history started over (the table dropped, as its description says): no changes left
    with duckdb.connect(str(warehouse)) as con:
        con.execute("drop table main.customer_lifecycle_history")
    assert changes_after(date(2024, 12, 31)) == []


def test_a_new_as_of_keeps_dbts_partial_parse_and_a_shell_as_of_does_not_leak(demo_warehouse, tmp_path, monkeypatch):
    """The build dates reach dbt as environment variables: a build with a new as_of re-parses
    only the files that read it (new --vars would parse the whole project again, ~2 s of every
    daily build), and a LAOKE_AS_OF left in the shell does not reach a build without an as_of."""
    from laoke.build import transform

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_warehouse, warehouse)
    monkeypatch.setenv("LAOKE_AS_OF", "2001-01-01")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        (load_date, latest), = con.execute(
            "select load_date, max(cast(ordered_at as date)) from intermediate.int_as_of "
            "cross join intermediate.int_orders_checked where cast(ordered_at as date) <= load_date "
            "group by load_date").fetchall()
    assert transform(warehouse, as_of=None, load_date=load_date, select="int_as_of") == latest
    earlier = latest - timedelta(days=3)
    assert transform(warehouse, as_of=earlier, load_date=load_date, select="int_as_of") == earlier
    log = (tmp_path / ".warehouse_dbt" / "dbt.log").read_text(encoding="utf-8")
    assert log.count("Unable to do partial parsing") == 1, "the second build parsed the whole project again"
