"""Helpers of the incremental-build tests: landing files written as a day's new files, builds
(whole or a `--select`), and table snapshots compared with a full refresh."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import duckdb

from laoke.landing import load_landing

END = date(2026, 10, 31)
SCHEMAS = ("main", "restricted", "intermediate")
# Tables that are history by design: an incremental warehouse keeps earlier as_of snapshots, a
# fresh build has one. The history is compared on the latest as_of; its changes are not compared.
LATEST_ONLY = {"main.customer_lifecycle_history"}
NOT_COMPARED = {"main.customer_lifecycle_changes", "intermediate.incremental_state"}

def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def copy_day(landing: Path, source_day: date, day: date, prefix: str) -> tuple[list[dict], list[dict]]:
    """Orders (and their lines) of source_day again on `day`, under new order ids."""
    header, orders = read_rows(landing / "orders.csv")
    _, lines = read_rows(landing / "order_lines.csv")
    picked = [dict(o) for o in orders if o["ordered_at"].startswith(source_day.isoformat()) and o["order_id"]]
    ids = {o["order_id"]: f"{prefix}{o['order_id']}" for o in picked}
    for o in picked:
        o["order_id"] = ids[o["order_id"]]
        o["ordered_at"] = day.isoformat() + o["ordered_at"][10:]
    new_lines = [dict(line, order_id=ids[line["order_id"]]) for line in lines if line["order_id"] in ids]
    return picked, new_lines


def built_store(root: Path) -> tuple[Path, Path, Path]:
    """A small generated store in root/landing built in full as of END: (root, landing, warehouse)."""
    from laoke.generate import generate_store

    landing = root / "landing"
    generate_store(landing, customers=400, seed=5, end_date=END)
    warehouse = root / "warehouse.duckdb"
    build(landing, warehouse, END, full=True)
    return root, landing, warehouse


def build(landing: Path, warehouse: Path, day: date, full: bool, as_of: date | None = None,
          select: str | None = None) -> None:
    """Loads and builds (the `select`ed models only, if given) with load date `day`, as of `as_of`
    (default: the same day)."""
    from laoke.build import transform
    from laoke.settings import rule
    from laoke.warehouse import connect

    with connect(warehouse) as con:
        load_landing(con, landing, phone_region=rule("phone_region"), full=full)
        from laoke.send_lists import ensure_ledger

        ensure_ledger(con)
    transform(warehouse, as_of=as_of or day, load_date=day, full_refresh=full, select=select)


def snapshot(warehouse: Path) -> dict[str, tuple]:
    """Per table: row count and an order-independent hash of the rows (internal columns, named
    with a leading '_', left out)."""
    result = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in {SCHEMAS!r} and table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            name = f"{schema}.{table}"
            if name in NOT_COMPARED or "__plan" in table or table.endswith("__changes"):
                continue
            columns = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                "order by ordinal_position", [schema, table]).fetchall() if not c.startswith("_")]
            where = ""
            if name in LATEST_ONLY:
                where = f' where as_of_date = (select max(as_of_date) from {schema}."{table}")'
            select = ", ".join(f'"{c}"' for c in columns)
            result[name] = con.execute(
                f'select count(*), coalesce(sum(hash(x)), 0) from (select {select} from {schema}."{table}"{where}) as x'
            ).fetchone()
    return result


def assert_equal_to_its_full_refresh(warehouse: Path, table: str) -> None:
    """`table` (schema.model) as the builds left it equals the model rebuilt with --full-refresh
    from the same upstream tables (cheaper than a reference warehouse for one model)."""
    from laoke.build import build_vars
    from laoke.dbt import run_dbt

    (as_of, load_date), = query(warehouse, "select as_of_date, load_date from intermediate.int_as_of")
    incremental = snapshot(warehouse)[table]
    run_dbt("build", warehouse, build_vars(as_of, load_date),
            ["--exclude-resource-type", "unit_test", "--select", table.split(".")[1], "--full-refresh"])
    assert snapshot(warehouse)[table] == incremental, table


def query(warehouse: Path, sql: str, parameters: list | None = None):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, parameters or []).fetchall()


def single_survivors(landing: Path, warehouse: Path, count: int) -> list[dict]:
    """Rows of customers.csv of people with one id and a valid mobile."""
    ids = [c for (c,) in query(warehouse, """
        select customer_id from intermediate.int_customers_checked
        where rejection_reason is null and phone_class = 'valid_mobile' and source_file = 'customers.csv'
            and customer_id in (select survivor_customer_id from intermediate.int_customer_identity
                                group by survivor_customer_id having count(*) = 1)
        order by customer_id limit ?""", [count])]
    _, customers = read_rows(landing / "customers.csv")
    return [next(c for c in customers if c["customer_id"] == i) for i in ids]
