"""Shared fixtures: a small generated store built once per session into a temporary warehouse."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

DEMO_AS_OF = date(2026, 10, 31)


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory) -> Path:
    from laoke.generate import generate_store

    landing = tmp_path_factory.mktemp("demo") / "landing"
    generate_store(landing, customers=800, seed=11, end_date=DEMO_AS_OF)
    return landing


@pytest.fixture(scope="session")
def demo_warehouse(demo_landing, tmp_path_factory) -> Path:
    """The demo store built as of DEMO_AS_OF. Tests only read it (read_only connections)."""
    from laoke.build import build_warehouse

    warehouse = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    build_warehouse(demo_landing, warehouse, as_of=DEMO_AS_OF, load_date=DEMO_AS_OF)
    return warehouse


@pytest.fixture
def read_warehouse(demo_warehouse):
    import duckdb

    con = duckdb.connect(str(demo_warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="session", autouse=True)
def isolated_data_folder(tmp_path_factory):
    """Quality results, Data Docs, exports and reports of the tests go to a temporary folder."""
    import os

    previous = os.environ.get("LAOKE_DATA")
    os.environ["LAOKE_DATA"] = str(tmp_path_factory.mktemp("laoke_data"))
    yield
    if previous is None:
        os.environ.pop("LAOKE_DATA", None)
    else:
        os.environ["LAOKE_DATA"] = previous
