"""The resources every laoke asset gets: the warehouse file and the dbt CLI, built in one place.

How conflicting DuckDB writers are prevented (DuckDB takes one writer process per file, and
`dbt build` is a separate process that holds the file for its whole run):

1. every asset and asset check that opens the warehouse file is in the concurrency pool
   ``WAREHOUSE_POOL`` ("warehouse"): `landing_files`, the `@dbt_assets` function (so its dbt tests,
   which run inside that step, too) and `customer_predictions`; new warehouse-touching assets and
   checks must say ``pool=WAREHOUSE_POOL`` as well;
2. the instance allows one step of that pool at a time across all runs: `orchestration/dagster.yaml`
   sets ``concurrency: pools: default_limit: 1`` with ``granularity: op`` (Dagster 1.13's
   dagster.yaml has no per-pool limit key; a limit set with
   ``dagster instance concurrency set warehouse 1`` overrides the default for that pool). Copy it to
   $DAGSTER_HOME (``make dagster`` does);
3. a step opens its connection inside the step with ``LaokeWarehouse.connect()`` and the context
   manager closes it before the step ends; readers pass ``read_only=True``;
4. the dbt subprocess is pointed at the same file by the dbt asset (LAOKE_WAREHOUSE in its
   environment) and writes its artifacts beside the warehouse, never into the project folder.

Steps of one run are sequential anyway (landing -> dbt -> predictions); the pool is what keeps a
second run (a sensor's, a schedule's, a manual one) from opening the file while a build holds it.
The `laoke` CLI is outside Dagster: running it while Dagster builds fails with laoke's "is another
build running?" error, it does not corrupt anything.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource

from laoke.dbt import dbt_executable
from laoke.settings import Paths
from laoke.warehouse import connect

from orchestration.project import laoke_dbt_project

WAREHOUSE_POOL = "warehouse"


class LaokeWarehouse(dg.ConfigurableResource):
    """The DuckDB warehouse file and the landing folder it is loaded from.

    Left empty, each path is read from the environment when the step runs (LAOKE_WAREHOUSE,
    LAOKE_LANDING, defaults under LAOKE_DATA or ./data), exactly as the `laoke` CLI reads them.
    """

    warehouse_path: str | None = None
    landing_path: str | None = None
    exports_path: str | None = None

    @property
    def warehouse(self) -> Path:
        return Path(self.warehouse_path).resolve() if self.warehouse_path else Paths.from_env().warehouse

    @property
    def landing(self) -> Path:
        return Path(self.landing_path).resolve() if self.landing_path else Paths.from_env().landing

    @property
    def exports(self) -> Path:
        return Path(self.exports_path).resolve() if self.exports_path else Paths.from_env().exports

    @property
    def dbt_target_path(self) -> Path:
        """dbt's artifacts for this warehouse, beside it (the convention of laoke.dbt.run_dbt)."""
        return self.warehouse.parent / f".{self.warehouse.stem}_dbt" / "dagster"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for the current step only; closed when the `with` block ends."""
        with connect(self.warehouse, read_only=read_only) as con:
            yield con


def build_resources() -> dict[str, object]:
    """The resources of the code location, keyed as the assets name their parameters."""
    return {
        "warehouse": LaokeWarehouse(),
        "dbt": DbtCliResource(project_dir=laoke_dbt_project, dbt_executable=dbt_executable()),
    }
