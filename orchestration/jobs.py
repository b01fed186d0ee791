"""Jobs are selections over the asset graph; schedules and sensors point at them.

* `warehouse_build_job`: load the landing folder, `dbt build` every model/seed/data test, then
  predictions — the Dagster twin of `laoke build` (+ predictions).
* `resegmentation_job`: the same dbt build and predictions from what is already in `raw`, without
  reloading the landing folder. DOMAIN.md re-segments every 15 days; the segment marts
  (customer_rfm, customer_tags, customer_lifecycle(+_history), member_tiers, repurchase_due, ...)
  are rebuilt *together* rather than as a dbt sub-selection so that every mart of the warehouse
  shares one as_of — a campaign joining customer_tags to repurchase_due must never mix dates. Each
  run adds its as_of's rows to customer_lifecycle_history. Campaign assets that snapshot segments
  for a send list are added to this job's selection by the campaign module, not here.
"""

from __future__ import annotations

import dagster as dg

from orchestration.assets import customer_predictions, landing_files, laoke_dbt_models

DBT_AND_PREDICTIONS = dg.AssetSelection.assets(laoke_dbt_models, customer_predictions)
WAREHOUSE_BUILD = dg.AssetSelection.assets(landing_files) | DBT_AND_PREDICTIONS

warehouse_build_job = dg.define_asset_job(
    name="warehouse_build_job",
    selection=WAREHOUSE_BUILD,
    description="Landing folder -> raw -> dbt build (models, seeds, data tests) -> customer predictions.",
)

resegmentation_job = dg.define_asset_job(
    name="resegmentation_job",
    selection=DBT_AND_PREDICTIONS,
    description="Rebuild every dbt mart (segments, lifecycle, tiers, due lists) and the predictions from the "
    "raw schema already loaded, all as of one date; no landing reload.",
)

JOBS = [warehouse_build_job, resegmentation_job]
