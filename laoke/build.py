"""`laoke build`: load the landing folder, then build every dbt model as of a date.

The CLI, Dagster and the tests call build_warehouse; nothing else holds this sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from laoke.dbt import run_dbt
from laoke.landing import LoadedFile, load_landing
from laoke.settings import rule
from laoke.warehouse import connect


@dataclass
class BuildResult:
    as_of: date
    loaded: list[LoadedFile]
    warehouse: Path
    predictions: dict | None = None


def build_vars(as_of: date | None, load_date: date | None) -> dict:
    values: dict = {}
    if as_of is not None:
        values["as_of"] = as_of.isoformat()
    values["load_date"] = (load_date or date.today()).isoformat()
    return values


def load(landing: Path, warehouse: Path) -> list[LoadedFile]:
    from laoke.results import ensure_results_tables
    from laoke.send_lists import ensure_ledger

    with connect(warehouse) as con:
        loaded = load_landing(con, landing, phone_region=rule("phone_region"))
        # State the warehouse keeps between builds; dbt reads it as sources, so it must exist.
        ensure_ledger(con)
        ensure_results_tables(con)
        return loaded


def transform(warehouse: Path, as_of: date | None = None, load_date: date | None = None,
              full_refresh: bool = False, select: str | None = None) -> date:
    """dbt build (models, seeds, data tests; unit tests run in the test suite) and the as_of used."""
    extra = ["--exclude-resource-type", "unit_test"]
    if full_refresh:
        extra.append("--full-refresh")
    if select:
        extra += ["--select", select]
    run_dbt("build", warehouse, build_vars(as_of, load_date), extra)
    with connect(warehouse, read_only=True) as con:
        return con.execute("select as_of_date from intermediate.int_as_of").fetchone()[0]


def predict(warehouse: Path, as_of: date) -> dict:
    """Fits BG/NBD, MBG/NBD and Gamma-Gamma on customer_rfm and scores every customer; a store
    too small to fit gets predictions with a "not enough data" status, not an error."""
    from laoke.predictions import write_predictions

    with connect(warehouse) as con:
        return write_predictions(con, as_of)


def build_warehouse(landing: Path, warehouse: Path, as_of: date | None = None, load_date: date | None = None,
                    full_refresh: bool = False, predictions: bool = True) -> BuildResult:
    loaded = load(landing, warehouse)
    used_as_of = transform(warehouse, as_of, load_date, full_refresh)
    summary = predict(warehouse, used_as_of) if predictions else None
    return BuildResult(as_of=used_as_of, loaded=loaded, warehouse=warehouse, predictions=summary)
