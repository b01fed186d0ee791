"""The Dagster code location: it loads (parsing dbt if needed), its schedules and sensors request the
right runs at the right times, and the whole build materializes in process on a small store."""

import json
import os
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pytest
import yaml

SHANGHAI = ZoneInfo("Asia/Shanghai")
ORCHESTRATION = Path(__file__).resolve().parent.parent / "orchestration"


@pytest.fixture(scope="module")
def defs():
    # Importing the code location runs `dbt parse` when the manifest is missing or stale
    # (orchestration/project.py), which is what a fresh clone needs.
    from orchestration.definitions import defs

    return defs


# --- the code location -----------------------------------------------------------------------

def test_code_location_loads(defs):
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("warehouse_build_job")
    assert defs.resolve_job_def("resegmentation_job")
    assert {s.name for s in defs.schedules} == {"daily_warehouse_build_schedule", "resegmentation_schedule"}
    assert {s.name for s in defs.sensors} == {"campaign_calendar_sensor", "landing_sensor"}


def test_asset_graph_runs_landing_dbt_predictions(defs):
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey
    keys = graph.get_all_asset_keys()
    assert {key("landing_files"), key("stg_orders"), key("customer_rfm"), key("customer_predictions")} <= keys
    # every raw.* dbt source is the landing asset; predictions read customer_rfm
    assert graph.get(key("stg_orders")).parent_keys == {key("landing_files")}
    assert key("customer_rfm") in graph.get(key("customer_predictions")).parent_keys
    upstream = dg.AssetSelection.assets("customer_predictions").upstream().resolve(graph)
    assert key("landing_files") in upstream and key("customer_rfm") in upstream
    # dbt data tests are asset checks of the model they protect
    assert any(check.asset_key == key("customer_rfm") for check in graph.asset_check_keys)

    build = defs.resolve_job_def("warehouse_build_job")
    steps = [n.name for n in build.nodes_in_topological_order]
    assert steps[:2] == ["landing_files", "laoke_dbt_models"]
    assert set(steps[2:]) == {"customer_predictions", "customers_warehouse_quality"}  # both after dbt
    reseg = defs.resolve_job_def("resegmentation_job")
    assert [n.name for n in reseg.nodes_in_topological_order][0] == "laoke_dbt_models"


def test_every_warehouse_step_is_in_the_warehouse_pool(defs):
    from orchestration.resources import WAREHOUSE_POOL

    ops = {n.name: n.definition for n in defs.resolve_job_def("warehouse_build_job").nodes_in_topological_order}
    assert {name: op.pool for name, op in ops.items()} == {name: WAREHOUSE_POOL for name in ops}


def test_dagster_yaml_limits_the_warehouse_pool_to_one(tmp_path):
    config = yaml.safe_load((ORCHESTRATION / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1
    (tmp_path / "dagster.yaml").write_text((ORCHESTRATION / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 1
        assert instance.event_log_storage.get_concurrency_info("warehouse").limit == 1


def test_dbt_build_excludes_unit_tests():
    from orchestration.assets import DBT_BUILD_EXCLUDE

    assert DBT_BUILD_EXCLUDE == ["--exclude-resource-type", "unit_test"]


def test_run_config_gives_both_steps_the_same_dates():
    from orchestration.assets import build_run_config

    config = build_run_config(as_of=date(2026, 10, 31), load_date="2026-11-01")
    assert config == {"ops": {
        "laoke_dbt_models": {"config": {"as_of": "2026-10-31", "load_date": "2026-11-01"}},
        "customer_predictions": {"config": {"as_of": "2026-10-31", "load_date": "2026-11-01"}},
    }}
    assert build_run_config() == {"ops": {"laoke_dbt_models": {"config": {}}, "customer_predictions": {"config": {}}}}


# --- schedules -------------------------------------------------------------------------------

def test_daily_build_at_five_shanghai_with_the_store_date():
    from orchestration.schedules import daily_warehouse_build_schedule as schedule

    assert schedule.cron_schedule == "0 5 * * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    assert schedule.job_name == "warehouse_build_job"
    # 05:00 in Shanghai is 21:00 UTC the day before: load_date must be the Shanghai date
    tick = datetime(2026, 11, 25, 21, 0, tzinfo=timezone.utc)
    data = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick))
    [request] = data.run_requests
    assert request.run_config["ops"]["laoke_dbt_models"]["config"] == {"load_date": "2026-11-26"}
    assert request.tags["laoke/trigger"] == "daily_build"


def test_resegmentation_on_the_first_and_sixteenth():
    from orchestration.schedules import resegmentation_schedule as schedule

    assert schedule.cron_schedule == "0 6 1,16 * *"
    assert schedule.execution_timezone == "Asia/Shanghai"
    assert schedule.job_name == "resegmentation_job"
    tick = datetime(2026, 12, 16, 6, 0, tzinfo=SHANGHAI)
    [request] = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick)).run_requests
    assert request.run_config["ops"]["customer_predictions"]["config"] == {"load_date": "2026-12-16"}
    assert request.tags["laoke/trigger"] == "resegmentation"


# --- campaign calendar sensor ----------------------------------------------------------------

DOUBLE_11_2025_START = datetime(2025, 11, 1, 20, 0, tzinfo=SHANGHAI)  # seed row 2025-1111


def _calendar_tick(at: datetime, cursor: str | None = None, job=None, run_config=None):
    from orchestration.jobs import warehouse_build_job
    from orchestration.sensors import build_campaign_calendar_sensor

    sensor = build_campaign_calendar_sensor(job or warehouse_build_job, clock=lambda: at,
                                            run_config=run_config)
    return sensor, sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor))


def test_calendar_warm_up_two_days_before_the_event():
    sensor, data = _calendar_tick(DOUBLE_11_2025_START - timedelta(days=2))
    [request] = data.run_requests
    assert request.run_key == "2025-1111:warm_up"
    assert request.tags["campaign_kind"] == "warm_up"
    assert request.tags["event_id"] == "2025-1111"
    assert sensor.job_name == "warehouse_build_job"
    assert json.loads(data.cursor) == {"fired": ["2025-1111:warm_up"]}

    # the same window later: nothing new, the cursor says why
    _, again = _calendar_tick(DOUBLE_11_2025_START - timedelta(days=1, hours=2), cursor=data.cursor)
    assert again.run_requests == []
    assert "already requested: 2025-1111:warm_up" in again.skip_message
    assert json.loads(again.cursor) == {"fired": ["2025-1111:warm_up"]}


def test_calendar_reminder_four_hours_before_the_start():
    _, data = _calendar_tick(DOUBLE_11_2025_START - timedelta(hours=4),
                             cursor=json.dumps({"fired": ["2025-1111:warm_up"]}))
    [request] = data.run_requests
    assert request.run_key == "2025-1111:reminder"
    assert request.tags == {**request.tags, "campaign_kind": "reminder", "event_id": "2025-1111"}
    assert request.run_config["ops"]["laoke_dbt_models"]["config"] == {"load_date": "2025-11-01"}
    assert set(json.loads(data.cursor)["fired"]) == {"2025-1111:warm_up", "2025-1111:reminder"}


@pytest.mark.parametrize("before", [
    timedelta(days=5),                  # too early for the warm-up
    timedelta(days=3, minutes=1),       # just before the warm-up window opens
    timedelta(hours=12),                # between warm-up (closes 1 day before) and reminder
    timedelta(hours=2, minutes=59),     # the reminder window closed 3 hours before
    -timedelta(hours=1),                # the event has started
])
def test_calendar_outside_the_windows_requests_nothing(before):
    _, data = _calendar_tick(DOUBLE_11_2025_START - before)
    assert data.run_requests == []
    assert data.skip_message.startswith("no warm-up or reminder window open")


def test_calendar_forgets_fired_keys_once_the_event_started():
    cursor = json.dumps({"fired": ["2025-1111:warm_up", "2025-1111:reminder"]})
    _, data = _calendar_tick(DOUBLE_11_2025_START + timedelta(days=2), cursor=cursor)
    assert json.loads(data.cursor) == {"fired": []}
    assert "next: 2025-1212:warm_up" in data.skip_message


def test_calendar_sensor_targets_the_job_it_is_given():
    from orchestration.jobs import resegmentation_job

    def event_config(tick, now):
        return {"ops": {"x": {"config": {"event": tick.event.event_id}}}}

    sensor, data = _calendar_tick(DOUBLE_11_2025_START - timedelta(hours=4), job=resegmentation_job,
                                  run_config=event_config)
    assert sensor.job_name == "resegmentation_job"
    [request] = data.run_requests
    assert request.run_key == "2025-1111:reminder"
    assert request.run_config == {"ops": {"x": {"config": {"event": "2025-1111"}}}}


# --- landing sensor --------------------------------------------------------------------------

def _landing_tick(landing: Path, cursor: str | None = None, now: datetime | None = None):
    from orchestration.jobs import warehouse_build_job
    from orchestration.resources import LaokeWarehouse
    from orchestration.sensors import build_landing_sensor

    sensor = build_landing_sensor(warehouse_build_job, clock=lambda: now or datetime.now(timezone.utc))
    context = dg.build_sensor_context(cursor=cursor, resources={"warehouse": LaokeWarehouse(landing_path=str(landing))})
    return sensor.evaluate_tick(context)


def _age(path: Path, seconds: float = 3600) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_landing_sensor_requests_a_build_when_files_change(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    orders = landing / "orders.csv"
    orders.write_text("order_id\n1\n")
    (landing / "notes.txt").write_text("not a landing file")
    _age(orders)

    first = _landing_tick(landing)
    [request] = first.run_requests
    assert request.run_key.startswith("landing-")
    assert request.tags["laoke/trigger"] == "landing"
    assert set(json.loads(first.cursor)) == {"orders.csv"}

    unchanged = _landing_tick(landing, cursor=first.cursor)
    assert unchanged.run_requests == []
    assert "no change in 1 files" in unchanged.skip_message
    assert unchanged.cursor == first.cursor

    orders.write_text("order_id\n1\n2\n")
    _age(orders, 1800)
    changed = _landing_tick(landing, cursor=first.cursor)
    [request2] = changed.run_requests
    assert request2.run_key != request.run_key
    assert changed.cursor != first.cursor


def test_landing_sensor_waits_for_files_being_written(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "orders.csv").write_text("order_id\n1\n")
    data = _landing_tick(landing, now=datetime.now(timezone.utc))
    assert data.run_requests == []
    assert "waiting for them to settle" in data.skip_message
    assert data.cursor is None


def test_landing_sensor_skips_a_missing_folder(tmp_path):
    data = _landing_tick(tmp_path / "nowhere")
    assert data.run_requests == []
    assert "does not exist" in data.skip_message


# --- the whole build, in process -------------------------------------------------------------

@pytest.fixture(scope="module")
def built(defs, tmp_path_factory):
    """warehouse_build_job's assets materialized in process on a 300-customer store (one run)."""
    from laoke.generate import generate_store
    from orchestration import assets, campaign_assets
    from orchestration.assets import build_run_config
    from orchestration.resources import build_resources

    root = tmp_path_factory.mktemp("dagster_build")
    landing, warehouse = root / "landing", root / "warehouse.duckdb"
    generate_store(landing, customers=300, seed=5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAOKE_LANDING", str(landing))
        mp.setenv("LAOKE_WAREHOUSE", str(warehouse))
        result = dg.materialize(
            [*dg.load_assets_from_modules([assets, campaign_assets]),
             *dg.load_asset_checks_from_modules([campaign_assets])],
            resources=build_resources(),
            run_config=build_run_config(load_date=date(2026, 10, 31)),
            raise_on_error=False,
        )
    failures = {e.step_key: _root_cause(e.event_specific_data.error) for e in result.all_events if e.is_step_failure}
    return result, warehouse, failures


def _root_cause(error) -> str:
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def test_materialize_landing_and_dbt(built):
    result, warehouse, failures = built
    assert not {k: v for k, v in failures.items() if k != "customer_predictions"}, failures
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert {dg.AssetKey("landing_files"), dg.AssetKey("stg_orders"), dg.AssetKey("customer_rfm")} <= materialized
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks if c.severity == dg.AssetCheckSeverity.ERROR)
    # dbt wrote its artifacts beside the warehouse, and the build used the resource's file
    assert (warehouse.parent / ".warehouse_dbt" / "dagster" / "run_results.json").exists()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from main.customer_rfm").fetchone()[0] > 0
        assert con.execute("select count(*) from raw.orders").fetchone()[0] > 0
        # the run config's load date reached dbt (as LAOKE_LOAD_DATE: laoke.dbt.build_date_environment)
        assert con.execute("select load_date from intermediate.int_as_of").fetchone()[0] == date(2026, 10, 31)


def test_materialize_send_lists_with_gate_checks(built):
    result, warehouse, failures = built
    assert "send_lists" not in failures, failures
    gates = [c for c in result.get_asset_check_evaluations() if c.check_name == "quality_gate"]
    assert len(gates) >= 8 and any(c.passed for c in gates)
    quality = [c for c in result.get_asset_check_evaluations() if c.check_name == "warehouse_quality"]
    assert quality and quality[0].passed
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from campaigns.send_ledger").fetchone()[0] > 0


def test_materialize_predictions(built):
    from orchestration import assets

    result, warehouse, failures = built
    if assets.write_predictions is None:
        assert "write_predictions is not available yet" in failures.get("customer_predictions", "")
        return
    assert "customer_predictions" not in failures, failures["customer_predictions"]
    assert result.success
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rfm_rows = con.execute("select count(*) from main.customer_rfm").fetchone()[0]
        assert con.execute("select count(*) from main.customer_predictions").fetchone()[0] == rfm_rows
