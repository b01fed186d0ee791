"""Running dbt on the project: one function for the CLI, the benchmarks and the tests.

dbt runs as a subprocess (as dagster-dbt runs it): dbt-duckdb keeps its connection open for the
life of the process, and a DuckDB file takes one writer process at a time, so an in-process dbt
would lock the file against laoke's own steps that follow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from laoke.errors import LaokeError
from laoke.settings import DBT_PROJECT_DIR


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


# The build dates reach dbt as environment variables (macros/as_of.sql says why), the rest of the
# vars as --vars.
BUILD_DATE_ENVIRONMENT = {"as_of": "LAOKE_AS_OF", "load_date": "LAOKE_LOAD_DATE"}


def build_date_environment(vars: dict[str, Any] | None) -> tuple[dict[str, str | None], dict[str, Any]]:
    """(environment variables for the build dates, None to unset one; the other vars)."""
    vars = vars or {}
    environment = {name: None if vars.get(var) is None else str(vars[var]) for var, name in BUILD_DATE_ENVIRONMENT.items()}
    return environment, {key: value for key, value in vars.items() if key not in BUILD_DATE_ENVIRONMENT}


def dbt_args(command: str, vars: dict[str, Any] | None = None, extra: list[str] | None = None) -> list[str]:
    args = [command, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if vars:
        args += ["--vars", json.dumps(vars, sort_keys=True, default=str)]
    return args + (extra or [])


def run_dbt(command: str, warehouse: Path, vars: dict[str, Any] | None = None, extra: list[str] | None = None,
            target_path: Path | None = None) -> dict:
    """Runs `dbt <command>` on the warehouse; returns run_results.json; raises LaokeError naming failed nodes."""
    warehouse = Path(warehouse).resolve()  # dbt resolves relative paths against the project folder
    dates, vars = build_date_environment(vars)
    env = dict(os.environ, LAOKE_WAREHOUSE=str(warehouse), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    for name, value in dates.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    # One target folder per warehouse, beside it: concurrent builds of different warehouses
    # (tests, benchmarks, Dagster) never share dbt's compiled files or partial-parse state.
    target = target_path or warehouse.parent / f".{warehouse.stem}_dbt"
    args = [dbt_executable(), "--log-format", "text", "--no-use-colors", *dbt_args(command, vars, extra),
            "--target-path", str(target), "--log-path", str(target)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True)
    results_file = target / "run_results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    if proc.returncode != 0:
        failures = [
            f"{r['unique_id'].split('.')[-1]} ({r['status']}: {(r.get('message') or '').splitlines()[0] if r.get('message') else ''})"
            for r in results.get("results", [])
            if r.get("status") in ("error", "fail", "runtime error")
        ]
        detail = "; ".join(failures[:10]) or _last_error_line(proc.stdout + proc.stderr)
        raise LaokeError(f"dbt {command} failed: {detail}")
    return results


def _last_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["no output"])[-1].strip()
