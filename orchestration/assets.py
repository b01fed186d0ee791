"""The warehouse as Dagster assets: landing folder -> raw, the dbt project, predictions.

Each asset is a thin wrapper over the library function the `laoke` CLI calls (laoke.build.load,
the dbt build of laoke.build.transform, laoke.predictions.write_predictions); none holds a rule.
Every asset here opens the warehouse file, so every one is in the "warehouse" pool (see
orchestration/resources.py for how that keeps DuckDB to one writer).

No `from __future__ import annotations`: Dagster inspects the parameter annotations (context,
resources, config) when decorating, and rejects string annotations such as 'dg.AssetExecutionContext'.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
    get_asset_key_for_model,
)
from pydantic import Field

from laoke.build import build_vars, load
from laoke.dbt import build_date_environment
from laoke.errors import LaokeError
from laoke.settings import rule

from orchestration.project import ensure_manifest, laoke_dbt_project
from orchestration.resources import WAREHOUSE_POOL, LaokeWarehouse

try:  # written concurrently; the code location must load without it
    from laoke.predictions import write_predictions
except ImportError:  # pragma: no cover - depends on the state of laoke/predictions.py
    write_predictions = None

LANDING_ASSET_KEY = dg.AssetKey("landing_files")
RAW_SOURCE = "raw"  # the dbt source that landing_files fills (dbt_project/models/staging/__sources.yml)
DBT_OP_NAME = "laoke_dbt_models"
PREDICTIONS_OP_NAME = "customer_predictions"
# dbt unit tests run in the test suite (one `dbt build` per session), not in production builds.
DBT_BUILD_EXCLUDE = ["--exclude-resource-type", "unit_test"]


# --- run config ------------------------------------------------------------------------------

class BuildConfig(dg.Config):
    """The reference dates of a build, shared by the dbt and prediction steps of a run."""

    as_of: str | None = Field(
        default=None,
        description="YYYY-MM-DD to build the warehouse as of; empty = the latest order date not after load_date.",
    )
    load_date: str | None = Field(
        default=None,
        description="YYYY-MM-DD wall-clock date of the build (later orders are future-dated and quarantined); "
        "empty = today in the store's timezone (dbt var store_timezone).",
    )


def store_today(now: datetime | None = None) -> date:
    """Today's date in the store's timezone (a 05:00 Shanghai run is still 'yesterday' in UTC)."""
    tz = ZoneInfo(rule("store_timezone"))
    return (now.astimezone(tz) if now else datetime.now(tz)).date()


def build_run_config(as_of: date | str | None = None, load_date: date | str | None = None) -> dict[str, Any]:
    """Run config giving every configurable step of the warehouse jobs the same dates."""
    values = {
        key: (value.isoformat() if isinstance(value, date) else value)
        for key, value in (("as_of", as_of), ("load_date", load_date))
        if value is not None
    }
    return {"ops": {op: {"config": dict(values)} for op in (DBT_OP_NAME, PREDICTIONS_OP_NAME)}}


def _parse_date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise dg.Failure(description=f"run config {field}={value!r} is not a YYYY-MM-DD date") from None


@contextmanager
def _laoke_errors() -> Iterator[None]:
    """A user-caused LaokeError becomes a Dagster failure showing laoke's one-line message."""
    try:
        yield
    except LaokeError as exc:
        raise dg.Failure(description=str(exc)) from exc


# --- landing -> raw --------------------------------------------------------------------------

@dg.asset(
    key=LANDING_ASSET_KEY,
    pool=WAREHOUSE_POOL,
    group_name="landing",
    kinds={"python", "duckdb"},
    description="The landing folder (LAOKE_LANDING) loaded into the warehouse's raw schema, with phone "
    "normalisation and quarantine of unreadable records (laoke.build.load).",
)
def landing_files(context: dg.AssetExecutionContext, warehouse: LaokeWarehouse) -> dg.MaterializeResult:
    with _laoke_errors():
        loaded = load(warehouse.landing, warehouse.warehouse)
    files = {f.table_name: {"file": f.source_file, "rows_in": f.rows_in, "loaded": f.rows_loaded,
                            "rejected": f.rows_rejected} for f in loaded}
    context.log.info(f"loaded {len(loaded)} files from {warehouse.landing}")
    return dg.MaterializeResult(metadata={
        "landing": str(warehouse.landing),
        "files": files,
        "rows_in": sum(f.rows_in for f in loaded),
        "rows_loaded": sum(f.rows_loaded for f in loaded),
        "rows_rejected": sum(f.rows_rejected for f in loaded),
    })


# --- dbt -------------------------------------------------------------------------------------

class LaokeDbtTranslator(DagsterDbtTranslator):
    """The one place where dbt nodes become Dagster keys and groups.

    * every `raw.*` source is the landing_files asset (it writes the whole raw schema);
    * models and seeds are keyed by their name (unique in a dbt project): `customer_rfm`, not
      `main/customer_rfm`, so selections and later modules name them as the README does;
    * groups are the dbt layer folders (staging, intermediate, marts, restricted) and `seeds`.
    """

    def __init__(self) -> None:
        # Several sources mapping to one key needs this setting.
        super().__init__(DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source" and dbt_resource_props["source_name"] == RAW_SOURCE:
            return LANDING_ASSET_KEY
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        group = super().get_group_name(dbt_resource_props)
        if group:
            return group
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        fqn = dbt_resource_props.get("fqn") or []
        return fqn[1] if len(fqn) > 2 else None


@contextmanager
def _environ(**values: str | None) -> Iterator[None]:
    """Set (None: unset) environment variables for the dbt subprocess started inside the block,
    then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@dbt_assets(
    manifest=ensure_manifest(),
    project=laoke_dbt_project,
    dagster_dbt_translator=LaokeDbtTranslator(),
    pool=WAREHOUSE_POOL,
)
def laoke_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: LaokeWarehouse,
                     config: BuildConfig):
    """`dbt build` of the selected models, seeds and data tests (tests become asset checks)."""
    as_of = _parse_date(config.as_of, "as_of")
    load_date = _parse_date(config.load_date, "load_date") or store_today()
    dates, _ = build_date_environment(build_vars(as_of, load_date))
    args = ["build", *DBT_BUILD_EXCLUDE]
    # The profile reads the warehouse path from LAOKE_WAREHOUSE, the models the build dates from
    # LAOKE_AS_OF / LAOKE_LOAD_DATE; dbt.cli starts the subprocess (and reads the profile in
    # process) before returning, so the variables are needed only here.
    with _environ(LAOKE_WAREHOUSE=str(warehouse.warehouse), **dates):
        invocation = dbt.cli(args, context=context, target_path=warehouse.dbt_target_path)
    yield from invocation.stream()


def dbt_key(model: str) -> dg.AssetKey:
    """The asset key of a dbt model, for `deps=` in this and later asset modules."""
    return get_asset_key_for_model([laoke_dbt_models], model)


# --- predictions -----------------------------------------------------------------------------

@dg.asset(
    name=PREDICTIONS_OP_NAME,
    deps=[dbt_key("customer_rfm"), dbt_key("orders")],
    pool=WAREHOUSE_POOL,
    group_name="predictions",
    kinds={"python", "duckdb"},
    description="BG/NBD, MBG/NBD and Gamma-Gamma predictions per customer (main.customer_predictions, "
    "with the fitted parameters in main.prediction_model_fits), by laoke.predictions.write_predictions.",
)
def customer_predictions(context: dg.AssetExecutionContext, warehouse: LaokeWarehouse,
                         config: BuildConfig) -> dg.MaterializeResult:
    if write_predictions is None:
        raise dg.Failure(description="laoke.predictions.write_predictions is not available yet")
    with _laoke_errors(), warehouse.connect() as con:
        as_of = _parse_date(config.as_of, "as_of") or con.execute(
            "select as_of_date from intermediate.int_as_of"
        ).fetchone()[0]
        summary = write_predictions(con, as_of)
    context.log.info(f"predictions as of {as_of}: {summary.get('status')}")
    return dg.MaterializeResult(metadata={
        "as_of": str(summary.get("as_of", as_of)),
        "n_customers": int(summary.get("n_customers", 0)),
        "n_ok": int(summary.get("n_ok", 0)),
        "status": str(summary.get("status")),
        "model_used": str(summary.get("model_used")),
    })
