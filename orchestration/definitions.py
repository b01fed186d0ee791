"""laoke's Dagster code location: the table of contents of the pipeline.

    landing_files ──► dbt models, seeds and data tests (one @dbt_assets) ──► customer_predictions
        (raw.*)        staging → intermediate → marts; tests as asset checks      (main.*)

Run it with `dagster dev -m orchestration.definitions` (or `make dagster`, which also installs
orchestration/dagster.yaml — the warehouse pool limit — into $DAGSTER_HOME).

To extend: add a module of assets (and asset checks) to ASSET_MODULES, its jobs to JOBS and its
schedules/sensors below. Assets that open the warehouse take `pool=WAREHOUSE_POOL` and the
`warehouse: LaokeWarehouse` resource; `orchestration.assets.dbt_key("model")` gives a dbt model's key
for `deps=`. The dbt manifest is produced on load when missing or stale (orchestration/project.py).
"""

from __future__ import annotations

import dagster as dg

from orchestration import assets
from orchestration.jobs import JOBS
from orchestration.resources import build_resources
from orchestration.schedules import SCHEDULES
from orchestration.sensors import SENSORS

ASSET_MODULES = [assets]

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=build_resources(),
)
