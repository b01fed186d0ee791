"""When the warehouse is rebuilt on the clock (store time, Asia/Shanghai).

* `daily_warehouse_build_schedule`: 05:00 every day, before the first send window (08:30), so the
  morning's lists see yesterday's orders.
* `resegmentation_schedule`: 06:00 on the 1st and the 16th of each month. DOMAIN.md says
  "re-segment every 15 days"; cron cannot count 15 days across month ends, and a rolling interval
  would drift against the one-event-a-month calendar, so we take two fixed dates a month: gaps of
  15 days, 13–16 around month ends. Fixed dates also tell operators which segments a list used.
  06:00 leaves the 05:00 daily build an hour; the warehouse pool queues it if that build is late.

Both pass load_date = the scheduled date in store time (see BuildConfig), so a late or re-executed
tick builds the same warehouse as an on-time one. Both are off until switched on in the UI (or
`dagster schedule start`), as Dagster's default.
"""

import dagster as dg

from orchestration.assets import build_run_config, store_today
from orchestration.jobs import resegmentation_job, warehouse_build_job
from laoke.settings import rule

STORE_TIMEZONE = rule("store_timezone")  # Asia/Shanghai; one place: dbt_project.yml vars
DAILY_BUILD_CRON = "0 5 * * *"
RESEGMENTATION_CRON = "0 6 1,16 * *"


def _scheduled_request(context: dg.ScheduleEvaluationContext, trigger: str) -> dg.RunRequest:
    load_date = store_today(context.scheduled_execution_time)
    return dg.RunRequest(
        run_config=build_run_config(load_date=load_date),
        tags={"laoke/trigger": trigger, "laoke/load_date": load_date.isoformat()},
    )


@dg.schedule(
    name="daily_warehouse_build_schedule",
    job=warehouse_build_job,
    cron_schedule=DAILY_BUILD_CRON,
    execution_timezone=STORE_TIMEZONE,
    description="Load the landing folder and rebuild the warehouse every day at 05:00 store time.",
)
def daily_warehouse_build_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return _scheduled_request(context, "daily_build")


@dg.schedule(
    name="resegmentation_schedule",
    job=resegmentation_job,
    cron_schedule=RESEGMENTATION_CRON,
    execution_timezone=STORE_TIMEZONE,
    description="Re-segment every 15 days: the 1st and the 16th of each month at 06:00 store time.",
)
def resegmentation_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    return _scheduled_request(context, "resegmentation")


SCHEDULES = [daily_warehouse_build_schedule, resegmentation_schedule]
