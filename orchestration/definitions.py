"""laoke's Dagster code location: the table of contents of the pipeline.

    landing_files ──► dbt models, seeds and data tests (one @dbt_assets) ──► customer_predictions
        (raw.*)        staging → intermediate → marts; tests as asset checks      (main.*)
                                     │ customers: GX warehouse_quality (blocking check)
                                     ▼
                       send_list_<campaign> (one per campaigns/*.yml, chained by priority;
                       GX quality_gate check; CSV/XLSX/manifest + send ledger)

Run it with `dagster dev -m orchestration.definitions` (or `make dagster`, which also installs
orchestration/dagster.yaml — the warehouse pool limit — into $DAGSTER_HOME).

To extend: add a module of assets (and asset checks) to ASSET_MODULES, its jobs to JOBS and its
schedules/sensors below. Assets that open the warehouse take `pool=WAREHOUSE_POOL` and the
`warehouse: LaokeWarehouse` resource; `orchestration.assets.dbt_key("model")` gives a dbt model's key
for `deps=`. The dbt manifest is produced on load when missing or stale (orchestration/project.py).
"""

from __future__ import annotations

import dagster as dg

from orchestration import assets, campaign_assets
from orchestration.jobs import JOBS
from orchestration.resources import build_resources
from orchestration.schedules import SCHEDULES
from orchestration.sensors import SENSORS

ASSET_MODULES = [assets, campaign_assets]

defs = dg.Definitions(
    assets=dg.load_assets_from_modules(ASSET_MODULES),
    asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[*JOBS, campaign_assets.campaign_job],
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=build_resources(),
)
