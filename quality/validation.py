"""Running a suite: GX Checkpoint in a file context, kept results, Data Docs, a results table.

``run_validation(suite_name, df)`` validates a pandas frame with one of quality.suites' suites
through a GX Checkpoint (GX Core 1.x, called directly: dagster-ge does not support it) whose
action updates Data Docs. GX keeps every validation result under the context's
``uncommitted/validations``; with a write connection to the warehouse each expectation also
becomes one row of ``quality.validation_results`` for SQL.

The GX file context lives at ``<data>/quality/gx`` (``LAOKE_QUALITY`` overrides ``<data>/quality``;
``<data>`` is ``LAOKE_DATA``, default ``data``). One context is opened per folder and process and
reused: creating one costs more than a validation.

Phones never appear in what this module prints or writes: examples name a row by its key
columns, with phones masked (138****5678), and GX is asked to exclude unexpected values from its
results (``exclude_unexpected_values``), so Data Docs show row positions, not phone numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import threading
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import unquote, urlparse

import duckdb
import pandas as pd

from laoke.phones import mask_phone
from laoke.warehouse import connect
from quality import suites

log = logging.getLogger("laoke.quality")

RESULTS_SCHEMA = "quality"
RESULTS_TABLE = f"{RESULTS_SCHEMA}.validation_results"
RESULTS_DDL = f"""
create table if not exists {RESULTS_TABLE} (
    run_id varchar not null,
    run_at timestamp not null,          -- UTC
    suite varchar not null,
    expectation_type varchar not null,
    "column" varchar,
    critical boolean not null,
    success boolean not null,
    unexpected_count bigint,
    unexpected_percent double,
    element_count bigint,
    details json                        -- check, label, observed value, masked examples, error, docs page
)
"""
DATASOURCE_NAME = "laoke"
BATCH_DEFINITION_NAME = "whole_dataframe"
# Validations listed on the Data Docs index page (the latest ones).
DOCS_INDEX_LIMIT = 50
# Examples kept per failed expectation (in messages and in the results table).
EXAMPLES = 3
RESULT_FORMAT = {
    "result_format": "SUMMARY",
    # Row positions only: the values (phones) stay out of GX's stored results and Data Docs.
    "exclude_unexpected_values": True,
    "partial_unexpected_count": 20,
}
PHONE_COLUMNS = frozenset({"e164", "national_number", "raw_phone", "phone"})
_RAW_MOBILE = re.compile(suites.RAW_MOBILE_ANYWHERE)

_CONTEXTS: dict[Path, Any] = {}
_LOCK = threading.RLock()


def default_quality_root() -> Path:
    """``$LAOKE_QUALITY``, else ``$LAOKE_DATA/quality`` (``data/quality``); GX adds ``gx/`` below."""
    if os.environ.get("LAOKE_QUALITY"):
        return Path(os.environ["LAOKE_QUALITY"]).resolve()
    return (Path(os.environ.get("LAOKE_DATA", "data")) / "quality").resolve()


def mask_text(text: str) -> str:
    """The text with every raw mobile number in it masked ('13812345678' -> '138****5678')."""
    return _RAW_MOBILE.sub(lambda m: mask_phone(m.group()) or "***", text)


# --- outcomes -----------------------------------------------------------------------------------


@dataclass
class ExpectationOutcome:
    """One expectation's result, as laoke reports and stores it."""

    check: str
    label: str
    expectation_type: str
    column: str | None
    critical: bool
    success: bool
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    observed_value: Any = None
    examples: list[str] = field(default_factory=list)
    error: str | None = None

    def describe(self) -> str:
        """One sentence fragment: 'duplicate phone ...: 2 rows (e.g. C01 138****5678, C02 ...)'."""
        if self.error:
            return f"{self.label}: could not be checked ({self.error})"
        parts = []
        if self.unexpected_count is not None:
            rows = "row" if self.unexpected_count == 1 else "rows"
            share = f", {self.unexpected_percent:.1f}%" if self.unexpected_percent is not None else ""
            parts.append(f"{self.unexpected_count} {rows}{share}")
        if self.observed_value is not None:
            parts.append(f"observed {_format_value(self.observed_value)}")
        text = f"{self.label}: {', '.join(parts) or 'failed'}"
        if self.examples:
            text += f" (e.g. {'; '.join(self.examples)})"
        return mask_text(text)


@dataclass
class ValidationOutcome:
    suite: str
    run_id: str
    run_at: dt.datetime
    success: bool
    expectations: list[ExpectationOutcome]
    docs_index: Path | None = None
    docs_page: Path | None = None
    gx_validation_id: str | None = None
    rows: int = 0

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if e.critical and not e.success]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if not e.critical and not e.success]

    @property
    def passed(self) -> bool:
        """No critical expectation failed (warnings allowed)."""
        return not self.critical_failures

    def summary(self) -> list[dict[str, Any]]:
        return [asdict(e) for e in self.expectations]


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _plain(value: Any) -> Any:
    """JSON-safe Python value (numpy scalars, timestamps, NaN, NA)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    return str(value)


def _exception_message(exception_info: Any) -> str | None:
    """GX 1.x puts a metric's exception either at the top level or keyed by metric id."""
    if not exception_info:
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    for info in infos:
        if isinstance(info, Mapping) and info.get("raised_exception"):
            return str(info.get("exception_message") or "exception").splitlines()[0]
    return None


def _row_example(frame: pd.DataFrame, label: Any, key_columns: Sequence[str]) -> str | None:
    if isinstance(label, Mapping):  # unexpected_index_column_names were given
        values = dict(label)
    else:
        try:
            row = frame.loc[label]
        except (KeyError, TypeError):
            return None
        values = {c: row[c] for c in key_columns if c in frame.columns}
    parts = []
    for column in key_columns:
        value = values.get(column)
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            continue
        parts.append(mask_phone(str(value)) if column in PHONE_COLUMNS else mask_text(str(value)))
    return " ".join(p for p in parts if p) or f"row {label}"


def _outcome(result: Any, frame: pd.DataFrame, key_columns: Sequence[str]) -> ExpectationOutcome:
    config = result.expectation_config
    meta = dict(config.meta or {})
    kwargs = config.kwargs or {}
    column = kwargs.get("column") or (",".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
    res = dict(result.result or {})
    unexpected_percent = res.get("unexpected_percent")
    examples: list[str] = []
    for label in (res.get("partial_unexpected_index_list") or [])[: EXAMPLES]:
        example = _row_example(frame, label, key_columns)
        if example:
            examples.append(example)
    error = _exception_message(result.exception_info)
    return ExpectationOutcome(
        check=str(meta.get("check") or config.type),
        label=str(meta.get("label") or config.type),
        expectation_type=config.type,
        column=column,
        # An expectation nobody marked is critical: refusing is the safe default.
        critical=bool(meta.get("critical", True)),
        success=bool(result.success) and error is None,
        unexpected_count=_plain(res.get("unexpected_count")),
        unexpected_percent=_plain(unexpected_percent),
        element_count=_plain(res.get("element_count")),
        observed_value=_plain(res.get("observed_value")),
        examples=examples,
        error=error,
    )


# --- GX context ---------------------------------------------------------------------------------


def get_context(root: Path | str | None = None, *, progress_bars: bool = False):
    """The GX file context rooted at ``root`` (default default_quality_root()), opened once per process."""
    import great_expectations as gx
    from great_expectations.data_context.data_context.context_factory import project_manager
    from great_expectations.data_context.types.base import ProgressBarsConfig

    path = Path(root).resolve() if root is not None else default_quality_root()
    with _LOCK:
        context = _CONTEXTS.get(path)
        if context is None:
            path.mkdir(parents=True, exist_ok=True)
            context = gx.get_context(mode="file", project_root_dir=str(path))
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            context.variables.analytics_enabled = False
            # The index page loads every result it lists, so an unbounded index grows slower with
            # every kept run (0.85 s -> 1.5 s a validation after 60 runs); list the latest only.
            # Older pages stay on disk, and every result stays in GX's store and the results table.
            sites = dict(context.variables.data_docs_sites or {})
            for site in sites.values():
                site.setdefault("site_index_builder", {"class_name": "DefaultSiteIndexBuilder"})
                site["site_index_builder"]["validation_results_limit"] = DOCS_INDEX_LIMIT
            context.variables.data_docs_sites = sites
            context.variables.save()
            _CONTEXTS[path] = context
        # GX resolves suites, validation definitions and checkpoints through one process-wide
        # "current project" (the last get_context()), not through the object they were added to:
        # make this context current again, or a cached context would write into another's stores.
        project_manager.set_project(context)
        # Progress bars are read from the in-memory config at each run; the saved default is off.
        context.variables.progress_bars = ProgressBarsConfig(globally=progress_bars, metric_calculations=progress_bars)
        return context


def _batch_definition(context, asset_name: str):
    try:
        datasource = context.data_sources.get(DATASOURCE_NAME)
    except KeyError:
        datasource = context.data_sources.add_pandas(DATASOURCE_NAME)
    try:
        asset = datasource.get_asset(asset_name)
    except LookupError:
        asset = datasource.add_dataframe_asset(asset_name)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION_NAME)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)


def _file_path(url: str | None) -> Path | None:
    if not url:
        return None
    parsed = urlparse(url)
    return Path(unquote(parsed.path)) if parsed.scheme in ("file", "") else None


def _docs_paths(context, identifier) -> tuple[Path | None, Path | None]:
    index = page = None
    try:
        sites = context.get_docs_sites_urls()
        index = _file_path(sites[0]["site_url"]) if sites else None
        if identifier is not None:
            pages = context.get_docs_sites_urls(resource_identifier=identifier)
            page = _file_path(pages[0]["site_url"]) if pages else None
    except Exception as exc:  # Data Docs are a convenience: a failure to locate them is logged, not fatal
        log.warning("could not locate Data Docs: %s", exc)
    if index is not None and not index.exists():
        context.build_data_docs()
    if page is not None and not page.exists():
        page = None
    return index, page


# --- running ------------------------------------------------------------------------------------


def run_validation(
    suite_name: str,
    df: pd.DataFrame,
    *,
    warehouse_con: duckdb.DuckDBPyConnection | None = None,
    run_id: str | None = None,
    gx_root: Path | str | None = None,
    suite_params: Mapping[str, Any] | None = None,
    expectation_parameters: Mapping[str, Any] | None = None,
    key_columns: Sequence[str] | None = None,
    extra_outcomes: Iterable[ExpectationOutcome] = (),
    progress_bars: bool = False,
) -> ValidationOutcome:
    """Validate ``df`` with suite ``suite_name`` through a GX Checkpoint; keep and return the results.

    suite_params: arguments of the suite's builder and frame preparation in quality.suites
      (as_of, campaign_id, holdout_share, max_segments, phone_classes, suppressed_e164, ...).
    expectation_parameters: extra run-time values for {"$PARAMETER": ...} (prepare_frame makes
      the send_list suite's own).
    warehouse_con: a write connection to the warehouse; each expectation (and each of
      ``extra_outcomes``, checks computed outside GX) becomes a row of quality.validation_results.
      Rows of an earlier run with the same run_id and suite are replaced.
    run_id: the GX run name and the results' run_id; a uuid when not given.
    """
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    if suite_name not in suites.SUITE_NAMES:
        raise ValueError(f"unknown suite {suite_name!r}: one of {', '.join(suites.SUITE_NAMES)}")
    params = dict(suite_params or {})
    frame, parameters = suites.prepare_frame(suite_name, df, **params)
    suite = suites.build_suite(suite_name, frame, **params)
    parameters.update(expectation_parameters or {})
    run_id = run_id or uuid.uuid4().hex
    run_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    keys = tuple(key_columns or suites.KEY_COLUMNS[suite_name])

    with _LOCK:
        context = get_context(gx_root, progress_bars=progress_bars)
        suite = context.suites.add_or_update(suite)
        validation = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=suite_name, data=_batch_definition(context, suite_name), suite=suite)
        )
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=suite_name,
                validation_definitions=[validation],
                actions=[UpdateDataDocsAction(name="update_data_docs")],
                result_format=RESULT_FORMAT,
            )
        )
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=parameters,
            run_id=RunIdentifier(run_name=run_id, run_time=run_at),
        )
        identifier, validation_result = next(iter(result.run_results.items()))
        docs_index, docs_page = _docs_paths(context, identifier)

    expectations = [_outcome(r, frame, keys) for r in validation_result.results]
    order = {e.meta.get("check"): i for i, e in enumerate(suite.expectations)}
    expectations.sort(key=lambda e: order.get(e.check, len(order)))
    expectations.extend(extra_outcomes)
    outcome = ValidationOutcome(
        suite=suite_name,
        run_id=run_id,
        run_at=run_at.replace(tzinfo=None),
        success=all(e.success for e in expectations),
        expectations=expectations,
        docs_index=docs_index,
        docs_page=docs_page,
        gx_validation_id=(validation_result.meta or {}).get("validation_id"),
        rows=len(frame),
    )
    for failure in outcome.critical_failures:
        log.info("%s: critical check failed: %s", suite_name, failure.describe())
    for warning in outcome.warnings:
        log.warning("%s: %s", suite_name, warning.describe())
    if warehouse_con is not None:
        write_results(warehouse_con, [outcome])
    return outcome


def _details(outcome: ValidationOutcome, e: ExpectationOutcome) -> str:
    details = {
        "check": e.check,
        "label": e.label,
        "observed_value": e.observed_value,
        "examples": e.examples,
        "error": e.error,
        "docs_page": str(outcome.docs_page) if outcome.docs_page else None,
        "gx_validation_id": outcome.gx_validation_id,
        "rows": outcome.rows,
    }
    return mask_text(json.dumps(_plain(details), ensure_ascii=False, sort_keys=True))


def write_results(con: duckdb.DuckDBPyConnection, outcomes: Iterable[ValidationOutcome]) -> int:
    """Store outcomes in quality.validation_results (created if missing); returns rows written.

    A rerun with the same run_id replaces that run's rows of the same suite.
    """
    outcomes = list(outcomes)
    rows = [
        (o.run_id, o.run_at, o.suite, e.expectation_type, e.column, e.critical, e.success,
         e.unexpected_count, e.unexpected_percent, e.element_count, _details(o, e))
        for o in outcomes
        for e in o.expectations
    ]
    con.execute(f"create schema if not exists {RESULTS_SCHEMA}")
    con.execute(RESULTS_DDL)
    con.execute("begin transaction")
    try:
        for o in outcomes:
            con.execute(f"delete from {RESULTS_TABLE} where run_id = ? and suite = ?", [o.run_id, o.suite])
        if rows:
            con.executemany(f"insert into {RESULTS_TABLE} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return len(rows)


# --- the warehouse ------------------------------------------------------------------------------


def validate_warehouse(
    warehouse_path: Path | str,
    *,
    as_of: dt.date | None = None,
    run_id: str | None = None,
    gx_root: Path | str | None = None,
    write: bool = True,
    progress_bars: bool = False,
) -> dict[str, ValidationOutcome]:
    """Run the customers and phone_numbers suites on a built warehouse.

    Reads both tables over one read-only connection and closes it, validates, then (``write``)
    opens a short write connection to store the results: never both at once (DuckDB allows one
    writer per file). ``as_of`` defaults to the warehouse's own (intermediate.int_as_of).
    """
    path = Path(warehouse_path)
    with connect(path, read_only=True) as con:
        customers = con.execute("select * from main.customers").df()
        phone_numbers = con.execute("select * from raw.phone_numbers").df()
        if as_of is None:
            try:
                as_of = con.execute("select as_of_date from intermediate.int_as_of").fetchone()[0]
            except duckdb.Error:
                as_of = None
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    run_id = run_id or uuid.uuid4().hex
    outcomes = {
        suites.CUSTOMERS: run_validation(
            suites.CUSTOMERS, customers, run_id=run_id, gx_root=gx_root,
            suite_params={"as_of": as_of}, progress_bars=progress_bars),
        suites.PHONE_NUMBERS: run_validation(
            suites.PHONE_NUMBERS, phone_numbers, run_id=run_id, gx_root=gx_root, progress_bars=progress_bars),
    }
    if write:
        with connect(path) as con:
            write_results(con, outcomes.values())
    return outcomes


__all__ = [
    "ExpectationOutcome",
    "ValidationOutcome",
    "default_quality_root",
    "get_context",
    "mask_text",
    "run_validation",
    "validate_warehouse",
    "write_results",
]
