"""Typed access to laoke's settings: paths from the environment, rule numbers from dbt_project.yml.

DOMAIN.md's numbers live once, as vars in dbt_project/dbt_project.yml; Python reads them here so a
rule's number is never written twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


@lru_cache(maxsize=1)
def dbt_vars() -> dict[str, Any]:
    """The vars block of dbt_project.yml: every rule's default number."""
    with open(DBT_PROJECT_DIR / "dbt_project.yml", encoding="utf-8") as f:
        return dict(yaml.safe_load(f)["vars"])


def rule(name: str) -> Any:
    """One rule's default value, e.g. rule('frequency_cap_messages') -> 3."""
    values = dbt_vars()
    if name not in values:
        raise KeyError(f"no var {name!r} in {DBT_PROJECT_DIR / 'dbt_project.yml'}")
    return values[name]


@dataclass(frozen=True)
class Paths:
    landing: Path
    warehouse: Path
    exports: Path
    reports: Path

    @classmethod
    def from_env(cls) -> "Paths":
        """Paths from LAOKE_LANDING / LAOKE_WAREHOUSE / LAOKE_EXPORTS / LAOKE_REPORTS, defaults under data/."""
        data = Path(os.environ.get("LAOKE_DATA", "data"))
        return cls(
            landing=Path(os.environ.get("LAOKE_LANDING", data / "landing")).resolve(),
            warehouse=Path(os.environ.get("LAOKE_WAREHOUSE", data / "warehouse.duckdb")).resolve(),
            exports=Path(os.environ.get("LAOKE_EXPORTS", data / "exports")).resolve(),
            reports=Path(os.environ.get("LAOKE_REPORTS", data / "reports")).resolve(),
        )
