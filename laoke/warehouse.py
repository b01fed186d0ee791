"""Opening the warehouse file: one place that knows its path and DuckDB settings.

DuckDB allows one writer process per file, so every step opens a connection, does its work and
closes it; readers open read-only.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from laoke.errors import LaokeError


# The same variables and defaults as dbt_project/profiles.yml, so dbt and laoke's own steps
# (loader, send lists, evaluation) share one budget. Unset, the temp directory is DuckDB's default
# for a database file (<warehouse>.tmp), which is also what the profile uses.
DEFAULT_THREADS = "2"
DEFAULT_MEMORY_LIMIT = "10GB"  # 9.3 GiB: a build peaks under 12 GiB RSS with dbt and Python


def duckdb_config() -> dict[str, str]:
    """DuckDB settings from the environment (the same variables dbt's profile reads):
    LAOKE_DUCKDB_THREADS, LAOKE_DUCKDB_MEMORY_LIMIT, LAOKE_DUCKDB_TEMP_DIRECTORY."""
    config = {
        "threads": os.environ.get("LAOKE_DUCKDB_THREADS", "").strip() or DEFAULT_THREADS,
        "memory_limit": os.environ.get("LAOKE_DUCKDB_MEMORY_LIMIT", "").strip() or DEFAULT_MEMORY_LIMIT,
    }
    temp = os.environ.get("LAOKE_DUCKDB_TEMP_DIRECTORY", "").strip()
    if temp:
        Path(temp).mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = temp
    return config


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    if read_only and not path.exists():
        raise LaokeError(f"{path}: no warehouse yet (run `laoke build` first)")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=duckdb_config())
    except duckdb.IOException as exc:
        raise LaokeError(f"{path}: cannot open the warehouse ({str(exc).splitlines()[0]}); is another build running?") from None
    # long statements (loading 100M rows) would otherwise draw DuckDB's progress bar into CLI and logs
    con.execute("set enable_progress_bar = false")
    try:
        yield con
    finally:
        con.close()
